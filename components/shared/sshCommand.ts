// A script for @pulumi/command's local.Command that runs a remote script on a host over the system `ssh` client,
// or right here when the host is "local". Used where one resource must work for both (the rke-up Command: moving
// the admin host between a node and the machine running Pulumi is then an update of one resource, never a
// delete of the old one).
//
// Every connection pins the host key from the stack (a private known_hosts file, StrictHostKeyChecking=yes);
// keys and the payload travel on stdin as one bundle, unpacked into a private temp dir that is always removed.
import { BundleFile, fileBundle, shellQuote, UNPACK_BUNDLE_SH, script } from "./shell";

/** One SSH hop: the host, its login, which key (by keyId) and the host key it must present. */
export interface SshHop {
    address: string;
    port: number;
    user: string;
    keyId: string;
    /** `<type> <base64>` as in known_hosts; undefined only when the stack opted out of host key checking. */
    hostKey?: string;
}

/** Names inside the stdin bundle of runOnHostScript. */
const IN = { payload: "payload", knownHosts: "known_hosts", keyPrefix: "key-" } as const;

/** The known_hosts line OpenSSH looks up for a host: `host` on port 22, `[host]:port` on any other. */
export function knownHostsLine(hop: Pick<SshHop, "address" | "port">, hostKey: string): string {
    const name = hop.port === 22 ? hop.address : `[${hop.address}]:${hop.port}`;
    return `${name} ${hostKey}`;
}

function sshOptions(hop: SshHop, dir: string): string[] {
    const pinned = hop.hostKey !== undefined;
    return [
        "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", `IdentityFile=${dir}/${IN.keyPrefix}${hop.keyId}`,
        ...(pinned
            ? ["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${dir}/${IN.knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null"]
            : ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]),
        // A dead connection is noticed within a minute; a host still booting gets a few tries.
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4", "-o", "ConnectTimeout=15", "-o", "ConnectionAttempts=3",
        "-p", String(hop.port),
    ];
}

function checkHop(hop: SshHop): void {
    if (!/^[0-9a-f]{16}$/.test(hop.keyId)) {
        throw new Error(`runOnHostScript: keyId "${hop.keyId}" is not 16 hex characters`);
    }
    if (hop.hostKey !== undefined && !/^[a-z0-9-]+(@[a-z0-9.-]+)? [A-Za-z0-9+/]+=*$/.test(hop.hostKey)) {
        throw new Error(`runOnHostScript: host key of ${hop.address} is not "<type> <base64>"`);
    }
}

/**
 * The local script: unpacks stdin (keys, known_hosts, payload) into a private temp dir, then runs `remote` with the
 * payload as its stdin, on `target` over ssh (through `bastion` when given) or here under /bin/sh. Exits with the
 * remote script's status; an SSH failure (status 255) says which host could not be reached and why it may be.
 */
export function runOnHostScript(target: SshHop | "local", remote: string, bastion?: SshHop): string {
    // stdin into a private temp dir that goes whatever happens; the remote script as text ($REMOTE).
    const prelude = (tmpName: string) => `${UNPACK_BUNDLE_SH}
umask 077
T=$(mktemp -d "\${TMPDIR:-/tmp}/${tmpName}.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM
unpack_bundle "$T"
# shellcheck disable=SC2016 # the remote script as text: it expands where it runs
REMOTE=${shellQuote(remote)}`;
    if (target === "local") {
        return script(prelude("rancher-ha-run"), `/bin/sh -c "$REMOTE" < "$T/${IN.payload}"`);
    }
    checkHop(target);
    if (bastion) {
        checkHop(bastion);
    }
    const dir = "$T";
    const quoteAll = (args: string[]) => args.map(a => (a.includes("$T") ? `"${a}"` : shellQuote(a))).join(" ");
    // The jump host gets its own key and host key: ProxyCommand runs a second ssh with its own options.
    // (No option holds a space; user and address are checked by the config.)
    const proxy = bastion
        ? `-o "ProxyCommand=ssh ${sshOptions(bastion, dir).join(" ")} -W %h:%p ${bastion.user}@${bastion.address}" `
        : "";
    const where = `${target.user}@${target.address}:${target.port}${bastion ? ` via ${bastion.user}@${bastion.address}:${bastion.port}` : ""}`;
    const insecure = target.hostKey === undefined || (bastion !== undefined && bastion.hostKey === undefined);
    return script(
        prelude("rancher-ha-ssh"),
        `command -v ssh >/dev/null 2>&1 || { echo "rancher-ha: the OpenSSH client (ssh) is not installed on the machine running Pulumi; install it" >&2; exit 1; }
${insecure ? `echo "rancher-ha: WARNING: not checking the SSH host key of ${where} (ssh.insecureIgnoreHostKeys): whoever answers at that address receives the keys and secrets this step sends" >&2\n` : ""}if ssh ${quoteAll(sshOptions(target, dir))} ${proxy}${shellQuote(`${target.user}@${target.address}`)} "$REMOTE" < "$T/${IN.payload}"; then
  exit 0
else
  rc=$?
fi
if [ "$rc" = 255 ]; then
  echo "rancher-ha: ssh to ${where} failed (above): the host is unreachable, refused the key, or presented a host key other than the one pinned in the stack (if it was reinstalled, check it and update the stack: npm run ops -- host-keys)" >&2
fi
exit "$rc"`,
    );
}

/** The stdin of runOnHostScript: each distinct key, the pinned host keys, and the remote script's own stdin. */
export function runOnHostStdin(target: SshHop | "local", payload: string, keys: { keyId: string; privateKey: string }[],
    bastion?: SshHop): string {
    const hops = target === "local" ? [] : [target, ...(bastion ? [bastion] : [])];
    const needed = new Set(hops.map(h => h.keyId));
    const seen = new Set<string>();
    const files: BundleFile[] = [{ name: IN.payload, mode: "600", content: payload }];
    for (const k of keys) {
        if (needed.has(k.keyId) && !seen.has(k.keyId)) {
            seen.add(k.keyId);
            files.push({ name: `${IN.keyPrefix}${k.keyId}`, mode: "600", content: k.privateKey });
        }
    }
    const missing = [...needed].filter(id => !seen.has(id));
    if (missing.length > 0) {
        throw new Error(`runOnHostStdin: no private key given for keyId ${missing.join(", ")}`);
    }
    const known = hops.filter(h => h.hostKey !== undefined).map(h => knownHostsLine(h, h.hostKey!));
    if (known.length > 0) {
        files.push({ name: IN.knownHosts, mode: "600", content: known.join("\n") + "\n" });
    }
    return fileBundle(files);
}
