set -eu
WORK="$HOME"/rancher-ha
RKE=rke
HOST=rancher@192.0.2.11:22
fail() { echo "rancher-ha: $HOST: $*" >&2; exit 1; }
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
umask 077
mkdir -p "$WORK/keys"
chmod 700 "$WORK" "$WORK/keys"
IN=$(mktemp -d "$WORK/.incoming.XXXXXX")
trap 'rm -rf "$IN"' EXIT
unpack_bundle "$IN"
[ -s "$IN/rancher-cluster.yml" ] || fail "no rancher-cluster.yml on stdin (rancher-ha internal error)"
cd "$WORK"
# SSH keys: keys/<keyId>, 0600; keys no longer referenced are removed.
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
echo 'rancher-ha: rke remove --force wipes the cluster on 192.0.2.11: the Kubernetes containers (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, nginx-proxy) and the directories /etc/kubernetes, /var/lib/etcd (all cluster data, including Rancher'\''s), /etc/cni, /opt/cni, /var/lib/cni, /var/run/calico; RKE'\''s documentation says etcd snapshots (local and S3) are removed too, so copy any you want to keep before destroying. Pods'\'' data on the nodes is not removed.' >&2
command -v "$RKE" >/dev/null 2>&1 || fail "rke not found (admin.rkePath: $RKE), so the cluster cannot be removed; install rke and run pulumi destroy again, or remove the nodes by hand and drop the resource with pulumi state delete"
{ if "$RKE" remove --force --config rancher-cluster.yml 2>&1; then echo 0 > "$IN/rc"; else echo $? > "$IN/rc"; fi; } | tee rke.log >&2
if [ "$(cat "$IN/rc")" != 0 ]; then
  fail "rke remove failed (exit $(cat "$IN/rc")); see the output above and $WORK/rke.log, fix it and run pulumi destroy again"
fi
rm -f rancher-cluster.yml rancher-cluster.rkestate kube_config_rancher-cluster.yml .rancher-ha-last-up .rancher-ha-last-plan
rm -rf keys
echo "rancher-ha: $HOST: cluster removed" >&2
