#!/usr/bin/env bash
# Builds the real Pulumi engine (CLI + Node.js language host) and the resource provider plugins that this
# project's npm packages ask for, from their published Go modules, fetched through the Go module proxy only.
#
#   bash .ci/engine/build.sh          # progress and timings on stderr; the engine dir on the last stdout line
#
# Versions come from package-lock.json (@pulumi/pulumi, @pulumi/command, @pulumi/kubernetes, @pulumi/tls).
# The output dir is ${RANCHER_HA_ENGINE_CACHE:-$HOME/.cache/rancher-ha/engine}/<hash>/, where <hash> covers
# those versions, the Go toolchain and this script. Each piece is marked done (.done/<piece>) only after its
# binary is in bin/, and the dir is marked complete (.complete) only when every piece is there: an
# interrupted or partial build is resumed by the next run, and a complete one is reused without any work.
#
# Exit status: 0 = every piece built; 3 = the Go module proxy cannot serve some piece (the dir holds what could
# be built and MISSING says which module@version failed and why; the path is still printed); 1 = a real
# build failure (see the log named on stderr).
#
# Env: RANCHER_HA_ENGINE_CACHE (cache root), RANCHER_HA_ENGINE_JOBS (pieces built at once, default 2),
#      RANCHER_HA_LOCKFILE (default: package-lock.json next to .ci/).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)
lockfile=${RANCHER_HA_LOCKFILE:-$repo_root/package-lock.json}
cache_root=${RANCHER_HA_ENGINE_CACHE:-$HOME/.cache/rancher-ha/engine}
jobs=${RANCHER_HA_ENGINE_JOBS:-2}

# json EXPR: evaluate a JavaScript expression over the JSON on stdin (bound to j); print strings as they are,
# arrays one item a line, nothing for undefined/null. (node is needed anyway; jq need not be installed.)
json() {
  node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
    let j; try { j = JSON.parse(s); } catch (e) { process.exit(2); }
    const r = eval(process.argv[1]);
    if (r !== undefined && r !== null) console.log(Array.isArray(r) ? r.join("\n") : String(r)); })' "$1"
}
log() { printf '[engine %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null || { [ -x /usr/local/go/bin/go ] && PATH=/usr/local/go/bin:$PATH; } || true
command -v go >/dev/null || die "go is not on PATH"
command -v node >/dev/null || die "node is needed to read $lockfile"
[ -f "$lockfile" ] || die "no $lockfile"

# ---- versions: the lockfile is the only place they are written --------------------------------------------
eval "$(node -e '
  const pk = require(process.argv[1]).packages || {};
  for (const [v, n] of [["PULUMI","pulumi"],["COMMAND","command"],["KUBERNETES","kubernetes"],["TLS","tls"],["RANCHER2","rancher2"]]) {
    const p = pk["node_modules/@pulumi/" + n];
    if (!p || !/^[0-9]+\.[0-9]+\.[0-9]+$/.test(p.version)) { console.error("no exact @pulumi/" + n + " in lockfile"); process.exit(1); }
    console.log(v + "_VERSION=" + p.version);
  }' "$lockfile")"

# ---- release commits ------------------------------------------------------------------------------------
# Some of these modules have no semver tag of their own (the repos tag only vX.Y.Z at the root, not
# provider/vX.Y.Z or sdk/nodejs/cmd/...), so the module proxy knows them only by pseudo-version
# (base-yyyymmddhhmmss-commit12) of the upstream release commit. This maps "<piece>@<npm version>" to that
# pseudo-version. A version missing here is reported as missing, never guessed: when the lockfile moves, add
# the new release's pseudo-version (commit of the release tag, commit time in UTC).
pseudo_version() {
  case "$1" in
    pulumi-language-nodejs@3.248.0) echo v3.0.0-20260624120734-a88168d865b7 ;; # pulumi/pulumi tag v3.248.0
    command@1.2.1) echo v0.0.0-20260303235922-7f3eb6f3b77c ;;                  # pulumi/pulumi-command tag v1.2.1
    *) echo "" ;;
  esac
}

export GOWORK=off GOFLAGS=-mod=mod GO111MODULE=on
# Only the module proxy is reachable: drop a trailing ",direct" so that errors are the proxy's own answer.
proxy=$(go env GOPROXY); proxy=${proxy%,direct}; proxy=${proxy%|direct}; [ -z "$proxy" ] || export GOPROXY=$proxy
go_id=$(go env GOVERSION GOOS GOARCH | tr '\n' ' ')
hash=$( { printf '%s\n' "pulumi=$PULUMI_VERSION" "command=$COMMAND_VERSION" "kubernetes=$KUBERNETES_VERSION" \
            "tls=$TLS_VERSION" "rancher2=$RANCHER2_VERSION" "go=$go_id"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
out=$cache_root/$hash
mkdir -p "$cache_root"

if [ -f "$out/.complete" ]; then
  log "cached: pulumi $PULUMI_VERSION, command $COMMAND_VERSION, kubernetes $KUBERNETES_VERSION, tls $TLS_VERSION"
  echo "$out"; exit 0
fi

exec 9>"$cache_root/$hash.lock"
flock 9 # one build of this version set at a time; a second caller waits, then finds it done
if [ -f "$out/.complete" ]; then echo "$out"; exit 0; fi

t_start=$(date +%s)
work=$cache_root/.work/$hash # wrapper modules and logs; kept for inspection, rebuilt per piece on each try
mkdir -p "$out/bin" "$out/.done" "$work"
printf '%s\n' "PULUMI_VERSION=$PULUMI_VERSION" "COMMAND_VERSION=$COMMAND_VERSION" \
  "KUBERNETES_VERSION=$KUBERNETES_VERSION" "TLS_VERSION=$TLS_VERSION" "RANCHER2_VERSION=$RANCHER2_VERSION" >"$out/versions.env" # read by env.sh
rm -f "$out/MISSING" "$work"/*.missing
log "building into $out (go $go_id; jobs=$jobs)"

# Record that a piece cannot be had from the proxy (exit 3 of a piece).
missing() { # piece, message
  printf '%s: %s\n' "$1" "$2" >"$work/$1.missing"
  log "$1: NOT AVAILABLE: $2"
  exit 3 # each piece runs in its own subshell
}

# go mod download -json MOD@VER -> writes the JSON to $2; returns non-zero with the proxy's error in $3.
download() {
  local json
  json=$(go mod download -json "$1" 2>/dev/null || true)
  printf '%s\n' "$json" >"$2"
  if [ "$(json 'j.Error ? "error" : "ok"' <"$2" 2>/dev/null)" != ok ]; then
    { json 'j.Error' <"$2" 2>/dev/null || echo "no answer"; } | tr '\n' ' ' >"$3"; return 1
  fi
}

# build_piece NAME BIN MODULE "VERSION-CANDIDATES" PKG-IN-MODULE LDFLAGS TAGS GENERATE(yes/no) "EXTRA-REQUIRES"
# Builds MODULE/PKG from a wrapper module that requires MODULE at the first candidate version the proxy
# serves, plus EXTRA-REQUIRES (modules that MODULE's go.mod replaces with directories of its own repo), and
# that copies MODULE's non-local replace directives. GENERATE=yes runs the package's generate.go (what
# `go generate` does in the upstream Makefile) on a writable copy of the module, which is then used instead.
build_piece() {
  local name=$1 bin=$2 mod=$3 candidates=$4 pkg=$5 ldflags=$6 tags=$7 generate=$8 extra=$9
  local dir=$work/$name t0 t1 t2 ver="" err="" dl=$work/$name.dl.json
  rm -rf "$dir" "$work/$name.missing"; mkdir -p "$dir"
  t0=$(date +%s)
  for v in $candidates; do
    if download "$mod@$v" "$dl" "$dir/err"; then ver=$v; break; fi
    err="$err [$mod@$v: $(cat "$dir/err")]"
  done
  [ -n "$ver" ] || missing "$name" "the Go module proxy serves none of:$err"
  for r in $extra; do
    download "$r" "$dir/extra.json" "$dir/err" || missing "$name" "$mod@$ver needs $r, which the Go module proxy does not serve: $(cat "$dir/err")"
  done
  local moddir gomod
  moddir=$(json j.Dir <"$dl"); gomod=$(json j.GoMod <"$dl")

  (
    cd "$dir"
    go mod init "rancher-ha.local/engine/$name" >/dev/null 2>&1
    go mod edit -go="$(go mod edit -json "$gomod" | json 'j.Go || "1.21"')" -require="$mod@$ver"
    for r in $extra; do go mod edit -require="$r"; done
    # Replaces of the module itself: non-local ones are copied; local ones must be covered by EXTRA-REQUIRES
    # (same repo, published as modules) or be unused by the binary, else the piece cannot be built from the proxy.
    go mod edit -json "$gomod" | json '(j.Replace || []).map(r => [r.Old.Path, r.Old.Version || "", r.New.Path, r.New.Version || ""].join("|"))' |
      while IFS='|' read -r op ov np nv; do
        if [ -n "$nv" ]; then go mod edit -replace="$op${ov:+@$ov}=$np@$nv"
        else echo "$op => $np"; fi
      done >local-replaces
    : >unresolved
    while read -r op _ np; do
      case " $extra " in *" $op@"*) continue ;; esac
      echo "$op => $np" >>unresolved
    done <local-replaces
  )
  if [ -s "$dir/unresolved" ]; then
    missing "$name" "$mod@$ver replaces $(tr '\n' ';' <"$dir/unresolved") with directories of its own repository that are not published as modules"
  fi

  if [ "$generate" = yes ]; then
    # The module zip has the committed schema.json; the embedded schema-embed.json (and friends) are
    # generated files. Run the upstream generate.go, built in the wrapper module, in a writable copy.
    cp -r "$moddir" "$dir/src"; chmod -R u+w "$dir/src"
    (cd "$dir" && go mod edit -replace="$mod=./src")
    mkdir -p "$dir/gen"
    sed '/^\/\/go:build ignore/d; /^\/\/ +build ignore/d' "$dir/src/$pkg/generate.go" >"$dir/gen/main.go"
    (cd "$dir" && go build -o gen/gen ./gen)
    (cd "$dir/src/$pkg" && VERSION=${GEN_VERSION:?} "$dir/gen/gen")
  fi

  # Load the package graph once: this downloads every module the binary needs (timed apart from compiling).
  (cd "$dir" && go list -tags "$tags" -deps "$mod/$pkg" >/dev/null)
  t1=$(date +%s)
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$dir/$bin" "$mod/$pkg")
  t2=$(date +%s)
  mv -f "$dir/$bin" "$out/bin/$bin"
  printf '%s %s@%s download=%ss build=%ss\n' "$bin" "$mod" "$ver" $((t1 - t0)) $((t2 - t1)) >"$out/.done/$name"
  log "$name: built $bin from $mod@$ver (modules $((t1 - t0))s, compile+link $((t2 - t1))s)"
}

sdk=github.com/pulumi/pulumi/sdk/v3
pkgmod=github.com/pulumi/pulumi/pkg/v3
pv=v$PULUMI_VERSION
pulumi_release="$pkgmod@$pv $sdk@$pv" # the monorepo modules that pkg/ and the language host replace locally

piece_pulumi() {
  build_piece pulumi pulumi $pkgmod "$pv" cmd/pulumi \
    "-X $sdk/go/common/version.Version=$pv" osusergo,grpcnotrace no "$sdk@$pv"
}
piece_pulumi-language-nodejs() {
  local rc=0
  ( build_piece pulumi-language-nodejs pulumi-language-nodejs github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 \
      "$(pseudo_version "pulumi-language-nodejs@$PULUMI_VERSION")" . \
      "-X $sdk/go/common/version.Version=$pv" osusergo,grpcnotrace no "$pulumi_release" ) &
  wait $! || rc=$? # (run apart: errexit does not apply inside a subshell tested with ||)
  [ "$rc" = 3 ] && [ "${RANCHER_HA_ENGINE_NO_FALLBACK:-}" != 1 ] || return "$rc"
  # FALLBACK (a deviation, recorded in DEVIATIONS): the language host of this release is not served, so build
  # the one of the last release that still had it inside the sdk/v3 module (v3.68.0; from v3.69.0 on it is a
  # module of its own). It is real upstream code built from the proxy, but 3 years older than the CLI.
  local fb=v3.68.0
  log "pulumi-language-nodejs: falling back to $sdk@$fb/nodejs/cmd/pulumi-language-nodejs"
  mv "$work/pulumi-language-nodejs.missing" "$work/pulumi-language-nodejs.unserved"
  build_piece pulumi-language-nodejs pulumi-language-nodejs $sdk "$fb" nodejs/cmd/pulumi-language-nodejs \
    "-X $sdk/go/common/version.Version=$fb" osusergo,grpcnotrace no ""
  printf 'pulumi-language-nodejs is %s/nodejs/cmd/pulumi-language-nodejs@%s, not %s: %s\n' "$sdk" "$fb" "$pv" \
    "$(sed 's/^pulumi-language-nodejs: //' "$work/pulumi-language-nodejs.unserved")" >"$out/DEVIATIONS"
}
piece_command() {
  local m=github.com/pulumi/pulumi-command/provider
  build_piece command pulumi-resource-command $m "v$COMMAND_VERSION $(pseudo_version "command@$COMMAND_VERSION")" \
    cmd/pulumi-resource-command "-X $m/pkg/version.Version=$COMMAND_VERSION" "" no ""
}
piece_kubernetes() {
  local m=github.com/pulumi/pulumi-kubernetes/provider/v4
  # Its go.mod replaces sdk/v4 => ../sdk, and non-test packages (pkg/helm, pkg/provider/yaml/v2,
  # pkg/provider/helm/v4) import that Go SDK: take the published sdk/v4 of the same release instead.
  GEN_VERSION=$KUBERNETES_VERSION build_piece kubernetes pulumi-resource-kubernetes $m \
    "v$KUBERNETES_VERSION $(pseudo_version "kubernetes@$KUBERNETES_VERSION")" \
    cmd/pulumi-resource-kubernetes "-X $m/pkg/version.Version=$KUBERNETES_VERSION" "" yes \
    "github.com/pulumi/pulumi-kubernetes/sdk/v4@v$KUBERNETES_VERSION"
}
piece_tls() {
  local m=github.com/pulumi/pulumi-tls/provider/v5
  GEN_VERSION=$TLS_VERSION build_piece tls pulumi-resource-tls $m "v$TLS_VERSION $(pseudo_version "tls@$TLS_VERSION")" \
    cmd/pulumi-resource-tls "-X $m/pkg/version.Version=$TLS_VERSION" "" yes ""
}

# rancherSetup (first-run setup, imported clusters): a bridged Terraform provider, module path by major version.
piece_rancher2() {
  local m=github.com/pulumi/pulumi-rancher2/provider/v${RANCHER2_VERSION%%.*}
  build_piece rancher2 pulumi-resource-rancher2 $m "v$RANCHER2_VERSION $(pseudo_version "rancher2@$RANCHER2_VERSION")" \
    cmd/pulumi-resource-rancher2 "-X $m/pkg/version.Version=$RANCHER2_VERSION" "" no ""
}

# The release archives ship the dynamic-provider shim next to the CLI; it comes with the sdk/v3 module.
piece_nodejs-dynamic-provider() {
  local dl=$work/sdk.dl.json e=$work/sdk.err
  download "$sdk@$pv" "$dl" "$e" || missing nodejs-dynamic-provider "$sdk@$pv: $(cat "$e")"
  install -m 0755 "$(json j.Dir <"$dl")/nodejs/dist/pulumi-resource-pulumi-nodejs" "$out/bin/pulumi-resource-pulumi-nodejs"
  echo "pulumi-resource-pulumi-nodejs $sdk@$pv (script)" >"$out/.done/nodejs-dynamic-provider"
}

# Heaviest first, so the long CLI compile overlaps with the rest.
pieces="pulumi kubernetes pulumi-language-nodejs tls command rancher2 nodejs-dynamic-provider"
declare -A pid_of=() rc_of=()
run_piece() {
  local p=$1
  if [ -f "$out/.done/$p" ]; then log "$p: already built"; rc_of[$p]=0; return; fi
  log "$p: start (log $work/$p.log)"
  ( set -o pipefail; "piece_$p" ) >"$work/$p.log" 2>&1 &
  pid_of[$p]=$!
}
reap() { # wait for one running piece
  local p pid rc
  while :; do
    for p in "${!pid_of[@]}"; do
      pid=${pid_of[$p]}
      if ! kill -0 "$pid" 2>/dev/null; then
        rc=0; wait "$pid" || rc=$?
        unset "pid_of[$p]"; rc_of[$p]=$rc
        case $rc in 0) ;; 3) ;; *) log "$p: FAILED (exit $rc); last lines of $work/$p.log:"; tail -n 30 "$work/$p.log" >&2 ;; esac
        return
      fi
    done
    sleep 1
  done
}
for p in $pieces; do
  while [ "${#pid_of[@]}" -ge "$jobs" ]; do reap; done
  run_piece "$p"
done
while [ "${#pid_of[@]}" -gt 0 ]; do reap; done

status=0
cat "$work"/*.missing >"$out/MISSING" 2>/dev/null || true
for p in $pieces; do
  case ${rc_of[$p]:-1} in 0) ;; 3) [ $status = 1 ] || status=3 ;; *) status=1 ;; esac
done
[ -s "$out/MISSING" ] || rm -f "$out/MISSING"

log "pieces:"; for f in "$out"/.done/*; do [ -e "$f" ] && log "  $(cat "$f")"; done
[ -f "$out/DEVIATIONS" ] && log "DEVIATION: $(cat "$out/DEVIATIONS")"
[ -f "$out/MISSING" ] && { log "missing:"; while read -r l; do log "  $l"; done <"$out/MISSING"; }
log "total $(( $(date +%s) - t_start ))s; $(du -sh "$out" | cut -f1) in $out"
if [ $status = 0 ]; then
  touch "$out/.complete"
fi
echo "$out"
exit $status
