// What each RKE2 node's /etc/rancher/rke2/config.yaml and registries.yaml say. Pure: config in, text out.
//
// Every server gets the same cluster-wide settings (cni, ingress-controller, tls-san, etcd snapshots, registry,
// rke2.serverConfig) from one input, so "critical settings identical on all servers" holds by construction; only
// node-* keys and `server` (absent on the first server, which initialises the cluster) differ.
import * as yaml from "js-yaml";
import { EtcdSnapshotSettings, Role, Taint } from "../config/types";
import { RKE2_PATHS } from "./paths";

/** The cluster-wide part of every node's config, secrets as plain text (an apply's input). */
export interface Rke2ClusterInput {
    hostname: string;
    /** The LB address: in tls-san and the join URL. */
    lbAddress: string;
    /** The LB's supervisor port (RKE2's 9345). */
    supervisorPort: number;
    cni: string;
    ingressProvider: "nginx" | "traefik" | "none";
    etcdSnapshots: EtcdSnapshotSettings<string>;
    privateRegistry?: { url: string; isDefault: boolean };
    serverConfig: Record<string, unknown>;
    agentConfig: Record<string, unknown>;
}

/** One node's own settings. */
export interface Rke2NodeInput {
    address: string;
    internalAddress?: string;
    hostnameOverride?: string;
    roles: Role[];
    labels: Record<string, string>;
    taints: Taint[];
}

export interface Rke2NodeRole {
    /** The node that initialises the cluster (no `server` key). */
    first: boolean;
    /** The cluster token (plain text: inside an apply, or "<redacted>" for review). */
    token: string;
}

/** RKE2's name of each cluster.ingressProvider (pkg/cli/cmds/server.go: none, or rke2cli.IngressItems). */
const INGRESS_CONTROLLER: Record<Rke2ClusterInput["ingressProvider"], string> = {
    nginx: "ingress-nginx",
    traefik: "traefik",
    none: "none",
};

/** What review renders in place of the token and the S3 secret key. */
export const REDACTED = "<redacted: kept secret in the Pulumi stack>";

/**
 * etcdSnapshots as RKE2 takes them: RKE's durations (creation every 6h, kept for 24h) become a cron schedule and
 * a count of snapshots kept per node. Only durations a cron step can express exactly are accepted (see
 * rke2SnapshotProblems).
 */
export function rke2SnapshotSchedule(creation: string, retention: string): { cron: string; retention: number } {
    const c = durationMinutes(creation);
    const r = durationMinutes(retention);
    if (c === undefined || r === undefined || rke2SnapshotProblems(creation, retention).length > 0) {
        throw new Error(`rke2SnapshotSchedule: ${creation}/${retention} is not a schedule RKE2 can take (config check missed it)`);
    }
    const cron = c < 60 ? `*/${c} * * * *` : c === 1440 ? "0 0 * * *" : `0 */${c / 60} * * *`;
    return { cron, retention: Math.max(1, Math.ceil(r / c)) };
}

/** Problems of etcdSnapshots.creation/retention under RKE2 (cron has minute steps that divide an hour or a day). */
export function rke2SnapshotProblems(creation: string, retention: string): { key: string; message: string }[] {
    const out: { key: string; message: string }[] = [];
    const c = durationMinutes(creation);
    if (c === undefined) {
        out.push({ key: "etcdSnapshots.creation", message: `${creation}: RKE2 schedules snapshots with cron, in whole minutes; use e.g. 30m or 6h` });
    } else if (!(c < 60 ? 60 % c === 0 : c % 60 === 0 && 1440 % c === 0)) {
        out.push({ key: "etcdSnapshots.creation", message: `${creation} is not a cron step: RKE2 schedules snapshots with cron, ` +
            "so use minutes that divide an hour (5m, 10m, 15m, 20m, 30m) or hours that divide a day (1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h)" });
    }
    const r = durationMinutes(retention);
    if (r === undefined) {
        out.push({ key: "etcdSnapshots.retention", message: `${retention}: use whole minutes or hours, e.g. 24h` });
    } else if (c !== undefined && r < c) {
        out.push({ key: "etcdSnapshots.retention", message: `${retention} is shorter than etcdSnapshots.creation (${creation}); ` +
            `RKE2 keeps a count of snapshots, so keep at least one: retention >= ${creation}` });
    } else if (c !== undefined && Math.ceil(r / c) > 1000) {
        out.push({ key: "etcdSnapshots.retention", message: `${retention} at one snapshot every ${creation} keeps ` +
            `${Math.ceil(r / c)} snapshots per server; keep it under 1000 (a longer retention belongs in S3 lifecycle rules)` });
    }
    return out;
}

function durationMinutes(d: string): number | undefined {
    const m = /^(\d+)([mh])$/.exec(d);
    if (m === null) {
        return undefined;
    }
    const n = Number(m[1]) * (m[2] === "h" ? 60 : 1);
    return n > 0 ? n : undefined;
}

/** A node's config.yaml as data, keys in a fixed order (so an unchanged stack renders byte-identical text). */
export function rke2NodeConfig(c: Rke2ClusterInput, n: Rke2NodeInput, role: Rke2NodeRole): Record<string, unknown> {
    const server = n.roles.includes("etcd") || n.roles.includes("controlplane");
    const out: Record<string, unknown> = {};
    // Header keys: how this node joins.
    if (!role.first) {
        out["server"] = `https://${c.lbAddress}:${c.supervisorPort}`;
    }
    out["token"] = role.token;
    // This node.
    if (n.hostnameOverride !== undefined) {
        out["node-name"] = n.hostnameOverride;
    }
    out["node-ip"] = n.internalAddress ?? n.address;
    if (n.internalAddress !== undefined && n.internalAddress !== n.address) {
        out["node-external-ip"] = n.address;
    }
    const labels = Object.entries(n.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`);
    if (labels.length > 0) {
        out["node-label"] = labels;
    }
    const taints = n.taints.map(t => `${t.key}${t.value === undefined ? "" : `=${t.value}`}:${t.effect}`);
    if (server && !n.roles.includes("worker") && !n.taints.some(t => t.key === "CriticalAddonsOnly")) {
        // A server without the worker role runs no workloads: RKE2's documented taint for dedicated servers.
        taints.push("CriticalAddonsOnly=true:NoExecute");
    }
    if (taints.length > 0) {
        out["node-taint"] = taints;
    }
    if (c.privateRegistry?.isDefault) {
        out["system-default-registry"] = c.privateRegistry.url;
    }
    if (server) {
        // The cluster: identical on every server.
        out["tls-san"] = [...new Set([c.lbAddress, c.hostname])];
        out["cni"] = c.cni;
        out["ingress-controller"] = INGRESS_CONTROLLER[c.ingressProvider];
        Object.assign(out, snapshotKeys(c.etcdSnapshots));
        Object.assign(out, sorted(c.serverConfig));
    } else {
        Object.assign(out, sorted(c.agentConfig));
    }
    return out;
}

function snapshotKeys(s: EtcdSnapshotSettings<string>): Record<string, unknown> {
    if (!s.enabled) {
        return { "etcd-disable-snapshots": true };
    }
    const sched = rke2SnapshotSchedule(s.creation, s.retention);
    const out: Record<string, unknown> = {
        "etcd-snapshot-schedule-cron": sched.cron,
        "etcd-snapshot-retention": sched.retention,
    };
    if (s.s3 !== undefined) {
        out["etcd-s3"] = true;
        out["etcd-s3-endpoint"] = s.s3.endpoint;
        out["etcd-s3-bucket"] = s.s3.bucketName;
        if (s.s3.region !== undefined) {
            out["etcd-s3-region"] = s.s3.region;
        }
        if (s.s3.folder !== undefined) {
            out["etcd-s3-folder"] = s.s3.folder;
        }
        if (s.s3.accessKey !== undefined) {
            out["etcd-s3-access-key"] = s.s3.accessKey;
        }
        if (s.s3.secretKey !== undefined) {
            out["etcd-s3-secret-key"] = s.s3.secretKey;
        }
        if (s.s3.customCa !== undefined) {
            out["etcd-s3-endpoint-ca"] = RKE2_PATHS.etcdS3Ca;
        }
    }
    return out;
}

function sorted(o: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

const HEADER = "# Written by rancher-ha (Pulumi stack); changes here are replaced on the next pulumi up.\n";

/** The node's config.yaml text (holds the token: written 0600, travels on stdin, secret in Pulumi). */
export function rke2NodeConfigYaml(c: Rke2ClusterInput, n: Rke2NodeInput, role: Rke2NodeRole): string {
    return HEADER + yaml.dump(rke2NodeConfig(c, n, role), { lineWidth: -1, noRefs: true, quotingType: "\"" });
}

/** The same text for review (`npm run render`): token and S3 secret key redacted. */
export function rke2NodeConfigYamlRedacted(c: Rke2ClusterInput, n: Rke2NodeInput, first: boolean): string {
    const s3 = c.etcdSnapshots.s3;
    const redacted: Rke2ClusterInput = {
        ...c,
        etcdSnapshots: { ...c.etcdSnapshots, s3: s3 && { ...s3, secretKey: s3.secretKey === undefined ? undefined : REDACTED } },
    };
    return rke2NodeConfigYaml(redacted, n, { first, token: REDACTED });
}

/**
 * /etc/rancher/rke2/registries.yaml: the private registry's login for containerd and, when it is the default
 * registry (air-gapped sites), a docker.io mirror on it, so images the charts name on docker.io come from it too.
 * RKE2's own system images come from `system-default-registry` in config.yaml.
 */
export function rke2RegistriesYaml(r: { url: string; user?: string; password?: string; isDefault?: boolean }): string {
    const config: Record<string, unknown> = {};
    if (r.user !== undefined) {
        config.auth = { username: r.user, password: r.password ?? "" };
    }
    const doc: Record<string, unknown> = {};
    if (r.isDefault) {
        doc.mirrors = { "docker.io": { endpoint: [`https://${r.url}`] } };
    }
    doc.configs = { [r.url]: config };
    return HEADER + yaml.dump(doc, { lineWidth: -1, noRefs: true, quotingType: "\"" });
}
