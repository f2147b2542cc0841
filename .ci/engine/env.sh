# Sourced (bash): puts an engine built by .ci/engine/build.sh to use in the current shell.
#
#   dir=$(bash .ci/engine/build.sh | tail -n 1)   # (exit 3 = some piece could not be built; see below)
#   source .ci/engine/env.sh "$dir" [PULUMI_HOME]  # PULUMI_HOME defaults to a new temp dir
#
# It prepends "$dir/bin" to PATH (pulumi, pulumi-language-nodejs, pulumi-resource-pulumi-nodejs and the
# provider binaries all sit there, so the CLI also finds its language host next to itself), sets PULUMI_HOME,
# turns off every download and update check (PULUMI_IGNORE_AMBIENT_PLUGINS, PULUMI_DISABLE_AUTOMATIC_PLUGIN_
# ACQUISITION, PULUMI_SKIP_UPDATE_CHECK), installs each built provider into PULUMI_HOME with
# `pulumi plugin install resource NAME VERSION --file BIN` (no network), and checks with `pulumi plugin ls`
# that each is there at the exact version from package-lock.json.
#
# Sets RANCHER_HA_ENGINE_DIR, RANCHER_HA_ENGINE_MISSING (space-separated pieces that the engine dir lacks:
# pulumi, pulumi-language-nodejs, command, kubernetes, tls). Status: 0 = all there; 3 = usable but some piece
# missing (a test that needs it should skip with "$RANCHER_HA_ENGINE_MISSING"); 1 = unusable or a check failed.
# The caller's shell options are left as they were.

rancher_ha_engine_env() {
  local dir=${1:-} home=${2:-} name version bin ls_json missing="" plugin
  if [ -z "$dir" ] || [ ! -d "$dir/bin" ] || [ ! -f "$dir/versions.env" ]; then
    echo "env.sh: usage: source .ci/engine/env.sh ENGINE_DIR [PULUMI_HOME] (ENGINE_DIR from build.sh)" >&2
    return 1
  fi
  dir=$(cd "$dir" && pwd)
  local PULUMI_VERSION="" COMMAND_VERSION="" KUBERNETES_VERSION="" TLS_VERSION="" RANCHER2_VERSION=""
  # shellcheck disable=SC1091
  . "$dir/versions.env"

  if [ -z "$home" ]; then home=$(mktemp -d "${TMPDIR:-/tmp}/rancher-ha-pulumi-home.XXXXXX") || return 1; fi
  mkdir -p "$home" || return 1
  export PULUMI_HOME=$home
  case ":$PATH:" in *":$dir/bin:"*) ;; *) export PATH="$dir/bin:$PATH" ;; esac
  export PULUMI_IGNORE_AMBIENT_PLUGINS=true
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
  export PULUMI_SKIP_UPDATE_CHECK=true
  export RANCHER_HA_ENGINE_DIR=$dir

  if [ ! -x "$dir/bin/pulumi" ]; then
    export RANCHER_HA_ENGINE_MISSING="pulumi"
    echo "env.sh: $dir/bin/pulumi was not built" >&2
    return 1
  fi
  if [ "$(command -v pulumi)" != "$dir/bin/pulumi" ]; then
    echo "env.sh: 'pulumi' resolves to $(command -v pulumi), not $dir/bin/pulumi" >&2
    return 1
  fi
  if [ "$(pulumi version 2>/dev/null)" != "v$PULUMI_VERSION" ]; then
    echo "env.sh: pulumi version is '$(pulumi version 2>&1)', want v$PULUMI_VERSION" >&2
    return 1
  fi
  # The CLI finds the language host next to itself (and on PATH); both are this bin dir.
  if [ "$(command -v pulumi-language-nodejs)" != "$dir/bin/pulumi-language-nodejs" ]; then
    missing="$missing pulumi-language-nodejs"
    echo "env.sh: no pulumi-language-nodejs in $dir/bin: Node.js programs cannot run" >&2
  fi
  if [ -f "$dir/DEVIATIONS" ]; then
    echo "env.sh: note: $(cat "$dir/DEVIATIONS")" >&2
  fi

  for plugin in "command:$COMMAND_VERSION" "kubernetes:$KUBERNETES_VERSION" "tls:$TLS_VERSION" "rancher2:$RANCHER2_VERSION"; do
    name=${plugin%%:*}; version=${plugin#*:}; bin=$dir/bin/pulumi-resource-$name
    if [ ! -x "$bin" ]; then missing="$missing $name"; continue; fi
    if ! pulumi plugin install resource "$name" "$version" --file "$bin" --non-interactive >"$home/plugin-install-$name.log" 2>&1; then
      echo "env.sh: pulumi plugin install resource $name $version --file $bin failed:" >&2
      cat "$home/plugin-install-$name.log" >&2
      return 1
    fi
  done

  ls_json=$(pulumi plugin ls --json 2>&1) || { echo "env.sh: pulumi plugin ls failed: $ls_json" >&2; return 1; }
  for plugin in "command:$COMMAND_VERSION" "kubernetes:$KUBERNETES_VERSION" "tls:$TLS_VERSION" "rancher2:$RANCHER2_VERSION"; do
    name=${plugin%%:*}; version=${plugin#*:}
    case " $missing " in *" $name "*) continue ;; esac
    if ! printf '%s' "$ls_json" | node -e '
        const [name, version] = process.argv.slice(1); let s = ""; process.stdin.on("data", d => s += d);
        process.stdin.on("end", () => { const ok = (JSON.parse(s) || []).some(p =>
          p.kind === "resource" && p.name === name && p.version === version); process.exit(ok ? 0 : 1); });' \
        "$name" "$version"; then
      echo "env.sh: pulumi plugin ls does not show resource $name $version:" >&2
      pulumi plugin ls >&2
      return 1
    fi
  done

  missing=${missing# }
  export RANCHER_HA_ENGINE_MISSING=$missing
  if [ -n "$missing" ]; then
    echo "env.sh: engine $dir lacks: $missing$( [ -f "$dir/MISSING" ] && printf '\n%s' "$(cat "$dir/MISSING")")" >&2
    return 3
  fi
  return 0
}
rancher_ha_engine_env "$@"
