// RKE's two spellings of its config: camelCase in the state file (rkestate, encoding/json tags) and snake_case in
// cluster.yml (yaml.v2 tags). rkeKeyMap.json holds both for every field of RancherKubernetesEngineConfig, extracted
// from types/rke_types.go (see test/fixtures/rke/extractRkeKeyMap.ts; the commit is in the file).
import * as keyMapFile from "./rkeKeyMap.json";

export interface KeyNode {
    yaml: string;
    /** map: free keys; any: a Kubernetes API type copied as is; list/dict: []struct / map[string]struct. */
    type?: "map" | "any" | "list" | "dict";
    fields?: Record<string, KeyNode>;
}

export const RKE_KEY_MAP_SOURCE: string = keyMapFile.source;
const ROOT: Record<string, KeyNode> = keyMapFile.keys as unknown as Record<string, KeyNode>;

/** The same tree keyed by yaml name (for checking cluster.yml keys). */
function byYaml(fields: Record<string, KeyNode>): Record<string, KeyNode & { json: string }> {
    return Object.fromEntries(Object.entries(fields).map(([json, n]) => [n.yaml, { ...n, json }]));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export interface Converted {
    value: Record<string, unknown>;
    /** Paths (in the input's spelling) that RKE's types do not have: left out of the result. */
    unknown: string[];
}

/** Walks `value` with the key tree, renaming keys from one spelling to the other. */
function convert(value: unknown, fields: Record<string, KeyNode>, direction: "toYaml" | "toJson", path: string, unknown: string[]): Record<string, unknown> {
    const lookup: Record<string, KeyNode & { json?: string }> = direction === "toYaml" ? fields : byYaml(fields);
    const out: Record<string, unknown> = {};
    if (!isObject(value)) {
        return out;
    }
    for (const [k, v] of Object.entries(value)) {
        const n = lookup[k];
        const p = path ? `${path}.${k}` : k;
        if (n === undefined) {
            unknown.push(p);
            continue;
        }
        const name = direction === "toYaml" ? n.yaml : (n as { json: string }).json;
        out[name] = convertValue(v, n, direction, p, unknown);
    }
    return out;
}

function convertValue(v: unknown, n: KeyNode, direction: "toYaml" | "toJson", path: string, unknown: string[]): unknown {
    if (v === null || n.fields === undefined) {
        return v; // scalars, scalar lists, free maps and Kubernetes types are the same in both spellings
    }
    if (n.type === "list") {
        return Array.isArray(v) ? v.map((item, i) => convert(item, n.fields!, direction, `${path}[${i}]`, unknown)) : v;
    }
    if (n.type === "dict") {
        return isObject(v) ? Object.fromEntries(Object.entries(v).map(([k, item]) =>
            [k, convert(item, n.fields!, direction, `${path}.${k}`, unknown)])) : v;
    }
    return convert(v, n.fields, direction, path, unknown);
}

/** rkeConfig from a state file (camelCase) -> the same config as cluster.yml keys (snake_case). */
export function rkeJsonToYaml(rkeConfig: unknown): Converted {
    const unknown: string[] = [];
    return { value: convert(rkeConfig, ROOT, "toYaml", "", unknown), unknown };
}

/** cluster.yml keys -> state file keys: what RKE writes in the state for a given cluster.yml (before its defaults). */
export function rkeYamlToJson(clusterYml: unknown): Converted {
    const unknown: string[] = [];
    return { value: convert(clusterYml, ROOT, "toJson", "", unknown), unknown };
}

/**
 * cluster.yml keys that hold secrets (RKE marks most with norman:"type=password"): they never belong in plain stack
 * config. Matched on the last path element.
 */
export const SECRET_YAML_KEYS: readonly string[] = [
    "ssh_key", "password", "secret_key", "aadClientSecret", "aadClientCertPassword", "token", "apic_user_key",
    "kafka_client_key", "aws_secret_access_key", "aws_session_token", "custom_config", "cloud_config", "config_file",
];
/** Secrets whose key name is too common to match alone (taints have a `key` too). */
const SECRET_YAML_PATHS: readonly string[] = ["services.etcd.key"];

/**
 * Problems with the keys of a partial cluster.yml (unknown keys, with a suggestion), each as
 * `<prefix><path>: <message>`. Values are not checked: RKE does that.
 */
export function rkeYamlKeyProblems(partial: unknown, prefix: string, suggest: (k: string, c: string[]) => string): string[] {
    const problems: string[] = [];
    const walk = (v: unknown, fields: Record<string, KeyNode>, path: string) => {
        if (!isObject(v)) {
            problems.push(`${prefix}${path}${path ? ":" : ""} must be a map of cluster.yml keys`);
            return;
        }
        const known = byYaml(fields);
        for (const [k, child] of Object.entries(v)) {
            const p = path ? `${path}.${k}` : k;
            const n = known[k];
            if (n === undefined) {
                problems.push(`${prefix}${p}: not a key RKE reads here${suggest(k, Object.keys(known))}; known keys: ` +
                    Object.keys(known).join(", "));
                continue;
            }
            if (child === null || n.fields === undefined) {
                continue;
            }
            if (n.type === "list" && Array.isArray(child)) {
                child.forEach((item, i) => walk(item, n.fields!, `${p}[${i}]`));
            } else if (n.type === "dict" && isObject(child)) {
                for (const [dk, item] of Object.entries(child)) {
                    walk(item, n.fields!, `${p}.${dk}`);
                }
            } else if (n.type === undefined) {
                walk(child, n.fields, p);
            }
        }
    };
    walk(partial, ROOT, "");
    return problems;
}

/** Paths (dotted, yaml spelling) of secret-bearing keys present in a partial cluster.yml. */
export function secretYamlPaths(partial: unknown, path = ""): string[] {
    if (Array.isArray(partial)) {
        return partial.flatMap((item, i) => secretYamlPaths(item, `${path}[${i}]`));
    }
    if (!isObject(partial)) {
        return [];
    }
    return Object.entries(partial).flatMap(([k, v]) => {
        const p = path ? `${path}.${k}` : k;
        const secret = SECRET_YAML_KEYS.includes(k) || SECRET_YAML_PATHS.includes(p);
        return secret && v !== null && v !== "" ? [p] : secretYamlPaths(v, p);
    });
}
