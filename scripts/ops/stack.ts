// The stack as the ops commands see it: Pulumi.<stack>.yaml read without the engine (scripts/stackFile.ts), and
// where to SSH: the host, its port and user, and the key FILE to use (ops never holds key material for SSH itself).
import * as fs from "fs";
import { privateKeyText, SshTarget, StackSettings } from "../../components/config";
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
