set -eu
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
NAME=rancher-ha-lb-check
DIR=/etc/rancher-ha/lb/rancher-ha-lb-check
UNIT=/etc/systemd/system/rancher-ha-lb-check.service
RUN=/run/rancher-ha
PIDF="$RUN/rancher-ha-lb-check.pid"
LB_HOST=rancher@192.0.2.10:22
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
OWNER=rancher-ha/minimal
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
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
WANT=b4921f6ff9ecd33ced47a8bb06575e7cb3e689632e436b8c2b26413427139860
CONFIRM=3
ON_CHANGE=restart
LOG=/var/log/rancher-ha/rancher-ha-lb-check.log
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/bundle"
[ "$(sha256sum < "$TMP/bundle" | cut -d' ' -f1)" = "$WANT" ] || fail "the files sent on stdin do not match their hash $WANT (interrupted transfer?); run pulumi up again"
mkdir "$TMP/files"
unpack_bundle "$TMP/files" < "$TMP/bundle"
check_owner
install_pkg() {
  if command -v apt-get >/dev/null 2>&1; then
    { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; } || fail "installing $1 with apt-get failed (above); install it by hand and run pulumi up again"
  elif command -v dnf >/dev/null 2>&1; then $SUDO dnf install -y -q "$2" >/dev/null || fail "installing $2 with dnf failed (above)"
  elif command -v yum >/dev/null 2>&1; then $SUDO yum install -y -q "$2" >/dev/null || fail "installing $2 with yum failed (above)"
  elif command -v zypper >/dev/null 2>&1; then $SUDO zypper -q -n install "$2" >/dev/null || fail "installing $2 with zypper failed (above)"
  else fail "$3 is not installed and there is no apt-get, dnf, yum or zypper; install $1 by hand"
  fi
  say "installed $1"
}
command -v curl >/dev/null 2>&1 || install_pkg curl curl curl
command -v ip >/dev/null 2>&1 || install_pkg iproute2 iproute ip
command -v ss >/dev/null 2>&1 || install_pkg iproute2 iproute ss
command -v nsenter >/dev/null 2>&1 || install_pkg util-linux util-linux nsenter
after_install() {
  :
}
CHANGED=0
if [ "$($SUDO cat "$DIR/.bundle-sha256" 2>/dev/null)" != "$WANT" ]; then
  CHANGED=1
  $SUDO mkdir -p "$DIR"
  $SUDO chmod 755 "$DIR"
  for f in "$TMP/files"/*; do
    $SUDO cp -p "$f" "$DIR/.$(basename "$f").new"
    $SUDO chown root:root "$DIR/.$(basename "$f").new" 2>/dev/null || true
    $SUDO mv -f "$DIR/.$(basename "$f").new" "$DIR/$(basename "$f")"
  done
  $SUDO rm -f "$DIR/.bundle-sha256"
  after_install || fail "the new files were not taken into use (above); the running $NAME keeps its previous ones"
  printf '%s\n' "$WANT" | $SUDO tee "$DIR/.bundle-sha256" >/dev/null
  printf '%s\n' "$MARKER" | $SUDO tee "$DIR/.managed" >/dev/null
fi
wait_running() {
  i=0
  while [ "$i" -lt "$CONFIRM" ]; do sleep 1; i=$((i + 1)); done
  if use_systemd; then
    systemctl is-active --quiet "$NAME" && return 0
    $SUDO journalctl -u "$NAME" -n 30 --no-pager >&2 2>/dev/null || true
  else
    running && return 0
    $SUDO tail -n 30 "$LOG" >&2 2>/dev/null || true
  fi
  fail "$NAME stopped within $CONFIRM s of starting (its log is above)"
}
if use_systemd; then
  UNIT_CHANGED=0
  TMPUNIT="$TMP/unit"
  cat > "$TMPUNIT" <<'END_OF_UNIT'
# Managed by rancher-ha (Pulumi): LB host service
[Unit]
Description=rancher-ha load balancer health checker (takes sick nodes out of nginx's rotation)
Wants=network-online.target
After=network-online.target nginx.service docker.service

[Service]
Type=simple
ExecStart=/bin/sh /etc/rancher-ha/lb/rancher-ha-lb-check/check.sh
Restart=always
RestartSec=2
KillMode=mixed
TimeoutStopSec=15

[Install]
WantedBy=multi-user.target
END_OF_UNIT
  if ! $SUDO cmp -s "$TMPUNIT" "$UNIT"; then
    $SUDO cp "$TMPUNIT" "$UNIT.new" && $SUDO chmod 644 "$UNIT.new" && $SUDO mv -f "$UNIT.new" "$UNIT"
    $SUDO systemctl daemon-reload || fail "systemctl daemon-reload failed"
    UNIT_CHANGED=1
  fi
  $SUDO systemctl enable --quiet "$NAME" 2>/dev/null || fail "systemctl enable $NAME failed"
  if systemctl is-active --quiet "$NAME"; then
    if [ "$UNIT_CHANGED" = 1 ] || { [ "$CHANGED" = 1 ] && [ "$ON_CHANGE" = restart ]; }; then
      $SUDO systemctl restart "$NAME" || fail "systemctl restart $NAME failed; see journalctl -u $NAME"
      wait_running; say restarted
    elif [ "$CHANGED" = 1 ]; then
      $SUDO systemctl reload "$NAME" || fail "systemctl reload $NAME failed; see journalctl -u $NAME"
      wait_running; say reloaded
    else
      say unchanged
    fi
  else
    $SUDO systemctl start "$NAME" || fail "$NAME did not start; see journalctl -u $NAME"
    wait_running; say started
  fi
else
  start() {
    $SUDO mkdir -p /var/log/rancher-ha
    # setsid: its own session, so the end of this SSH session does not end it.
    # 9>&-: the daemon must not hold this run's lock (sudo closes it anyway; root runs have no sudo).
    # shellcheck disable=SC2016 # expanded by the inner sh, which gets the values through env
    $SUDO env PIDF="$PIDF" LOG="$LOG" sh -c 'cd / && setsid "$@" >>"$LOG" 2>&1 </dev/null 9>&- & echo $! > "$PIDF"' sh /bin/sh /etc/rancher-ha/lb/rancher-ha-lb-check/check.sh
  }
  if running; then
    if [ "$CHANGED" = 1 ] && [ "$ON_CHANGE" = hup ]; then
      $SUDO kill -HUP "$PID"; wait_running; say reloaded
    elif [ "$CHANGED" = 1 ]; then
      stop_detached; start; wait_running; say restarted
    else
      say unchanged
    fi
  else
    start; wait_running; say started
  fi
fi
