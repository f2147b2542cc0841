// Stack configuration: parsed once into one typed object, validated before any resource exists.
//
// `parseConfig` is pure (raw values in, settings or a ConfigError out) so every message is unit tested;
// `loadConfig` is the thin Pulumi wrapper that index.ts calls.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as net from "net";
import * as pulumi from "@pulumi/pulumi";
import { rkeConfigProblems } from "./render/rkeCluster";
import { STATE_SYNC_PATTERN } from "./render/rkeScripts";
import { rkeYamlKeyProblems, secretYamlPaths } from "./render/rkeKeys";

export type Role = "controlplane" | "etcd" | "worker";
export const ROLES: readonly Role[] = ["controlplane", "etcd", "worker"];
export type TlsSource = "rancher" | "letsEncrypt" | "secret";
export type LbMode = "docker" | "system";
export type NodeSize = "S" | "M" | "L" | "XL";

/** How to reach a host over SSH. The key is always a secret Output. */
export interface SshTarget {
    address: string;
    port: number;
    user: string;
    privateKey: pulumi.Output<string>;
    /** sha256 of the key material, 16 hex chars: names the key file on the admin host without revealing it. */
    keyId: string;
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

export interface LoadBalancerSettings extends SshTarget {
    /** `docker`: an nginx container, as in the seed article. `system`: the distro's nginx + stream module. */
    mode: LbMode;
    /** Container image in docker mode. */
    image: string;
    ports: { http: number; https: number; kubeApi: number };
    workerProcesses: number | "auto";
    workerConnections: number;
    workerRlimitNofile: number;
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
    chartRepo: "stable" | "latest" | "alpha";
    /** Given by the user (secret) or undefined: then a random one is generated. */
    bootstrapPassword?: pulumi.Output<string>;
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
    networkPlugin: "canal" | "calico" | "flannel" | "weave" | "none";
    ignoreDockerVersion: boolean;
    ingressProvider: "nginx" | "none";
    upgradeStrategy: { maxUnavailableWorker: string; maxUnavailableControlplane: string; drain: boolean };
}

export interface HostAliasesSettings {
    enabled: boolean;
    /** IP the Rancher hostname resolves to inside pods (default: the LB address). */
    ip: string;
}

/** The whole stack, typed. Secrets are pulumi secrets; everything else is plain data. */
export interface StackSettings {
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
}

/** Defaults a user would expect; documented in the README config table. */
export const DEFAULTS = {
    sshPort: 22,
    sshKeyPath: "~/.ssh/id_rsa",
    lbMode: "docker" as LbMode,
    lbImage: "nginx:1.27-alpine",
    lbPorts: { http: 80, https: 443, kubeApi: 6443 },
    workerProcesses: "auto" as const,
    workerConnections: 8192,
    workerRlimitNofile: 40000,
    workDir: "~/rancher-ha",
    rkePath: "rke",
    versions: {
        kubernetes: "v1.30.5-rancher1-1",
        rke: "v1.6.3",
        certManager: "v1.15.3",
        rancher: "2.9.2",
    } as Versions,
    etcdSnapshots: { enabled: true, creation: "6h", retention: "24h" },
    clusterName: "rancher",
    networkPlugin: "canal" as const,
    maxReplicas: 3,
};

/** Rancher's sizing table (seed: rancher-ha-on-rke-with-nginx-lb), nodes it can manage per server size. */
export const SIZING: Record<NodeSize, { clusters: number; nodes: number; vcpu: number; memoryGb: number }> = {
    S: { clusters: 5, nodes: 50, vcpu: 2, memoryGb: 8 },
    M: { clusters: 15, nodes: 200, vcpu: 4, memoryGb: 16 },
    L: { clusters: 50, nodes: 500, vcpu: 8, memoryGb: 32 },
    XL: { clusters: 100, nodes: 1000, vcpu: 32, memoryGb: 128 },
};

/** Every key the stack accepts, nested; drives the unknown-key check. `[]` marks an array of objects. */
const SCHEMA: KeySchema = {
    hostname: true,
    nodes: {
        "[]": {
            address: true, internalAddress: true, user: true, port: true, roles: true, sshKeyPath: true,
            hostnameOverride: true, labels: "any", taints: true, dockerSocket: true,
        },
    },
    ssh: { user: true, port: true, keyPath: true },
    sshPrivateKey: true,
    loadBalancer: {
        address: true, user: true, port: true, sshKeyPath: true, mode: true, image: true, httpPort: true,
        httpsPort: true, kubeApiPort: true, workerProcesses: true, workerConnections: true, workerRlimitNofile: true,
    },
    admin: { host: true, workDir: true, rkePath: true, stateSync: true },
    versions: { kubernetes: true, rke: true, certManager: true, rancher: true },
    tls: { source: true, letsEncryptEmail: true, letsEncryptEnvironment: true, generateCa: true },
    tlsCert: true,
    tlsKey: true,
    tlsCaCert: true,
    rancher: { replicas: true, chartRepo: true },
    bootstrapPassword: true,
    privateRegistry: { url: true, user: true, isDefault: true },
    privateRegistryPassword: true,
    bastion: { address: true, user: true, port: true, sshKeyPath: true },
    etcdSnapshots: {
        enabled: true, creation: true, retention: true,
        s3: { bucketName: true, endpoint: true, region: true, folder: true, accessKey: true, customCa: true },
    },
    etcdS3SecretKey: true,
    cluster: {
        name: true, networkPlugin: true, ignoreDockerVersion: true, ingressProvider: true,
        upgradeStrategy: { maxUnavailableWorker: true, maxUnavailableControlplane: true, drain: true },
    },
    hostAliases: { enabled: true, ip: true },
    nodeSize: true,
    rkeOverrides: "any", // checked against RKE's own keys by parseRkeOverrides
};
type KeySchema = { [key: string]: true | "any" | KeySchema };

/** Config keys that hold secrets: always read as pulumi secrets, never logged. */
export const SECRET_KEYS = [
    "sshPrivateKey", "tlsCert", "tlsKey", "tlsCaCert", "bootstrapPassword", "privateRegistryPassword", "etcdS3SecretKey",
];

/** All problems found in the config, one per line, each naming the key and the fix. */
export class ConfigError extends Error {
    /** One line per problem, each starting with the full config key (`rancher-ha:nodes[0].roles: ...`). */
    readonly problems: string[];

    constructor(problems: string[], project = "rancher-ha") {
        const full = problems.map(p => (p.startsWith(`${project}:`) ? p : `${project}:${p}`));
        super(`invalid stack configuration (${full.length} problem${full.length === 1 ? "" : "s"}):\n` +
            full.map(p => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
        this.problems = full;
    }
}

export interface ParseOptions {
    /** Reads an SSH key file; injectable for tests. */
    readFile?: (p: string) => string;
    /** Home directory used to expand `~`. */
    homeDir?: string;
}

export interface ParseResult {
    settings: StackSettings;
    /** Not errors, but worth saying: even etcd count, sizing. */
    warnings: string[];
}

/**
 * Turns the raw stack config (key without the project prefix -> parsed value) into StackSettings,
 * or throws a ConfigError listing every problem.
 */
export function parseConfig(raw: Record<string, unknown>, opts: ParseOptions = {}): ParseResult {
    const p = new Parser(opts);
    const settings = p.parse(raw);
    if (p.errors.length > 0) {
        throw new ConfigError(p.errors);
    }
    return { settings: settings!, warnings: p.warnings };
}

class Parser {
    errors: string[] = [];
    warnings: string[] = [];
    private readFile: (p: string) => string;
    private home: string;

    constructor(opts: ParseOptions) {
        this.readFile = opts.readFile ?? (p => fs.readFileSync(p, "utf8"));
        this.home = opts.homeDir ?? os.homedir();
    }

    private err(key: string, msg: string) {
        const line = `${key}: ${msg}`;
        if (!this.errors.includes(line)) {
            this.errors.push(line);
        }
    }

    parse(raw: Record<string, unknown>): StackSettings | undefined {
        this.checkUnknownKeys(raw, SCHEMA, "");

        const hostname = this.str(raw, "hostname", { required: true });
        if (hostname !== undefined) {
            if (isIp(hostname)) {
                this.err("hostname", `"${hostname}" is an IP address; Rancher needs a DNS name (e.g. rancher.example.com) ` +
                    `for its certificate and ingress. Use hostAliases if your site has no internal DNS.`);
            } else if (!isHostname(hostname) || !hostname.includes(".")) {
                this.err("hostname", `"${hostname}" is not a fully qualified host name; set it to e.g. rancher.example.com`);
            }
        }

        const ssh = this.obj(raw, "ssh");
        const defaultUser = this.str(ssh, "user", { key: "ssh.user" });
        const defaultPort = this.port(ssh, "port", "ssh.port") ?? DEFAULTS.sshPort;
        const defaultKeyPath = this.str(ssh, "keyPath", { key: "ssh.keyPath" }) ?? DEFAULTS.sshKeyPath;
        const clusterKey = this.secretStr(raw, "sshPrivateKey");
        const sshDefaults = { user: defaultUser, port: defaultPort, keyPath: defaultKeyPath, key: clusterKey };

        const nodes = this.parseNodes(raw, sshDefaults);
        const lb = this.parseLoadBalancer(raw, sshDefaults);
        const bastion = raw.bastion === undefined ? undefined
            : this.sshTarget(this.obj(raw, "bastion"), "bastion", sshDefaults);
        const admin = this.parseAdmin(raw, nodes);
        const versions = this.parseVersions(raw);
        const tls = this.parseTls(raw);
        const rancher = this.parseRancher(raw, nodes);
        const privateRegistry = this.parseRegistry(raw);
        const etcdSnapshots = this.parseSnapshots(raw);
        const cluster = this.parseCluster(raw);
        const rkeOverrides = this.parseRkeOverrides(raw);

        const ha = this.obj(raw, "hostAliases");
        const haIp = this.str(ha, "ip", { key: "hostAliases.ip" });
        if (haIp !== undefined && !isIp(haIp)) {
            this.err("hostAliases.ip", `"${haIp}" is not an IP address; set the address the Rancher hostname should resolve to`);
        }
        const hostAliases: HostAliasesSettings = {
            enabled: this.bool(ha, "enabled", "hostAliases.enabled") ?? false,
            ip: haIp ?? lb?.address ?? "",
        };
        if (hostAliases.enabled && haIp === undefined && lb && !isIp(lb.address)) {
            // /etc/hosts needs an address; the default (the LB) is a name here.
            this.err("hostAliases.ip", `required when hostAliases.enabled is true and loadBalancer.address ("${lb.address}") ` +
                "is a host name; set it to the IP that name resolves to");
        }

        const nodeSize = this.enumOf(raw, "nodeSize", ["S", "M", "L", "XL"] as const);
        if (nodeSize !== undefined && nodes.length > 0) {
            // The sizing table is about nodes Rancher manages; a local cluster bigger than it says the same.
            const limit = SIZING[nodeSize];
            if (nodes.length > limit.nodes) {
                this.warnings.push(`nodeSize: ${nodes.length} nodes exceed what size ${nodeSize} ` +
                    `(${limit.vcpu} vCPU, ${limit.memoryGb} GB) is sized for (${limit.nodes} nodes); use a larger nodeSize`);
            }
        }

        // What RKE would only report half-way through `rke up` (render/rkeCluster owns the rules).
        for (const problem of rkeConfigProblems({ kubernetesVersion: versions.kubernetes, networkPlugin: cluster.networkPlugin, etcdSnapshots })) {
            this.errors.push(problem);
        }

        if (this.errors.length > 0 || !hostname || !lb || !admin) {
            return undefined;
        }
        return {
            hostname, nodes, loadBalancer: lb, admin, versions, tls, rancher, privateRegistry, bastion,
            etcdSnapshots, cluster, hostAliases, nodeSize, rkeOverrides,
        };
    }

    // ---- sections ----

    private parseNodes(raw: Record<string, unknown>, d: SshDefaults): NodeSettings[] {
        const list = raw.nodes;
        if (list === undefined || (Array.isArray(list) && list.length === 0)) {
            this.err("nodes", "no nodes given; list the server nodes, e.g. " +
                "[{address: 192.0.2.11, roles: [controlplane, etcd, worker]}, ...] (3 nodes for HA)");
            return [];
        }
        if (!Array.isArray(list)) {
            this.err("nodes", "must be a list of nodes");
            return [];
        }
        const nodes: NodeSettings[] = [];
        const field = (k: string) => list.map(n => (typeof n === "object" && n !== null ? (n as any)[k] : undefined))
            .map(v => (typeof v === "string" || typeof v === "number" ? String(v) : undefined));
        this.duplicates(field("address"), "address", "nodes[].address");
        this.duplicates(field("internalAddress"), "internalAddress", "nodes[].internalAddress");
        this.duplicates(field("hostnameOverride"), "hostnameOverride", "nodes[].hostnameOverride");
        list.forEach((item, i) => {
            const key = `nodes[${i}]`;
            if (typeof item !== "object" || item === null || Array.isArray(item)) {
                this.err(key, "must be an object with at least address and roles");
                return;
            }
            const n = item as Record<string, unknown>;
            const target = this.sshTarget(n, key, d);
            const internalAddress = this.str(n, "internalAddress", { key: `${key}.internalAddress` });
            if (internalAddress !== undefined && !isIp(internalAddress)) {
                this.err(`${key}.internalAddress`, `"${internalAddress}" is not an IP address`);
            }
            const roles = this.parseRoles(n.roles, `${key}.roles`);
            const hostnameOverride = this.str(n, "hostnameOverride", { key: `${key}.hostnameOverride` });
            if (hostnameOverride !== undefined && !isHostname(hostnameOverride)) {
                this.err(`${key}.hostnameOverride`, `"${hostnameOverride}" is not a valid host name (RFC 1123)`);
            }
            const labels = this.stringMap(n.labels, `${key}.labels`);
            const taints = this.parseTaints(n.taints, `${key}.taints`);
            const dockerSocket = this.str(n, "dockerSocket", { key: `${key}.dockerSocket` });
            if (target) {
                nodes.push({ ...target, internalAddress, roles, hostnameOverride, labels, taints, dockerSocket });
            }
        });

        if (nodes.length === list.length) {
            for (const role of ROLES) {
                if (!nodes.some(n => n.roles.includes(role))) {
                    this.err("nodes", `no node has the ${role} role; add "${role}" to the roles of at least one node ` +
                        `(for HA: roles [controlplane, etcd, worker] on 3 nodes)`);
                }
            }
            const etcd = nodes.filter(n => n.roles.includes("etcd")).length;
            if (etcd > 0 && etcd % 2 === 0) {
                this.warnings.push(`nodes: ${etcd} etcd nodes is an even count: etcd keeps quorum with ${etcd / 2 + 1} ` +
                    `and tolerates no more failures than ${etcd - 1} nodes would; use an odd count (3 or 5)`);
            }
        }
        return nodes;
    }

    private duplicates(values: (string | undefined)[], what: string, key: string) {
        const seen = new Map<string, number>();
        values.forEach((v, i) => {
            if (v === undefined) {
                return;
            }
            const low = v.toLowerCase();
            if (seen.has(low)) {
                this.err(key, `duplicate ${what} "${v}" (nodes[${seen.get(low)}] and nodes[${i}]); ` +
                    `each node must be listed once`);
            } else {
                seen.set(low, i);
            }
        });
    }

    private parseRoles(v: unknown, key: string): Role[] {
        if (v === undefined) {
            this.err(key, "missing; set the node's roles, a list of controlplane, etcd, worker");
            return [];
        }
        const list = typeof v === "string" ? v.split(",").map(s => s.trim()) : v;
        if (!Array.isArray(list) || list.length === 0) {
            this.err(key, "must be a non-empty list of controlplane, etcd, worker");
            return [];
        }
        const roles: Role[] = [];
        for (const r of list) {
            if (typeof r === "string" && (ROLES as readonly string[]).includes(r)) {
                if (!roles.includes(r as Role)) {
                    roles.push(r as Role);
                }
            } else {
                // "master" is what most people call it elsewhere.
                const hint = r === "master" ? ` (did you mean "controlplane"?)` : suggest(String(r), ROLES);
                this.err(key, `unknown role "${String(r)}"${hint}; roles are controlplane, etcd, worker`);
            }
        }
        return roles;
    }

    private parseTaints(v: unknown, key: string): Taint[] {
        if (v === undefined) {
            return [];
        }
        if (!Array.isArray(v)) {
            this.err(key, "must be a list of {key, value, effect}");
            return [];
        }
        const effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
        return v.flatMap((t, i) => {
            const o = (typeof t === "object" && t !== null ? t : {}) as Record<string, unknown>;
            if (typeof o.key !== "string" || !effects.includes(String(o.effect))) {
                this.err(`${key}[${i}]`, `needs a key and an effect of ${effects.join(", ")}`);
                return [];
            }
            return [{ key: o.key, value: o.value === undefined ? undefined : String(o.value), effect: o.effect as Taint["effect"] }];
        });
    }

    private parseLoadBalancer(raw: Record<string, unknown>, d: SshDefaults): LoadBalancerSettings | undefined {
        if (raw.loadBalancer === undefined) {
            this.err("loadBalancer", "missing; set loadBalancer.address to the host that runs the nginx L4 proxy " +
                "in front of the nodes (ports 80, 443, 6443)");
            return undefined;
        }
        const o = this.obj(raw, "loadBalancer");
        const target = this.sshTarget(o, "loadBalancer", d);
        const mode = this.enumOf(o, "mode", ["docker", "system"] as const, "loadBalancer.mode") ?? DEFAULTS.lbMode;
        const ports = {
            http: this.port(o, "httpPort", "loadBalancer.httpPort") ?? DEFAULTS.lbPorts.http,
            https: this.port(o, "httpsPort", "loadBalancer.httpsPort") ?? DEFAULTS.lbPorts.https,
            kubeApi: this.port(o, "kubeApiPort", "loadBalancer.kubeApiPort") ?? DEFAULTS.lbPorts.kubeApi,
        };
        if (new Set([ports.http, ports.https, ports.kubeApi]).size !== 3) {
            this.err("loadBalancer", "httpPort, httpsPort and kubeApiPort must differ");
        }
        let workerProcesses: number | "auto" = DEFAULTS.workerProcesses;
        if (o.workerProcesses !== undefined && o.workerProcesses !== "auto") {
            workerProcesses = this.int(o, "workerProcesses", "loadBalancer.workerProcesses", 1, 1024) ?? workerProcesses;
        }
        const lb = target && {
            ...target,
            mode,
            image: this.str(o, "image", { key: "loadBalancer.image" }) ?? DEFAULTS.lbImage,
            ports,
            workerProcesses,
            workerConnections: this.int(o, "workerConnections", "loadBalancer.workerConnections", 16, 1 << 20) ?? DEFAULTS.workerConnections,
            workerRlimitNofile: this.int(o, "workerRlimitNofile", "loadBalancer.workerRlimitNofile", 1024, 1 << 24) ?? DEFAULTS.workerRlimitNofile,
        };
        if (lb && lb.workerRlimitNofile < lb.workerConnections * 2) {
            // A proxied connection holds two descriptors (client + upstream).
            this.warnings.push(`loadBalancer.workerRlimitNofile (${lb.workerRlimitNofile}) is under twice ` +
                `workerConnections (${lb.workerConnections}); nginx may run out of file descriptors`);
        }
        return lb;
    }

    private parseAdmin(raw: Record<string, unknown>, nodes: NodeSettings[]): AdminSettings | undefined {
        const o = this.obj(raw, "admin");
        const hostName = this.str(o, "host", { key: "admin.host" });
        const workDir = this.str(o, "workDir", { key: "admin.workDir" }) ?? DEFAULTS.workDir;
        const rkePath = this.str(o, "rkePath", { key: "admin.rkePath" }) ?? DEFAULTS.rkePath;
        if (!/^[A-Za-z0-9_~./-]+$/.test(workDir) || workDir.includes("..")) {
            this.err("admin.workDir", `"${workDir}" must be a plain path (letters, digits, _ ~ . / -), e.g. ~/rancher-ha`);
        }
        const stateSync = this.str(o, "stateSync", { key: "admin.stateSync" });
        if (stateSync !== undefined && !STATE_SYNC_PATTERN.test(stateSync)) {
            this.err("admin.stateSync", `"${stateSync}" must be a plain token (letters, digits, . _ : -, up to 64), ` +
                "e.g. the date: `pulumi config set --path rancher-ha:admin.stateSync $(date +%Y%m%d%H%M%S)`");
        }
        if (hostName === "local") {
            return { host: "local", workDir, rkePath, stateSync };
        }
        const etcd = nodes.find(n => n.roles.includes("etcd"));
        const host = hostName === undefined ? etcd : nodes.find(n => n.address === hostName);
        if (hostName !== undefined && !host) {
            this.err("admin.host", `"${hostName}" is not one of the nodes' addresses; ` +
                `use a node address${suggest(hostName, nodes.map(n => n.address))} or "local"`);
            return undefined;
        }
        if (!host) {
            return undefined; // no etcd node: already reported
        }
        const { address, port, user, privateKey, keyId } = host;
        return { host: { address, port, user, privateKey, keyId }, workDir, rkePath, stateSync };
    }

    private parseVersions(raw: Record<string, unknown>): Versions {
        const o = this.obj(raw, "versions");
        const v: Versions = {
            kubernetes: this.str(o, "kubernetes", { key: "versions.kubernetes" }) ?? DEFAULTS.versions.kubernetes,
            rke: this.str(o, "rke", { key: "versions.rke" }) ?? DEFAULTS.versions.rke,
            certManager: this.str(o, "certManager", { key: "versions.certManager" }) ?? DEFAULTS.versions.certManager,
            rancher: this.str(o, "rancher", { key: "versions.rancher" }) ?? DEFAULTS.versions.rancher,
        };
        if (!/^v\d+\.\d+\.\d+-rancher\d+(-\d+)?$/.test(v.kubernetes)) {
            this.err("versions.kubernetes", `"${v.kubernetes}" is not an RKE Kubernetes version; ` +
                `use one listed by \`rke config --list-version --all\`, e.g. ${DEFAULTS.versions.kubernetes}`);
        }
        if (!/^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(v.rke)) {
            this.err("versions.rke", `"${v.rke}" is not an rke release tag; use e.g. ${DEFAULTS.versions.rke}`);
        }
        if (!/^v?\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(v.certManager)) {
            this.err("versions.certManager", `"${v.certManager}" is not a chart version; use e.g. ${DEFAULTS.versions.certManager}`);
        }
        if (!/^v?\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(v.rancher)) {
            this.err("versions.rancher", `"${v.rancher}" is not a chart version; use e.g. ${DEFAULTS.versions.rancher}`);
        }
        return v;
    }

    private parseTls(raw: Record<string, unknown>): TlsSettings {
        const o = this.obj(raw, "tls");
        const source = this.enumOf(o, "source", ["rancher", "letsEncrypt", "secret"] as const, "tls.source") ?? "rancher";
        const email = this.str(o, "letsEncryptEmail", { key: "tls.letsEncryptEmail" });
        const environment = this.enumOf(o, "letsEncryptEnvironment", ["production", "staging"] as const,
            "tls.letsEncryptEnvironment") ?? "production";
        if (source === "letsEncrypt" && email === undefined) {
            this.err("tls.letsEncryptEmail", "required when tls.source is letsEncrypt; set the e-mail Let's Encrypt " +
                "sends expiry notices to");
        }
        if (email !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
            this.err("tls.letsEncryptEmail", `"${email}" is not an e-mail address`);
        }
        const cert = this.secretStr(raw, "tlsCert");
        const key = this.secretStr(raw, "tlsKey");
        const caCert = this.secretStr(raw, "tlsCaCert");
        const generateCa = this.bool(o, "generateCa", "tls.generateCa") ?? false;
        if (source === "secret") {
            if (generateCa && (cert || key)) {
                this.err("tls.generateCa", "true, but tlsCert/tlsKey are also set; use one or the other");
            } else if (!generateCa && (!cert || !key)) {
                this.err("tlsCert", "tls.source is secret but no certificate is given; set tlsCert and tlsKey " +
                    "(`pulumi config set --secret tlsCert < cert.pem`, same for tlsKey, and tlsCaCert for a private CA), " +
                    "or set tls.generateCa: true to have a private CA generated");
            }
            for (const [k, v, marker] of [["tlsCert", cert, "CERTIFICATE"], ["tlsCaCert", caCert, "CERTIFICATE"], ["tlsKey", key, "PRIVATE KEY"]] as const) {
                if (v !== undefined && !(v.includes("-----BEGIN") && v.includes(marker))) {
                    this.err(k, `is not a PEM ${marker.toLowerCase()} (expected "-----BEGIN ...${marker}-----")`);
                }
            }
        } else if (cert || key || caCert || generateCa) {
            this.warnings.push(`tls: tlsCert/tlsKey/tlsCaCert/generateCa are only used when tls.source is secret ` +
                `(it is ${source}); they are ignored`);
        }
        const secretMode = source === "secret";
        return {
            source,
            letsEncryptEmail: email,
            letsEncryptEnvironment: environment,
            cert: secretMode && cert ? pulumi.secret(cert) : undefined,
            key: secretMode && key ? pulumi.secret(key) : undefined,
            caCert: secretMode && caCert ? pulumi.secret(caCert) : undefined,
            generateCa: secretMode && generateCa,
            privateCa: secretMode && (generateCa || caCert !== undefined),
        };
    }

    private parseRancher(raw: Record<string, unknown>, nodes: NodeSettings[]): RancherSettings {
        const o = this.obj(raw, "rancher");
        const workers = nodes.filter(n => n.roles.includes("worker")).length;
        const replicas = this.int(o, "replicas", "rancher.replicas", 1, 50)
            ?? Math.max(1, Math.min(workers, DEFAULTS.maxReplicas));
        if (workers > 0 && replicas > workers) {
            this.warnings.push(`rancher.replicas: ${replicas} replicas on ${workers} worker node(s); Rancher spreads ` +
                `replicas one per node, so some will stay Pending`);
        }
        const password = this.secretStr(raw, "bootstrapPassword");
        if (password !== undefined && password.length < 12) {
            this.err("bootstrapPassword", "must be at least 12 characters (Rancher's minimum); or unset it to have one generated");
        }
        return {
            replicas,
            chartRepo: this.enumOf(o, "chartRepo", ["stable", "latest", "alpha"] as const, "rancher.chartRepo") ?? "stable",
            bootstrapPassword: password === undefined ? undefined : pulumi.secret(password),
        };
    }

    private parseRegistry(raw: Record<string, unknown>): PrivateRegistry | undefined {
        if (raw.privateRegistry === undefined) {
            if (raw.privateRegistryPassword !== undefined) {
                this.err("privateRegistryPassword", "set, but privateRegistry.url is not; set the registry or remove the password");
            }
            return undefined;
        }
        const o = this.obj(raw, "privateRegistry");
        const url = this.str(o, "url", { key: "privateRegistry.url", required: true });
        if (url !== undefined && (/\s|^https?:\/\//.test(url) || url.length === 0)) {
            this.err("privateRegistry.url", `"${url}" must be a registry host[:port], without a scheme (e.g. registry.example.com:5000)`);
        }
        const user = this.str(o, "user", { key: "privateRegistry.user" });
        const password = this.secretStr(raw, "privateRegistryPassword");
        if ((user === undefined) !== (password === undefined)) {
            this.err("privateRegistry.user", "privateRegistry.user and the secret privateRegistryPassword go together; set both or neither");
        }
        return url === undefined ? undefined : {
            url,
            user,
            password: password === undefined ? undefined : pulumi.secret(password),
            isDefault: this.bool(o, "isDefault", "privateRegistry.isDefault") ?? true,
        };
    }

    private parseSnapshots(raw: Record<string, unknown>): EtcdSnapshotSettings {
        const o = this.obj(raw, "etcdSnapshots");
        const duration = (k: "creation" | "retention", def: string) => {
            const v = this.str(o, k, { key: `etcdSnapshots.${k}` }) ?? def;
            if (!/^\d+[smh]$/.test(v)) {
                this.err(`etcdSnapshots.${k}`, `"${v}" is not a duration; use e.g. 6h, 30m`);
            }
            return v;
        };
        const s: EtcdSnapshotSettings = {
            enabled: this.bool(o, "enabled", "etcdSnapshots.enabled") ?? DEFAULTS.etcdSnapshots.enabled,
            creation: duration("creation", DEFAULTS.etcdSnapshots.creation),
            retention: duration("retention", DEFAULTS.etcdSnapshots.retention),
        };
        if (o.s3 !== undefined) {
            const s3 = this.obj(o, "s3", "etcdSnapshots.s3");
            const bucketName = this.str(s3, "bucketName", { key: "etcdSnapshots.s3.bucketName", required: true });
            const endpoint = this.str(s3, "endpoint", { key: "etcdSnapshots.s3.endpoint", required: true });
            const accessKey = this.str(s3, "accessKey", { key: "etcdSnapshots.s3.accessKey" });
            const secretKey = this.secretStr(raw, "etcdS3SecretKey");
            if ((accessKey === undefined) !== (secretKey === undefined)) {
                this.err("etcdSnapshots.s3.accessKey", "etcdSnapshots.s3.accessKey and the secret etcdS3SecretKey go together; " +
                    "set both, or neither to use an IAM instance profile");
            }
            if (bucketName !== undefined && endpoint !== undefined) {
                s.s3 = {
                    bucketName, endpoint, accessKey,
                    region: this.str(s3, "region", { key: "etcdSnapshots.s3.region" }),
                    folder: this.str(s3, "folder", { key: "etcdSnapshots.s3.folder" }),
                    customCa: this.str(s3, "customCa", { key: "etcdSnapshots.s3.customCa" }),
                    secretKey: secretKey === undefined ? undefined : pulumi.secret(secretKey),
                };
            }
        } else if (raw.etcdS3SecretKey !== undefined) {
            this.err("etcdS3SecretKey", "set, but etcdSnapshots.s3 is not; configure the bucket or remove the key");
        }
        return s;
    }

    private parseCluster(raw: Record<string, unknown>): ClusterSettings {
        const o = this.obj(raw, "cluster");
        const name = this.str(o, "name", { key: "cluster.name" }) ?? DEFAULTS.clusterName;
        if (!isHostname(name) || name.includes(".")) {
            this.err("cluster.name", `"${name}" must be a DNS label (lower-case letters, digits, -)`);
        }
        const us = this.obj(o, "upgradeStrategy", "cluster.upgradeStrategy");
        const unavailable = (k: "maxUnavailableWorker" | "maxUnavailableControlplane", def: string) => {
            const v = us[k] === undefined ? def : String(us[k]);
            if (!/^\d+%?$/.test(v)) {
                this.err(`cluster.upgradeStrategy.${k}`, `"${v}" must be a count or a percentage, e.g. 1 or 10%`);
            }
            return v;
        };
        return {
            name,
            networkPlugin: this.enumOf(o, "networkPlugin", ["canal", "calico", "flannel", "weave", "none"] as const,
                "cluster.networkPlugin") ?? DEFAULTS.networkPlugin,
            ignoreDockerVersion: this.bool(o, "ignoreDockerVersion", "cluster.ignoreDockerVersion") ?? false,
            ingressProvider: this.enumOf(o, "ingressProvider", ["nginx", "none"] as const, "cluster.ingressProvider") ?? "nginx",
            upgradeStrategy: {
                maxUnavailableWorker: unavailable("maxUnavailableWorker", "10%"),
                maxUnavailableControlplane: unavailable("maxUnavailableControlplane", "1"),
                drain: this.bool(us, "drain", "cluster.upgradeStrategy.drain") ?? false,
            },
        };
    }

    /**
     * rkeOverrides: a map in cluster.yml's own spelling, checked against RKE's keys (render/rkeKeyMap.json). Keys the
     * stack renders from its settings, one-off actions and secrets are refused, each with the key to use instead.
     */
    private parseRkeOverrides(raw: Record<string, unknown>): Record<string, unknown> | undefined {
        const v = raw.rkeOverrides;
        if (v === undefined || v === null) {
            return undefined;
        }
        if (typeof v !== "object" || Array.isArray(v)) {
            this.err("rkeOverrides", "must be a map of cluster.yml keys (snake_case, as RKE writes them), e.g. {services: {kubelet: {extra_args: {max-pods: \"250\"}}}}");
            return undefined;
        }
        const o = v as Record<string, unknown>;
        const instead: Record<string, string> = {
            nodes: "use nodes", kubernetes_version: "use versions.kubernetes", private_registries: "use privateRegistry",
            bastion_host: "use bastion", ssh_key_path: "rancher-ha manages SSH keys", ssh_cert_path: "rancher-ha manages SSH keys",
            ssh_agent_auth: "rancher-ha manages SSH keys", restore: "restore with `npm run ops -- snapshot-restore`",
            rotate_certificates: "rotate with `npm run ops -- cert-rotate`", rotate_encryption_key: "a one-off action, not a setting",
        };
        const before = this.errors.length;
        for (const k of Object.keys(o).filter(x => instead[x] !== undefined)) {
            this.err(`rkeOverrides.${k}`, `not allowed here: ${instead[k]}`);
        }
        const rest = Object.fromEntries(Object.entries(o).filter(([k]) => instead[k] === undefined));
        for (const problem of rkeYamlKeyProblems(rest, "rkeOverrides.", suggest)) {
            this.errors.push(problem);
        }
        for (const p of secretYamlPaths(rest)) {
            this.err(`rkeOverrides.${p}`, "holds a secret, and rkeOverrides is plain text in Pulumi.<stack>.yaml; " +
                "configure it with the stack's secret keys where one exists, or outside rancher-ha");
        }
        return this.errors.length === before ? o : undefined;
    }

    // ---- SSH ----

    private sshTarget(o: Record<string, unknown>, key: string, d: SshDefaults): SshTarget | undefined {
        const address = this.str(o, "address", { key: `${key}.address`, required: true });
        if (address !== undefined && !isIp(address) && !isHostname(address)) {
            this.err(`${key}.address`, `"${address}" is neither an IP address nor a valid host name`);
        }
        const user = this.str(o, "user", { key: `${key}.user` }) ?? d.user;
        if (user === undefined) {
            this.err(`${key}.user`, "no SSH user; set it here or set ssh.user for all hosts");
        } else if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) {
            this.err(`${key}.user`, `"${user}" is not a valid user name`);
        }
        const port = this.port(o, "port", `${key}.port`) ?? d.port;
        const ownPath = this.str(o, "sshKeyPath", { key: `${key}.sshKeyPath` });
        const key_ = this.sshKey(ownPath, d, `${key}.sshKeyPath`);
        if (address === undefined || user === undefined || key_ === undefined) {
            return undefined;
        }
        return { address, port, user, privateKey: pulumi.secret(key_), keyId: keyId(key_) };
    }

    /** A node's own key file, else the secret sshPrivateKey, else ssh.keyPath (default ~/.ssh/id_rsa). */
    private sshKey(ownPath: string | undefined, d: SshDefaults, key: string): string | undefined {
        if (ownPath === undefined && d.key !== undefined) {
            return this.checkKey(d.key, "sshPrivateKey");
        }
        const p = ownPath ?? d.keyPath;
        const file = p.startsWith("~/") ? path.join(this.home, p.slice(2)) : p;
        let text: string;
        try {
            text = this.readFile(file);
        } catch (e) {
            this.err(ownPath === undefined ? "ssh.keyPath" : key,
                `SSH private key ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? e}); ` +
                `point ${ownPath === undefined ? "ssh.keyPath" : key} at the key, or store it as a secret: ` +
                "`pulumi config set --secret sshPrivateKey -- \"$(cat ~/.ssh/id_rsa)\"`");
            return undefined;
        }
        return this.checkKey(text, ownPath === undefined ? "ssh.keyPath" : key);
    }

    private checkKey(text: string, key: string): string | undefined {
        const normalised = privateKeyText(text);
        if (normalised === undefined) {
            this.err(key, "does not hold a PEM/OpenSSH private key (expected \"-----BEGIN ... PRIVATE KEY-----\")");
            return undefined;
        }
        if (/Proc-Type: 4,ENCRYPTED/.test(text) || /BEGIN ENCRYPTED PRIVATE KEY/.test(text)) {
            this.err(key, "the SSH key is passphrase-protected; rke and Pulumi need an unencrypted key " +
                "(ssh-keygen -p -N '' -f <key> on a copy)");
            return undefined;
        }
        return normalised;
    }

    // ---- typed getters ----

    private checkUnknownKeys(o: unknown, schema: KeySchema, prefix: string) {
        if (typeof o !== "object" || o === null || Array.isArray(o)) {
            return;
        }
        for (const [k, v] of Object.entries(o)) {
            const s = schema[k];
            const full = prefix + k;
            if (s === undefined) {
                this.err(full, `unknown key${suggest(k, Object.keys(schema).filter(x => x !== "[]"))}; ` +
                    `known keys here: ${Object.keys(schema).join(", ")}`);
            } else if (typeof s === "object") {
                if (s["[]"] !== undefined) {
                    if (Array.isArray(v)) {
                        v.forEach((item, i) => this.checkUnknownKeys(item, s["[]"] as KeySchema, `${full}[${i}].`));
                    }
                } else if (typeof v === "object" && v !== null && !Array.isArray(v)) {
                    this.checkUnknownKeys(v, s, `${full}.`);
                } else if (v !== undefined) {
                    this.err(full, `must be an object with keys ${Object.keys(s).join(", ")}`);
                }
            }
        }
    }

    private obj(o: Record<string, unknown>, k: string, key = k): Record<string, unknown> {
        const v = o[k];
        if (v === undefined || v === null) {
            return {};
        }
        if (typeof v !== "object" || Array.isArray(v)) {
            return {}; // reported by checkUnknownKeys
        }
        void key;
        return v as Record<string, unknown>;
    }

    private str(o: Record<string, unknown>, k: string, opt: { key?: string; required?: boolean } = {}): string | undefined {
        const v = o[k];
        const key = opt.key ?? k;
        if (v === undefined || v === null || v === "") {
            if (opt.required) {
                this.err(key, "missing; this key is required");
            }
            return undefined;
        }
        if (typeof v === "number") {
            return String(v);
        }
        if (typeof v !== "string") {
            this.err(key, `must be a string, got ${JSON.stringify(v)}`);
            return undefined;
        }
        return v.trim() === v ? v : (this.err(key, `"${v}" has leading or trailing spaces`), undefined);
    }

    /** Secrets are read as strings and never echoed in messages. */
    private secretStr(o: Record<string, unknown>, k: string): string | undefined {
        const v = o[k];
        if (v === undefined || v === null || v === "") {
            return undefined;
        }
        if (typeof v !== "string") {
            this.err(k, "must be a string (set it with `pulumi config set --secret`)");
            return undefined;
        }
        return v;
    }

    private int(o: Record<string, unknown>, k: string, key: string, min: number, max: number): number | undefined {
        const v = o[k];
        if (v === undefined || v === null) {
            return undefined;
        }
        const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
        if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
            this.err(key, `${JSON.stringify(v)} must be a whole number from ${min} to ${max}`);
            return undefined;
        }
        return n;
    }

    private port(o: Record<string, unknown>, k: string, key: string): number | undefined {
        return this.int(o, k, key, 1, 65535);
    }

    private bool(o: Record<string, unknown>, k: string, key: string): boolean | undefined {
        const v = o[k];
        if (v === undefined || v === null) {
            return undefined;
        }
        if (v === true || v === "true") {
            return true;
        }
        if (v === false || v === "false") {
            return false;
        }
        this.err(key, `${JSON.stringify(v)} must be true or false`);
        return undefined;
    }

    private enumOf<T extends string>(o: Record<string, unknown>, k: string, values: readonly T[], key = k): T | undefined {
        const v = o[k];
        if (v === undefined || v === null) {
            return undefined;
        }
        if (typeof v === "string" && (values as readonly string[]).includes(v)) {
            return v as T;
        }
        this.err(key, `unknown value ${JSON.stringify(v)}${suggest(String(v), values)}; use one of ${values.join(", ")}`);
        return undefined;
    }

    private stringMap(v: unknown, key: string): Record<string, string> {
        if (v === undefined) {
            return {};
        }
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
            this.err(key, "must be a map of label name to value");
            return {};
        }
        const out: Record<string, string> = {};
        for (const [k, val] of Object.entries(v)) {
            if (!/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(k)) {
                this.err(`${key}.${k}`, "is not a valid Kubernetes label name");
            }
            out[k] = String(val);
        }
        return out;
    }
}

interface SshDefaults {
    user?: string;
    port: number;
    keyPath: string;
    key?: string;
}

// ---- helpers, exported for other modules and tests ----

export function isIp(s: string): boolean {
    return net.isIP(s) !== 0;
}

/** RFC 1123 host name (labels of letters, digits and hyphens). */
export function isHostname(s: string): boolean {
    if (s.length === 0 || s.length > 253 || /^[\d.]+$/.test(s)) {
        return false;
    }
    return s.split(".").every(l => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(l));
}

/** A private key as the stack holds it (one final newline), or undefined when the text is not a PEM/OpenSSH key. */
export function privateKeyText(text: string): string | undefined {
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
        return undefined;
    }
    return text.endsWith("\n") ? text : text + "\n";
}

export function keyId(privateKey: string): string {
    return crypto.createHash("sha256").update(privateKey).digest("hex").slice(0, 16);
}

/** ` (did you mean "x"?)` for a close match, else "". */
export function suggest(given: string, candidates: readonly string[]): string {
    let best: string | undefined;
    let bestDist = Infinity;
    for (const c of candidates) {
        const d = levenshtein(given.toLowerCase(), c.toLowerCase());
        if (d < bestDist) {
            best = c;
            bestDist = d;
        }
    }
    return best !== undefined && bestDist <= Math.max(2, Math.floor(given.length / 3)) ? ` (did you mean "${best}"?)` : "";
}

function levenshtein(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
        let prev = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const tmp = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
            prev = tmp;
        }
    }
    return row[b.length];
}

/** Roles as the node list uses them, for outputs. */
export function nodeSummary(nodes: NodeSettings[]): { address: string; internalAddress?: string; roles: Role[] }[] {
    return nodes.map(n => ({ address: n.address, internalAddress: n.internalAddress, roles: n.roles }));
}

/**
 * Reads this project's stack config (all `<project>:*` keys), parses and validates it.
 * Throws ConfigError before any resource is created; logs warnings.
 */
export function loadConfig(opts: ParseOptions = {}): StackSettings {
    const project = pulumi.getProject();
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
        if (k.startsWith(`${project}:`)) {
            const name = k.slice(project.length + 1);
            raw[name] = SECRET_KEYS.includes(name) ? v : parseConfigValue(v);
        }
    }
    const { settings, warnings } = parseConfig(raw, opts);
    for (const w of warnings) {
        pulumi.log.warn(`${project}:${w}`);
    }
    return settings;
}

/** Pulumi hands structured values over as JSON text and scalars as plain text. */
export function parseConfigValue(v: string): unknown {
    const t = v.trim();
    if (t.startsWith("{") || t.startsWith("[") || t === "true" || t === "false" || /^-?\d+$/.test(t)) {
        try {
            return JSON.parse(t);
        } catch {
            return v;
        }
    }
    return v;
}
