set -eu
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
NAME=rancher-ha-lb-check
DIR=/etc/rancher-ha/lb/rancher-ha-lb-check
UNIT=/etc/systemd/system/rancher-ha-lb-check.service
RUN=/run/rancher-ha
PIDF="$RUN/rancher-ha-lb-check.pid"
LB_HOST=ops@192.0.2.10:2222
MARKER='# Managed by rancher-ha (Pulumi): LB host service'
say() { echo "rancher-ha-lb-service $NAME: $*"; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
fail() { echo "rancher-ha: $NAME on $LB_HOST: $*" >&2; exit 1; }
use_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
running() { PID=$($SUDO cat "$PIDF" 2>/dev/null) && [ -n "$PID" ] && $SUDO tr '\0' ' ' < "/proc/$PID/cmdline" 2>/dev/null | grep -qF "$DIR/"; }
stop_detached() {
  running || return 0
  $SUDO kill -TERM "$PID" 2>/dev/null || true
  i=0
  while running && [ "$i" -lt 30 ]; do sleep 0.5; i=$((i + 1)); done
  if running; then $SUDO kill -KILL "$PID" 2>/dev/null || true; fi
}
LOCK="$RUN/$NAME.lock"
$SUDO mkdir -p "$(dirname "$LOCK")"
$SUDO touch "$LOCK"
$SUDO chmod 666 "$LOCK"
exec 9>>"$LOCK" || fail "cannot open the lock file $LOCK"
if command -v flock >/dev/null 2>&1; then flock -w 120 9 || fail "another run holds $LOCK for 2 minutes; try again when it ends"; fi
OWNER_FILE=/etc/rancher-ha/lb-owner
OWNER=rancher-ha/full
TAKE_OVER='  '
owner_now() { $SUDO cat "$OWNER_FILE" 2>/dev/null | head -n 1 || true; }
check_owner() {
  _cur=$(owner_now)
  if [ -z "$_cur" ] || [ "$_cur" = "$OWNER" ]; then return 0; fi
  case "$TAKE_OVER" in *" $_cur "*) echo "rancher-ha: taking this LB host over from the stack $_cur (loadBalancer.takeOverFrom)" >&2; return 0 ;; esac
  fail "this LB host serves the stack $_cur ($OWNER_FILE): two stacks on one LB host overwrite each other. To move it to this stack (a migration's switch, or its rollback), set loadBalancer.takeOverFrom to ${_cur#*/}; otherwise give this stack LB hosts of its own"
}
claim_owner() {
  [ "$(owner_now)" = "$OWNER" ] && return 0
  $SUDO mkdir -p "$(dirname "$OWNER_FILE")"
  printf '%s\n' "$OWNER" | $SUDO tee "$OWNER_FILE.tmp" >/dev/null && $SUDO mv -f "$OWNER_FILE.tmp" "$OWNER_FILE"
}
other_owner() { _cur=$(owner_now); [ -n "$_cur" ] && [ "$_cur" != "$OWNER" ]; }
if other_owner; then say "left alone: this LB host serves the stack $(owner_now) now"; exit 0; fi
if use_systemd && $SUDO test -f "$UNIT" && $SUDO head -n 1 "$UNIT" | grep -qF "$MARKER"; then
  $SUDO systemctl disable --now "$NAME" >/dev/null 2>&1 || $SUDO systemctl stop "$NAME" || true
  $SUDO rm -f "$UNIT"
  $SUDO systemctl daemon-reload || true
else
  stop_detached
fi
$SUDO rm -f "$PIDF"
if $SUDO test -f "$DIR/.managed" && $SUDO grep -qF "$MARKER" "$DIR/.managed"; then $SUDO rm -rf "$DIR"; fi
say removed
