set -eu
NODE=ops@192.0.2.22:2222
ROLES=worker
SOCK=/run/docker.sock
CFG=/etc/ssh/sshd_config
SWAPS=/proc/swaps
FAIL_SWAP_ON=false
PORTS='10250:kubelet 80:ingress-nginx_http 443:ingress-nginx_https'
ME=$(id -un)
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
PROBLEMS=""
problem() { PROBLEMS="$PROBLEMS$NODE ($ROLES): $1
"; }
note() { echo "rancher-ha preflight: $NODE: $1" >&2; }

# Docker, reachable by the SSH user (RKE talks to it through an SSH tunnel as this user).
DOCKER_OK=no
if ! command -v docker >/dev/null 2>&1; then
  problem "docker is not installed; fix: install a Docker version RKE supports (https://github.com/rancher/install-docker or your distribution's package), then: sudo usermod -aG docker $ME"
elif out=$(docker -H "unix://$SOCK" version --format '{{.Server.Version}}' 2>&1); then
  DOCKER_OK=yes
  note "docker $out reachable by $ME at $SOCK"
else
  case "$out" in
    *"permission denied"*|*"Permission denied"*)
      problem "user $ME cannot use the Docker socket $SOCK (permission denied), RKE fails with 'Unable to access the Docker socket'; fix: sudo usermod -aG docker $ME, then reconnect (on RHEL/CentOS use a non-root user)" ;;
    *)
      problem "the Docker daemon does not answer at $SOCK ($(printf '%s' "$out" | head -n 1)); fix: sudo systemctl enable --now docker, or set the node's dockerSocket" ;;
  esac
fi

# sshd must allow the forwarding RKE's tunnels use (seed article: AllowTcpForwarding yes).
SSHD=$(command -v sshd 2>/dev/null || echo /usr/sbin/sshd)
SPEC="user=$ME"
if [ -n "${SSH_CONNECTION:-}" ]; then
  # shellcheck disable=SC2086 # split SSH_CONNECTION into client address, client port, server address, server port
  set -- $SSH_CONNECTION
  SPEC="$SPEC,addr=$1,host=$1,laddr=$3,lport=$4"
fi
if EFF=$($SUDO "$SSHD" -T -f "$CFG" -C "$SPEC" 2>/dev/null) || EFF=$($SUDO "$SSHD" -T -f "$CFG" 2>/dev/null); then
  TCP=$(printf '%s\n' "$EFF" | awk '$1 == "allowtcpforwarding" { print $2; exit }')
  STREAM=$(printf '%s\n' "$EFF" | awk '$1 == "allowstreamlocalforwarding" { print $2; exit }')
  DISABLED=$(printf '%s\n' "$EFF" | awk '$1 == "disableforwarding" { print $2; exit }')
else
  # Without sudo: sshd uses the first value of a keyword, so read the first one before any Match block.
  first() { awk -v k="$1" 'tolower($1) == "match" { exit } tolower($1) == k { print tolower($2); exit }' "$CFG" 2>/dev/null || true; }
  TCP=$(first allowtcpforwarding)
  STREAM=$(first allowstreamlocalforwarding)
  DISABLED=$(first disableforwarding)
  note "could not run sshd -T (needs sudo); read $CFG without its Include files"
fi
case "${TCP:-yes}" in
  yes|all|local) ;;
  *) problem "sshd has AllowTcpForwarding $TCP, RKE's health checks through the SSH tunnel fail ('ssh: rejected'); fix: set AllowTcpForwarding yes in $CFG and reload sshd (sudo systemctl reload sshd)" ;;
esac
case "${STREAM:-yes}" in
  yes|all|local) ;;
  *) problem "sshd has AllowStreamLocalForwarding $STREAM, RKE cannot reach the Docker socket through SSH; fix: set AllowStreamLocalForwarding yes in $CFG and reload sshd" ;;
esac
[ "${DISABLED:-no}" = yes ] && problem "sshd has DisableForwarding yes, RKE's SSH tunnels are refused; fix: remove DisableForwarding from $CFG and reload sshd"

# Swap: kubelet refuses to start with swap on unless fail_swap_on is false.
if [ -r "$SWAPS" ] && [ "$(awk 'NR > 1' "$SWAPS" | wc -l)" -gt 0 ]; then
  if [ "$FAIL_SWAP_ON" = true ]; then
    problem "swap is on and services.kubelet.fail_swap_on is true, so kubelet will not start; fix: sudo swapoff -a and remove the swap entries from /etc/fstab"
  else
    note "swap is on; kubelet runs with fail_swap_on: false (RKE's default), but memory limits are less predictable: consider swapoff -a"
  fi
fi

# Ports: must be free on a node RKE has not set up yet (its own containers hold them afterwards).
EXISTING=no
if [ "$DOCKER_OK" = yes ] && docker -H "unix://$SOCK" ps -a --format '{{.Names}}' 2>/dev/null | grep -qx -e kubelet -e etcd -e kube-apiserver; then
  EXISTING=yes
  note "RKE containers found: the node is already in the cluster, port check skipped"
fi
if [ "$EXISTING" = no ]; then
  if command -v ss >/dev/null 2>&1; then
    LISTEN=$(ss -ltn 2>/dev/null | awk 'NR > 1 { n = split($4, a, ":"); print a[n] }' | sort -u)
    for p in $PORTS; do
      port=${p%%:*}
      use=$(printf '%s' "${p#*:}" | tr _ ' ')
      if printf '%s\n' "$LISTEN" | grep -qx "$port"; then
        problem "port $port ($use) is already in use; fix: stop what listens there (sudo ss -ltnp 'sport = :$port' shows it; the load balancer must not run on a cluster node) or give this role to another node"
      fi
    done
  else
    note "ss (iproute2) not found, port check skipped"
  fi
fi

if [ -n "$PROBLEMS" ]; then
  printf '%s' "$PROBLEMS" | sed 's/^/rancher-ha preflight failed: /' >&2
  echo "rancher-ha preflight: $NODE: $(printf '%s' "$PROBLEMS" | wc -l) check(s) failed; fix them and run pulumi up again" >&2
  exit 1
fi
echo "preflight ok: $NODE ($ROLES)"
