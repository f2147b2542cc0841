set -eu
echo 'rancher-ha: stack rke2: admin.removeClusterOnDestroy is true, so each node'\''s own delete uninstalls RKE2 from it (192.0.2.11, 192.0.2.12, 192.0.2.13, 192.0.2.21, 192.0.2.22)' >&2
