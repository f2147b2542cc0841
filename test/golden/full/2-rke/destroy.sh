# rancher-ha: cluster removal opted in (admin.removeClusterOnDestroy)
set -eu
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
umask 077
T=$(mktemp -d "${TMPDIR:-/tmp}/rancher-ha-run.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM
unpack_bundle "$T"
# shellcheck disable=SC2016 # the remote script as text: it expands where it runs
REMOTE='set -eu
# rancher-ha: cluster removal opted in (admin.removeClusterOnDestroy)
WORK="$HOME"/clusters/rancher-prod
RKE=rke
HOST=local
STACK=full
fail() { echo "rancher-ha: $HOST: $*" >&2; exit 1; }
take_lock() {
  command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is not installed on this host; install it (apt-get install util-linux / dnf install util-linux)"
  exec 9>>"$WORK/.rancher-ha.lock"
  if ! flock -n 9; then
    echo "rancher-ha: $HOST: waiting up to 600 s for another run in $WORK: $(cat "$WORK/.rancher-ha.lock.owner" 2>/dev/null || echo unknown)" >&2
    flock -w 600 9 || fail "another rancher-ha run holds $WORK/.rancher-ha.lock: $(cat "$WORK/.rancher-ha.lock.owner" 2>/dev/null || echo unknown); wait for it to finish and run again (the lock goes with its process: ps -p <pid>)"
  fi
  echo "$1, stack $STACK, pid $$, since $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$WORK/.rancher-ha.lock.owner"
}
unpack_bundle() {
  while IFS='\'' '\'' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in '\'''\''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '\''%s'\'' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
umask 077
mkdir -p "$WORK/keys"
chmod 700 "$WORK" "$WORK/keys"
IN=$(mktemp -d "$WORK/.incoming.XXXXXX")
trap '\''rm -rf "$IN"'\'' EXIT
unpack_bundle "$IN"
[ -s "$IN/rancher-cluster.yml" ] || fail "no rancher-cluster.yml on stdin (rancher-ha internal error)"
cd "$WORK"
take_lock "rke remove"
KEEP=" "
for f in "$IN"/key-*; do
  [ -e "$f" ] || continue
  id=${f##*/key-}
  KEEP="$KEEP$id "
  cmp -s "$f" "keys/$id" 2>/dev/null || mv -f "$f" "keys/$id"
  chmod 600 "keys/$id"
done
for f in keys/*; do
  [ -e "$f" ] || continue
  case "$KEEP" in *" ${f##*/} "*) ;; *) rm -f "$f" ;; esac
done
cmp -s "$IN/rancher-cluster.yml" rancher-cluster.yml 2>/dev/null || mv -f "$IN/rancher-cluster.yml" rancher-cluster.yml
chmod 600 rancher-cluster.yml
echo '\''rancher-ha: rke remove --force wipes the cluster on 192.0.2.11, 192.0.2.12, 192.0.2.13, 192.0.2.21, 192.0.2.22: the Kubernetes containers (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, nginx-proxy) and the directories /etc/kubernetes, /var/lib/etcd (all cluster data, Rancher data included), /etc/cni, /opt/cni, /var/lib/cni, /var/run/calico; the RKE documentation says etcd snapshots (local and S3) are removed too, so copy any you want to keep before destroying. Data that pods wrote to the nodes is not removed.'\'' >&2
command -v "$RKE" >/dev/null 2>&1 || fail "rke not found (admin.rkePath: $RKE), so the cluster cannot be removed; install rke and run again, or remove the nodes by hand"
{ if "$RKE" remove --force --config rancher-cluster.yml 2>&1; then echo 0 > "$IN/rc"; else echo $? > "$IN/rc"; fi; } | tee rke.log >&2
if [ "$(cat "$IN/rc")" != 0 ]; then
  fail "rke remove failed (exit $(cat "$IN/rc")); see the output above and $WORK/rke.log, fix it and run again"
fi
rm -rf keys "$WORK/.rancher-ha-rke-job"
for f in rancher-cluster.yml rancher-cluster.rkestate* kube_config_rancher-cluster.yml* .rancher-ha-last-up .rancher-ha-last-plan .rancher-ha-reported-state .rancher-ha-seen-state rancher-cluster.plan rke.log ops.log snapshots.log .rancher-ha.lock.owner; do
  rm -f "$f"
done
echo "rancher-ha: $HOST: cluster removed; $WORK holds no secrets any more" >&2
'
/bin/sh -c "$REMOTE" < "$T/payload"
