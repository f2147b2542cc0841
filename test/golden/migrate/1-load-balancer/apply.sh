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
IMAGE=nginx:1.27-alpine
REGISTRY=docker.io
SPEC=bff76dfac8706b68
MOUNT="$DIR:/etc/nginx/rancher-ha:ro"
CONFIRM=5
if command -v docker >/dev/null 2>&1; then
  if [ -z "$SUDO" ] || docker info >/dev/null 2>&1; then D=docker; else D="$SUDO docker"; fi
else
  D=""
fi
container_state() { $D inspect -f '{{.State.Running}} {{index .Config.Labels "io.rancher-ha.lb-spec"}}' "$1" 2>/dev/null || true; }
not_ours() { case "$1" in *" <no value>"|*" ") return 0 ;; esac; return 1; }
[ -n "$D" ] || fail "docker is not installed; install Docker (the RKE nodes need it too) or set loadBalancer.mode to system"
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
WANT=88e924bf1dfd2d2fe30fd5452bd969fc28f08d929d15bfd285e68341d23cf4c3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
unpack_bundle "$TMP"
if [ ! -f "$TMP/nginx.conf" ] || [ "$(sha256sum "$TMP/nginx.conf" | cut -d' ' -f1)" != "$WANT" ]; then
  fail "the nginx.conf sent on stdin is missing or does not match its hash $WANT (interrupted transfer?); run pulumi up again"
fi
check_owner
last_line() { printf '%s\n' "$1" | sed '/^[[:space:]]*$/d' | tail -n 1; }
restore_config() { if $SUDO test -f "$DIR/nginx.conf.rancher-ha-previous"; then $SUDO mv -f "$DIR/nginx.conf.rancher-ha-previous" "$DIR/nginx.conf"; fi; }
$SUDO mkdir -p "$DIR"
$SUDO chmod 755 "$DIR"
PSTATE=$(container_state "$PREV")
if [ -n "$PSTATE" ]; then
  if not_ours "$PSTATE"; then
    fail "a container named $PREV exists that rancher-ha did not create; remove or rename it and run pulumi up again"
  fi
  NSTATE=$(container_state "$NAME")
  if not_ours "$NSTATE"; then
    fail "a container named $NAME exists that rancher-ha did not create; remove or rename it and run pulumi up again"
  fi
  case "$NSTATE" in
    "true "*)
      $D rm -f "$PREV" >/dev/null ;;
    *)
      [ -z "$NSTATE" ] || $D rm -f "$NAME" >/dev/null
      restore_config
      $D rename "$PREV" "$NAME" >/dev/null ||
        fail "docker could not rename $PREV, left behind by an interrupted run, back to $NAME (above); rename it by hand and run pulumi up again"
      $D start "$NAME" >/dev/null || true
      echo "rancher-ha: load balancer on $LB_HOST: put back the previous container $NAME, left behind by an interrupted run" >&2 ;;
  esac
fi
# Without a $PREV container, a saved previous config is left over from a cut-off clean-up.
$SUDO rm -f "$DIR/nginx.conf.rancher-ha-previous"
CHANGED=1
if $SUDO test -f "$DIR/nginx.conf" && [ "$(file_hash "$DIR/nginx.conf")" = "$WANT" ]; then CHANGED=0; fi
STATE=$(container_state "$NAME")
case "$STATE" in
  "") ACTION=create ;;
  "true $SPEC") if [ "$CHANGED" = 1 ]; then ACTION=reload; else ACTION=none; fi ;;
  "false $SPEC") ACTION=start ;;
  *" <no value>"|*" ")
    fail "a container named $NAME exists that rancher-ha did not create; remove or rename it and run pulumi up again" ;;
  *) ACTION=replace ;;
esac
if [ "$CHANGED" = 1 ] || [ "$ACTION" = create ] || [ "$ACTION" = replace ]; then
  if ! $D image inspect "$IMAGE" >/dev/null 2>&1; then
    rc=0; out=$($D pull "$IMAGE" 2>&1) || rc=$?
    if [ "$rc" != 0 ]; then
      printf '%s\n' "$out" >&2
      fail "docker pull $IMAGE from $REGISTRY failed: $(last_line "$out"); nothing was changed (the LB container, if any, runs on as before); check loadBalancer.image and that the LB host can reach $REGISTRY (and is logged in to it if it is private), then run pulumi up again"
    fi
  fi
fi
if [ "$CHANGED" = 1 ]; then
  $SUDO cp "$TMP/nginx.conf" "$DIR/nginx.conf.rancher-ha-new"
  $SUDO chmod 644 "$DIR/nginx.conf.rancher-ha-new"
  rc=0; out=$($D run --rm --entrypoint nginx -v "$MOUNT" "$IMAGE" -t -q -c /etc/nginx/rancher-ha/nginx.conf.rancher-ha-new 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then
    $SUDO rm -f "$DIR/nginx.conf.rancher-ha-new"
    printf '%s\n' "$out" >&2
    case "$rc" in
      125|126|127)
        fail "docker could not run nginx -t in $IMAGE (exit $rc: $(last_line "$out")), so the new config was not installed and the LB container, if any, runs on as before; check that loadBalancer.image is an nginx image and that docker works on the LB host, then run pulumi up again" ;;
    esac
    fail "nginx -t (in $IMAGE) rejected the new config (above), so it was not installed and the container still runs the previous one; check the loadBalancer settings and node addresses, then run pulumi up again"
  fi
  # A container swap keeps the previous config, for the previous container should the new one fail.
  if [ "$ACTION" = replace ] && $SUDO test -f "$DIR/nginx.conf"; then $SUDO cp -p "$DIR/nginx.conf" "$DIR/nginx.conf.rancher-ha-previous"; fi
  $SUDO mv -f "$DIR/nginx.conf.rancher-ha-new" "$DIR/nginx.conf"
fi
create_container() {
  $D create --name "$NAME" --restart=unless-stopped --label "io.rancher-ha.lb-spec=$SPEC" -p 80:80 -p 443:443 -p 6443:6443 -p 9345:9345 --ulimit nofile=200064:200064 -v "$MOUNT" "$IMAGE" \
    nginx -c /etc/nginx/rancher-ha/nginx.conf -g 'daemon off;'
}
start_confirmed() {
  rc=0; out=$($D start "$NAME" 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then
    printf '%s\n' "$out" >&2
    WHY="docker could not start it: $(last_line "$out")"
    return 1
  fi
  _i=0
  while :; do
    if [ "$($D inspect -f '{{.State.Running}} {{.State.Restarting}} {{.RestartCount}}' "$NAME" 2>/dev/null || true)" != "true false 0" ]; then
      $D logs --tail 20 "$NAME" >&2 2>&1 || true
      _exit=$($D inspect -f '{{.State.ExitCode}} {{.State.Error}}' "$NAME" 2>/dev/null | sed 's/[[:space:]]*$//' || true)
      WHY="it exited right after starting (exit code ${_exit:-unknown}; its log is above)"
      return 1
    fi
    [ "$_i" -lt "$CONFIRM" ] || return 0
    sleep 1
    _i=$((_i + 1))
  done
}
rollback() {
  $D rm -f "$NAME" >/dev/null 2>&1 || true
  restore_config
  rc=0; out=$($D start "$PREV" 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then
    printf '%s\n' "$out" >&2
    fail "the new nginx container ($IMAGE) failed: $1; and the previous container $PREV did not start again either: $(last_line "$out"); the LB is down: free its ports and run docker start $PREV, docker rename $PREV $NAME (or run pulumi up again)"
  fi
  $D rename "$PREV" "$NAME" >/dev/null ||
    fail "the new nginx container ($IMAGE) failed: $1; the previous one runs again but could not get its name back (above): run docker rename $PREV $NAME"
}
case "$ACTION" in
  none)
    say unchanged ;;
  reload)
    $D kill -s HUP "$NAME" >/dev/null
    say reloaded ;;
  start)
    start_confirmed || fail "the stopped nginx container $NAME could not be started again: $WHY; fix the cause and run pulumi up again"
    say started ;;
  create)
    rc=0; out=$(create_container 2>&1) || rc=$?
    if [ "$rc" != 0 ]; then
      printf '%s\n' "$out" >&2
      fail "docker could not create the nginx container $NAME ($IMAGE): $(last_line "$out")"
    fi
    if ! start_confirmed; then
      $D rm -f "$NAME" >/dev/null 2>&1 || true
      fail "the new nginx container $NAME ($IMAGE) failed: $WHY; it was removed; fix the cause (a port already in use?) and run pulumi up again"
    fi
    say started ;;
  replace)
    if ! $D rename "$NAME" "$PREV" >/dev/null; then
      restore_config
      fail "docker could not rename $NAME to $PREV (above), so the container was not replaced and runs on as before"
    fi
    rc=0; out=$(create_container 2>&1) || rc=$?
    if [ "$rc" != 0 ]; then
      printf '%s\n' "$out" >&2
      restore_config
      $D rename "$PREV" "$NAME" >/dev/null || true
      fail "docker could not create the new nginx container ($IMAGE): $(last_line "$out"); the previous container runs on as before"
    fi
    # Should the stop fail, the old one holds the ports: the new one cannot start, and the rollback below runs.
    $D stop -t 2 "$PREV" >/dev/null || true
    if ! start_confirmed; then
      REASON=$WHY
      rollback "$REASON"
      fail "the new nginx container ($IMAGE) failed: $REASON; it was removed and the previous container $NAME was started again with its previous config; fix the cause and run pulumi up again"
    fi
    $D rm -f "$PREV" >/dev/null
    $SUDO rm -f "$DIR/nginx.conf.rancher-ha-previous"
    say recreated ;;
esac
claim_owner
