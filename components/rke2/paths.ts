// Where RKE2 keeps its files on a node (RKE2's defaults; rancher-ha never moves them, see RKE2_OWNED_KEYS) and
// where rancher-ha keeps its own bookkeeping beside them. Shared by the stage's scripts and `npm run ops`.
export const RKE2_PATHS = {
    configDir: "/etc/rancher/rke2",
    config: "/etc/rancher/rke2/config.yaml",
    registries: "/etc/rancher/rke2/registries.yaml",
    /** The admin kubeconfig a server writes (server https://127.0.0.1:6443). */
    kubeconfig: "/etc/rancher/rke2/rke2.yaml",
    dataDir: "/var/lib/rancher/rke2",
    /** kubectl, crictl and friends RKE2 unpacks on every node. */
    binDir: "/var/lib/rancher/rke2/bin",
    /** The server's copy of the cluster token. */
    serverToken: "/var/lib/rancher/rke2/server/token",
    /** The etcd datastore: removed on the other servers after a cluster reset. */
    serverDb: "/var/lib/rancher/rke2/server/db",
    /** Local etcd snapshots. */
    snapshotsDir: "/var/lib/rancher/rke2/server/db/snapshots",
    /** Air-gap image tarballs RKE2 imports at start. */
    imagesDir: "/var/lib/rancher/rke2/agent/images",
    /** The install script's tarball prefix: rke2 in <prefix>/bin, rke2-uninstall.sh beside it. */
    installPrefix: "/usr/local",
    /** rancher-ha's own files on the node: lock, install job, artifacts copied over SSH, last applied hashes. */
    stateDir: "/var/lib/rancher/rancher-ha",
    /** The S3 endpoint CA (etcdSnapshots.s3.customCa), written by rancher-ha. */
    etcdS3Ca: "/etc/rancher/rke2/etcd-s3-ca.pem",
} as const;

/** systemd units the install script creates. */
export const RKE2_UNITS = { server: "rke2-server.service", agent: "rke2-agent.service" } as const;
