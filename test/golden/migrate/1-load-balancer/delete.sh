set -eu
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
LB_HOST=ops@192.0.2.30:2222
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
OWNER=rancher-ha/migrate
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
NAME=rancher-ha-lb
PREV=rancher-ha-lb-previous
DIR=/etc/rancher-ha/lb
if command -v docker >/dev/null 2>&1; then
  if [ -z "$SUDO" ] || docker info >/dev/null 2>&1; then D=docker; else D="$SUDO docker"; fi
else
  D=""
fi
container_state() { $D inspect -f '{{.State.Running}} {{index .Config.Labels "io.rancher-ha.lb-spec"}}' "$1" 2>/dev/null || true; }
not_ours() { case "$1" in *" <no value>"|*" ") return 0 ;; esac; return 1; }
if other_owner; then say "left alone: this LB host serves the stack $(owner_now) now"; exit 0; fi
if [ -n "$D" ]; then
  for c in "$NAME" "$PREV"; do
    STATE=$(container_state "$c")
    if [ -z "$STATE" ]; then
      :
    elif not_ours "$STATE"; then
      say "container $c was not created by rancher-ha; left in place"
    else
      $D rm -f "$c" >/dev/null
    fi
  done
fi
$SUDO rm -f "$DIR/nginx.conf" "$DIR/nginx.conf.rancher-ha-new" "$DIR/nginx.conf.rancher-ha-previous"
$SUDO rmdir "$DIR" 2>/dev/null || true
say removed
if [ "$(owner_now)" = "$OWNER" ]; then $SUDO rm -f "$OWNER_FILE"; fi
