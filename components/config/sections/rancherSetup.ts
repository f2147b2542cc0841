// rancherSetup and importedClusters (+ the secret adminPassword and each cluster's kubeconfig): Rancher's first-run
// setup and the existing clusters to import, done after the Rancher release is ready.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ImportedClusterSettings, RancherSetupSettings } from "../types";
import { ConfigReader } from "../reader";
import { shown } from "../names";

/** Rancher cluster names: a lower-case DNS label (Rancher's display name rules are looser; ours keep URLs simple). */
const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Kubernetes label keys (optional prefix/name) and values. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Top-level config keys that importedClusters[].kubeconfigSecret names (secrets: read as text, never parsed). */
export function kubeconfigSecretKeys(raw: Record<string, unknown>): string[] {
    const list = raw.importedClusters;
    if (!Array.isArray(list)) {
        return [];
    }
    return list.map(c => (typeof c === "object" && c !== null ? (c as Record<string, unknown>).kubeconfigSecret : undefined))
        .filter((k): k is string => typeof k === "string");
}

export function parseRancherSetup(r: ConfigReader, raw: Record<string, unknown>): RancherSetupSettings {
    const o = r.obj(raw, "rancherSetup");
    const importedClusters = parseImportedClusters(r, raw);
    const given = r.bool(o, "enabled", "rancherSetup.enabled");
    if (given === false && importedClusters.length > 0) {
        r.err("rancherSetup.enabled", "false, but importedClusters is set: importing needs the first-run setup's API token; " +
            "remove rancherSetup.enabled or the importedClusters");
    }
    const password = r.secretStr(raw, "adminPassword");
    if (password !== undefined && password.length < 12) {
        r.err("adminPassword", "must be at least 12 characters (Rancher's minimum); or unset it to have one generated");
    }
    const enabled = given ?? importedClusters.length > 0;
    if (!enabled && password !== undefined) {
        r.err("adminPassword", "set, but the first-run setup is off; set rancherSetup.enabled: true (it sets this password), or remove it");
    }
    return {
        enabled,
        adminPassword: password === undefined ? undefined : pulumi.secret(password),
        telemetry: r.bool(o, "telemetry", "rancherSetup.telemetry") ?? false,
        importedClusters,
    };
}

function parseImportedClusters(r: ConfigReader, raw: Record<string, unknown>): ImportedClusterSettings[] {
    const list = raw.importedClusters;
    if (list === undefined || list === null) {
        return [];
    }
    if (!Array.isArray(list)) {
        r.err("importedClusters", "must be a list of {name, kubeconfigPath | kubeconfigSecret, description, labels}");
        return [];
    }
    const out: ImportedClusterSettings[] = [];
    const seen = new Set<string>();
    list.forEach((item, i) => {
        const key = `importedClusters[${i}]`;
        const c = r.item(item, key);
        const name = r.str(c, "name", { key: `${key}.name`, required: true });
        if (name !== undefined && !CLUSTER_NAME.test(name)) {
            r.err(`${key}.name`, `${shown(name)} must be a lower-case DNS label (letters, digits, -; up to 63), e.g. prod-east`);
        } else if (name !== undefined && (seen.has(name) || name === "local")) {
            r.err(`${key}.name`, name === "local" ? "\"local\" is Rancher's own cluster; choose another name"
                : `${shown(name)} is listed twice; each cluster once`);
        }
        if (name !== undefined) {
            seen.add(name);
        }
        const kubeconfig = kubeconfigOf(r, raw, c, key);
        const description = r.str(c, "description", { key: `${key}.description` });
        const labels = labelsOf(r, c, `${key}.labels`);
        const activeTimeoutSeconds = r.int(c, "activeTimeout", `${key}.activeTimeout`, 30, 7200) ?? 600;
        const cleanupAgentsOnRemove = r.bool(c, "cleanupAgentsOnRemove", `${key}.cleanupAgentsOnRemove`) ?? false;
        if (name !== undefined && kubeconfig !== undefined) {
            out.push({ name, kubeconfig: pulumi.secret(kubeconfig), description, labels, activeTimeoutSeconds, cleanupAgentsOnRemove });
        }
    });
    return out;
}

/** The cluster's kubeconfig text: from a file (read now, kept secret) or from a secret config key. */
function kubeconfigOf(r: ConfigReader, raw: Record<string, unknown>, c: Record<string, unknown>, key: string): string | undefined {
    const file = r.str(c, "kubeconfigPath", { key: `${key}.kubeconfigPath` });
    const secretKey = r.str(c, "kubeconfigSecret", { key: `${key}.kubeconfigSecret` });
    if ((file === undefined) === (secretKey === undefined)) {
        r.err(`${key}.kubeconfigPath`, "give the cluster's kubeconfig one way: kubeconfigPath (a file on the machine running " +
            "Pulumi) or kubeconfigSecret (the name of a secret config key: pulumi config set --secret <name> -- \"$(cat kubeconfig)\")");
        return undefined;
    }
    let text: string | undefined;
    if (file !== undefined) {
        const abs = file.startsWith("~/") ? path.join(r.home, file.slice(2)) : file;
        try {
            text = r.readFile(abs);
        } catch (e) {
            r.err(`${key}.kubeconfigPath`, `${shown(file)} cannot be read (${(e as NodeJS.ErrnoException).code ?? e}); point it at the ` +
                "cluster's admin kubeconfig, or use kubeconfigSecret");
            return undefined;
        }
    } else {
        if (!/^[A-Za-z][A-Za-z0-9]*$/.test(secretKey!)) {
            r.err(`${key}.kubeconfigSecret`, `${shown(secretKey)} must be a config key name (letters and digits), e.g. prodEastKubeconfig`);
            return undefined;
        }
        text = r.secretStr(raw, secretKey!);
        if (text === undefined) {
            r.err(`${key}.kubeconfigSecret`, `names ${secretKey}, which is not set; pulumi config set --secret ${secretKey} -- "$(cat kubeconfig)"`);
            return undefined;
        }
    }
    if (!/^\s*(apiVersion|clusters|kind)\s*:/m.test(text) && !text.trim().startsWith("{")) {
        r.err(file !== undefined ? `${key}.kubeconfigPath` : `${key}.kubeconfigSecret`, "does not hold a kubeconfig (no apiVersion/clusters)");
        return undefined;
    }
    return text;
}

function labelsOf(r: ConfigReader, c: Record<string, unknown>, key: string): Record<string, string> {
    const v = c.labels;
    if (v === undefined || v === null) {
        return {};
    }
    if (typeof v !== "object" || Array.isArray(v)) {
        r.err(key, "must be a map of Kubernetes labels, e.g. {env: prod}");
        return {};
    }
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
        const value = typeof x === "number" || typeof x === "boolean" ? String(x) : x;
        if (!LABEL_KEY.test(k) || typeof value !== "string" || !LABEL_VALUE.test(value)) {
            r.err(`${key}.${k}`, `${shown(k)}: ${shown(x)} is not a Kubernetes label (name and value: letters, digits, - _ .; up to 63)`);
            continue;
        }
        out[k] = value;
    }
    return out;
}
