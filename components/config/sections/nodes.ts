// nodes: the server nodes, their roles, labels and taints.
import { NodeSettings, Role, ROLES, Taint } from "../types";
import { ConfigReader } from "../reader";
import { isHostname, isIp, suggest } from "../names";
import { SshDefaults, sshTarget } from "../sshKeys";

export function parseNodes(r: ConfigReader, raw: Record<string, unknown>, d: SshDefaults): NodeSettings[] {
    const list = raw.nodes;
    if (list === undefined || (Array.isArray(list) && list.length === 0)) {
        r.err("nodes", "no nodes given; list the server nodes, e.g. " +
            "[{address: 192.0.2.11, roles: [controlplane, etcd, worker]}, ...] (3 nodes for HA)");
        return [];
    }
    if (!Array.isArray(list)) {
        r.err("nodes", "must be a list of nodes");
        return [];
    }
    const nodes: NodeSettings[] = [];
    const field = (k: string) => list.map(n => (typeof n === "object" && n !== null ? (n as any)[k] : undefined))
        .map(v => (typeof v === "string" || typeof v === "number" ? String(v) : undefined));
    duplicates(r, field("address"), "address", "nodes[].address");
    duplicates(r, field("internalAddress"), "internalAddress", "nodes[].internalAddress");
    duplicates(r, field("hostnameOverride"), "hostnameOverride", "nodes[].hostnameOverride");
    list.forEach((item, i) => {
        const key = `nodes[${i}]`;
        if (typeof item !== "object" || item === null || Array.isArray(item)) {
            r.err(key, "must be an object with at least address and roles");
            return;
        }
        const n = r.item(item, key);
        const target = sshTarget(r, n, key, d);
        const internalAddress = r.str(n, "internalAddress", { key: `${key}.internalAddress` });
        if (internalAddress !== undefined && !isIp(internalAddress)) {
            r.err(`${key}.internalAddress`, `"${internalAddress}" is not an IP address`);
        }
        const roles = parseRoles(r, n.roles, `${key}.roles`);
        const hostnameOverride = r.str(n, "hostnameOverride", { key: `${key}.hostnameOverride` });
        if (hostnameOverride !== undefined && !isHostname(hostnameOverride)) {
            r.err(`${key}.hostnameOverride`, `"${hostnameOverride}" is not a valid host name (RFC 1123)`);
        }
        const labels = r.stringMap(n.labels, `${key}.labels`);
        const taints = parseTaints(r, n.taints, `${key}.taints`);
        const dockerSocket = r.str(n, "dockerSocket", { key: `${key}.dockerSocket` });
        if (target) {
            nodes.push({ ...target, internalAddress, roles, hostnameOverride, labels, taints, dockerSocket });
        }
    });

    if (nodes.length === list.length) {
        for (const role of ROLES) {
            if (!nodes.some(n => n.roles.includes(role))) {
                r.err("nodes", `no node has the ${role} role; add "${role}" to the roles of at least one node ` +
                    `(for HA: roles [controlplane, etcd, worker] on 3 nodes)`);
            }
        }
        const etcd = nodes.filter(n => n.roles.includes("etcd")).length;
        if (etcd > 0 && etcd % 2 === 0) {
            r.warn(`nodes: ${etcd} etcd nodes is an even count: etcd keeps quorum with ${etcd / 2 + 1} ` +
                `and tolerates no more failures than ${etcd - 1} nodes would; use an odd count (3 or 5)`);
        }
    }
    return nodes;
}

function duplicates(r: ConfigReader, values: (string | undefined)[], what: string, key: string) {
    const seen = new Map<string, number>();
    values.forEach((v, i) => {
        if (v === undefined) {
            return;
        }
        const low = v.toLowerCase();
        if (seen.has(low)) {
            r.err(key, `duplicate ${what} "${v}" (nodes[${seen.get(low)}] and nodes[${i}]); ` +
                `each node must be listed once`);
        } else {
            seen.set(low, i);
        }
    });
}

function parseRoles(r: ConfigReader, v: unknown, key: string): Role[] {
    if (v === undefined) {
        r.err(key, "missing; set the node's roles, a list of controlplane, etcd, worker");
        return [];
    }
    const list = typeof v === "string" ? v.split(",").map(s => s.trim()) : v;
    if (!Array.isArray(list) || list.length === 0) {
        r.err(key, "must be a non-empty list of controlplane, etcd, worker");
        return [];
    }
    const roles: Role[] = [];
    for (const role of list) {
        if (typeof role === "string" && (ROLES as readonly string[]).includes(role)) {
            if (!roles.includes(role as Role)) {
                roles.push(role as Role);
            }
        } else {
            // "master" is what most people call it elsewhere.
            const hint = role === "master" ? ` (did you mean "controlplane"?)` : suggest(String(role), ROLES);
            r.err(key, `unknown role "${String(role)}"${hint}; roles are controlplane, etcd, worker`);
        }
    }
    return roles;
}

function parseTaints(r: ConfigReader, v: unknown, key: string): Taint[] {
    if (v === undefined) {
        return [];
    }
    if (!Array.isArray(v)) {
        r.err(key, "must be a list of {key, value, effect}");
        return [];
    }
    const effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
    return v.flatMap((t, i) => {
        const o = (typeof t === "object" && t !== null ? t : {}) as Record<string, unknown>;
        if (typeof o.key !== "string" || !effects.includes(String(o.effect))) {
            r.err(`${key}[${i}]`, `needs a key and an effect of ${effects.join(", ")}`);
            return [];
        }
        return [{ key: o.key, value: o.value === undefined ? undefined : String(o.value), effect: o.effect as Taint["effect"] }];
    });
}
