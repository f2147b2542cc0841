// SSH test hosts: Debian's real sshd, each in a network namespace of its own (ip netns) with its own address on a
// bridge of this test run, its own host key, config and authorized_keys, and optionally directories of its own
// (/etc/rancher, ...) in a private mount namespace. Remote scripts run over it with the real `ssh` client, exactly as
// @pulumi/command runs them: the command string is the session command (the login shell runs it) and the payload
// goes on stdin.
//
// The network of a run: a bridge rhb<run> in the root namespace holding the gateway 10.<a>.<b>.1/24; each host
// rh<run>h<n> is linked to it by a veth pair (rh<run>v<n> on the bridge, eth0 inside). Hosts reach each other and
// the gateway, nothing else: no NAT, no forwarding out of the bridge, and no DNS server.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { shellQuote } from "../../components/shared/shell";
import { freePort, waitForListen } from "./net";

export { freePort };

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

export interface SshHost {
    /** The host's address on the run's bridge: what `ssh` connects to. */
    address: string;
    /** Every address the host answers on: `address` first, then its extraAddresses. */
    addresses: string[];
    port: number;
    user: string;
    /** The client's private key (OpenSSH format), as a stack would hold it. */
    privateKey: string;
    privateKeyPath: string;
    /** The login user's home directory. */
    home: string;
    /** Directory prepended to the session PATH: put test doubles here. */
    binDir: string;
    /** The sshd_config this host's sshd runs with. */
    configPath: string;
    /** This sshd's host key as a stack pins it: `ssh-ed25519 <base64>`. */
    hostKey: string;
    /** A known_hosts file holding hostKey for this host (what `run` checks against). */
    knownHostsPath: string;
    /** The network namespace sshd and every session run in (`ip netns exec <netns> ...`). */
    netns: string;
    /** The root namespace's end of the host's veth pair, on the run's bridge. */
    veth: string;
    /** Runs a command string over SSH with optional stdin. Bounded by timeoutMs (default 60 s). */
    run(command: string, stdin?: string, timeoutMs?: number): Promise<RunResult>;
    /** The path outside that backs `p` (a path under one of the host's privateDirs) for its sessions. */
    privateDir(p: string): string;
    stop(): Promise<void>;
}

export interface SshHostOptions {
    /**
     * Login user: this name plus a suffix of this test run (e.g. opsuser-3f2a), created with a home directory and
     * removed by stop(), so two runs on one machine never share a user or a home. Default: root (not removed).
     */
    user?: string;
    /** Give a non-root user passwordless sudo (needs the sudo package). */
    sudo?: boolean;
    /** Login shell for a created user. Default /bin/sh (dash on Debian): scripts must be POSIX. */
    shell?: string;
    /** sshd's port. Default 22: every host has an address of its own. */
    port?: number;
    /** Further addresses the host answers on (sshd listens on each): one host under several names. Default 0. */
    extraAddresses?: number;
    /**
     * Absolute paths (e.g. /etc/rancher, /var/lib/rancher, /usr/local/bin) this host sees as empty directories of
     * its own: what its sessions write there lands in a directory of the host (see privateDir()), so hosts on one
     * machine never share them. A missing mount point is created (empty) on the real filesystem and left there.
     */
    privateDirs?: string[];
}

function mustRun(cmd: string, args: string[]) {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`${cmd} ${args.join(" ")} failed: ${r.error?.message ?? (r.stderr || r.stdout)}`);
    }
    return r.stdout;
}

const ip = (...args: string[]) => mustRun("ip", args);

/** This test run's id: the suffix of the users it creates and part of its namespace and link names. */
const RUN_ID = process.pid.toString(36);
const BRIDGE = `rhb${RUN_ID}`;
const nsName = (n: number) => `rh${RUN_ID}h${n}`;
const vethName = (n: number) => `rh${RUN_ID}v${n}`;
/** A namespace sshHostUnavailable() creates and deletes to learn whether `ip netns add` works here. */
const PROBE_NS = nsName(999);

let netnsProbe: { why: string | undefined } | undefined;

/** Why `ip netns add` does not work here (probed once), or undefined when it does. */
function netnsUnavailable(): string | undefined {
    if (netnsProbe === undefined) {
        const add = spawnSync("ip", ["netns", "add", PROBE_NS], { encoding: "utf8" });
        spawnSync("ip", ["netns", "del", PROBE_NS]);
        netnsProbe = {
            why: add.status === 0 ? undefined
                : `ip netns add fails here (${(add.stderr || String(add.error)).trim()}): test hosts need network namespaces`,
        };
    }
    return netnsProbe.why;
}

/** Why SSH host tests cannot run here, or undefined when they can. */
export function sshHostUnavailable(): string | undefined {
    if (process.getuid?.() !== 0) {
        return "SSH test hosts need root (sshd privilege separation, network namespaces); run as root or via .ci/run";
    }
    for (const bin of ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"]) {
        if (!fs.existsSync(bin)) {
            return `${bin} missing: install openssh-server and openssh-client (.ci/run does)`;
        }
    }
    if (spawnSync("ip", ["-V"]).error) {
        return "ip missing: install iproute2 (.ci/run does); test hosts run in network namespaces";
    }
    if (spawnSync("unshare", ["--version"]).error) {
        return "unshare missing: install util-linux; test hosts run in mount namespaces of their own";
    }
    return netnsUnavailable();
}

// ---- The run's network: one bridge, created by the first host, deleted with the last.

interface TestNet {
    /** The first three octets of the run's /24, e.g. "10.213.42". */
    prefix: string;
    gateway: string;
}

let testNet: TestNet | undefined;
let leftoversRemoved = false;
/** Last octets of the host addresses in use (a host's first one is also its number + 10). */
const octetsInUse = new Set<number>();
/**
 * Where the search for a free octet starts: addresses are not reused while the bridge lives, as the neighbours'
 * ARP caches would still hold the MAC of the host that had it, and connections to its successor hang until they age.
 */
let nextOctet = 11;
/** Synchronous teardown of each running host, for the exit hook. */
const liveHosts = new Map<number, () => void>();

/**
 * The bridge's address in the root namespace, which every test host reaches: where tests run the servers hosts talk
 * to. Creates the bridge when no host runs yet; it goes with the last host stopped (or at exit).
 */
export function testNetGateway(): string {
    return ensureTestNet().gateway;
}

function ensureTestNet(): TestNet {
    if (testNet) {
        return testNet;
    }
    if (!leftoversRemoved) {
        removeLeftovers();
        leftoversRemoved = true;
        process.once("exit", teardownAllSync);
    }
    const prefix = freeSubnet();
    const gateway = `${prefix}.1`;
    ip("link", "add", BRIDGE, "type", "bridge");
    try {
        ip("addr", "add", `${gateway}/24`, "dev", BRIDGE);
        // Nothing arriving from the hosts is routed on, even where the machine forwards (ip_forward=1).
        fs.writeFileSync(`/proc/sys/net/ipv4/conf/${BRIDGE}/forwarding`, "0\n");
        ip("link", "set", BRIDGE, "up");
    } catch (e) {
        spawnSync("ip", ["link", "del", BRIDGE]);
        throw e;
    }
    testNet = { prefix, gateway };
    return testNet;
}

function removeTestNet(): void {
    if (testNet) {
        spawnSync("ip", ["link", "del", BRIDGE]);
        testNet = undefined;
        nextOctet = 11;
    }
}

/** At exit: the hosts a test did not stop, and the bridge. */
function teardownAllSync(): void {
    for (const teardown of [...liveHosts.values()]) {
        teardown();
    }
    removeTestNet();
}

const toInt = (a: string) => a.split(".").reduce((n, o) => (n * 256) + Number(o), 0);
const maskOf = (bits: number) => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);

/** The IPv4 prefixes the machine routes (every table), as [network, length]; default routes left out. */
function routedPrefixes(): [number, number][] {
    const out: [number, number][] = [];
    for (const line of ip("-4", "route", "show", "table", "all").split("\n")) {
        const dest = line.trim().split(/\s+/).slice(0, 2).find(t => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(t));
        if (dest) {
            const [addr, len] = dest.split("/");
            out.push([toInt(addr), len === undefined ? 32 : Number(len)]);
        }
    }
    return out.filter(([, len]) => len > 0);
}

/** 10.<a>.<b> from this process's pid (so parallel runs differ), moved on while the machine already routes it. */
function freeSubnet(): string {
    const a = 200 + (process.pid % 50);
    const b0 = (process.pid >> 6) % 250;
    const routed = routedPrefixes();
    for (let k = 0; k < 250; k++) {
        const net = toInt(`10.${a}.${(b0 + k) % 250}.0`);
        if (!routed.some(([r, len]) => (((r ^ net) & maskOf(Math.min(len, 24))) >>> 0) === 0)) {
            return `10.${a}.${(b0 + k) % 250}`;
        }
    }
    throw new Error(`no free /24 in 10.${a}.0.0/16 for the test hosts' bridge`);
}

/** The run ids a namespace or link name of this harness may carry (`rhb<id>`, `rh<id>h<n>`, `rh<id>v<n>`). */
function runIdsIn(name: string): string[] {
    const bridge = /^rhb([0-9a-z]+)$/.exec(name);
    const host = /^rh([0-9a-z]+)[hv]\d+$/.exec(name);
    return [bridge?.[1], host?.[1]].filter((id): id is string => id !== undefined);
}

/** Whether a process with this pid runs (an impossible pid counts as running: the name is not ours). */
function running(pid: number): boolean {
    if (!Number.isInteger(pid) || pid < 2 || pid > 4194304) {
        return true;
    }
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

/** Whether a name is from a run whose process is gone (every reading of the name says so). */
function fromDeadRun(name: string): boolean {
    const ids = runIdsIn(name);
    return ids.length > 0 && ids.every(id => !running(parseInt(id, 36)));
}

/** Namespaces (with the sshd and sessions still in them), veths and bridges of runs killed before their cleanup. */
function removeLeftovers(): void {
    for (const line of ip("netns", "list").split("\n")) {
        const ns = line.trim().split(/\s+/)[0];
        if (ns && fromDeadRun(ns)) {
            killProcessesIn(ns);
            spawnSync("ip", ["netns", "del", ns]);
        }
    }
    const links = JSON.parse(ip("-j", "-d", "link", "show") || "[]") as { ifname: string; linkinfo?: { info_kind?: string } }[];
    for (const l of links) {
        const kind = l.linkinfo?.info_kind;
        if ((kind === "veth" || kind === "bridge") && fromDeadRun(l.ifname)) {
            spawnSync("ip", ["link", "del", l.ifname]);
        }
    }
}

/** Takes free last octets (11..254) for a host's addresses: the next unused ones, else (wrapped round) free ones. */
function takeOctets(count: number): number[] {
    const taken: number[] = [];
    for (let i = 0; i < 244 && taken.length < count; i++) {
        const o = 11 + ((nextOctet - 11 + i) % 244);
        if (!octetsInUse.has(o)) {
            taken.push(o);
        }
    }
    if (taken.length < count) {
        throw new Error(`no free address for another test host in ${testNet?.prefix}.0/24`);
    }
    taken.forEach(o => octetsInUse.add(o));
    nextOctet = taken[taken.length - 1] + 1;
    return taken;
}

/** The namespace of host n: eth0 with the addresses, linked to the bridge, default route via the gateway. */
function createNamespace(n: number, addresses: string[], net: TestNet): void {
    const ns = nsName(n);
    ip("netns", "add", ns);
    try {
        ip("link", "add", vethName(n), "type", "veth", "peer", "name", "eth0", "netns", ns);
        ip("-n", ns, "link", "set", "lo", "up");
        for (const a of addresses) {
            ip("-n", ns, "addr", "add", `${a}/24`, "dev", "eth0");
        }
        ip("-n", ns, "link", "set", "eth0", "up");
        ip("link", "set", vethName(n), "master", BRIDGE, "up");
        // An address taken again (after 244 hosts): the root namespace forgets the MAC of the host that had it.
        addresses.forEach(a => spawnSync("ip", ["neigh", "flush", "to", a]));
        ip("-n", ns, "route", "add", "default", "via", net.gateway);
    } catch (e) {
        deleteNamespace(n);
        throw e;
    }
}

/** Kills what runs in a namespace of this harness: a host's sshd and what its sessions left running. */
function killProcessesIn(ns: string): void {
    const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout ?? "";
    for (const pid of pids.split("\n").map(Number).filter(p => p > 1 && p !== process.pid)) {
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            // already gone
        }
    }
}

/** Ends what still runs in host n's namespace, then deletes the namespace and its veth pair. */
function deleteNamespace(n: number): void {
    killProcessesIn(nsName(n));
    spawnSync("ip", ["link", "del", vethName(n)]);
    spawnSync("ip", ["netns", "del", nsName(n)]);
}

// ---- Users

/** Removes a user this run created: its processes, home and sudoers entry. */
function removeUser(user: string): void {
    spawnSync("pkill", ["-KILL", "-u", user]);
    spawnSync("userdel", ["--remove", user], { encoding: "utf8" });
    fs.rmSync(`/etc/sudoers.d/rancher-ha-test-${user}`, { force: true });
}

function ensureUser(user: string, shell: string, sudo: boolean): string {
    const existing = spawnSync("getent", ["passwd", user], { encoding: "utf8" });
    if (existing.status !== 0) {
        mustRun("useradd", ["--create-home", "--shell", shell, user]);
        // A locked account ("!") is refused by sshd even with a key; "*" is "no password".
        mustRun("usermod", ["-p", "*", user]);
    }
    if (sudo) {
        fs.mkdirSync("/etc/sudoers.d", { recursive: true });
        fs.writeFileSync(`/etc/sudoers.d/rancher-ha-test-${user}`, `${user} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
    }
    return mustRun("getent", ["passwd", user]).split(":")[5];
}

// ---- Private directories

/** Checked, normalised privateDirs, parents before the directories under them. */
function checkedPrivateDirs(dirs: string[]): string[] {
    for (const d of dirs) {
        if (!path.isAbsolute(d) || path.normalize(d) !== d || d === "/" || d.endsWith("/")) {
            throw new Error(`privateDirs: ${JSON.stringify(d)} must be a normalised absolute path other than /`);
        }
    }
    return [...new Set(dirs)].sort((x, y) => x.length - y.length);
}

const isUnder = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/**
 * The shell that starts sshd in a mount namespace of its own: the host's resolv.conf (no DNS server: lookups fail at
 * once instead of timing out) and each private directory bound over its path.
 */
function sshdLaunchScript(dir: string, privateDirs: string[], config: string): string {
    const binds = [`if [ -e /etc/resolv.conf ]; then mount --bind ${shellQuote(path.join(dir, "resolv.conf"))} /etc/resolv.conf; fi`];
    for (const p of privateDirs) {
        binds.push(`mount --bind ${shellQuote(path.join(dir, "root", p))} ${shellQuote(p)}`);
    }
    return `set -e\n${binds.join("\n")}\nexec /usr/sbin/sshd -D -e -f ${shellQuote(config)}\n`;
}

/** Prepares the backing directories (and missing mount points) of the privateDirs. */
function preparePrivateDirs(dir: string, privateDirs: string[]): void {
    for (const p of privateDirs) {
        fs.mkdirSync(path.join(dir, "root", p), { recursive: true, mode: 0o755 });
        if (!privateDirs.some(outer => outer !== p && isUnder(p, outer))) {
            fs.mkdirSync(p, { recursive: true, mode: 0o755 });
        }
    }
}

// ---- The host

/** Stops a process: SIGTERM, then SIGKILL after timeoutMs. */
async function stopProcess(proc: ChildProcess, timeoutMs = 5000): Promise<void> {
    if (proc.exitCode !== null || proc.signalCode !== null) {
        return;
    }
    const exited = new Promise(r => proc.once("exit", r));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    await exited;
    clearTimeout(timer);
}

function sshdConfig(dir: string, port: number, addresses: string[], user: string, binDir: string): string {
    return [
        `Port ${port}`,
        ...addresses.map(a => `ListenAddress ${a}`),
        `HostKey ${path.join(dir, "host_key")}`,
        `PidFile ${path.join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        `AllowUsers ${user}`,
        "AllowTcpForwarding yes",
        `SetEnv PATH=${binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        "LogLevel ERROR",
        "",
    ].join("\n");
}

/** A known_hosts line for the host under each of its addresses (OpenSSH brackets only ports other than 22). */
function knownHostsLine(addresses: string[], port: number, hostKey: string): string {
    return `${addresses.map(a => (port === 22 ? a : `[${a}]:${port}`)).join(",")} ${hostKey}\n`;
}

function sshRun(target: { address: string; port: number; user: string; keyPath: string; knownHostsPath: string },
    command: string, stdin: string | undefined, timeoutMs: number): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
        const child = spawn("ssh", [
            "-p", String(target.port), "-i", target.keyPath,
            // Pinned, as every connection the program makes: the test host's own key only.
            "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${target.knownHostsPath}`, "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
            `${target.user}@${target.address}`, command,
        ], { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", d => { stdout += d; });
        child.stderr.on("data", d => { stderr += d; });
        const timer = setTimeout(() => {
            child.kill("SIGKILL");
            reject(new Error(`ssh command timed out after ${timeoutMs} ms; stderr: ${stderr}`));
        }, timeoutMs);
        child.on("close", code => {
            clearTimeout(timer);
            resolve({ code: code ?? -1, stdout, stderr });
        });
        child.stdin.end(stdin ?? "");
    });
}

/** Starts a test host. Always `stop()` it (in an after hook). */
export async function startSshHost(opts: SshHostOptions = {}): Promise<SshHost> {
    const privateDirs = checkedPrivateDirs(opts.privateDirs ?? []);
    const port = opts.port ?? 22;
    const net = ensureTestNet();
    const user = opts.user === undefined || opts.user === "root" ? "root" : `${opts.user}-${RUN_ID}`;
    const home = user === "root" ? os.homedir() : ensureUser(user, opts.shell ?? "/bin/sh", opts.sudo ?? false);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-sshd-"));
    fs.chmodSync(dir, 0o755);
    const binDir = path.join(dir, "bin");
    fs.mkdirSync(binDir, { mode: 0o755 });
    mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "host_key")]);
    const keyPath = path.join(dir, "client_key");
    mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "rancher-ha-test", "-f", keyPath]);
    fs.copyFileSync(`${keyPath}.pub`, path.join(dir, "authorized_keys"));
    fs.chmodSync(path.join(dir, "authorized_keys"), 0o644);
    fs.writeFileSync(path.join(dir, "resolv.conf"), "# rancher-ha test host: no DNS server (nothing listens here)\nnameserver 127.0.0.1\n");
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    preparePrivateDirs(dir, privateDirs);

    // Synchronous up to sshd's start: hosts started at the same time cannot take the same number.
    const octets = takeOctets(1 + (opts.extraAddresses ?? 0));
    const n = octets[0] - 10;
    const addresses = octets.map(o => `${net.prefix}.${o}`);
    const hostKey = fs.readFileSync(path.join(dir, "host_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    const knownHostsPath = path.join(dir, "known_hosts");
    fs.writeFileSync(knownHostsPath, knownHostsLine(addresses, port, hostKey));
    const config = path.join(dir, "sshd_config");
    fs.writeFileSync(config, sshdConfig(dir, port, addresses, user, binDir));

    let proc: ChildProcess | undefined;
    const teardownSync = () => {
        if (proc && proc.exitCode === null && proc.signalCode === null) {
            proc.kill("SIGKILL");
        }
        deleteNamespace(n);
        fs.rmSync(dir, { recursive: true, force: true });
        if (user !== "root") {
            removeUser(user);
        }
        octets.forEach(o => octetsInUse.delete(o));
        liveHosts.delete(n);
        if (liveHosts.size === 0) {
            removeTestNet();
        }
    };
    liveHosts.set(n, teardownSync);
    let sshdLog = "";
    try {
        createNamespace(n, addresses, net);
        proc = spawn("ip", ["netns", "exec", nsName(n), "unshare", "--mount", "--propagation", "private",
            "/bin/sh", "-c", sshdLaunchScript(dir, privateDirs, config)], { stdio: ["ignore", "ignore", "pipe"] });
        proc.stderr!.on("data", d => { sshdLog += d; });
        await waitForListen(port, proc, () => `sshd in ${nsName(n)}: ${sshdLog}`, 10000, addresses[0]);
    } catch (e) {
        teardownSync();
        throw new Error(`${(e as Error).message}\n${sshdLog}`);
    }

    const target = { address: addresses[0], port, user, keyPath, knownHostsPath };
    let stopped = false;
    return {
        address: addresses[0],
        addresses,
        port,
        user,
        privateKey: fs.readFileSync(keyPath, "utf8"),
        privateKeyPath: keyPath,
        home,
        binDir,
        configPath: config,
        hostKey,
        knownHostsPath,
        netns: nsName(n),
        veth: vethName(n),
        run: (command, stdin, timeoutMs = 60000) => sshRun(target, command, stdin, timeoutMs),
        privateDir: (p: string) => {
            const normal = path.posix.normalize(p);
            if (!path.isAbsolute(p) || !privateDirs.some(d => isUnder(normal, d))) {
                throw new Error(`${p} is not under a private directory of this host (${privateDirs.join(", ") || "none"})`);
            }
            return path.join(dir, "root", normal);
        },
        stop: async () => {
            if (stopped) {
                return;
            }
            stopped = true;
            await stopProcess(proc!);
            teardownSync();
        },
    };
}

/** Writes an executable test double into the host's PATH directory. */
export function installTestDouble(host: SshHost, name: string, body: string): string {
    const p = path.join(host.binDir, name);
    fs.writeFileSync(p, body, { mode: 0o755 });
    return p;
}
