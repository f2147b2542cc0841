set -eu
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
NAME=rancher-ha-lb-keepalived
DIR=/etc/rancher-ha/lb/rancher-ha-lb-keepalived
UNIT=/etc/systemd/system/rancher-ha-lb-keepalived.service
RUN=/run/rancher-ha
PIDF="$RUN/rancher-ha-lb-keepalived.pid"
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
OWNER=rancher-ha/rke2
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
WANT=06860017b7be2a0b9d970a04819b95a177c1e2fa6805265ecbbd541652f4c83b
CONFIRM=3
ON_CHANGE=hup
LOG=/var/log/rancher-ha/rancher-ha-lb-keepalived.log
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
command -v keepalived >/dev/null 2>&1 || install_pkg keepalived keepalived keepalived
command -v nc >/dev/null 2>&1 || install_pkg netcat-openbsd nmap-ncat nc
command -v ip >/dev/null 2>&1 || install_pkg iproute2 iproute ip
after_install() {
# lb_interface ADDRESS: the interface that carries IPv4 ADDRESS (a VLAN shows as name@parent: the name is kept).
lb_interface() {
  _lb_if=$(ip -o -4 addr show | awk -v a="$1" '{ split($4, p, "/"); if (p[1] == a) { sub(/@.*/, "", $2); print $2; exit } }')
  if [ -z "$_lb_if" ]; then
    echo "rancher-ha: no interface on $(uname -n) carries $1 (ip -o -4 addr show); check the load balancer host's address" >&2
    return 1
  fi
  case "$_lb_if" in
    *[!A-Za-z0-9_.-]*) echo "rancher-ha: interface name '$_lb_if' on $(uname -n) has characters keepalived.conf cannot take" >&2; return 1 ;;
  esac
  printf '%s\n' "$_lb_if"
}
# lb_fill_interface FILE ADDRESS: FILE with __RANCHER_HA_LB_INTERFACE__ replaced by the interface that carries ADDRESS.
lb_fill_interface() {
  _lb_fill=$(lb_interface "$2") || return 1
  sed "s/__RANCHER_HA_LB_INTERFACE__/$_lb_fill/g" "$1" > "$1.tmp" && mv -f "$1.tmp" "$1"
}
LB_IF=$(lb_interface 192.0.2.10) || return 1
$SUDO sed -i "s/__RANCHER_HA_LB_INTERFACE__/$LB_IF/g" "$DIR/keepalived.conf" || return 1
out=$($SUDO keepalived --config-test --use-file "$DIR/keepalived.conf" 2>&1) || { printf '%s\n' "$out" >&2; echo "keepalived --config-test rejected $DIR/keepalived.conf" >&2; return 1; }
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
Description=rancher-ha load balancer virtual IP 192.0.2.8 (keepalived, VRRP)
Wants=network-online.target
After=network-online.target nginx.service docker.service

[Service]
Type=simple
ExecStart=keepalived --dont-fork --log-console --use-file /etc/rancher-ha/lb/rancher-ha-lb-keepalived/keepalived.conf --pid /run/rancher-ha/keepalived.pid --vrrp_pid /run/rancher-ha/keepalived-vrrp.pid --checkers_pid /run/rancher-ha/keepalived-checkers.pid
ExecReload=/bin/kill -HUP $MAINPID
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
    $SUDO env PIDF="$PIDF" LOG="$LOG" sh -c 'cd / && setsid "$@" >>"$LOG" 2>&1 </dev/null 9>&- & echo $! > "$PIDF"' sh keepalived --dont-fork --log-console --use-file /etc/rancher-ha/lb/rancher-ha-lb-keepalived/keepalived.conf --pid /run/rancher-ha/keepalived.pid --vrrp_pid /run/rancher-ha/keepalived-vrrp.pid --checkers_pid /run/rancher-ha/keepalived-checkers.pid
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
