// SSH targets and their private keys: a host's own key file, else the secret sshPrivateKey, else ssh.keyPath.
import * as crypto from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { SshTarget } from "./types";
import { ConfigReader } from "./reader";
import { isHostname, isIp } from "./names";

export interface SshDefaults {
    user?: string;
    port: number;
    keyPath: string;
    key?: string;
}

export function sshTarget(r: ConfigReader, o: Record<string, unknown>, key: string, d: SshDefaults): SshTarget | undefined {
    const address = r.str(o, "address", { key: `${key}.address`, required: true });
    if (address !== undefined && !isIp(address) && !isHostname(address)) {
        r.err(`${key}.address`, `"${address}" is neither an IP address nor a valid host name`);
    }
    const user = r.str(o, "user", { key: `${key}.user` }) ?? d.user;
    if (user === undefined) {
        r.err(`${key}.user`, "no SSH user; set it here or set ssh.user for all hosts");
    } else if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) {
        r.err(`${key}.user`, `"${user}" is not a valid user name`);
    }
    const port = r.port(o, "port", `${key}.port`) ?? d.port;
    const ownPath = r.str(o, "sshKeyPath", { key: `${key}.sshKeyPath` });
    const key_ = sshKey(r, ownPath, d, `${key}.sshKeyPath`);
    if (address === undefined || user === undefined || key_ === undefined) {
        return undefined;
    }
    return { address, port, user, privateKey: pulumi.secret(key_), keyId: keyId(key_) };
}

/** A node's own key file, else the secret sshPrivateKey, else ssh.keyPath (default ~/.ssh/id_rsa). */
function sshKey(r: ConfigReader, ownPath: string | undefined, d: SshDefaults, key: string): string | undefined {
    if (ownPath === undefined && d.key !== undefined) {
        return checkKey(r, d.key, "sshPrivateKey");
    }
    const p = ownPath ?? d.keyPath;
    const file = p.startsWith("~/") ? path.join(r.home, p.slice(2)) : p;
    let text: string;
    try {
        text = r.readFile(file);
    } catch (e) {
        r.err(ownPath === undefined ? "ssh.keyPath" : key,
            `SSH private key ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? e}); ` +
            `point ${ownPath === undefined ? "ssh.keyPath" : key} at the key, or store it as a secret: ` +
            "`pulumi config set --secret sshPrivateKey -- \"$(cat ~/.ssh/id_rsa)\"`");
        return undefined;
    }
    return checkKey(r, text, ownPath === undefined ? "ssh.keyPath" : key);
}

function checkKey(r: ConfigReader, text: string, key: string): string | undefined {
    const normalised = privateKeyText(text);
    if (normalised === undefined) {
        r.err(key, "does not hold a PEM/OpenSSH private key (expected \"-----BEGIN ... PRIVATE KEY-----\")");
        return undefined;
    }
    if (/Proc-Type: 4,ENCRYPTED/.test(text) || /BEGIN ENCRYPTED PRIVATE KEY/.test(text)) {
        r.err(key, "the SSH key is passphrase-protected; rke and Pulumi need an unencrypted key " +
            "(ssh-keygen -p -N '' -f <key> on a copy)");
        return undefined;
    }
    return normalised;
}

/** A private key as the stack holds it (one final newline), or undefined when the text is not a PEM/OpenSSH key. */
export function privateKeyText(text: string): string | undefined {
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
        return undefined;
    }
    return text.endsWith("\n") ? text : text + "\n";
}

export function keyId(privateKey: string): string {
    return crypto.createHash("sha256").update(privateKey).digest("hex").slice(0, 16);
}
