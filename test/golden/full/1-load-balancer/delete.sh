set -eu
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
LB_HOST=ops@192.0.2.10:2222
MARKER='# Managed by rancher-ha (Pulumi)'
say() { echo "rancher-ha-lb: $*"; }
fail() { echo "rancher-ha: load balancer on $LB_HOST: $*" >&2; exit 1; }
file_hash() { $SUDO sha256sum "$1" | cut -d' ' -f1; }
ours() { $SUDO test -f "$1" && $SUDO head -n 1 "$1" | grep -qF "$MARKER"; }
LOCK=/run/rancher-ha/rancher-ha-lb-nginx.lock
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
CONF=/etc/nginx/nginx.conf
CAND=/etc/nginx/nginx.conf.rancher-ha-new
ORIG=/etc/nginx/nginx.conf.rancher-ha-orig
PIDFILE=/run/nginx.pid
find_nginx() { ( PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; command -v nginx ) || true; }
NGINX=$(find_nginx)
systemd_nginx() { [ -d /run/systemd/system ] && [ "$CONF" = /etc/nginx/nginx.conf ] && command -v systemctl >/dev/null 2>&1 && systemctl cat nginx.service >/dev/null 2>&1; }
running() { PID=$($SUDO cat "$PIDFILE" 2>/dev/null) && [ -n "$PID" ] && [ "$(cat "/proc/$PID/comm" 2>/dev/null)" = nginx ]; }
signal() { running && $SUDO kill -"$1" "$PID"; }
if other_owner; then say "left alone: this LB host serves the stack $(owner_now) now"; exit 0; fi
$SUDO rm -f "$CAND"
if ! ours "$CONF"; then
  say "$CONF is not managed by rancher-ha; left in place"
  exit 0
fi
stop_nginx() {
  if systemd_nginx; then $SUDO systemctl stop nginx || true
  elif running; then signal TERM || true
  fi
}
reload_nginx() {
  if systemd_nginx; then
    if systemctl is-active --quiet nginx; then $SUDO systemctl reload nginx; fi
  elif running; then
    signal HUP
  fi
}
if $SUDO test -f "$ORIG"; then
  $SUDO mv -f "$ORIG" "$CONF"
  if [ -n "$NGINX" ] && $SUDO "$NGINX" -t -q -c "$CONF" >/dev/null 2>&1; then
    reload_nginx
    say restored
  else
    stop_nginx
    say "restored (the restored $CONF fails nginx -t, so nginx was stopped)"
  fi
else
  $SUDO rm -f "$CONF"
  stop_nginx
  say removed
fi
if [ "$(owner_now)" = "$OWNER" ]; then $SUDO rm -f "$OWNER_FILE"; fi
