// The stack's settings, typed, and their defaults (documented in the README config table).
import type * as pulumi from "@pulumi/pulumi";

export type Role = "controlplane" | "etcd" | "worker";
export const ROLES: readonly Role[] = ["controlplane", "etcd", "worker"];
export type TlsSource = "rancher" | "letsEncrypt" | "secret";
export type LbMode = "docker" | "system";
export type NodeSize = "S" | "M" | "L" | "XL";
/** Where the Rancher chart comes from: the community repositories (stable, latest, alpha) or Rancher Prime. */
export type RancherChannel = "stable" | "latest" | "alpha" | "prime";
/** Which Kubernetes distribution runs Rancher's cluster: RKE1 (`rke up`, end of life) or RKE2 (server by server). */
export type Distribution = "rke" | "rke2";
export const DISTRIBUTIONS: readonly Distribution[] = ["rke", "rke2"];

/** How to reach a host over SSH. The key is always a secret Output. */
export interface SshTarget {
    address: string;
    port: number;
    user: string;
    privateKey: pulumi.Output<string>;
    /** sha256 of the key material, 16 hex chars: names the key file on the admin host without revealing it. */
    keyId: string;
    /**
     * The host key it must present, `<type> <base64>` (ed25519 preferred): from the host's `hostKey` setting or
     * ssh.knownHostsFile. Undefined only when the stack set ssh.insecureIgnoreHostKeys.
     */
    hostKey?: string;
}

export interface Taint {
    key: string;
    value?: string;
    effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

export interface NodeSettings extends SshTarget {
    internalAddress?: string;
    roles: Role[];
    hostnameOverride?: string;
    labels: Record<string, string>;
    taints: Taint[];
    dockerSocket?: string;
}

/** The LB's active health checker (loadBalancer.healthChecks; components/loadBalancer/healthCheck.ts). */
export interface LbHealthCheckSettings {
    /** Install the checker on every LB host. Default true. */
    enabled: boolean;
    /** Seconds between probe rounds. Default 1. */
    intervalSeconds: number;
    /** Seconds one probe may take. Default 1. */
    timeoutSeconds: number;
    /** Consecutive failed probes before a node:port is taken out. Default 3. */
    fall: number;
    /** Consecutive good probes before it is put back. Default 2. */
    rise: number;
}

/** Two LB hosts holding a virtual IP with keepalived (loadBalancer.hosts + loadBalancer.virtualIp). */
export interface LbVirtualIp {
    /** The virtual IPv4 address clients use. */
    address: string;
    /** VRRP virtual router id (loadBalancer.virtualRouterId). Default: the last octet of the address. */
    routerId: number;
    /** Network interface that carries it (loadBalancer.interface). Default: the one holding each host's address. */
    interface?: string;
}

/**
 * The load balancer. Its SshTarget fields are the first LB host (loadBalancer.address, or loadBalancer.hosts[0]);
 * `hosts` lists every LB host and `clientAddress` is what clients use (see lbHosts / lbClientAddress).
 */
export interface LoadBalancerSettings extends SshTarget {
    /** Every LB host, the first one first: nginx and the checker run on each. parseConfig always sets it. */
    hosts?: SshTarget[];
    /**
     * What clients, the kubeconfig, the certificate SANs and hostAliases use: the virtual IP of a pair, else the
     * LB host's address. parseConfig always sets it.
     */
    clientAddress?: string;
    /** Set with loadBalancer.hosts: keepalived moves the address between the two hosts. */
    virtualIp?: LbVirtualIp;
    /** The active health checker. parseConfig always sets it. */
    healthChecks?: LbHealthCheckSettings;
    /** `docker`: an nginx container, as in the seed article. `system`: the distro's nginx + stream module. */
    mode: LbMode;
    /** Container image in docker mode. */
    image: string;
    /** `supervisor` (RKE2's 9345, servers only) is set only with distribution rke2. */
    ports: { http: number; https: number; kubeApi: number; supervisor?: number };
    workerProcesses: number | "auto";
    /**
     * Proxied connections the LB must hold at once (loadBalancer.maxConnections). Sizes workerConnections and
     * workerRlimitNofile when they are not set. parseConfig always sets it; default DEFAULTS.lbMaxConnections.
     */
    maxConnections?: number;
    /** nginx `worker_connections`: loadBalancer.workerConnections, else sized from maxConnections. */
    workerConnections: number;
    /** nginx `worker_rlimit_nofile`: loadBalancer.workerRlimitNofile, else sized from maxConnections. */
    workerRlimitNofile: number;
    /**
     * nginx `proxy_timeout` (idle time before a connection is closed) of the HTTPS and Kubernetes API ports
     * (loadBalancer.proxyTimeout). parseConfig always sets it; default DEFAULTS.lbProxyTimeout.
     */
    proxyTimeout?: string;
    /**
     * Stacks (`stack` or `project/stack`) whose LB hosts this stack may take over (loadBalancer.takeOverFrom): the
     * switch of a migration points the old LB hosts at this stack's nodes. Default none: a host another stack serves
     * is refused.
     */
    takeOverFrom?: string[];
}

/** Every LB host (the one of a single LB, or both of a pair). */
export function lbHosts(lb: LoadBalancerSettings): SshTarget[] {
    return lb.hosts ?? [lb];
}

/** The address clients use: the pair's virtual IP, else the LB host's address. */
export function lbClientAddress(lb: LoadBalancerSettings): string {
    return lb.clientAddress ?? lb.virtualIp?.address ?? lb.address;
}

export interface AdminSettings {
    /** Where `rke up` runs: one of the nodes (over SSH) or "local" (the machine running Pulumi). */
    host: SshTarget | "local";
    /** Directory on the admin host holding rancher-cluster.yml, the state file and the SSH keys. */
    workDir: string;
    /** The rke binary on the admin host. */
    rkePath: string;
    /**
     * Change it (any new token) after `npm run ops` changed the admin host's kubeconfig or state (snapshot
     * restore, cert rotation): the next `pulumi up` reads them back into the stack without running rke.
     */
    stateSync?: string;
    /**
     * Whether `pulumi destroy` (or anything that deletes the rke-up resource) runs `rke remove` and wipes the cluster.
     * Default false: the cluster is forgotten, kept, and removed only by `npm run ops -- remove-cluster`.
     */
    removeClusterOnDestroy: boolean;
}

export interface Versions {
    kubernetes: string;
    rke: string;
    certManager: string;
    rancher: string;
}

export interface TlsSettings {
    source: TlsSource;
    letsEncryptEmail?: string;
    letsEncryptEnvironment: "production" | "staging";
    /** secret mode: user-given PEMs (all secret)... */
    cert?: pulumi.Output<string>;
    key?: pulumi.Output<string>;
    caCert?: pulumi.Output<string>;
    /** ...or a private CA and server certificate generated with @pulumi/tls. */
    generateCa: boolean;
    /** True when agents must be told the CA (generated CA, or a given caCert). */
    privateCa: boolean;
}

export interface RancherSettings {
    replicas: number;
    /** rancher.chartRepo, else chosen for the version (compatibility.ts rancherChannelFor). */
    chartRepo: RancherChannel;
    /** Given by the user (secret) or undefined: then a random one is generated. */
    bootstrapPassword?: pulumi.Output<string>;
    /** The chart's antiAffinity: `preferred` lets two replicas share a node, `required` never does. */
    antiAffinity: "preferred" | "required";
    /**
     * Ingress class of the Rancher Ingress and of the ACME http-01 solver: `rancher.ingressClassName`, else the
     * class of the cluster's own controller (RKE's ingress-nginx: `nginx`). Required with cluster.ingressProvider none.
     */
    ingressClassName: string;
    /** ingress-nginx timeouts on Rancher's Ingress (the chart's default until 2.13, off from 2.14). */
    includeDefaultExtraAnnotations: boolean;
    /** Rancher 2.15+: the registry's pull secret also serves the local and downstream clusters' system images. */
    systemRegistryInheritsPullSecrets: boolean;
    /** API audit log level 0-3; undefined: no audit log. */
    auditLogLevel?: number;
    /** Rancher's post-delete hook does not fail `helm uninstall` when an app outlives its timeout. */
    postDeleteIgnoreTimeoutError: boolean;
    /** PEM bundle (secret) of private CAs Rancher must trust (registry, S3, proxy): the `tls-ca-additional` secret. */
    additionalTrustedCas?: pulumi.Output<string>;
}

export interface PrivateRegistry {
    url: string;
    user?: string;
    password?: pulumi.Output<string>;
    isDefault: boolean;
}

/**
 * Recurring etcd snapshots. `Secret` is how the S3 secret key is held: a pulumi secret in the settings, plain text
 * only inside an apply (the renderer's input, whose output is then kept secret).
 */
export interface EtcdSnapshotSettings<Secret = pulumi.Output<string>> {
    enabled: boolean;
    creation: string;
    retention: string;
    s3?: {
        bucketName: string;
        endpoint: string;
        region?: string;
        folder?: string;
        accessKey?: string;
        secretKey?: Secret;
        customCa?: string;
    };
}

export interface ClusterSettings {
    name: string;
    /** RKE: canal, calico, flannel, weave, none. RKE2 (its `cni`): canal, calico, cilium, flannel, none. */
    networkPlugin: "canal" | "calico" | "cilium" | "flannel" | "weave" | "none";
    ignoreDockerVersion: boolean;
    /** The cluster's own ingress controller. `traefik` only on RKE2 (its default from v1.36); `nginx` is ingress-nginx. */
    ingressProvider: "nginx" | "traefik" | "none";
    upgradeStrategy: { maxUnavailableWorker: string; maxUnavailableControlplane: string; drain: boolean };
}

export interface HostAliasesSettings {
    enabled: boolean;
    /** IP the Rancher hostname resolves to inside pods (default: the LB address). */
    ip: string;
}

/** A node's part in an RKE2 cluster: servers run etcd and the control plane, agents only workloads. */
export type Rke2NodeKind = "server" | "agent";

/** How the RKE2 release reaches the nodes. */
export type Rke2Install =
    /** Air-gapped: the release files from a directory on the machine running Pulumi, copied over SSH. */
    | { method: "artifacts"; artifactsDir: string }
    /** The install script fetched by the node (it reaches the internet or a mirror of get.rke2.io). */
    | { method: "script"; scriptUrl: string };

/** distribution: rke2 (the `rke2` section, the secret `rke2Token`). */
export interface Rke2Settings {
    /** The RKE2 release, `v1.36.3+rke2r1` (versions.kubernetes: RKE2 versions are Kubernetes versions). */
    version: string;
    install: Rke2Install;
    /** The cluster's join token: the secret rke2Token when given (adopting a cluster), else generated once. */
    token?: pulumi.Output<string>;
    /** Agents installed at once (rke2.agentConcurrency). Default 3. */
    agentConcurrency: number;
    /** Seconds a node may take to become Ready after rke2 starts (rke2.nodeReadyTimeout). Default 900. */
    nodeReadyTimeoutSeconds: number;
    /** config.yaml keys for every server the stack has no setting for (rke2.serverConfig), plain, no secrets. */
    serverConfig: Record<string, unknown>;
    /** config.yaml keys for every agent (rke2.agentConfig), plain, no secrets. */
    agentConfig: Record<string, unknown>;
}

/** The whole stack, typed. Secrets are pulumi secrets; everything else is plain data. */
export interface StackSettings {
    /** Default rke. */
    distribution: Distribution;
    hostname: string;
    nodes: NodeSettings[];
    loadBalancer: LoadBalancerSettings;
    admin: AdminSettings;
    versions: Versions;
    tls: TlsSettings;
    rancher: RancherSettings;
    privateRegistry?: PrivateRegistry;
    bastion?: SshTarget;
    etcdSnapshots: EtcdSnapshotSettings;
    cluster: ClusterSettings;
    hostAliases: HostAliasesSettings;
    nodeSize?: NodeSize;
    /** cluster.yml keys the stack has no setting for, deep-merged over the rendered rancher-cluster.yml (plain, no secrets). */
    rkeOverrides?: Record<string, unknown>;
    /** Set exactly when distribution is rke2. */
    rke2?: Rke2Settings;
    /** The operator's own chart repositories (the `charts` section), when set. */
    charts?: ChartSources;
    /** airGapped: nothing reaches the internet; every image, chart and release file comes from the operator's copies. */
    airGapped: boolean;
    /** Rancher's first-run setup and the clusters to import (rancherSetup, importedClusters). */
    rancherSetup: RancherSetupSettings;
    /** Scheduled Rancher backups (the backup section), when set. */
    backup?: BackupSettings;
    /** Restore Rancher from a backup before installing it (the restoreFrom section), when set. */
    restoreFrom?: RestoreFromSettings;
}

/** An S3 bucket of the rancher-backup operator, with its credentials (backup.s3, restoreFrom.s3). */
export interface BackupS3Settings {
    bucketName: string;
    /** One folder in the bucket. Default: the bucket's root. */
    folder?: string;
    region?: string;
    /** host[:port]; the operator always speaks TLS. Default s3.amazonaws.com. */
    endpoint: string;
    /** PEM of the endpoint's CA (from s3.caFile). */
    endpointCA?: string;
    insecureTLSSkipVerify: boolean;
    accessKey: string;
    /** backupS3SecretKey / restoreS3SecretKey. */
    secretKey: pulumi.Output<string>;
}

/** backup: the rancher-backup chart and a scheduled, encrypted Backup to S3. */
export interface BackupSettings {
    /** Cron schedule. Default DEFAULTS.backupSchedule. */
    schedule: string;
    /** Backup files kept. Default DEFAULTS.backupRetentionCount. */
    retentionCount: number;
    /** ResourceSet: the line's full set (with Secrets; always encrypted). */
    resourceSet: string;
    /** rancher-backup chart version (both charts). Default: the one of the Rancher line. */
    chartVersion: string;
    s3: BackupS3Settings;
    /** The secret backupEncryptionKey (base64 of 32 bytes); else generated once and kept in state. */
    encryptionKey?: pulumi.Output<string>;
}

/** restoreFrom: a new cluster restored from a rancher-backup file before Rancher is installed. */
export interface RestoreFromSettings {
    backupFilename: string;
    /** Whether the file is encrypted (.enc): then encryptionKey is set. */
    encrypted: boolean;
    s3: BackupS3Settings;
    /** The secret backupEncryptionKey the backup was made with. */
    encryptionKey?: pulumi.Output<string>;
    /** Bound on the wait for the Restore to complete. Default DEFAULTS.restoreTimeoutMinutes. */
    timeoutMinutes: number;
    chartVersion: string;
}

/** Rancher's first-run setup, done through the rancher2 provider once the release is ready. */
export interface RancherSetupSettings {
    /** rancherSetup.enabled, or implied by importedClusters. Default false. */
    enabled: boolean;
    /** The admin password after setup: the secret adminPassword, else generated once and kept in state. */
    adminPassword?: pulumi.Output<string>;
    /** Rancher's telemetry-opt setting (rancherSetup.telemetry). Default false (out). */
    telemetry: boolean;
    /** Existing clusters to import into Rancher, in the stack's order. */
    importedClusters: ImportedClusterSettings[];
}

export interface ImportedClusterSettings {
    /** The cluster's name in Rancher (lower-case DNS label). */
    name: string;
    /** The cluster's own kubeconfig (secret): from kubeconfigPath, or the secret config key kubeconfigSecret names. */
    kubeconfig: pulumi.Output<string>;
    description?: string;
    labels: Record<string, string>;
    /** Seconds to wait until Rancher reports the cluster Active. Default 600. */
    activeTimeoutSeconds: number;
    /** Removing the entry also deletes Rancher's agents from the cluster (cattle-system). Default false. */
    cleanupAgentsOnRemove: boolean;
}

/** A chart repository: `https://...` (a Helm repository) or `oci://...` (an OCI registry path holding the chart). */
export interface ChartSources {
    /** Repository of the Rancher chart (instead of rancher.chartRepo). */
    rancher?: string;
    /** Repository of the cert-manager chart (instead of https://charts.jetstack.io). */
    certManager?: string;
    /** Login for the repositories (charts.user + the secret chartRepositoryPassword). */
    user?: string;
    password?: pulumi.Output<string>;
    /** CA bundle of the repositories' TLS certificates, a file on the machine running Pulumi (charts.caFile). */
    caFile?: string;
}

/** Defaults a user would expect; documented in the README config table. */
export const DEFAULTS = {
    sshPort: 22,
    sshKeyPath: "~/.ssh/id_rsa",
    lbMode: "docker" as LbMode,
    lbImage: "nginx:1.27-alpine",
    lbPorts: { http: 80, https: 443, kubeApi: 6443 },
    workerProcesses: "auto" as const,
    // Proxied connections the LB holds (workerConnections/workerRlimitNofile are sized from it).
    lbMaxConnections: 50000,
    // Long enough for idle watches, `kubectl exec/logs -f` and agent websockets (nginx's own 10m cuts them).
    lbProxyTimeout: "1h",
    backupSchedule: "0 */6 * * *",
    backupRetentionCount: 28,
    backupS3Endpoint: "s3.amazonaws.com",
    restoreTimeoutMinutes: 30,
    lbHealthChecks: { enabled: true, intervalSeconds: 1, timeoutSeconds: 1, fall: 3, rise: 2 } as LbHealthCheckSettings,
    workDir: "~/rancher-ha",
    rkePath: "rke",
    // The last free RKE1 line (RKE1 is end of life; the compatibility check warns on every run): rke v1.8.14 ships
    // v1.30.14-rancher1-1; Rancher 2.11 is the last line that runs on RKE1; cert-manager 1.18 supports 1.29-1.33.
    versions: {
        kubernetes: "v1.30.14-rancher1-1",
        rke: "v1.8.14",
        certManager: "v1.18.6",
        rancher: "2.11.16",
    } as Versions,
    /**
     * distribution rke2: current releases (RKE2 v1.36 with Traefik as its ingress, Rancher 2.15, cert-manager 1.21,
     * which supports Kubernetes 1.33-1.36). See components/config/compatibility.ts for the sources.
     */
    rke2Versions: {
        kubernetes: "v1.36.3+rke2r1",
        rke: "",
        certManager: "v1.21.1",
        rancher: "2.15.0",
    } as Versions,
    rke2: {
        scriptUrl: "https://get.rke2.io",
        agentConcurrency: 3,
        nodeReadyTimeoutSeconds: 900,
        /** RKE2's supervisor port: servers and agents join through the LB on it. */
        supervisorPort: 9345,
    },
    etcdSnapshots: { enabled: true, creation: "6h", retention: "24h" },
    clusterName: "rancher",
    networkPlugin: "canal" as const,
    maxReplicas: 3,
    rancher: {
        antiAffinity: "preferred" as const,
        /** The IngressClass RKE's ingress-nginx registers (cluster.ingressProvider nginx). */
        nginxIngressClass: "nginx",
        /** The IngressClass RKE2's rke2-traefik registers (rke2 tests/docker/ing_migration). */
        traefikIngressClass: "traefik",
        includeDefaultExtraAnnotations: true,
        systemRegistryInheritsPullSecrets: true,
        postDeleteIgnoreTimeoutError: true,
    },
};

/** admin.stateSync values: plain tokens, so they can sit in a comment of the rke up script. */
export const STATE_SYNC_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Rancher's sizing table (seed: rancher-ha-on-rke-with-nginx-lb), nodes it can manage per server size. */
export const SIZING: Record<NodeSize, { clusters: number; nodes: number; vcpu: number; memoryGb: number }> = {
    S: { clusters: 5, nodes: 50, vcpu: 2, memoryGb: 8 },
    M: { clusters: 15, nodes: 200, vcpu: 4, memoryGb: 16 },
    L: { clusters: 50, nodes: 500, vcpu: 8, memoryGb: 32 },
    XL: { clusters: 100, nodes: 1000, vcpu: 32, memoryGb: 128 },
};


/** Config keys that hold secrets: always read as pulumi secrets, never logged. */
export const SECRET_KEYS = [
    "sshPrivateKey", "tlsCert", "tlsKey", "tlsCaCert", "bootstrapPassword", "privateRegistryPassword", "etcdS3SecretKey",
    "additionalTrustedCas", "rke2Token", "chartRepositoryPassword", "adminPassword", "backupS3SecretKey", "restoreS3SecretKey",
    "backupEncryptionKey",
];

