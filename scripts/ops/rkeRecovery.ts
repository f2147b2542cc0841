// Adopting an RKE cluster whose cluster.yml / state file are lost: everything here is pure.
//
// RKE keeps a copy of its full state (the rkestate: config, certificates) in the cluster itself, kube-system/
// full-cluster-state: a Secret in RKE v1.6 and late v1.4/v1.5 patch releases (older releases, and clusters not
// upgraded since, have a ConfigMap of the same name; cluster/state.go GetFullStateFromK8s reads the Secret first,
// then the ConfigMap). From it:
// - parseRkeState: the state, the config it holds (camelCase JSON), the admin kubeconfig;
// - rebuildClusterYml: a cluster.yml equal to what runs (snake_case), for rke itself;
// - recoverStackConfig: the rancher-ha stack config entries that make `pulumi up` render an equivalent cluster.yml,
//   with `rkeOverrides` for what the stack model has no key for, and the list of what cannot be carried (secrets,
//   pinned images) or what the first `pulumi up` would still change.
import { rkeJsonToYaml, secretYamlPaths } from "../../components/rke/rkeKeys";

export const FULL_STATE_NAME = "full-cluster-state";
const ROLES = ["controlplane", "etcd", "worker"];
const RKE_DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** What to do when the object RKE keeps its state in is unusable. */
const STATE_ELSEWHERE = "the cluster's copy of the state is unusable: adopt it from a state file you still have " +
    "(a backup of rancher-cluster.rkestate, or the one inside an etcd snapshot zip: RKE puts the state into every snapshot), " +
    "or run recover --from another controlplane node of the cluster";

/** Strict base64 (what the API server writes into a Secret's data): throws where it is not. */
function strictBase64(data: string, what: string): Buffer {
    const bad = /[^A-Za-z0-9+/=]/.exec(data);
    if (bad) {
        throw new Error(`${what} is not valid base64: character ${JSON.stringify(bad[0])} at position ${bad.index}; ${STATE_ELSEWHERE}`);
    }
    const pad = data.indexOf("=");
    if (data.length % 4 !== 0 || (pad >= 0 && (pad < data.length - 2 || /[^=]/.test(data.slice(pad))))) {
        throw new Error(`${what} is not valid base64 (${data.length} characters, ${pad >= 0 && pad < data.length - 2 ? `padding at position ${pad}` : "not a multiple of 4"}; ` +
            `truncated or corrupted); ${STATE_ELSEWHERE}`);
    }
    return Buffer.from(data, "base64");
}

/** The state text inside the kube-system/full-cluster-state Secret or ConfigMap (as `kubectl get -o json` prints it). */
export function fullStateFromObject(objectJson: string): { kind: "Secret" | "ConfigMap"; state: string } {
    let o: { kind?: unknown; data?: unknown };
    try {
        o = JSON.parse(objectJson);
    } catch (e) {
        throw new Error(`kube-system/${FULL_STATE_NAME} as kubectl printed it is not JSON (${(e as Error).message}); run recover again`);
    }
    const kind = isObject(o) ? o.kind : undefined;
    if (kind !== "Secret" && kind !== "ConfigMap") {
        throw new Error(`expected a Secret or ConfigMap kube-system/${FULL_STATE_NAME}, got ${kind === undefined ? "an object without kind" : JSON.stringify(kind)}; ` +
            "this is not what RKE writes: check that --from is a controlplane node of the RKE cluster");
    }
    const dataObj = isObject(o.data) ? o.data : {};
    const data = dataObj[FULL_STATE_NAME];
    const what = `the ${kind} kube-system/${FULL_STATE_NAME}`;
    if (typeof data !== "string" || data === "") {
        const keys = Object.keys(dataObj);
        throw new Error(`${what} has ${data === "" ? `an empty data["${FULL_STATE_NAME}"]` : `no data["${FULL_STATE_NAME}"]`} ` +
            `(its data keys: ${keys.length > 0 ? keys.join(", ") : "none"}); ${STATE_ELSEWHERE}`);
    }
    return { kind, state: kind === "Secret" ? strictBase64(data, `data["${FULL_STATE_NAME}"] of ${what}`).toString("utf8") : data };
}

export interface ParsedRkeState {
    /** The state file text, unchanged: what goes into rancher-cluster.rkestate. */
    text: string;
    /** rkeConfig (camelCase) of the half the cluster runs: currentState, else desiredState. */
    config: Obj;
    from: "currentState" | "desiredState";
    /** The kube-admin kubeconfig RKE keeps in the certificates bundle (what it writes as kube_config_<name>.yml). */
    kubeconfig?: string;
    /** The bundle's kubeconfig was empty: `kubeconfig` was built from the kube-admin certificate, key and kube-ca. */
    kubeconfigBuilt?: boolean;
    /** Names of the certificates in the bundle (never their content). */
    certificates: string[];
    warnings: string[];
}

/** Parses an rkestate (cluster/state.go FullState). Throws with what is missing when it cannot be adopted. */
export function parseRkeState(text: string): ParsedRkeState {
    let full: { desiredState?: Obj; currentState?: Obj };
    try {
        full = JSON.parse(text);
    } catch (e) {
        throw new Error(`not an RKE state file: ${(e as Error).message}`);
    }
    if (!isObject(full)) {
        throw new Error("not an RKE state file: expected a JSON object with desiredState and currentState");
    }
    const half = (k: "currentState" | "desiredState") => (isObject(full[k]) ? full[k] as Obj : {});
    const from = isObject(half("currentState").rkeConfig) ? "currentState" : "desiredState";
    const config = half(from).rkeConfig;
    if (!isObject(config)) {
        throw new Error("not an RKE state file: neither currentState nor desiredState has an rkeConfig");
    }
    const nodes = config.nodes;
    if (!Array.isArray(nodes) || nodes.length === 0 || typeof config.kubernetesVersion !== "string") {
        throw new Error(`the state's ${from}.rkeConfig has no nodes or no kubernetesVersion; it cannot describe the cluster`);
    }
    const bundle = half(from).certificatesBundle ?? half("desiredState").certificatesBundle;
    if (!isObject(bundle) || !isObject(bundle["kube-ca"])) {
        throw new Error("the state has no certificates (certificatesBundle with kube-ca); rke up with it would create a new CA " +
            "and break the cluster. Use a state file from a backup or from another controlplane node");
    }
    const warnings: string[] = [];
    const desired = half("desiredState").rkeConfig;
    if (from === "currentState" && isObject(desired)) {
        const addrs = (c: Obj) => (Array.isArray(c.nodes) ? c.nodes.map(n => (n as Obj).address).join(",") : "");
        if (desired.kubernetesVersion !== config.kubernetesVersion || addrs(desired) !== addrs(config)) {
            warnings.push(`the last rke up did not finish: desiredState asks for ${String(desired.kubernetesVersion)} on ` +
                `[${addrs(desired)}], currentState runs ${config.kubernetesVersion} on [${addrs(config)}]; recovered what runs ` +
                "(currentState). Re-apply the pending change through the stack once adopted");
        }
    } else if (from === "desiredState") {
        warnings.push("the state has no currentState (rke up never finished with it); recovered the desiredState");
    }
    const admin = (bundle as Obj)["kube-admin"];
    let kubeconfig = isObject(admin) && typeof admin.config === "string" && admin.config !== "" ? admin.config : undefined;
    let kubeconfigBuilt = false;
    if (!kubeconfig) {
        kubeconfig = adminKubeconfigFromCertificates(config, bundle as Obj);
        kubeconfigBuilt = kubeconfig !== undefined;
        warnings.push(kubeconfig
            ? "the state's kube-admin kubeconfig is empty; built it from the kube-admin certificate and key and kube-ca, as RKE does"
            : "the state has no kube-admin kubeconfig and no kube-admin certificate and key to build one; the next rke up writes one");
    }
    return { text, config, from, kubeconfig, kubeconfigBuilt, certificates: Object.keys(bundle).sort(), warnings };
}

/** The first controlplane node (RKE points the kube-admin kubeconfig at it: pki.GenerateKubeAdminConfig). */
export function firstControlplane(config: Obj): { index: number; address: string } | undefined {
    const nodes = Array.isArray(config.nodes) ? config.nodes as Obj[] : [];
    const index = nodes.findIndex(n => Array.isArray(n.role) && n.role.includes("controlplane"));
    return index < 0 ? undefined : { index, address: String(nodes[index].address) };
}

/**
 * The kube-admin kubeconfig from the certificates bundle, in RKE's layout (pki/kubeconfig.go
 * GetKubeConfigX509WithData): server https://<first controlplane address>:6443, cluster and context "local", user
 * kube-admin-local, data fields base64 of the PEMs.
 */
export function adminKubeconfigFromCertificates(config: Obj, bundle: Obj): string | undefined {
    const admin = bundle["kube-admin"];
    const ca = bundle["kube-ca"];
    const cp = firstControlplane(config);
    const pem = (c: unknown, k: string) => (isObject(c) && typeof c[k] === "string" && c[k] !== "" ? c[k] as string : undefined);
    const crt = pem(admin, "certificatePEM");
    const key = pem(admin, "keyPEM");
    const caCrt = pem(ca, "certificatePEM");
    if (!crt || !key || !caCrt || !cp) {
        return undefined;
    }
    const b64 = (t: string) => Buffer.from(t).toString("base64");
    const name = "local";
    return `apiVersion: v1
kind: Config
clusters:
- cluster:
    api-version: v1
    certificate-authority-data: ${b64(caCrt)}
    server: "https://${cp.address}:6443"
  name: "${name}"
contexts:
- context:
    cluster: "${name}"
    user: "kube-admin-${name}"
  name: "${name}"
current-context: "${name}"
users:
- name: "kube-admin-${name}"
  user:
    client-certificate-data: ${b64(crt)}
    client-key-data: ${b64(key)}
`;
}

/** The server a kubeconfig points at (its first cluster), or undefined. */
export function kubeconfigServer(kubeconfig: string): string | undefined {
    const m = /^\s*server:\s*"?([^"\s]+)"?\s*$/m.exec(kubeconfig);
    return m ? m[1] : undefined;
}

// ---- cluster.yml as it runs ----

/** Action flags: in a cluster.yml they would make the next rke up restore or rotate. Never carried. */
const ACTION_KEYS = ["restore", "rotate_certificates", "rotate_encryption_key"];

export interface RebuildOptions {
    /** SSH user RKE should use for every node (recovered states often say root). Default: keep the recovered user. */
    user?: string;
    /** ssh_key_path for every node, e.g. ~/rancher-ha/keys/<keyId>. Default: keep the recovered path. */
    sshKeyPath?: string;
    /** ssh_key_path of bastion_host (its key installed as keys/<keyId> too). Default: keep the recovered path. */
    bastionKeyPath?: string;
    /** bastion_host user (the stack's bastion user). Default: keep the recovered user. */
    bastionUser?: string;
}

/**
 * The cluster.yml (snake_case) that reproduces the recovered config: nodes (without Rancher's nodeName, SSH user and
 * key mapped), services, network, authentication, system images and the rest, as the seed article's script does by
 * hand. Action flags (restore, rotate_certificates) are dropped; per-service images too (RKE v1.6 overwrites them
 * from system_images, cluster/defaults.go setClusterServicesDefaults).
 */
export function rebuildClusterYml(state: ParsedRkeState, o: RebuildOptions = {}): Obj {
    const yml = rkeJsonToYaml(state.config).value;
    for (const k of ACTION_KEYS) {
        delete yml[k];
    }
    dropServiceImages(yml);
    if (o.sshKeyPath) {
        delete yml.ssh_key_path; // the cluster-wide fallback (RKE's default ~/.ssh/id_rsa): every node now names its key
    }
    if (isObject(yml.bastion_host) && yml.bastion_host.address) {
        const b: Obj = { ...yml.bastion_host };
        if (o.bastionKeyPath) {
            b.ssh_key_path = o.bastionKeyPath;
        }
        if (o.bastionUser) {
            b.user = o.bastionUser;
        }
        yml.bastion_host = b;
    }
    yml.nodes = (yml.nodes as Obj[]).map(n => {
        const node: Obj = { ...n };
        delete node.nodeName;
        if (o.user) {
            node.user = o.user;
        }
        if (o.sshKeyPath) {
            node.ssh_key_path = o.sshKeyPath;
        }
        if (Array.isArray(node.taints)) {
            node.taints = (node.taints as Obj[]).map(({ timeAdded: _t, ...t }) => t);
        }
        return node;
    });
    return yml;
}

function dropServiceImages(yml: Obj): void {
    if (isObject(yml.services)) {
        for (const svc of Object.values(yml.services)) {
            if (isObject(svc)) {
                delete svc.image;
            }
        }
    }
}

// ---- stack config ----

export interface RecoveryNote {
    /** secret: must be set with `pulumi config set --secret`; dropped: not carried; changed: the first pulumi up changes it. */
    kind: "secret" | "dropped" | "changed" | "info";
    text: string;
}

export interface StackEntryOptions {
    /** The stack's ssh.user (nodes with this user need no `user` of their own). */
    sshUser?: string;
    /** `--user`: the SSH user for every recovered node (wins over sshUser). */
    user?: string;
    /** The stack's ssh.port. Default 22. */
    sshPort?: number;
    /** Carry system_images (pins every image: later versions.kubernetes changes would not change images). */
    keepSystemImages?: boolean;
    /** The stack's own bastion settings (key, host key, user): they win over the state's bastion_host. */
    stackBastion?: Obj;
}

/** What a recovered config becomes in the stack. */
export interface RecoveredStack {
    /** Config entries, keys without the project prefix (nodes, versions, cluster, etcdSnapshots, ...). */
    entries: Obj;
    /** Secret config keys to set before `pulumi up` (the values are in the recovered state). */
    secrets: { key: string; statePath: string }[];
    notes: RecoveryNote[];
}

/**
 * Renders the cluster.yml the stack would produce from recovered entries (callers wire the real config parser and
 * renderer; `pendingSecrets` are keys whose values the user still has to set).
 */
export type StackRenderer = (entries: Obj, pendingSecrets: string[]) => Obj;

const CANAL_FLEXVOL_DIR = "/usr/libexec/kubernetes/kubelet-plugins/volume/exec/nodeagent~uds";

/**
 * RKE's own defaults (cluster/defaults.go at the commit of rkeKeyMap.json, setClusterDefaults and the functions it
 * calls): a recovered value equal to one of these is what RKE fills in anyway, so it is not written into
 * rkeOverrides. The version-dependent ones are listed with the value they have for every Kubernetes version RKE v1.6
 * supports (>= 1.27): coredns (>= 1.14), cri-dockerd (>= 1.24), ingress hostPort (>= 1.21), PodSecurity privileged
 * (>= 1.23), the kube-api audit log (>= 1.17.4).
 */
export const RKE_DEFAULTS: Record<string, unknown> = {
    "services.kube-api.service_cluster_ip_range": "10.43.0.0/16",
    "services.kube-api.service_node_port_range": "30000-32767",
    "services.kube-controller.cluster_cidr": "10.42.0.0/16",
    "services.kube-controller.service_cluster_ip_range": "10.43.0.0/16",
    "services.kubelet.cluster_dns_server": "10.43.0.10",
    "services.kubelet.cluster_domain": "cluster.local",
    "services.etcd.extra_args.election-timeout": "5000",
    "services.etcd.extra_args.heartbeat-interval": "500",
    "authorization.mode": "rbac",
    "authentication.strategy": "x509",
    "monitoring.provider": "metrics-server",
    "prefix_path": "/",
    "addon_job_timeout": 45,
    "ingress.http_port": 80,
    "ingress.https_port": 443,
    "upgrade_strategy.node_drain_input": { ignore_daemonsets: true, grace_period: -1, timeout: 120 },
    "services.etcd.backup_config.enabled": true,
    "monitoring.replicas": 1,
    "dns.provider": "coredns",
    "dns.linear_autoscaler_params": { cores_per_replica: 128, nodes_per_replica: 4, min: 1, prevent_single_point_failure: true },
    "enable_cri_dockerd": true,
    "ingress.network_mode": "hostPort",
    "ingress.default_ingress_class": true,
    "services.kube-api.pod_security_configuration": "privileged",
    "services.kube-api.audit_log": {
        enabled: true,
        configuration: {
            max_age: 30, max_backup: 10, max_size: 100, path: "/var/log/kube-audit/audit-log.json", format: "json",
            policy: { kind: "Policy", apiVersion: "audit.k8s.io/v1", rules: [{ level: "Metadata" }] },
        },
    },
    "network.options.canal_flannel_backend_type": "vxlan",
    "network.options.canal_flannel_backend_port": "8472",
    "network.options.canal_flannel_backend_vni": "1",
    "network.options.canal_flex_volume_plugin_dir": CANAL_FLEXVOL_DIR,
    "network.options.flannel_backend_type": "vxlan",
    "network.options.flannel_backend_port": "8472",
    "network.options.flannel_backend_vni": "1",
    "network.options.calico_cloud_provider": "none",
    "network.options.calico_flex_volume_plugin_dir": CANAL_FLEXVOL_DIR,
};

/** Keys the stack renders from its own settings (nodes, ...) or that must never be config (secrets, actions). */
const NOT_OVERRIDABLE = ["nodes", "kubernetes_version", "private_registries", "bastion_host", "ssh_key_path", "ssh_cert_path",
    "ssh_agent_auth", ...ACTION_KEYS];

/** The recovered config -> stack entries + rkeOverrides (see the file comment). */
export function recoverStackConfig(state: ParsedRkeState, o: StackEntryOptions, render: StackRenderer): RecoveredStack {
    const cfg = state.config;
    const notes: RecoveryNote[] = state.warnings.map(text => ({ kind: "info" as const, text }));
    const secrets: RecoveredStack["secrets"] = [];
    const sshPort = o.sshPort ?? 22;
    const entries: Obj = {};
    const yml = rebuildClusterYml(state);
    const forced: Obj = {}; // values that must win even where the stack has a key (unsupported enum values)

    // nodes
    const users = new Set<string>();
    entries.nodes = (cfg.nodes as Obj[]).map((n, i) => {
        const address = String(n.address ?? "");
        const roles = (Array.isArray(n.role) ? n.role : []).map(String);
        const unknown = roles.filter(r => !ROLES.includes(r));
        if (!address || roles.length === 0 || unknown.length > 0) {
            throw new Error(`recovered node ${i} (${address || "no address"}) has roles [${roles.join(", ")}]; expected ${ROLES.join(", ")}`);
        }
        const node: Obj = { address };
        if (n.internalAddress && n.internalAddress !== address) {
            node.internalAddress = n.internalAddress;
        }
        node.roles = ROLES.filter(r => roles.includes(r));
        if (n.hostnameOverride && n.hostnameOverride !== address.toLowerCase()) {
            node.hostnameOverride = n.hostnameOverride;
        }
        if (n.port !== undefined && n.port !== "" && Number(n.port) !== sshPort) {
            node.port = Number(n.port);
        }
        const recoveredUser = typeof n.user === "string" && n.user !== "" ? n.user : undefined;
        if (recoveredUser) {
            users.add(recoveredUser);
        }
        const user = o.user ?? o.sshUser ?? recoveredUser;
        if (user && user !== o.sshUser) {
            node.user = user;
        }
        if (isObject(n.labels) && Object.keys(n.labels).length > 0) {
            node.labels = { ...n.labels };
        }
        if (Array.isArray(n.taints) && n.taints.length > 0) {
            node.taints = (n.taints as Obj[]).map(t => ({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect }));
        }
        if (n.dockerSocket && n.dockerSocket !== RKE_DEFAULT_DOCKER_SOCKET) {
            node.dockerSocket = n.dockerSocket;
        }
        return node;
    });
    const chosen = o.user ?? o.sshUser;
    if (chosen && [...users].some(u => u !== chosen)) {
        notes.push({
            kind: "info", text: `nodes: the state says SSH user ${[...users].join(", ")}; rancher-ha uses ${chosen} ` +
                `(${o.user ? "--user" : "ssh.user"}). RKE only logs in with it: the cluster does not change`,
        });
    } else if (!chosen && users.has("root")) {
        notes.push({ kind: "info", text: "nodes: the state says SSH user root; pass --user or set ssh.user if RKE should log in as another user (RHEL/CentOS need a non-root docker user)" });
    }

    // versions and cluster-wide settings the stack models
    entries.versions = { kubernetes: cfg.kubernetesVersion };
    const cluster: Obj = {};
    const name = typeof cfg.clusterName === "string" ? cfg.clusterName : "";
    if (/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) {
        cluster.name = name;
    } else if (name) {
        forced.cluster_name = name;
    }
    const network = isObject(cfg.network) ? cfg.network : {};
    const plugin = String(network.plugin ?? "canal");
    if (["canal", "calico", "flannel", "weave", "none"].includes(plugin)) {
        cluster.networkPlugin = plugin;
    } else {
        forced.network = { plugin };
    }
    const ingress = isObject(cfg.ingress) ? cfg.ingress : {};
    const provider = String(ingress.provider ?? "nginx");
    if (provider === "nginx" || provider === "none") {
        cluster.ingressProvider = provider;
    } else {
        forced.ingress = { provider };
    }
    if (cfg.ignoreDockerVersion === true) {
        cluster.ignoreDockerVersion = true;
    }
    const us = isObject(cfg.upgradeStrategy) ? cfg.upgradeStrategy : {};
    cluster.upgradeStrategy = {
        maxUnavailableWorker: String(us.maxUnavailableWorker ?? "10%"),
        maxUnavailableControlplane: String(us.maxUnavailableControlplane ?? "1"),
        drain: us.drain === true,
    };
    entries.cluster = cluster;

    // etcd snapshots
    const etcd = isObject(cfg.services) && isObject((cfg.services as Obj).etcd) ? (cfg.services as Obj).etcd as Obj : {};
    const backup = isObject(etcd.backupConfig) ? etcd.backupConfig : undefined;
    const s3 = backup && isObject(backup.s3BackupConfig) ? backup.s3BackupConfig : undefined;
    const duration = (v: unknown, def: string) => (typeof v === "string" && /^\d+[smh]$/.test(v) ? v : def);
    const snapshots: Obj = { enabled: etcd.snapshot !== false };
    if (s3) {
        const hours = Number(backup!.intervalHours) || 12;
        snapshots.creation = `${hours}h`;
        snapshots.retention = `${hours * (Number(backup!.retention) || 6)}h`;
        snapshots.s3 = Object.fromEntries(Object.entries({
            bucketName: s3.bucketName, endpoint: s3.endpoint, region: s3.region, folder: s3.folder,
            accessKey: s3.accessKey, customCa: s3.customCa,
        }).filter(([, v]) => typeof v === "string" && v !== ""));
        if (s3.secretKey) {
            secrets.push({ key: "etcdS3SecretKey", statePath: `.${state.from}.rkeConfig.services.etcd.backupConfig.s3BackupConfig.secretKey` });
        }
    } else {
        snapshots.creation = duration(etcd.creation, "12h");
        snapshots.retention = duration(etcd.retention, "72h");
    }
    entries.etcdSnapshots = snapshots;

    // registry and bastion
    const registries = Array.isArray(cfg.privateRegistries) ? cfg.privateRegistries as Obj[] : [];
    if (registries.length > 0) {
        const r = registries[0];
        entries.privateRegistry = {
            url: r.url, ...(r.user ? { user: r.user } : {}), isDefault: r.isDefault === true,
        };
        if (r.password) {
            secrets.push({ key: "privateRegistryPassword", statePath: `.${state.from}.rkeConfig.privateRegistries[0].password` });
        }
        if (r.ecrCredentialPlugin) {
            notes.push({ kind: "dropped", text: "private_registries[0].ecr_credential_plugin: holds AWS credentials; the stack has no key for it" });
        }
        for (const extra of registries.slice(1)) {
            notes.push({ kind: "dropped", text: `private_registries: ${String(extra.url)} is not carried (the stack has one privateRegistry); ` +
                "nodes that already pulled their images keep running" });
        }
    }
    const bastion = isObject(cfg.bastionHost) ? cfg.bastionHost : {};
    if (bastion.address) {
        entries.bastion = { address: bastion.address, ...(bastion.user ? { user: bastion.user } : {}), ...(bastion.port ? { port: Number(bastion.port) } : {}) };
        if (o.stackBastion) {
            entries.bastion = { ...entries.bastion as Obj, ...o.stackBastion };
        } else {
            notes.push({ kind: "info", text: "bastion: set bastion.sshKeyPath (or the cluster key) for the jump host; its key is not in the state" });
        }
    }

    // Everything else: what differs from what the stack renders goes into rkeOverrides.
    const recovered = overridableYml(yml, o, notes);
    const pending = secrets.map(s => s.key);
    const plain = render(entries, pending);
    const overrides = deepMergeObj(overridesFrom(recovered, plain, ""), forced);
    // SANs: the cluster's, plus the load balancer and the Rancher hostname the stack needs in the API certificate.
    const sans = unionSans(recovered, plain);
    if (isObject(overrides.authentication)) {
        delete overrides.authentication.sans;
        if (Object.keys(overrides.authentication).length === 0) {
            delete overrides.authentication;
        }
    }
    if (!sameValue(sans.all, sans.rendered)) {
        overrides.authentication = { ...(isObject(overrides.authentication) ? overrides.authentication : {}), sans: sans.all };
    }
    if (sans.added.length > 0) {
        notes.push({
            kind: "changed", text: `authentication.sans: adds ${sans.added.join(", ")} (the load balancer and Rancher hostname); ` +
                "RKE regenerates the kube-apiserver certificate and restarts kube-apiserver and kube-controller-manager on the first pulumi up",
        });
    }
    if (Object.keys(overrides).length > 0) {
        entries.rkeOverrides = overrides;
    }
    for (const s of secrets) {
        notes.push({ kind: "secret", text: `${s.key}: set it before pulumi up: pulumi config set --secret ${s.key} ` +
            `(the value is ${s.statePath} in the recovered state)` });
    }

    // What the first pulumi up would still change.
    const final = render(entries, pending);
    for (const d of differences(comparable(yml, o.keepSystemImages), comparable(final, o.keepSystemImages), "")) {
        if (!d.path.startsWith("authentication.sans")) {
            notes.push({ kind: "changed", text: d.text });
        }
    }
    return { entries, secrets, notes };
}

/** The recovered yml minus what the stack renders itself or must not hold; notes say what was left out and why. */
function overridableYml(yml: Obj, o: StackEntryOptions, notes: RecoveryNote[]): Obj {
    const out = structuredClone(yml);
    for (const k of NOT_OVERRIDABLE) {
        delete out[k];
    }
    for (const p of secretYamlPaths(out)) {
        deletePath(out, p);
        notes.push({ kind: "dropped", text: `${p}: holds a secret and rkeOverrides is plain config; it is not carried ` +
            "(RKE keeps using what it deployed until this key is configured again)" });
    }
    if (typeof out.addons === "string" && out.addons !== "") {
        delete out.addons;
        notes.push({ kind: "dropped", text: "addons: the inline user add-on manifests may hold secrets and are not carried; " +
            "RKE leaves deployed add-ons in place. Put them in a file and list it in rkeOverrides.addons_include" });
    }
    if (!o.keepSystemImages) {
        const images = isObject(out.system_images) ? Object.keys(out.system_images).length : 0;
        delete out.system_images;
        if (isObject(out.services) && isObject((out.services as Obj).kubelet)) {
            delete ((out.services as Obj).kubelet as Obj).infra_container_image;
        }
        if (images > 0) {
            notes.push({ kind: "dropped", text: `system_images: ${images} images not carried; RKE derives them from ` +
                "versions.kubernetes (as it did when the cluster was built, unless they were customised: then pass --keep-system-images, " +
                "which pins them so later versions.kubernetes changes no longer change images)" });
        }
    }
    return out;
}

/**
 * Recovered values the rendered config lacks or has otherwise (objects compared key by key). Where the renderer writes
 * nothing, RKE's default is what the cluster would get: a recovered value equal to it is left out, and one that
 * differs is kept even when it is a zero value (false where RKE defaults to true).
 */
function overridesFrom(recovered: Obj, rendered: Obj, path: string): Obj {
    const out: Obj = {};
    for (const [k, rv] of Object.entries(recovered)) {
        const p = path ? `${path}.${k}` : k;
        const dv = rendered[k];
        if (p in RKE_DEFAULTS && (dv === undefined || dv === null)) {
            if (!sameValue(rv, RKE_DEFAULTS[p])) {
                out[k] = rv;
            }
            continue;
        }
        if (isObject(rv) && (dv === undefined || isObject(dv))) {
            const sub = overridesFrom(rv, (dv as Obj) ?? {}, p);
            if (Object.keys(sub).length > 0) {
                out[k] = sub;
            }
        } else if (!sameValue(rv, dv)) {
            out[k] = rv;
        }
    }
    return out;
}

function unionSans(recovered: Obj, rendered: Obj): { all: string[]; added: string[]; rendered: string[] } {
    const get = (o: Obj) => (isObject(o.authentication) && Array.isArray(o.authentication.sans) ? (o.authentication.sans as unknown[]).map(String) : []);
    const have = get(recovered);
    const want = get(rendered);
    const added = want.filter(s => !have.includes(s));
    return { all: [...have, ...added], added, rendered: want };
}

/** Zero values (what encoding/json omits) and absent keys mean the same to RKE. */
function isZero(v: unknown): boolean {
    return v === undefined || v === null || v === false || v === "" || v === 0 ||
        (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.values(v).every(isZero));
}

function sameValue(a: unknown, b: unknown): boolean {
    if (isZero(a) && isZero(b)) {
        return true;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
        return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
    }
    if (isObject(a) && isObject(b)) {
        const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
        return [...keys].every(k => sameValue(a[k], b[k]));
    }
    // RKE stores ports as strings, the renderer too; numbers in free maps may come either way.
    return (typeof a === "number" || typeof a === "string") && (typeof b === "number" || typeof b === "string") ? String(a) === String(b) : a === b;
}

/**
 * A cluster.yml reduced to what the cluster's state depends on: SSH access fields, action flags, secrets and
 * per-service images (ignored by RKE) are removed, node fields RKE defaults are filled in, so a recovered and a
 * rendered yml compare equal when `rke up` would reach the same cluster.
 */
export function comparable(yml: Obj, keepImages = false): Obj {
    const c = structuredClone(yml);
    for (const k of ["ssh_key_path", "ssh_cert_path", "ssh_agent_auth", "bastion_host", ...ACTION_KEYS]) {
        delete c[k];
    }
    dropServiceImages(c);
    if (!keepImages) {
        delete c.system_images;
        if (isObject(c.services) && isObject((c.services as Obj).kubelet)) {
            delete ((c.services as Obj).kubelet as Obj).infra_container_image;
        }
    }
    for (const p of secretYamlPaths(c)) {
        deletePath(c, p);
    }
    if (Array.isArray(c.nodes)) {
        c.nodes = (c.nodes as Obj[]).map(n => {
            const address = String(n.address);
            const node: Obj = {
                address,
                internal_address: n.internal_address || address,
                hostname_override: String(n.hostname_override || address).toLowerCase(),
                role: [...((n.role as string[]) ?? [])].sort(),
                docker_socket: n.docker_socket || RKE_DEFAULT_DOCKER_SOCKET,
                labels: n.labels ?? {},
                taints: Array.isArray(n.taints) ? (n.taints as Obj[]).map(({ timeAdded: _t, ...t }) => t) : [],
            };
            return node;
        });
    }
    for (const k of Object.keys(RKE_DEFAULTS)) {
        const v = getPath(c, k);
        if (v === undefined || v === null) {
            setPath(c, k, RKE_DEFAULTS[k]);
        }
    }
    return c;
}

/** Leaf differences between two comparable ymls, as "path: recovered -> rendered" lines. */
export function differences(recovered: unknown, rendered: unknown, path: string): { path: string; text: string }[] {
    if (sameValue(recovered, rendered)) {
        return [];
    }
    if (isObject(recovered) && isObject(rendered)) {
        const keys = [...new Set([...Object.keys(recovered), ...Object.keys(rendered)])];
        return keys.flatMap(k => differences(recovered[k], rendered[k], path ? `${path}.${k}` : k));
    }
    if (Array.isArray(recovered) && Array.isArray(rendered) && recovered.length === rendered.length &&
        recovered.every(isObject) && rendered.every(isObject)) {
        return recovered.flatMap((r, i) => differences(r, rendered[i], `${path}[${i}]`));
    }
    const show = (v: unknown) => (v === undefined ? "(unset)" : JSON.stringify(v));
    return [{ path, text: `${path}: the cluster has ${show(recovered)}, pulumi up would set ${show(rendered)}` }];
}

// ---- small object helpers ----

function deepMergeObj(a: Obj, b: Obj): Obj {
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) {
        out[k] = isObject(v) && isObject(out[k]) ? deepMergeObj(out[k] as Obj, v) : v;
    }
    return out;
}

function pathParts(p: string): (string | number)[] {
    return p.split(".").flatMap(seg => {
        const m = /^(.*?)((\[\d+\])*)$/.exec(seg)!;
        return [m[1], ...[...m[2].matchAll(/\[(\d+)\]/g)].map(x => Number(x[1]))].filter(x => x !== "");
    });
}

function getPath(o: unknown, p: string): unknown {
    return pathParts(p).reduce<unknown>((cur, k) => (cur !== null && typeof cur === "object" ? (cur as Obj)[k as string] : undefined), o);
}

function setPath(o: Obj, p: string, v: unknown): void {
    const parts = pathParts(p);
    let cur: Obj = o;
    for (const k of parts.slice(0, -1)) {
        if (!isObject(cur[k as string])) {
            cur[k as string] = {};
        }
        cur = cur[k as string] as Obj;
    }
    cur[parts[parts.length - 1] as string] = v;
}

function deletePath(o: Obj, p: string): void {
    const parts = pathParts(p);
    const parent = getPath(o, parts.slice(0, -1).map(x => (typeof x === "number" ? `[${x}]` : x)).join(".").replace(/\.\[/g, "["));
    if (parent !== null && typeof parent === "object") {
        delete (parent as Obj)[parts[parts.length - 1] as string];
    }
}

// ---- the state's nodes against the cluster's ----

export interface NodeMismatch {
    /** in-cluster: a Kubernetes node the state does not list; in-state: a state node that is no Kubernetes node. */
    kind: "missing-from-state" | "missing-from-cluster";
    /** Kubernetes node name (missing-from-state) or the state node's address. */
    name: string;
    address?: string;
    roles: string[];
    text: string;
}

const ROLE_LABEL = "node-role.kubernetes.io/";

/**
 * Compares the state's nodes with `kubectl get nodes -o json` (RKE names a node after its hostname_override, else its
 * address lowercased, labels its roles node-role.kubernetes.io/<role>=true and annotates its addresses
 * rke.cattle.io/external-ip and internal-ip). Every node on one side only is returned with what to do about it.
 */
export function compareNodes(config: Obj, nodesJson: string, stack: string): NodeMismatch[] {
    let list: { items?: unknown };
    try {
        list = JSON.parse(nodesJson);
    } catch (e) {
        throw new Error(`kubectl get nodes printed no JSON (${(e as Error).message})`);
    }
    const items = (isObject(list) && Array.isArray(list.items) ? list.items : []).filter(isObject);
    const kube = items.map(it => {
        const md = isObject(it.metadata) ? it.metadata : {};
        const labels = isObject(md.labels) ? md.labels : {};
        const ann = isObject(md.annotations) ? md.annotations : {};
        const st = isObject(it.status) && Array.isArray(it.status.addresses) ? it.status.addresses.filter(isObject) : [];
        const addrs = [ann["rke.cattle.io/external-ip"], ann["rke.cattle.io/internal-ip"], ...st.map(a => a.address)]
            .filter((a): a is string => typeof a === "string" && a !== "");
        const roles = ROLES.filter(r => labels[`${ROLE_LABEL}${r}`] !== undefined);
        const external = typeof ann["rke.cattle.io/external-ip"] === "string" ? ann["rke.cattle.io/external-ip"] as string
            : (st.find(a => a.type === "ExternalIP") ?? st.find(a => a.type === "InternalIP"))?.address as string | undefined;
        return { name: String(md.name ?? ""), addrs, roles, external };
    });
    const stateNodes = (Array.isArray(config.nodes) ? config.nodes as Obj[] : []).map(n => ({
        address: String(n.address ?? ""),
        name: String(n.hostnameOverride || n.address || "").toLowerCase(),
        roles: ROLES.filter(r => Array.isArray(n.role) && n.role.includes(r)),
    }));
    // By name (what RKE registers the node as), else by its external address (the annotation RKE sets).
    const matches = (s: typeof stateNodes[number], k: typeof kube[number]) => k.name === s.name || k.addrs.includes(s.address);
    const out: NodeMismatch[] = [];
    for (const k of kube.filter(k => !stateNodes.some(s => matches(s, k)))) {
        const entry = `{address: ${k.external ?? "<its address>"}, roles: [${k.roles.join(", ")}]}`;
        out.push({
            kind: "missing-from-state", name: k.name, address: k.external, roles: k.roles,
            text: `${k.name}${k.external ? ` (${k.external})` : ""}, roles ${k.roles.length > 0 ? k.roles.join(", ") : "none labelled"}: ` +
                "a node of the cluster that the state does not list (rke up would not manage it). If it should stay, add it to " +
                `the stack's nodes with its roles before pulumi up (pulumi config set --path on rancher-ha:nodes, or edit Pulumi.${stack}.yaml: ${entry}); ` +
                `if it is gone or should go, drain and remove it: kubectl drain ${k.name} --ignore-daemonsets --delete-emptydir-data && kubectl delete node ${k.name}`,
        });
    }
    for (const s of stateNodes.filter(s => !kube.some(k => matches(s, k)))) {
        out.push({
            kind: "missing-from-cluster", name: s.address, address: s.address, roles: s.roles,
            text: `${s.address} (${s.name}), roles ${s.roles.join(", ")}: in the state (so in the recovered nodes) but no node of the cluster. ` +
                `If the host is gone for good, remove it from the stack's nodes in Pulumi.${stack}.yaml before pulumi up; ` +
                "if it should be in the cluster, check that it runs (the first pulumi up's rke up registers it again)",
        });
    }
    return out;
}
