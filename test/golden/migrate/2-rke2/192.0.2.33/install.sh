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
HOST='server 192.0.2.33'
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
NEW=$({ echo install "$KIND" "$WANT"; for f in config.yaml registries.yaml etcd-s3-ca.pem admin-kubeconfig; do [ -f "$IN/$f" ] && { echo "$f"; cat "$IN/$f"; }; done; } | sha256sum | cut -d ' ' -f 1)
job_running() { [ -s "$JOB/pid" ] && [ ! -e "$JOB/rc" ] && kill -0 "$(cat "$JOB/pid")" 2>/dev/null; }
# wait_job: streams the job's log to stderr until it has written its exit status (bounded).
wait_job() {
  off=$(cat "$JOB/log-offset" 2>/dev/null || echo 0)
  end=$(( $(date +%s) + 3300 ))
  while [ ! -e "$JOB/rc" ]; do
    size=$(wc -c < "$LOG" 2>/dev/null || echo 0)
    if [ "$size" -gt "$off" ]; then tail -c +$((off + 1)) "$LOG" | head -c $((size - off)) >&2; off=$size; fi
    if ! kill -0 "$(cat "$JOB/pid" 2>/dev/null || echo 0)" 2>/dev/null && [ ! -e "$JOB/rc" ]; then
      fail "the detached RKE2 install (pid $(cat "$JOB/pid" 2>/dev/null)) ended without an exit status (killed?); see $LOG and run pulumi up again"
    fi
    [ "$(date +%s)" -lt "$end" ] || fail "the RKE2 install is still running after 3300 s (pid $(cat "$JOB/pid")); it goes on in the background: follow $LOG, then run pulumi up again"
    sleep 1
  done
  size=$(wc -c < "$LOG" 2>/dev/null || echo 0)
  [ "$size" -le "$off" ] || tail -c +$((off + 1)) "$LOG" >&2
}
# The same job still running (the SSH session of an earlier pulumi up was lost): wait for it, then go on as usual
# (it left nothing to redo, so the run below changes nothing).
if job_running && [ "$(cat "$JOB/hash" 2>/dev/null)" = "$NEW" ]; then
  echo "rancher-ha: $HOST: the same RKE2 install started earlier is still running (pid $(cat "$JOB/pid")); waiting for it" >&2
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
HOST='server 192.0.2.33'
STATE=/var/lib/rancher/rancher-ha
KIND=server
WANT=v1.32.5+rke2r1
UNIT=rke2-server.service
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
version_of() { "$1" --version 2>/dev/null | sed -n 's/^rke2 version \([^ ]*\).*/\1/p' | head -n 1; }
journal_tail() {
  echo "rancher-ha: $HOST: last lines of journalctl -u $UNIT:"
  journalctl -u "$UNIT" -n 30 --no-pager 2>&1 | sed 's/^/  | /' || true
}
echo "rancher-ha: $HOST: RKE2 $KIND $WANT, job started $(date -u +%Y-%m-%dT%H:%M:%SZ)"
minor() { echo "$1" | sed -n 's/^v1\.\([0-9][0-9]*\)\..*/\1/p'; }
HAVE=""
if BIN=$(find_rke2); then HAVE=$(version_of "$BIN"); fi
# RKE2 supports upgrades one minor at a time and no downgrades (a downgrade is an etcd snapshot restore).
if [ -n "$HAVE" ] && [ "$HAVE" != "$WANT" ]; then
  HM=$(minor "$HAVE")
  WM=$(minor "$WANT")
  if [ -z "$HM" ] || [ -z "$WM" ]; then fail "cannot read the minor version of the installed $HAVE or of $WANT"; fi
  if [ "$(printf '%s\n%s\n' "$HAVE" "$WANT" | sort -V | head -n 1)" = "$WANT" ]; then
    fail "RKE2 $HAVE is installed and versions.kubernetes is $WANT, an older release: RKE2 cannot be downgraded; set versions.kubernetes back to $HAVE (to go back, restore an etcd snapshot taken before the upgrade: docs/rke2.md)"
  fi
  if [ "$WM" -gt $((HM + 1)) ]; then
    fail "RKE2 $HAVE is installed and versions.kubernetes $WANT skips a minor version: upgrade one minor at a time (set versions.kubernetes to the newest v1.$((HM + 1)) release, pulumi up, then go on)"
  fi
  echo "rancher-ha: $HOST: upgrading RKE2 $HAVE -> $WANT"
fi
UPGRADED=""
if [ "$HAVE" != "$WANT" ]; then
  URL=https://get.rke2.io
  command -v curl >/dev/null 2>&1 || fail "curl is not installed; install it, or set rke2.artifactsDir to install from files copied over SSH"
  echo "rancher-ha: $HOST: installing RKE2 $WANT ($KIND) with the install script from $URL"
  curl -fsSL --retry 3 --connect-timeout 20 --max-time 300 -o "$JOB/install.sh" "$URL" || fail "could not download $URL (rke2.installScriptUrl); check the node's access to it, or use rke2.artifactsDir"
  INSTALL_RKE2_VERSION="$WANT" INSTALL_RKE2_TYPE=$KIND sh "$JOB/install.sh" || fail "install.sh failed (its output is above)"
  BIN=$(find_rke2) || fail "install.sh ran, but there is no rke2 in /usr/local/bin or /opt/rke2/bin"
  GOT=$(version_of "$BIN")
  [ "$GOT" = "$WANT" ] || fail "the installed RKE2 is ${GOT:-of unknown version}, but versions.kubernetes is $WANT (the release files in rke2.artifactsDir are of another release?)"
  systemctl daemon-reload
  UPGRADED=1
fi
# The files: replaced only when they differ (atomic rename, 0600); a change restarts the unit below.
CHANGED=""
put() {
  if ! cmp -s "$1" "$2"; then
    cp "$1" "$2.rancher-ha.tmp"
    chmod 600 "$2.rancher-ha.tmp"
    mv -f "$2.rancher-ha.tmp" "$2"
    CHANGED="$CHANGED ${2##*/}"
  fi
}
# A file of ours the stack no longer sets (its first line is our header): removed.
drop() {
  if [ -f "$1" ] && head -n 1 "$1" | grep -q '^# Written by rancher-ha'; then rm -f "$1"; CHANGED="$CHANGED -${1##*/}"; fi
}
mkdir -p /etc/rancher/rke2
put "$JOB/in/config.yaml" /etc/rancher/rke2/config.yaml
if [ -f "$JOB/in/registries.yaml" ]; then put "$JOB/in/registries.yaml" /etc/rancher/rke2/registries.yaml; else drop /etc/rancher/rke2/registries.yaml; fi
if [ -f "$JOB/in/etcd-s3-ca.pem" ]; then
  { echo "# Written by rancher-ha (etcdSnapshots.s3.customCa)"; cat "$JOB/in/etcd-s3-ca.pem"; } > "$JOB/in/ca.pem"
  put "$JOB/in/ca.pem" /etc/rancher/rke2/etcd-s3-ca.pem
else
  drop /etc/rancher/rke2/etcd-s3-ca.pem
fi
systemctl enable "$UNIT" >/dev/null 2>&1 || systemctl enable "$UNIT" || fail "systemctl enable $UNIT failed"
if [ -n "$UPGRADED$CHANGED" ] || ! systemctl is-active --quiet "$UNIT"; then
  # --no-block: RKE2's units have TimeoutStartSec=0, so a blocking start could wait forever; the wait is ours.
  REASON="not running"
  [ -z "$CHANGED" ] || REASON="changed:$CHANGED"
  [ -z "$UPGRADED" ] || REASON="upgraded to $WANT"
  echo "rancher-ha: $HOST: (re)starting $UNIT ($REASON)"
  systemctl restart --no-block "$UNIT" || fail "systemctl restart $UNIT failed"
else
  echo "rancher-ha: $HOST: RKE2 $WANT installed, config unchanged and $UNIT running: nothing to restart"
fi
if [ "$KIND" = server ]; then KC=/etc/rancher/rke2/rke2.yaml; else KC="$JOB/in/admin-kubeconfig"; fi
NAME=$(node_name)
echo "rancher-ha: $HOST: waiting up to 900 s for node $NAME to be Ready"
END=$(( $(date +%s) + 900 ))
while :; do
  READY=""
  if [ -x "$KUBECTL" ] && [ -s "$KC" ]; then
    READY=$("$KUBECTL" --kubeconfig "$KC" --request-timeout=10s get node "$NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  fi
  [ "$READY" = True ] && break
  if systemctl is-failed --quiet "$UNIT"; then
    journal_tail
    fail "$UNIT failed to start (see the journal above)"
  fi
  if [ "$(date +%s)" -ge "$END" ]; then
    journal_tail
    fail "node $NAME is not Ready after 900 s (rke2.nodeReadyTimeout; Ready=${READY:-unknown}); see the journal above"
  fi
  sleep 5
done
echo "$NAME" > "$STATE/node-name"
echo "rancher-ha: $HOST: node $NAME is Ready (RKE2 $WANT)"
RANCHER_HA_JOB
touch "$LOG"
chmod 600 "$LOG"
wc -c < "$LOG" | tr -d ' ' > "$JOB/log-offset"
# Its own session (setsid), stdin from /dev/null, output to the log: a dropped SSH session never stops it half-way.
# It inherits fd 9, so it holds the node's lock until it ends; its exit status lands in $JOB/rc.
# shellcheck disable=SC2016 # $1 and $2 are the inner sh's arguments
setsid sh -c 'sh "$1/run.sh" "$1" "$2"; echo $? > "$1/rc.tmp"; mv "$1/rc.tmp" "$1/rc"' rancher-ha "$JOB" "$USER_HOME" < /dev/null >> "$LOG" 2>&1 &
echo $! > "$JOB/pid"
echo "RKE2 install, stack $STACK, pid $!, since $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$STATE/lock.owner"
wait_job
RC=$(cat "$JOB/rc")
[ "$RC" = 0 ] || fail "the RKE2 install failed (exit $RC); its output is above (and in $LOG); fix the cause and run pulumi up again"
# Outputs for Pulumi (secret): one framed block on stdout.
echo '-----BEGIN RANCHER-HA RKE2 NODE-----'
echo "node-name $(cat "$STATE/node-name")"
echo "version $WANT"
if [ "$KIND" = server ]; then
  printf 'kubeconfig '; base64 < /etc/rancher/rke2/rke2.yaml | tr -d '\n'; echo
fi
echo '-----END RANCHER-HA RKE2 NODE-----'
RANCHER_HA_ROOT
$SUDO sh "$IN/root.sh" "$IN" "$HOME"
