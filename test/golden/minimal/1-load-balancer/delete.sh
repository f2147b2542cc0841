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
if command -v docker >/dev/null 2>&1; then
  if [ -z "$SUDO" ] || docker info >/dev/null 2>&1; then D=docker; else D="$SUDO docker"; fi
else
  D=""
fi
container_state() { $D inspect -f '{{.State.Running}} {{index .Config.Labels "io.rancher-ha.lb-spec"}}' "$NAME" 2>/dev/null || true; }
if [ -n "$D" ]; then
  STATE=$(container_state)
  case "$STATE" in
    "") ;;
    *" <no value>"|*" ") say "container $NAME was not created by rancher-ha; left in place" ;;
    *) $D rm -f "$NAME" >/dev/null ;;
  esac
fi
$SUDO rm -f "$DIR/nginx.conf" "$DIR/nginx.conf.rancher-ha-new"
$SUDO rmdir "$DIR" 2>/dev/null || true
say removed
