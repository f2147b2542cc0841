// rancher-cluster.yml for `rke up`, rendered from plain settings.
//
// Keys are exactly the yaml tags RKE v1.6 reads (types/rke_types.go, parsed with gopkg.in/yaml.v2, which ignores
// unknown keys silently: a misspelt key would simply do nothing, so test/components/rke/clusterYml.test.ts checks every
// key against the list extracted from RKE's source). SSH keys are referenced by path (keys/<keyId> in the work
// directory on the admin host), never embedded: the yml holds no key material.
import * as crypto from "crypto";
import * as yaml from "js-yaml";
import type { EtcdSnapshotSettings, StackSettings } from "../config/types";

export type RkeRole = "controlplane" | "etcd" | "worker";

/** A node as the renderer needs it (structurally a subset of config.ts NodeSettings). */
export interface RkeNodeInput {
    address: string;
    port: number;
    user: string;
    /** Names the key file keys/<keyId> on the admin host. */
    keyId: string;
    internalAddress?: string;
    roles: RkeRole[];
    hostnameOverride?: string;
    labels: Record<string, string>;
    taints: { key: string; value?: string; effect: string }[];
    dockerSocket?: string;
}

export interface RkeSshHostInput {
    address: string;
    port: number;
    user: string;
    keyId: string;
}

export interface RkeClusterYamlArgs {
    clusterName: string;
    /** Always written, so a newer rke binary never silently upgrades the cluster to its own default. */
    kubernetesVersion: string;
    nodes: RkeNodeInput[];
    /** Work directory on the admin host (may start with `~/`, which RKE expands); keys live in <workDir>/keys/. */
    workDir: string;
    /** Extra names/IPs for the API server certificate: the LB address and the Rancher hostname. */
    sans: string[];
    /** The S3 secret key is plain text here: the caller unwraps the secret and keeps the rendered yml secret. */
    etcdSnapshots: EtcdSnapshotSettings<string>;
    networkPlugin: string;
    ingressProvider: string;
    ignoreDockerVersion: boolean;
    upgradeStrategy: { maxUnavailableWorker: string; maxUnavailableControlplane: string; drain: boolean };
    privateRegistry?: { url: string; user?: string; password?: string; isDefault: boolean };
    bastion?: RkeSshHostInput;
    /**
     * rkeOverrides: cluster.yml keys the stack has no setting for (e.g. kept from an adopted cluster), deep-merged
     * over the rendered config last (see mergeRkeOverrides). Keys are checked against RKE's by config.ts.
     */
    overrides?: Record<string, unknown>;
}

/** Path of a key file as written in the yml (RKE expands a leading `~/` itself). */
export function rkeKeyPath(workDir: string, keyId: string): string {
    const dir = workDir === "~" ? "~" : workDir.replace(/\/+$/, "");
    return `${dir}/keys/${keyId}`;
}

/** "6h" -> 21600. Durations are validated by config.ts (`\d+[smh]`). */
export function durationSeconds(d: string): number {
    const m = /^(\d+)([smh])$/.exec(d);
    if (!m) {
        throw new Error(`not a duration: "${d}"`);
    }
    return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"];
}

/** "v1.30.4-rancher1-1" -> [1, 30]. */
export function kubernetesMinor(version: string): [number, number] | undefined {
    const m = /^v(\d+)\.(\d+)\./.exec(version);
    return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * Settings RKE would reject or silently misread, one message per problem (config.ts validates each key alone;
 * these need two keys together).
 */
export function rkeConfigProblems(a: {
    kubernetesVersion: string; networkPlugin: string; etcdSnapshots: EtcdSnapshotSettings<unknown>;
}): string[] {
    const problems: string[] = [];
    const minor = kubernetesMinor(a.kubernetesVersion);
    if (a.networkPlugin === "weave" && minor && (minor[0] > 1 || minor[1] >= 30)) {
        // RKE v1.6.0 release notes: "Weave CNI has been removed starting with Kubernetes 1.30".
        problems.push(`cluster.networkPlugin: weave is not available for Kubernetes ${a.kubernetesVersion} ` +
            "(RKE removed it from 1.30); use canal (the default), calico or flannel");
    }
    const s3 = a.etcdSnapshots.s3;
    if (s3 && a.etcdSnapshots.enabled) {
        // With backup_config RKE schedules by interval_hours (an integer) and keeps `retention` snapshots.
        const creation = durationSeconds(a.etcdSnapshots.creation);
        if (creation % 3600 !== 0) {
            problems.push(`etcdSnapshots.creation: "${a.etcdSnapshots.creation}" must be whole hours (e.g. 6h) ` +
                "when etcdSnapshots.s3 is set: RKE's S3 backups run every interval_hours");
        }
    }
    return problems;
}

function sshKeyPathFor(a: RkeClusterYamlArgs, keyId: string): string {
    return rkeKeyPath(a.workDir, keyId);
}

function renderNode(a: RkeClusterYamlArgs, n: RkeNodeInput): Record<string, unknown> {
    const node: Record<string, unknown> = {
        address: n.address,
        // RKE's Port field is a string.
        port: String(n.port),
    };
    if (n.internalAddress) {
        node.internal_address = n.internalAddress;
    }
    node.user = n.user;
    node.role = [...n.roles];
    if (n.hostnameOverride) {
        node.hostname_override = n.hostnameOverride;
    }
    node.ssh_key_path = sshKeyPathFor(a, n.keyId);
    if (n.dockerSocket) {
        node.docker_socket = n.dockerSocket;
    }
    if (Object.keys(n.labels).length > 0) {
        node.labels = { ...n.labels };
    }
    if (n.taints.length > 0) {
        node.taints = n.taints.map(t => ({ key: t.key, ...(t.value !== undefined ? { value: t.value } : {}), effect: t.effect }));
    }
    return node;
}

function renderEtcd(a: RkeClusterYamlArgs): Record<string, unknown> {
    const s = a.etcdSnapshots;
    const etcd: Record<string, unknown> = {
        snapshot: s.enabled,
        creation: s.creation,
        retention: s.retention,
    };
    if (s.s3) {
        // backup_config replaces creation/retention when present (services/etcd.go RunEtcdSnapshotSave), so the
        // same schedule is expressed in its units: every interval_hours, keep `retention` snapshots.
        const intervalHours = Math.max(1, Math.floor(durationSeconds(s.creation) / 3600));
        const keep = Math.max(1, Math.ceil(durationSeconds(s.retention) / (intervalHours * 3600)));
        const s3: Record<string, unknown> = { bucket_name: s.s3.bucketName, endpoint: s.s3.endpoint };
        if (s.s3.region) {
            s3.region = s.s3.region;
        }
        if (s.s3.folder) {
            s3.folder = s.s3.folder;
        }
        if (s.s3.accessKey) {
            s3.access_key = s.s3.accessKey;
        }
        if (s.s3.secretKey) {
            s3.secret_key = s.s3.secretKey;
        }
        if (s.s3.customCa) {
            s3.custom_ca = s.s3.customCa;
        }
        etcd.backup_config = {
            enabled: s.enabled,
            interval_hours: intervalHours,
            retention: keep,
            // yaml.v2 name of BackupConfig.S3BackupConfig (its yaml tag has no name): the lower-cased field name.
            s3backupconfig: s3,
        };
    }
    return etcd;
}

/** The cluster.yml as an object, keys in RKE's spelling. */
export function rkeClusterConfig(a: RkeClusterYamlArgs): Record<string, unknown> {
    const problems = rkeConfigProblems(a);
    if (problems.length > 0) {
        throw new Error(`rancher-cluster.yml cannot be rendered:\n  - ${problems.join("\n  - ")}`);
    }
    const sans = [...new Set(a.sans.filter(s => s.length > 0))];
    const cfg: Record<string, unknown> = {
        cluster_name: a.clusterName,
        kubernetes_version: a.kubernetesVersion,
        nodes: a.nodes.map(n => renderNode(a, n)),
        services: {
            etcd: renderEtcd(a),
            // RKE's default, written out because the preflight's swap check relies on it.
            kubelet: { fail_swap_on: false },
        },
        network: { plugin: a.networkPlugin },
        authentication: { strategy: "x509", sans },
        ingress: { provider: a.ingressProvider },
        ignore_docker_version: a.ignoreDockerVersion,
        upgrade_strategy: {
            max_unavailable_worker: a.upgradeStrategy.maxUnavailableWorker,
            max_unavailable_controlplane: a.upgradeStrategy.maxUnavailableControlplane,
            drain: a.upgradeStrategy.drain,
        },
    };
    if (a.privateRegistry) {
        const r = a.privateRegistry;
        cfg.private_registries = [{
            url: r.url,
            ...(r.user !== undefined ? { user: r.user } : {}),
            ...(r.password !== undefined ? { password: r.password } : {}),
            is_default: r.isDefault,
        }];
    }
    if (a.bastion) {
        cfg.bastion_host = {
            address: a.bastion.address,
            port: String(a.bastion.port),
            user: a.bastion.user,
            ssh_key_path: sshKeyPathFor(a, a.bastion.keyId),
        };
    }
    return a.overrides ? mergeRkeOverrides(cfg, a.overrides) : cfg;
}

/**
 * `overrides` deep-merged over `base`: maps merge key by key, anything else (lists, scalars) replaces, and null
 * removes the key (so an override can also take out a key the renderer writes). Neither input is modified.
 */
export function mergeRkeOverrides(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
    const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(overrides)) {
        if (v === null) {
            delete out[k];
        } else if (isMap(v)) {
            out[k] = mergeRkeOverrides(isMap(out[k]) ? out[k] as Record<string, unknown> : {}, v);
        } else {
            out[k] = v;
        }
    }
    return out;
}

const HEADER = "# Managed by rancher-ha (Pulumi). Edit the stack config and run `pulumi up`; edits here are overwritten.\n";

function dump(o: unknown): string {
    return yaml.dump(o, { lineWidth: -1, noRefs: true, sortKeys: false, quotingType: "\"" });
}

/** rancher-cluster.yml text. Deterministic: the same settings give the same bytes. */
export function rkeClusterYaml(a: RkeClusterYamlArgs): string {
    return HEADER + dump(rkeClusterConfig(a));
}

function isWorkerOnly(roles: RkeRole[]): boolean {
    return roles.length === 1 && roles[0] === "worker";
}

/**
 * What decides `rke up --update-only` on the admin host: `base` hashes the whole config without worker-only
 * nodes, and each worker-only node gets its own line. If the base is unchanged and no worker that stays has
 * changed, only worker-only nodes were added or removed, which is what --update-only is for (it skips the etcd
 * and control plane, and deploys the worker plane only on newly added workers).
 */
export function rkeUpPlan(a: RkeClusterYamlArgs): string {
    const cfg = rkeClusterConfig(a);
    const nodes = cfg.nodes as Record<string, unknown>[];
    const base = { ...cfg, nodes: nodes.filter((_, i) => !isWorkerOnly(a.nodes[i].roles)) };
    const lines = [`base ${hash(dump(base))}`];
    a.nodes.forEach((n, i) => {
        if (isWorkerOnly(n.roles)) {
            lines.push(`worker ${n.address} ${hash(dump(nodes[i]))}`);
        }
    });
    return lines.join("\n") + "\n";
}

function hash(s: string): string {
    return crypto.createHash("sha256").update(s, "utf8").digest("hex");
}

/** Secrets that end up in rancher-cluster.yml, unwrapped (only ever inside an apply: the yml is then secret). */
export interface RkeYamlSecrets {
    registryPassword?: string;
    s3SecretKey?: string;
}

/**
 * The renderer's input from the stack settings. The API server certificate gets the LB address and the Rancher
 * hostname as extra SANs: the kubeconfig points at the LB, and the hostname may reach the API too.
 */
export function rkeYamlArgs(s: StackSettings, loadBalancerAddress: string, secrets: RkeYamlSecrets = {}): RkeClusterYamlArgs {
    return {
        clusterName: s.cluster.name,
        kubernetesVersion: s.versions.kubernetes,
        nodes: s.nodes,
        workDir: s.admin.workDir,
        sans: [loadBalancerAddress, s.hostname],
        etcdSnapshots: {
            enabled: s.etcdSnapshots.enabled,
            creation: s.etcdSnapshots.creation,
            retention: s.etcdSnapshots.retention,
            s3: s.etcdSnapshots.s3 && { ...s.etcdSnapshots.s3, secretKey: secrets.s3SecretKey },
        },
        networkPlugin: s.cluster.networkPlugin,
        ingressProvider: s.cluster.ingressProvider,
        ignoreDockerVersion: s.cluster.ignoreDockerVersion,
        upgradeStrategy: s.cluster.upgradeStrategy,
        privateRegistry: s.privateRegistry && { ...s.privateRegistry, password: secrets.registryPassword },
        bastion: s.bastion,
        overrides: s.rkeOverrides,
    };
}
