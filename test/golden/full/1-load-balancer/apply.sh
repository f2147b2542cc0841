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
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
WANT=b9953e24540d4f709ddc30c93321b87244d6a9da33ea25c416faed6c5198b814
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
unpack_bundle "$TMP"
if [ ! -f "$TMP/nginx.conf" ] || [ "$(sha256sum "$TMP/nginx.conf" | cut -d' ' -f1)" != "$WANT" ]; then
  fail "the nginx.conf sent on stdin is missing or does not match its hash $WANT (interrupted transfer?); run pulumi up again"
fi
check_owner
if [ -z "$NGINX" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-stream >/dev/null; } ||
      fail "installing nginx and libnginx-mod-stream with apt-get failed (above); install them by hand and run pulumi up again"
  elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y -q nginx nginx-mod-stream >/dev/null || fail "installing nginx and nginx-mod-stream with dnf failed (above)"
  elif command -v yum >/dev/null 2>&1; then
    $SUDO yum install -y -q nginx nginx-mod-stream >/dev/null || fail "installing nginx and nginx-mod-stream with yum failed (above)"
  else
    fail "nginx is not installed and there is no apt-get, dnf or yum; install nginx with its stream module, or set loadBalancer.mode to docker"
  fi
  NGINX=$(find_nginx)
  [ -n "$NGINX" ] || fail "nginx is still not on PATH after installing it"
  say "installed nginx"
fi
CHANGED=1
if $SUDO test -f "$CONF" && [ "$(file_hash "$CONF")" = "$WANT" ]; then CHANGED=0; fi
if [ "$CHANGED" = 1 ]; then
  $SUDO cp "$TMP/nginx.conf" "$CAND"
  $SUDO chmod 644 "$CAND"
  if ! out=$($SUDO "$NGINX" -t -q -c "$CAND" 2>&1); then
    $SUDO rm -f "$CAND"
    printf '%s\n' "$out" >&2
    case "$out" in
      *'unknown directive "stream"'*)
        fail "nginx has no stream module; install it (Debian/Ubuntu: libnginx-mod-stream, RHEL/Fedora: nginx-mod-stream) and run pulumi up again" ;;
    esac
    fail "nginx -t rejected the new config (above), so it was not installed and nginx still runs the previous one; check the loadBalancer settings and node addresses, then run pulumi up again"
  fi
  # The first time, keep the distro's config: delete puts it back.
  if $SUDO test -f "$CONF" && ! ours "$CONF" && ! $SUDO test -e "$ORIG"; then
    $SUDO cp -p "$CONF" "$ORIG"
  fi
  $SUDO mv -f "$CAND" "$CONF"
fi
if systemd_nginx; then
  if systemctl is-active --quiet nginx; then
    if [ "$CHANGED" = 1 ]; then
      $SUDO systemctl reload nginx || fail "systemctl reload nginx failed; see journalctl -u nginx"
      say reloaded
    else
      say unchanged
    fi
  else
    $SUDO systemctl enable --quiet nginx >/dev/null 2>&1 || true
    $SUDO systemctl start nginx || fail "nginx did not start; see journalctl -u nginx (a port already in use?)"
    say started
  fi
elif running; then
  if [ "$CHANGED" = 1 ]; then
    signal HUP
    say reloaded
  else
    say unchanged
  fi
else
  # 9>&-: nginx must not hold this run's lock (sudo closes it anyway; root runs have no sudo).
  $SUDO "$NGINX" -c "$CONF" 9>&- || fail "nginx did not start (above; a port already in use, or another nginx running with a different pid file?)"
  say started
fi
claim_owner
