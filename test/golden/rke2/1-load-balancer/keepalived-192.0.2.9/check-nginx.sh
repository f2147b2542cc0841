#!/bin/sh
# Managed by rancher-ha (Pulumi): keepalived's check of this load balancer host's nginx (vrrp_script rancher_ha_nginx).
# Exit 0 when nginx accepts on every listen port on 127.0.0.1 within 1 s, else 1: after 2 failures in a row
# keepalived gives the virtual IP to the other LB host.
# `nc -z -w1` (Debian/Ubuntu: netcat-openbsd; RHEL: nmap-ncat) connects and closes, with a 1 s bound;
# not bash's /dev/tcp (this is sh), not curl's telnet:// (it holds the connection open until --max-time and
# exits 28, up or not).
set -eu
PORTS='80 443 6443 9345'
if ! command -v nc >/dev/null 2>&1; then
  echo "rancher-ha check-nginx: nc is not installed (apt-get install netcat-openbsd / dnf install nmap-ncat)" >&2
  exit 1
fi
# All ports at once: the check takes ~1 s at most whatever their number (keepalived's timeout is 1 s).
pending=''
for port in $PORTS; do
  nc -z -w1 127.0.0.1 "$port" </dev/null >/dev/null 2>&1 &
  pending="$pending $!:$port"
done
rc=0
for job in $pending; do
  if ! wait "${job%%:*}"; then
    echo "rancher-ha check-nginx: nginx does not accept on 127.0.0.1:${job#*:}" >&2
    rc=1
  fi
done
exit "$rc"
