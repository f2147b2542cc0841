set -eu
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
LB_HOST=rancher@192.0.2.10:22
MARKER='# Managed by rancher-ha (Pulumi)'
say() { echo "rancher-ha-lb: $*"; }
fail() { echo "rancher-ha: load balancer on $LB_HOST: $*" >&2; exit 1; }
file_hash() { $SUDO sha256sum "$1" | cut -d' ' -f1; }
ours() { $SUDO test -f "$1" && $SUDO head -n 1 "$1" | grep -qF "$MARKER"; }
NAME=rancher-ha-lb
DIR=/etc/rancher-ha/lb
IMAGE=nginx:1.27-alpine
SPEC=e4ce287695efffe5
MOUNT="$DIR:/etc/nginx/rancher-ha:ro"
if command -v docker >/dev/null 2>&1; then
  if [ -z "$SUDO" ] || docker info >/dev/null 2>&1; then D=docker; else D="$SUDO docker"; fi
else
  D=""
fi
container_state() { $D inspect -f '{{.State.Running}} {{index .Config.Labels "io.rancher-ha.lb-spec"}}' "$NAME" 2>/dev/null || true; }
[ -n "$D" ] || fail "docker is not installed; install Docker (the RKE nodes need it too) or set loadBalancer.mode to system"
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
WANT=09cf2a0014d278b2e0f4a0f4591a82db0b9f4f8d59d4a63a199aab58744a0f3b
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
unpack_bundle "$TMP"
if [ ! -f "$TMP/nginx.conf" ] || [ "$(sha256sum "$TMP/nginx.conf" | cut -d' ' -f1)" != "$WANT" ]; then
  fail "the nginx.conf sent on stdin is missing or does not match its hash $WANT (interrupted transfer?); run pulumi up again"
fi
$SUDO mkdir -p "$DIR"
$SUDO chmod 755 "$DIR"
CHANGED=1
if $SUDO test -f "$DIR/nginx.conf" && [ "$(file_hash "$DIR/nginx.conf")" = "$WANT" ]; then CHANGED=0; fi
if [ "$CHANGED" = 1 ]; then
  $SUDO cp "$TMP/nginx.conf" "$DIR/nginx.conf.rancher-ha-new"
  $SUDO chmod 644 "$DIR/nginx.conf.rancher-ha-new"
  if ! out=$($D run --rm --entrypoint nginx -v "$MOUNT" "$IMAGE" -t -q -c /etc/nginx/rancher-ha/nginx.conf.rancher-ha-new 2>&1); then
    $SUDO rm -f "$DIR/nginx.conf.rancher-ha-new"
    printf '%s\n' "$out" >&2
    fail "nginx -t (in $IMAGE) rejected the new config (above), so it was not installed and the container still runs the previous one; check the loadBalancer settings and node addresses, then run pulumi up again"
  fi
  $SUDO mv -f "$DIR/nginx.conf.rancher-ha-new" "$DIR/nginx.conf"
fi
run_container() {
  $D run -d --name "$NAME" --restart=unless-stopped --label "io.rancher-ha.lb-spec=$SPEC" -p 80:80 -p 443:443 -p 6443:6443 -v "$MOUNT" "$IMAGE" \
    nginx -c /etc/nginx/rancher-ha/nginx.conf -g 'daemon off;' >/dev/null ||
    fail "docker could not start the nginx container $NAME (above; a port already in use, or the image cannot be pulled?)"
}
STATE=$(container_state)
case "$STATE" in
  "")
    run_container
    say started ;;
  "true $SPEC")
    if [ "$CHANGED" = 1 ]; then
      $D kill -s HUP "$NAME" >/dev/null
      say reloaded
    else
      say unchanged
    fi ;;
  "false $SPEC")
    $D start "$NAME" >/dev/null
    say started ;;
  *" <no value>"|*" ")
    fail "a container named $NAME exists that rancher-ha did not create; remove or rename it and run pulumi up again" ;;
  *)
    $D rm -f "$NAME" >/dev/null
    run_container
    say recreated ;;
esac
