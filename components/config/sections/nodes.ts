// nodes: the server nodes, their roles, labels and taints.
import { NodeSettings, Role, ROLES, Taint } from "../types";
import { ConfigReader } from "../reader";
import { hasUpperCase, isHostname, isIp, labelKeyProblem, labelValueProblem, shown, shownKey, suggest } from "../names";
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
    // One host, two nodes: node j's private address is node i's address.
    const addresses = field("address").map(v => v?.toLowerCase());
    field("internalAddress").forEach((v, j) => {
        const i = v === undefined ? -1 : addresses.indexOf(v.toLowerCase());
        if (i >= 0 && i !== j) {
            r.err(`nodes[${j}].internalAddress`, `${shown(v)} is the address of nodes[${i}]; each node must be listed once, ` +
                `with its own addresses: set nodes[${j}]'s own private IP, or leave internalAddress out`);
        }
    });
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
            r.err(`${key}.internalAddress`, `${shown(internalAddress)} is not an IP address; set the node's address on the ` +
                "private network (e.g. 10.0.0.11), or leave it out");
        }
        const roles = parseRoles(r, n.roles, `${key}.roles`);
        const hostnameOverride = r.str(n, "hostnameOverride", { key: `${key}.hostnameOverride` });
        if (hostnameOverride !== undefined && !isHostname(hostnameOverride)) {
            r.err(`${key}.hostnameOverride`, `${shown(hostnameOverride)} is not a valid host name (RFC 1123)`);
        } else if (hostnameOverride !== undefined && hasUpperCase(hostnameOverride)) {
            // It becomes the Kubernetes node name, which must be lower case (RFC 1123).
            r.err(`${key}.hostnameOverride`, `${shown(hostnameOverride)} has upper-case letters; Kubernetes node names must be ` +
                `lower case: use ${shown(hostnameOverride.toLowerCase())}`);
        }
        const labels = parseLabels(r, n.labels, `${key}.labels`);
        const taints = parseTaints(r, n.taints, `${key}.taints`);
        const dockerSocket = r.str(n, "dockerSocket", { key: `${key}.dockerSocket` });
        if (dockerSocket !== undefined && (!/^\/[A-Za-z0-9_.\/-]+$/.test(dockerSocket) || dockerSocket.split("/").includes(".."))) {
            r.err(`${key}.dockerSocket`, `${shown(dockerSocket)} must be the absolute path of the Docker socket on the node ` +
                "(letters, digits, _ . / -), e.g. /var/run/docker.sock");
        }
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
            r.err(key, `duplicate ${what} ${shown(v)} (nodes[${seen.get(low)}] and nodes[${i}]); ` +
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
            const hint = role === "master" ? ` (did you mean "controlplane"?)` : suggest(String(role).slice(0, 100), ROLES);
            r.err(key, `unknown role ${shown(role)}${hint}; roles are controlplane, etcd, worker`);
        }
    }
    return roles;
}

/**
 * Kubernetes labels: keys as Kubernetes validates them (optional DNS-subdomain prefix and `/`, a name of at most
 * 63 characters), values text of at most 63 characters. Numbers and booleans are taken as their text (YAML reads
 * `true` and `250` unquoted); anything else (a map, a list, an empty value) is refused rather than written as
 * "[object Object]".
 */
export function parseLabels(r: ConfigReader, v: unknown, key: string): Record<string, string> {
    if (v === undefined) {
        return {};
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
        r.err(key, `must be a map of label name to value, e.g. {node-role.example.com/rancher: "true"}; got ${shown(v)}`);
        return {};
    }
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
        const where = `${key}.${shownKey(k)}`;
        const keyProblem = labelKeyProblem(k);
        if (keyProblem !== undefined) {
            r.err(where, `is not a valid Kubernetes label name: ${keyProblem}`);
        }
        const text = labelText(r, val, where, "label");
        if (text !== undefined && keyProblem === undefined) {
            out[k] = text;
        }
    }
    return out;
}

/** A label or taint value as text, or undefined (reported) when it is not one. */
function labelText(r: ConfigReader, val: unknown, where: string, what: string): string | undefined {
    if (typeof val !== "string" && typeof val !== "number" && typeof val !== "boolean") {
        r.err(where, `a ${what} value must be text (at most 63 characters), got ${shown(val)}` +
            (val === null ? `; write "" for an empty value` : ""));
        return undefined;
    }
    const text = String(val);
    const problem = labelValueProblem(text);
    if (problem !== undefined) {
        r.err(where, problem);
        return undefined;
    }
    return text;
}

const EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;

function parseTaints(r: ConfigReader, v: unknown, key: string): Taint[] {
    if (v === undefined) {
        return [];
    }
    if (!Array.isArray(v)) {
        r.err(key, "must be a list of {key, value, effect}, e.g. [{key: dedicated, value: rancher, effect: NoSchedule}]");
        return [];
    }
    const taints: Taint[] = [];
    const seen = new Map<string, number>();
    v.forEach((t, i) => {
        const where = `${key}[${i}]`;
        if (typeof t !== "object" || t === null || Array.isArray(t)) {
            r.err(where, `must be a {key, value, effect} map, got ${shown(t)}`);
            return;
        }
        // Tracked: a misspelt key ("efect") is reported as unknown, with a suggestion.
        const o = r.item(t, where);
        const tKey = o.key;
        const value = o.value;
        const effect = o.effect;
        let ok = true;
        if (typeof tKey !== "string" || tKey === "") {
            r.err(`${where}.key`, `missing or not text (got ${shown(tKey)}); set the taint's key, e.g. dedicated`);
            ok = false;
        } else {
            const problem = labelKeyProblem(tKey);
            if (problem !== undefined) {
                r.err(`${where}.key`, `${shown(tKey)} is not a valid taint key: ${problem}`);
                ok = false;
            }
        }
        const text = value === undefined ? undefined : labelText(r, value, `${where}.value`, "taint");
        if (value !== undefined && text === undefined) {
            ok = false;
        }
        if (typeof effect !== "string" || !(EFFECTS as readonly string[]).includes(effect)) {
            r.err(`${where}.effect`, `${effect === undefined ? "missing" : `unknown effect ${shown(effect)}`}` +
                `${typeof effect === "string" ? suggest(effect.slice(0, 100), EFFECTS) : ""}; use one of ${EFFECTS.join(", ")}`);
            ok = false;
        }
        if (!ok) {
            return;
        }
        const id = `${tKey}:${effect}`;
        if (seen.has(id)) {
            r.err(`${where}`, `duplicate taint ${shown(tKey)} with effect ${effect} (also ${key}[${seen.get(id)}]); ` +
                "Kubernetes allows one taint per key and effect");
            return;
        }
        seen.set(id, i);
        taints.push({ key: tKey as string, value: text, effect: effect as Taint["effect"] });
    });
    return taints;
}
