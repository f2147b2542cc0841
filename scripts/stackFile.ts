// Reads a stack's Pulumi.<stack>.yaml without the Pulumi engine, for the commands that run outside `pulumi up`
// (render for review, day-2 operations). Values stored encrypted (`secure:`) need the Pulumi CLI to decrypt;
// here they become placeholders that pass validation and say what they stand for, so nothing written by these
// commands can hold a secret.
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { parseConfig, ParseOptions, ParseResult, parseConfigValue, SECRET_KEYS } from "../components/config";
import { redacted } from "./redact";

export { redacted };

export interface StackFile {
    project: string;
    stack: string;
    /** Config keys without the project prefix, values as the program would see them. */
    raw: Record<string, unknown>;
    /** Keys whose value was encrypted in the file (replaced by a placeholder). */
    encryptedKeys: string[];
}

/** Placeholders shaped like the real thing (PEM where a PEM is expected), so validation still runs. */
export function secretPlaceholder(key: string): string {
    const pem = (label: string) => `-----BEGIN ${label}-----\n${redacted(key)}\n-----END ${label}-----\n`;
    switch (key) {
        case "sshPrivateKey":
            return pem("OPENSSH PRIVATE KEY");
        case "tlsCert":
        case "tlsCaCert":
            return pem("CERTIFICATE");
        case "tlsKey":
            return pem("PRIVATE KEY");
        default:
            return redacted(key);
    }
}

export function readStackFile(projectDir: string, stack: string): StackFile {
    const projectFile = ["Pulumi.yaml", "Pulumi.yml"].map(f => path.join(projectDir, f)).find(f => fs.existsSync(f));
    if (!projectFile) {
        throw new Error(`no Pulumi.yaml in ${projectDir}; run this from the project directory`);
    }
    const project = (yaml.load(fs.readFileSync(projectFile, "utf8")) as { name?: string }).name;
    if (!project) {
        throw new Error(`${projectFile} has no project name`);
    }
    const stackFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(stackFile)) {
        throw new Error(`no ${path.basename(stackFile)} in ${projectDir}; known stacks: ` +
            (fs.readdirSync(projectDir).filter(f => /^Pulumi\..+\.yaml$/.test(f) && f !== "Pulumi.yaml")
                .map(f => f.slice("Pulumi.".length, -".yaml".length)).join(", ") || "none"));
    }
    const doc = (yaml.load(fs.readFileSync(stackFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const raw: Record<string, unknown> = {};
    const encryptedKeys: string[] = [];
    for (const [fullKey, value] of Object.entries(doc.config ?? {})) {
        if (!fullKey.startsWith(`${project}:`)) {
            continue;
        }
        const key = fullKey.slice(project.length + 1);
        // Pulumi hands a top-level scalar to the program as text (loadConfig parses it), nested values as JSON.
        raw[key] = typeof value === "string" && !SECRET_KEYS.includes(key) ? parseConfigValue(value)
            : decodeValue(value, key, encryptedKeys);
    }
    return { project, stack, raw, encryptedKeys };
}

function decodeValue(v: unknown, key: string, encrypted: string[]): unknown {
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && "secure" in v) {
        encrypted.push(key);
        return secretPlaceholder(key.split(/[.[]/)[0]);
    }
    if (Array.isArray(v)) {
        return v.map((x, i) => decodeValue(x, `${key}[${i}]`, encrypted));
    }
    if (v !== null && typeof v === "object") {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decodeValue(x, `${key}.${k}`, encrypted)]));
    }
    return v;
}

/**
 * Settings for a tool run: the stack validated like `pulumi up` would, with every secret (plain or encrypted in
 * the file) replaced by its placeholder, and SSH key files that cannot be read here replaced too.
 */
export function toolSettings(file: StackFile, opts: ParseOptions = {}): ParseResult {
    const raw = { ...file.raw };
    for (const key of SECRET_KEYS) {
        if (raw[key] !== undefined) {
            raw[key] = secretPlaceholder(key);
        }
    }
    const realRead = opts.readFile ?? ((p: string) => fs.readFileSync(p, "utf8"));
    return parseConfig(raw, {
        ...opts,
        // A key file's content never leaves this process: it only names the key (keyId). Without one, a
        // placeholder keeps the command usable on a machine that has no access to the hosts.
        readFile: p => {
            try {
                return realRead(p);
            } catch {
                return secretPlaceholder("sshPrivateKey");
            }
        },
    });
}
