set -eu
echo 'rancher-ha: stack migrate: the RKE2 cluster on 192.0.2.31, 192.0.2.32, 192.0.2.33 is KEPT: Pulumi forgets it, nothing on the nodes was changed (their deletes are skipped with this record). To remove it: npm run ops -- remove-cluster --stack migrate --yes, or set admin.removeClusterOnDestroy: true before destroying' >&2
