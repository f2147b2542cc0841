// SSH targets and their private keys: a host's own key file, else the secret sshPrivateKey, else ssh.keyPath.
import * as crypto from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { SshTarget } from "./types";
import { ConfigReader } from "./reader";
import { isHostname, isIp, shown } from "./names";
import { hostKeyFor, knownHostsName, normaliseHostKey, parseKnownHosts } from "./hostKeys";

export interface SshDefaults {
    user?: string;
    port: number;
    keyPath: string;
    key?: string;
    /** Entries of ssh.knownHostsFile, when set. */
    knownHosts?: ReturnType<typeof parseKnownHosts>;
    /** ssh.insecureIgnoreHostKeys: no host key is required (a warning says so on every run). */
    insecure: boolean;
}

/** The command that prints the host keys to pin, for messages. */
export const hostKeysCommand = (stack: string) => `npm run ops -- host-keys --stack ${stack}`;

/** ssh.knownHostsFile and ssh.insecureIgnoreHostKeys, read once for every host. */
export function hostKeyDefaults(r: ConfigReader, ssh: Record<string, unknown>): Pick<SshDefaults, "knownHosts" | "insecure"> {
    const file = r.str(ssh, "knownHostsFile", { key: "ssh.knownHostsFile" });
    const insecure = r.bool(ssh, "insecureIgnoreHostKeys", "ssh.insecureIgnoreHostKeys") ?? false;
    if (insecure) {
        r.warn("ssh.insecureIgnoreHostKeys: true, so no SSH host key is checked: whoever answers at a host's address " +
            "receives the SSH keys, the cluster state and the secrets sent to it. Only for a lab; pin the keys with " +
            `\`${hostKeysCommand(r.stack)}\`.`);
    }
    if (file === undefined) {
        return { insecure };
    }
    const p = file.startsWith("~/") ? path.join(r.home, file.slice(2)) : file;
    try {
        return { knownHosts: parseKnownHosts(r.readFile(p)), insecure };
    } catch (e) {
        r.err("ssh.knownHostsFile", `${p} cannot be read (${(e as NodeJS.ErrnoException).code ?? e}); point it at a known_hosts ` +
            `file, or pin each host's key with its hostKey setting (\`${hostKeysCommand(r.stack)}\` prints them)`);
        return { insecure };
    }
}

export function sshTarget(r: ConfigReader, o: Record<string, unknown>, key: string, d: SshDefaults): SshTarget | undefined {
    const address = r.str(o, "address", { key: `${key}.address`, required: true });
    if (address !== undefined && !isIp(address) && !isHostname(address)) {
        r.err(`${key}.address`, `${shown(address)} is neither an IP address nor a valid host name`);
    }
    const user = r.str(o, "user", { key: `${key}.user` }) ?? d.user;
    if (user === undefined) {
        r.err(`${key}.user`, "no SSH user; set it here or set ssh.user for all hosts");
    } else if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) {
        r.err(`${key}.user`, `${shown(user)} is not a valid user name`);
    }
    const port = r.port(o, "port", `${key}.port`) ?? d.port;
    const ownPath = r.str(o, "sshKeyPath", { key: `${key}.sshKeyPath` });
    const key_ = sshKey(r, ownPath, d, `${key}.sshKeyPath`);
    const hostKey = pinnedHostKey(r, o, key, d, address, port, user);
    if (address === undefined || user === undefined || key_ === undefined) {
        return undefined;
    }
    return { address, port, user, privateKey: pulumi.secret(key_), keyId: keyId(key_), hostKey };
}

/**
 * The host's own hostKey setting, else its entry in ssh.knownHostsFile; a host with neither is a config error
 * (unless ssh.insecureIgnoreHostKeys), naming the command that prints the keys to pin.
 */
function pinnedHostKey(r: ConfigReader, o: Record<string, unknown>, key: string, d: SshDefaults,
    address: string | undefined, port: number, user: string | undefined): string | undefined {
    const given = r.str(o, "hostKey", { key: `${key}.hostKey` });
    if (given !== undefined) {
        const k = normaliseHostKey(given);
        if (k === undefined) {
            r.err(`${key}.hostKey`, `${shown(given)} is not an SSH host key; give it as known_hosts or ssh-keyscan print it: ` +
                `"ssh-ed25519 AAAA..." (\`${hostKeysCommand(r.stack)}\` prints each host's)`);
        }
        return k;
    }
    if (address === undefined) {
        return undefined;
    }
    const fromFile = d.knownHosts && hostKeyFor(d.knownHosts, address, port);
    if (fromFile !== undefined || d.insecure) {
        return fromFile;
    }
    r.err(`${key}.hostKey`, `no pinned SSH host key for ${user ?? "?"}@${address}:${port}: without one, whoever answers at that ` +
        `address gets the SSH keys and secrets rancher-ha sends. Run \`${hostKeysCommand(r.stack)}\`, check the fingerprints it prints ` +
        `against the host's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on its console), and paste its hostKey ` +
        `entries${d.knownHosts ? ` (ssh.knownHostsFile has no entry for ${knownHostsName(address, port)})` : ", or set ssh.knownHostsFile"}`);
    return undefined;
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
