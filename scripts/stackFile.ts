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

/**
 * Bounds on what a stack file may be. These commands run on pull-request content, so a file crafted to hang them
 * (a YAML "billion laughs": aliases of aliases, each a few bytes, that expand to gigabytes when walked) or to
 * flood their output is refused before anything reads its values. A real stack file is a few kilobytes.
 */
export const STACK_FILE_LIMITS = {
    /** Bytes of the file itself. */
    maxBytes: 1 << 20,
    /** Uses of YAML aliases (`*name`); a stack file has little reason for any. */
    maxAliases: 100,
    /** Values (maps, lists, scalars) in the document with every alias expanded. */
    maxValues: 100_000,
    /** Characters of text (keys and scalars) in the document with every alias expanded. */
    maxChars: 4 << 20,
};

/**
 * A YAML file loaded within STACK_FILE_LIMITS, or an Error saying which limit it broke and what to do. The
 * document is walked (aliases expanded) with a budget, so the check itself stops early on a bomb.
 */
export function loadBoundedYaml(file: string, limits = STACK_FILE_LIMITS): unknown {
    const name = path.basename(file);
    const size = fs.statSync(file).size;
    if (size > limits.maxBytes) {
        throw new Error(`${name} is ${size} bytes, over the ${limits.maxBytes}-byte limit for a stack file; ` +
            "a stack file holds settings, not data: keep large values (certificates, keys) in secrets or files, and check the file is the right one");
    }
    let doc: unknown;
    try {
        doc = yaml.load(fs.readFileSync(file, "utf8"), { filename: name });
    } catch (e) {
        throw new Error(`${name} is not valid YAML: ${String((e as Error).message).split("\n")[0]}`);
    }
    let aliases = 0;
    let values = 0;
    let chars = 0;
    const seen = new Set<object>();
    const stack: unknown[] = [doc];
    while (stack.length > 0) {
        const v = stack.pop();
        if (++values > limits.maxValues) {
            throw new Error(`${name} expands to more than ${limits.maxValues} values once its YAML aliases are expanded ` +
                "(an alias bomb?); write the settings out without anchors (&name) and aliases (*name)");
        }
        if (typeof v === "string") {
            chars += v.length;
        } else if (v !== null && typeof v === "object") {
            if (seen.has(v)) {
                // The same object reached again: only an alias does that (merge keys copy).
                if (++aliases > limits.maxAliases) {
                    throw new Error(`${name} uses YAML aliases (*name) more than ${limits.maxAliases} times; ` +
                        "write the settings out without anchors (&name) and aliases (*name)");
                }
            }
            seen.add(v);
            if (Array.isArray(v)) {
                for (const x of v) {
                    stack.push(x);
                }
            } else if (!(v instanceof Date)) {
                for (const [k, x] of Object.entries(v)) {
                    chars += k.length;
                    stack.push(x);
                }
            }
        }
        if (chars > limits.maxChars) {
            throw new Error(`${name} holds more than ${limits.maxChars} characters of text once its YAML aliases are expanded; ` +
                "write the settings out without anchors (&name) and aliases (*name), and keep large values out of the stack file");
        }
    }
    return doc;
}

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
    const project = (loadBoundedYaml(projectFile) as { name?: string } | null)?.name;
    if (!project) {
        throw new Error(`${projectFile} has no project name`);
    }
    const stackFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(stackFile)) {
        throw new Error(`no ${path.basename(stackFile)} in ${projectDir}; known stacks: ` +
            (fs.readdirSync(projectDir).filter(f => /^Pulumi\..+\.yaml$/.test(f) && f !== "Pulumi.yaml")
                .map(f => f.slice("Pulumi.".length, -".yaml".length)).join(", ") || "none"));
    }
    const doc = (loadBoundedYaml(stackFile) ?? {}) as { config?: Record<string, unknown> };
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

/** What tools see for backupEncryptionKey: the config check wants 32 bytes of base64; the value is never used. */
export const BACKUP_KEY_STAND_IN = Buffer.alloc(32).toString("base64");

/**
 * Settings for a tool run: the stack validated like `pulumi up` would, with every secret (plain or encrypted in
 * the file) replaced by its placeholder, and SSH key files that cannot be read here replaced too.
 */
export function toolSettings(file: StackFile, opts: ParseOptions = {}): ParseResult {
    const raw = { ...file.raw };
    for (const key of SECRET_KEYS) {
        if (raw[key] !== undefined) {
            raw[key] = key === "backupEncryptionKey" ? BACKUP_KEY_STAND_IN : secretPlaceholder(key);
        }
    }
    const realRead = opts.readFile ?? ((p: string) => fs.readFileSync(p, "utf8"));
    return parseConfig(raw, {
        stack: file.stack,
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

/**
 * The raw config with host key checking switched off, for what only renders or reads the stack and connects to no
 * host with it (the yml recover compares; host-keys, which runs because keys are missing). The warning it causes
 * is the caller's to drop.
 */
export function withoutHostKeyCheck(raw: Record<string, unknown>): Record<string, unknown> {
    const ssh = typeof raw.ssh === "object" && raw.ssh !== null && !Array.isArray(raw.ssh) ? raw.ssh as Record<string, unknown> : {};
    const { knownHostsFile: _unused, ...rest } = ssh;
    void _unused;
    return { ...raw, ssh: { ...rest, insecureIgnoreHostKeys: true } };
}
