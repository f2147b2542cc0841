// SSH host keys the stack pins: a host's own `hostKey` setting, or an entry of the known_hosts file named by
// ssh.knownHostsFile (OpenSSH's format, hashed entries included). Pure: text in, keys out.
import * as crypto from "crypto";

/** Key types Pulumi's SSH client (golang.org/x/crypto/ssh) and OpenSSH both accept as host keys, best first. */
export const HOST_KEY_TYPES = [
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa",
] as const;

/**
 * `<type> <base64>` from a host key given as in known_hosts or a .pub file (a comment is dropped), or undefined
 * when it is not one. The base64 must decode to a key blob that starts with the same type name.
 */
export function normaliseHostKey(text: string): string | undefined {
    const [type, data] = text.trim().split(/\s+/);
    if (!(HOST_KEY_TYPES as readonly string[]).includes(type) || !data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) {
        return undefined;
    }
    const blob = Buffer.from(data, "base64");
    const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
    const inner = len > 0 && len + 4 <= blob.length ? blob.subarray(4, 4 + len).toString("latin1") : "";
    // rsa-sha2-* are signature names; the key blob of an RSA key says ssh-rsa.
    const want = type.startsWith("rsa-sha2-") ? "ssh-rsa" : type;
    return inner === want ? `${want} ${data}` : undefined;
}

/** SHA256 fingerprint as `ssh-keygen -lf` prints it (SHA256:<base64 without padding>). */
export function hostKeyFingerprint(hostKey: string): string {
    const data = hostKey.split(/\s+/)[1] ?? "";
    return `SHA256:${crypto.createHash("sha256").update(Buffer.from(data, "base64")).digest("base64").replace(/=+$/, "")}`;
}

interface KnownHostsEntry {
    patterns: string[];
    hostKey: string;
    revoked: boolean;
}

/** The entries of a known_hosts text (comments, @cert-authority lines and malformed lines skipped). */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
    const out: KnownHostsEntry[] = [];
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        if (line === "" || line.startsWith("#")) {
            continue;
        }
        const fields = line.split(/\s+/);
        let marker = "";
        if (fields[0].startsWith("@")) {
            marker = fields.shift()!;
        }
        if (marker === "@cert-authority" || fields.length < 3) {
            continue;
        }
        const hostKey = normaliseHostKey(`${fields[1]} ${fields[2]}`);
        if (hostKey) {
            out.push({ patterns: fields[0].split(","), hostKey, revoked: marker === "@revoked" });
        }
    }
    return out;
}

/** The name OpenSSH looks a host up by: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(address: string, port: number): string {
    return port === 22 ? address : `[${address}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
    return re.test(name);
}

function patternMatches(pattern: string, name: string): boolean {
    const hashed = /^\|1\|([^|]+)\|([^|]+)$/.exec(pattern);
    if (hashed) {
        const mac = crypto.createHmac("sha1", Buffer.from(hashed[1], "base64")).update(name).digest("base64");
        return mac === hashed[2];
    }
    return globMatch(pattern, name);
}

/**
 * The host key to pin for a host from known_hosts entries: the best type among the entries naming it (a negated
 * pattern excludes an entry; a revoked key is never chosen). Prefers ed25519: pinning a key also limits the
 * connection to that key's algorithm (@pulumi/command), and ed25519 is what every current sshd offers.
 */
export function hostKeyFor(entries: KnownHostsEntry[], address: string, port: number): string | undefined {
    const name = knownHostsName(address, port);
    const revoked = new Set(entries.filter(e => e.revoked).map(e => e.hostKey));
    const matching = entries.filter(e => !e.revoked && !revoked.has(e.hostKey)
        && e.patterns.some(p => !p.startsWith("!") && patternMatches(p, name))
        && !e.patterns.some(p => p.startsWith("!") && patternMatches(p.slice(1), name)));
    const rank = (k: string) => (HOST_KEY_TYPES as readonly string[]).indexOf(k.split(" ")[0]);
    return matching.map(e => e.hostKey).sort((a, b) => rank(a) - rank(b))[0];
}
