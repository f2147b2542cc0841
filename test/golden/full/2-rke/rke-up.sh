set -eu
WORK="$HOME"/clusters/rancher-prod
RKE=rke
HOST=local
fail() { echo "rancher-ha: $HOST: $*" >&2; exit 1; }
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
umask 077
mkdir -p "$WORK/keys"
chmod 700 "$WORK" "$WORK/keys"
IN=$(mktemp -d "$WORK/.incoming.XXXXXX")
trap 'rm -rf "$IN"' EXIT
unpack_bundle "$IN"
[ -s "$IN/rancher-cluster.yml" ] || fail "no rancher-cluster.yml on stdin (rancher-ha internal error)"
cd "$WORK"
# SSH keys: keys/<keyId>, 0600; keys no longer referenced are removed.
KEEP=" "
for f in "$IN"/key-*; do
  [ -e "$f" ] || continue
  id=${f##*/key-}
  KEEP="$KEEP$id "
  cmp -s "$f" "keys/$id" 2>/dev/null || mv -f "$f" "keys/$id"
  chmod 600 "keys/$id"
done
for f in keys/*; do
  [ -e "$f" ] || continue
  case "$KEEP" in *" ${f##*/} "*) ;; *) rm -f "$f" ;; esac
done
cmp -s "$IN/rancher-cluster.yml" rancher-cluster.yml 2>/dev/null || mv -f "$IN/rancher-cluster.yml" rancher-cluster.yml
chmod 600 rancher-cluster.yml
WANT=v1.6.3
case $(uname -m) in aarch64|arm64) ARCH=arm64 ;; *) ARCH=amd64 ;; esac
INSTALL="install rke $WANT: curl -fsSLo /tmp/rke https://github.com/rancher/rke/releases/download/$WANT/rke_linux-$ARCH && sudo install -m 0755 /tmp/rke /usr/local/bin/rke (or point admin.rkePath at it)"
command -v "$RKE" >/dev/null 2>&1 || fail "rke not found (admin.rkePath: $RKE); $INSTALL"
HAVE=$("$RKE" --version 2>/dev/null | sed -n 's/^rke version \([^ ]*\).*/\1/p' | head -n 1)
[ "$HAVE" = "$WANT" ] || fail "$RKE is rke ${HAVE:-of unknown version}, but versions.rke is $WANT; $INSTALL, or set versions.rke to the installed one"
# The state file holds the cluster's CA and certificates: restore it from the stack, never overwrite it.
if [ ! -s rancher-cluster.rkestate ]; then
  if [ -s "$IN/restore.rkestate" ]; then
    mv -f "$IN/restore.rkestate" rancher-cluster.rkestate
    chmod 600 rancher-cluster.rkestate
    echo "rancher-ha: $HOST: rancher-cluster.rkestate was missing; restored it from the Pulumi stack" >&2
  elif [ -e "$IN/cluster-exists" ]; then
    fail "the cluster exists (Pulumi ran rke up before) but neither $WORK/rancher-cluster.rkestate nor the stack has its state file; rke up without it would create new certificates and break the cluster. Put the state file back (from a backup, or: pulumi stack output --show-secrets rkeState > rancher-cluster.rkestate) in $WORK and run pulumi up again"
  fi
fi
# Only worker-only nodes added or removed (same base fingerprint, no kept worker changed): rke up --update-only.
only_workers_changed() {
  awk 'FNR == NR { if ($1 == "base") ob = $2; else if ($1 == "worker") ow[$2] = $3; next }
       $1 == "base" { nb = $2 }
       $1 == "worker" && ($2 in ow) && ow[$2] != $3 { changed = 1 }
       END { exit !(ob != "" && ob == nb && !changed) }' "$1" "$2"
}
NEW=$(cat rancher-cluster.yml "$IN/rancher-cluster.plan" | sha256sum | cut -d ' ' -f 1)
LAST=$(cat .rancher-ha-last-up 2>/dev/null || true)
if [ "$LAST" = "$NEW" ] && [ -s rancher-cluster.rkestate ] && [ -s kube_config_rancher-cluster.yml ]; then
  MODE=unchanged
  echo "rancher-ha: $HOST: rancher-cluster.yml is unchanged since the last successful rke up; not running rke" >&2
else
  MODE=full
  FLAGS=""
  if [ -s .rancher-ha-last-plan ] && [ -s rancher-cluster.rkestate ] && only_workers_changed .rancher-ha-last-plan "$IN/rancher-cluster.plan"; then
    MODE=update-only
    FLAGS="--update-only"
  fi
  ATTEMPTS=3
  n=1
  : > rke.log
  while :; do
    echo "rancher-ha: $HOST: rke up $FLAGS --config rancher-cluster.yml (attempt $n of $ATTEMPTS)" >&2
    { if "$RKE" up $FLAGS --config rancher-cluster.yml 2>&1; then echo 0 > "$IN/rc"; else echo $? > "$IN/rc"; fi; } | tee -a rke.log >&2
    [ "$(cat "$IN/rc")" = 0 ] && break
    if [ "$n" -ge "$ATTEMPTS" ]; then
      echo "rancher-ha: $HOST: rke up failed $n time(s); last lines of $WORK/rke.log:" >&2
      tail -n 25 rke.log | sed 's/^/  | /' >&2
      fail "rke up failed (exit $(cat "$IN/rc")) after $n attempt(s); see the rke output above (docs/troubleshooting.md lists the common causes), fix it and run pulumi up again"
    fi
    n=$((n + 1))
    sleep 15
  done
  { [ -s rancher-cluster.rkestate ] && [ -s kube_config_rancher-cluster.yml ]; } || fail "rke up succeeded but did not write rancher-cluster.rkestate and kube_config_rancher-cluster.yml in $WORK"
  cp "$IN/rancher-cluster.plan" .rancher-ha-last-plan
  echo "$NEW" > .rancher-ha-last-up
fi
# Outputs for Pulumi (secret): one framed block, base64, on stdout.
echo '-----BEGIN RANCHER-HA RKE OUTPUTS-----'
echo "mode $MODE"
printf 'kubeconfig '; base64 < kube_config_rancher-cluster.yml | tr -d '\n'; echo
printf 'rkestate '; base64 < rancher-cluster.rkestate | tr -d '\n'; echo
echo '-----END RANCHER-HA RKE OUTPUTS-----'
