// Runs a rendered script on a host with the system ssh client (or locally with /bin/sh for admin.host: local), the way
// @pulumi/command does: the script is the session command, the payload goes on stdin. BatchMode: never a prompt.
// The key is a file path (-i), or the user's ssh agent; no secret is ever on a command line.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface SshEndpoint {
    address: string;
    port: number;
    user: string;
    /** Private key file; undefined: the ssh agent / ssh config decides. */
    keyFile?: string;
    /**
     * The host key the stack pins (`<type> <base64>`): ssh then accepts that key only (StrictHostKeyChecking=yes
     * against a private known_hosts). Undefined: ssh's own known_hosts and settings decide (recover --from a host
     * the stack does not list yet; ssh.insecureIgnoreHostKeys).
     */
    hostKey?: string;
}

export interface RemoteTarget extends SshEndpoint {
    bastion?: SshEndpoint;
}

export interface RunOptions {
    /** Extra `-o` options for ssh (e.g. StrictHostKeyChecking=accept-new). */
    sshOptions?: string[];
    /** Where progress (the script's stderr) goes. Default: this process's stderr. */
    progress?: (chunk: string) => void;
    /** Kill after this many ms. Default 2 h (a snapshot restore of a big cluster takes a while). */
    timeoutMs?: number;
    /** known_hosts holding the pinned keys (runScript writes it). */
    knownHostsFile?: string;
}

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

export function expandHome(p: string): string {
    return p === "~" ? os.homedir() : p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : p;
}

function endpointArgs(e: SshEndpoint, o: RunOptions): string[] {
    // Pinned first: ssh takes the first value of an option, so no --ssh-option can loosen the check.
    const pinned = e.hostKey !== undefined && o.knownHostsFile !== undefined
        ? ["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${o.knownHostsFile}`, "-o", "GlobalKnownHostsFile=/dev/null"]
        : [];
    return [
        ...pinned,
        "-p", String(e.port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=15",
        ...(e.keyFile ? ["-i", e.keyFile, "-o", "IdentitiesOnly=yes"] : []),
        ...(o.sshOptions ?? []).flatMap(x => ["-o", x]),
    ];
}

/** ssh argv (without the command) for a target, through its bastion when it has one. */
export function sshArgv(t: RemoteTarget, o: RunOptions = {}): string[] {
    const args = endpointArgs(t, o);
    if (t.bastion) {
        const jump = ["ssh", ...endpointArgs(t.bastion, o), "-W", "%h:%p", `${t.bastion.user}@${t.bastion.address}`];
        args.push("-o", `ProxyCommand=${jump.map(a => (/^[\w@%:.,/=+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ")}`);
    }
    return [...args, `${t.user}@${t.address}`];
}

/** How messages and restore hints name the target: `ssh -p 22 user@host`. */
export function sshCommandFor(t: RemoteTarget): string {
    return `ssh -p ${t.port} ${t.bastion ? `-J ${t.bastion.user}@${t.bastion.address}:${t.bastion.port} ` : ""}${t.user}@${t.address}`;
}

/** Runs `script` on the target ("local": /bin/sh -c here) with `stdin`; stderr streams as progress. */
export function runScript(target: RemoteTarget | "local", script: string, stdin: string, o: RunOptions = {}): Promise<RunResult> {
    const [cmd, args] = target === "local" ? ["/bin/sh", ["-c", script]] : ["ssh", [...sshArgv(target, o), script]];
    if (target !== "local" && target.keyFile && !fs.existsSync(target.keyFile)) {
        return Promise.reject(new Error(`SSH key ${target.keyFile} not found; pass --identity <file> or load the key into your ssh agent`));
    }
    const progress = o.progress ?? (c => process.stderr.write(c));
    // The pinned host keys go to a private known_hosts file for this run only.
    const hops = target === "local" ? [] : [target, ...(target.bastion ? [target.bastion] : [])];
    const pinned = hops.filter(h => h.hostKey !== undefined);
    let dir: string | undefined;
    let argv = args as string[];
    if (target !== "local" && pinned.length > 0) {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-ops-ssh-"));
        const knownHostsFile = path.join(dir, "known_hosts");
        fs.writeFileSync(knownHostsFile, pinned.map(h => `${h.port === 22 ? h.address : `[${h.address}]:${h.port}`} ${h.hostKey}\n`).join(""),
            { mode: 0o600 });
        argv = [...sshArgv(target, { ...o, knownHostsFile }), script];
    }
    const cleanup = () => { if (dir) { fs.rmSync(dir, { recursive: true, force: true }); } };
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", d => { stdout += d; });
        child.stderr.on("data", d => { stderr += d; progress(String(d)); });
        child.stdin.on("error", () => undefined); // the script may finish before reading its stdin
        const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 2 * 3600 * 1000);
        child.on("error", e => { clearTimeout(timer); cleanup(); reject(e); });
        child.on("close", code => {
            clearTimeout(timer);
            cleanup();
            resolve({ code: code ?? -1, stdout, stderr });
        });
        child.stdin.end(stdin);
    });
}
