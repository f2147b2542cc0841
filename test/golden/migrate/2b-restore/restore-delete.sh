set -eu
echo "rancher-ha: the Restore rancher-ha-restore stays on the cluster (a restore is not undone); nothing to do" >&2
