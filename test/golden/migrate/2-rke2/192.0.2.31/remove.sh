# rancher-ha: removes this node only; deletedWith the cluster record, so pulumi destroy skips it
set -eu
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
umask 077
IN=$(mktemp -d "${TMPDIR:-/tmp}/rancher-ha-rke2.XXXXXX")
trap 'rm -rf "$IN"' EXIT
unpack_bundle "$IN"
cat > "$IN/root.sh" <<'RANCHER_HA_ROOT'
set -eu
IN=$1
USER_HOME=$2
HOST='server 192.0.2.31'
STACK=migrate
KIND=server
WANT=v1.32.5+rke2r1
STATE=/var/lib/rancher/rancher-ha
fail() { echo "rancher-ha: $HOST: $*" >&2; exit 1; }
umask 077
mkdir -p "$STATE"
chmod 700 "$STATE"
JOB="$STATE/job"
LOG="$STATE/node.log"
# The job's identity: what it does with which inputs. A run with the same identity reattaches to it.
NEW=$({ echo removal "$KIND" "$WANT"; for f in config.yaml registries.yaml etcd-s3-ca.pem admin-kubeconfig; do [ -f "$IN/$f" ] && { echo "$f"; cat "$IN/$f"; }; done; } | sha256sum | cut -d ' ' -f 1)
job_running() { [ -s "$JOB/pid" ] && [ ! -e "$JOB/rc" ] && kill -0 "$(cat "$JOB/pid")" 2>/dev/null; }
# wait_job: streams the job's log to stderr until it has written its exit status (bounded).
wait_job() {
  off=$(cat "$JOB/log-offset" 2>/dev/null || echo 0)
  end=$(( $(date +%s) + 3300 ))
  while [ ! -e "$JOB/rc" ]; do
    size=$(wc -c < "$LOG" 2>/dev/null || echo 0)
    if [ "$size" -gt "$off" ]; then tail -c +$((off + 1)) "$LOG" | head -c $((size - off)) >&2; off=$size; fi
    if ! kill -0 "$(cat "$JOB/pid" 2>/dev/null || echo 0)" 2>/dev/null && [ ! -e "$JOB/rc" ]; then
      fail "the detached RKE2 removal (pid $(cat "$JOB/pid" 2>/dev/null)) ended without an exit status (killed?); see $LOG and run pulumi up again"
    fi
    [ "$(date +%s)" -lt "$end" ] || fail "the RKE2 removal is still running after 3300 s (pid $(cat "$JOB/pid")); it goes on in the background: follow $LOG, then run pulumi up again"
    sleep 1
  done
  size=$(wc -c < "$LOG" 2>/dev/null || echo 0)
  [ "$size" -le "$off" ] || tail -c +$((off + 1)) "$LOG" >&2
}
# The same job still running (the SSH session of an earlier pulumi up was lost): wait for it, then go on as usual
# (it left nothing to redo, so the run below changes nothing).
if job_running && [ "$(cat "$JOB/hash" 2>/dev/null)" = "$NEW" ]; then
  echo "rancher-ha: $HOST: the same RKE2 removal started earlier is still running (pid $(cat "$JOB/pid")); waiting for it" >&2
  wait_job
fi
command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is not installed on this node; install it (apt-get install util-linux / dnf install util-linux)"
exec 9>>"$STATE/lock"
if ! flock -n 9; then
  echo "rancher-ha: $HOST: waiting up to 600 s for another run on this node: $(cat "$STATE/lock.owner" 2>/dev/null || echo unknown)" >&2
  flock -w 600 9 || fail "another rancher-ha run holds $STATE/lock: $(cat "$STATE/lock.owner" 2>/dev/null || echo unknown); wait for it to finish and run again (the lock goes with its process)"
fi
# The job's inputs: a copy it owns (this session's temp dir goes with the session). Removed when it ends.
rm -rf "$JOB"
mkdir -m 700 "$JOB" "$JOB/in"
for f in config.yaml registries.yaml etcd-s3-ca.pem admin-kubeconfig; do
  if [ -f "$IN/$f" ]; then cp "$IN/$f" "$JOB/in/$f"; fi
done
echo "$NEW" > "$JOB/hash"
cat > "$JOB/run.sh" <<'RANCHER_HA_JOB'
set -eu
JOB=$1
HOST='server 192.0.2.31'
STATE=/var/lib/rancher/rancher-ha
KIND=server
STACK=migrate
KUBECTL=/var/lib/rancher/rke2/bin/kubectl
fail() { echo "rancher-ha: $HOST: $*" >&2; exit 1; }
trap 'rm -rf "$JOB/in"' EXIT
# install.sh unpacks into /usr/local, or /opt/rke2 where /usr/local is read-only.
find_rke2() {
  for p in /usr/local/bin/rke2 /opt/rke2/bin/rke2; do
    if [ -x "$p" ]; then echo "$p"; return 0; fi
  done
  return 1
}
# The node name RKE2 registers: config.yaml's node-name, else the host name in lower case.
node_name() {
  n=$(sed -n 's/^node-name: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' /etc/rancher/rke2/config.yaml 2>/dev/null | head -n 1)
  [ -n "$n" ] || n=$(hostname | tr '[:upper:]' '[:lower:]')
  echo "$n"
}
if ! BIN=$(find_rke2); then
  echo "rancher-ha: $HOST: RKE2 is not installed here; nothing to remove"
  rm -f "$STATE/node-name"
  exit 0
fi
NAME=$(cat "$STATE/node-name" 2>/dev/null || node_name)
if [ "$KIND" = server ]; then KC=/etc/rancher/rke2/rke2.yaml; else KC="$JOB/in/admin-kubeconfig"; fi
if [ ! -x "$KUBECTL" ] || [ ! -s "$KC" ]; then fail "no kubectl or kubeconfig here to drain $NAME with ($KUBECTL, $KC); is the cluster running? Fix it and run pulumi up again"; fi
k() { "$KUBECTL" --kubeconfig "$KC" --request-timeout=30s "$@"; }
if [ "$KIND" = server ]; then
  SERVERS=$(k get nodes -l node-role.kubernetes.io/etcd=true -o name) || fail "cannot list the cluster's servers; is the cluster up?"
  COUNT=$(echo "$SERVERS" | grep -c . || true)
  if [ "$COUNT" -le 1 ]; then
    fail "$NAME is the cluster's last server: removing it removes the cluster. Keep it in the stack; to remove the whole cluster on purpose: npm run ops -- remove-cluster --stack $STACK --yes"
  fi
fi
if k get node "$NAME" >/dev/null 2>&1; then
  echo "rancher-ha: $HOST: draining $NAME (up to 600 s; pods with a PodDisruptionBudget are evicted as it allows)"
  k drain "$NAME" --ignore-daemonsets --delete-emptydir-data --timeout=600s || fail "kubectl drain $NAME failed (a PodDisruptionBudget, or pods without a controller?); the node stays cordoned and installed. Fix it and run pulumi up again, or kubectl uncordon $NAME to keep it"
  k delete node "$NAME" --timeout=120s || fail "kubectl delete node $NAME failed; run pulumi up again"
else
  echo "rancher-ha: $HOST: node $NAME is not in the cluster (already deleted)"
fi
# RKE2 keeps a node's password in kube-system; a leftover one refuses a new node of the same name.
k -n kube-system delete secret "$NAME.node-password.rke2" --ignore-not-found >/dev/null || echo "rancher-ha: $HOST: could not delete the secret $NAME.node-password.rke2; delete it before a node of this name rejoins"
UNINSTALL=$(dirname "$BIN")/rke2-uninstall.sh
[ -x "$UNINSTALL" ] || fail "$UNINSTALL is missing; uninstall RKE2 by hand (the node is out of the cluster)"
echo "rancher-ha: $HOST: running $UNINSTALL"
"$UNINSTALL" || fail "$UNINSTALL failed (output above); run it again by hand"
rm -f "$STATE/node-name"
echo "rancher-ha: $HOST: RKE2 removed from this node"
RANCHER_HA_JOB
touch "$LOG"
chmod 600 "$LOG"
wc -c < "$LOG" | tr -d ' ' > "$JOB/log-offset"
# Its own session (setsid), stdin from /dev/null, output to the log: a dropped SSH session never stops it half-way.
# It inherits fd 9, so it holds the node's lock until it ends; its exit status lands in $JOB/rc.
# shellcheck disable=SC2016 # $1 and $2 are the inner sh's arguments
setsid sh -c 'sh "$1/run.sh" "$1" "$2"; echo $? > "$1/rc.tmp"; mv "$1/rc.tmp" "$1/rc"' rancher-ha "$JOB" "$USER_HOME" < /dev/null >> "$LOG" 2>&1 &
echo $! > "$JOB/pid"
echo "RKE2 removal, stack $STACK, pid $!, since $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$STATE/lock.owner"
wait_job
RC=$(cat "$JOB/rc")
[ "$RC" = 0 ] || fail "the RKE2 removal failed (exit $RC); its output is above (and in $LOG); fix the cause and run pulumi up again"
RANCHER_HA_ROOT
$SUDO sh "$IN/root.sh" "$IN" "$HOME"
