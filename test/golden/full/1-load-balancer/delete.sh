set -eu
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
LB_HOST=ops@192.0.2.10:2222
MARKER='# Managed by rancher-ha (Pulumi)'
say() { echo "rancher-ha-lb: $*"; }
fail() { echo "rancher-ha: load balancer on $LB_HOST: $*" >&2; exit 1; }
file_hash() { $SUDO sha256sum "$1" | cut -d' ' -f1; }
ours() { $SUDO test -f "$1" && $SUDO head -n 1 "$1" | grep -qF "$MARKER"; }
CONF=/etc/nginx/nginx.conf
CAND=/etc/nginx/nginx.conf.rancher-ha-new
ORIG=/etc/nginx/nginx.conf.rancher-ha-orig
PIDFILE=/run/nginx.pid
find_nginx() { ( PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; command -v nginx ) || true; }
NGINX=$(find_nginx)
systemd_nginx() { [ -d /run/systemd/system ] && [ "$CONF" = /etc/nginx/nginx.conf ] && command -v systemctl >/dev/null 2>&1 && systemctl cat nginx.service >/dev/null 2>&1; }
running() { PID=$($SUDO cat "$PIDFILE" 2>/dev/null) && [ -n "$PID" ] && [ "$(cat "/proc/$PID/comm" 2>/dev/null)" = nginx ]; }
signal() { running && $SUDO kill -"$1" "$PID"; }
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
