// The stack as the ops commands see it: Pulumi.<stack>.yaml read without the engine (scripts/stackFile.ts), and
// where to SSH: the host, its port and user, and the key FILE to use (ops never holds key material for SSH itself).
import * as fs from "fs";
import { privateKeyText, SshTarget, StackSettings } from "../../components/config";
import { hostKeyFor, normaliseHostKey, parseKnownHosts } from "../../components/config/hostKeys";
import { readStackFile, StackFile, toolSettings } from "../stackFile";
import { expandHome, RemoteTarget, SshEndpoint } from "./remote";

export interface OpsStack {
    file: StackFile;
    settings: StackSettings;
    warnings: string[];
}

export function loadStack(cwd: string, stack: string): OpsStack {
    const file = readStackFile(cwd, stack);
    const { settings, warnings } = toolSettings(file);
    return { file, settings, warnings };
}

type Raw = Record<string, unknown>;
const obj = (v: unknown): Raw => (typeof v === "object" && v !== null && !Array.isArray(v) ? v as Raw : {});

/**
 * The key file for a host: --identity, else the host's own sshKeyPath, else ssh.keyPath (default ~/.ssh/id_rsa);
 * undefined when the stack keeps the key as the secret sshPrivateKey (then the ssh agent must have it).
 */
export function keyFileFor(raw: Raw, hostRaw: Raw, identity?: string): string | undefined {
    if (identity) {
        return expandHome(identity);
    }
    if (typeof hostRaw.sshKeyPath === "string") {
        return expandHome(hostRaw.sshKeyPath);
    }
    if (raw.sshPrivateKey !== undefined) {
        return undefined;
    }
    const p = obj(raw.ssh).keyPath;
    return expandHome(typeof p === "string" ? p : "~/.ssh/id_rsa");
}

function nodeRaw(raw: Raw, address: string): Raw {
    return obj((Array.isArray(raw.nodes) ? raw.nodes : []).find(n => obj(n).address === address));
}

function bastionOf(s: StackSettings, raw: Raw, identity?: string): SshEndpoint | undefined {
    const b = s.bastion;
    return b && { address: b.address, port: b.port, user: b.user, keyFile: keyFileFor(raw, obj(raw.bastion), identity), hostKey: b.hostKey };
}

/** Where to SSH for a stack host (a node, the admin host). */
export function targetFor(s: StackSettings, raw: Raw, t: Pick<SshTarget, "address" | "port" | "user" | "hostKey">, identity?: string): RemoteTarget {
    return {
        address: t.address, port: t.port, user: t.user, keyFile: keyFileFor(raw, nodeRaw(raw, t.address), identity), hostKey: t.hostKey,
        bastion: bastionOf(s, raw, identity),
    };
}

export function adminTarget(s: StackSettings, raw: Raw, identity?: string): RemoteTarget | "local" {
    return s.admin.host === "local" ? "local" : targetFor(s, raw, s.admin.host, identity);
}

/** The private key text of a host's key file when it is readable here (for keys/<keyId> on the admin host). */
export function readKeyFile(p: string | undefined): string | undefined {
    if (!p) {
        return undefined;
    }
    try {
        return privateKeyText(fs.readFileSync(p, "utf8"));
    } catch {
        return undefined;
    }
}

/**
 * The pinned host key of a host the stack file may not list as a node yet (recover --from, the bastion before the
 * stack validates): its own hostKey setting, else its entry in ssh.knownHostsFile; undefined when neither has it.
 */
export function rawHostKey(raw: Raw, hostRaw: Raw, address: string, port: number): string | undefined {
    if (typeof hostRaw.hostKey === "string") {
        return normaliseHostKey(hostRaw.hostKey);
    }
    const file = obj(raw.ssh).knownHostsFile;
    if (typeof file !== "string") {
        return undefined;
    }
    try {
        return hostKeyFor(parseKnownHosts(fs.readFileSync(expandHome(file), "utf8")), address, port);
    } catch {
        return undefined;
    }
}

/**
 * The stack's bastion read from the stack file alone (recover runs before the stack has nodes, so before it
 * validates): address, port (bastion.port, ssh.port, 22), user (bastion.user, ssh.user), key file, pinned host key.
 * Throws a message when it is incomplete or not pinned (unless ssh.insecureIgnoreHostKeys).
 */
export function rawBastion(raw: Raw, identity?: string): SshEndpoint | undefined {
    if (raw.bastion === undefined) {
        return undefined;
    }
    const b = obj(raw.bastion);
    const ssh = obj(raw.ssh);
    const address = typeof b.address === "string" ? b.address : undefined;
    const user = typeof b.user === "string" ? b.user : typeof ssh.user === "string" ? ssh.user : undefined;
    const port = Number(b.port ?? ssh.port ?? 22);
    if (!address || !user || !Number.isInteger(port)) {
        throw new Error("the stack's bastion needs an address and a user (bastion.user or ssh.user) to reach the nodes through it");
    }
    const hostKey = rawHostKey(raw, b, address, port);
    if (hostKey === undefined && ssh.insecureIgnoreHostKeys !== true) {
        throw new Error(`the stack's bastion ${address}:${port} has no pinned host key: set bastion.hostKey (or an entry in ssh.knownHostsFile); ` +
            "ssh-keyscan -p <port> <bastion> prints it, check its fingerprint on the bastion's console");
    }
    return { address, port, user, keyFile: keyFileFor(raw, b, identity), hostKey };
}
