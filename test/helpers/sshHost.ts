// SSH test hosts: Debian's real sshd on 127.0.0.1:<free port>, with its own host key, config and
// authorized_keys. Remote scripts run over it with the real `ssh` client, exactly as @pulumi/command runs them:
// the command string is the session command (the login shell runs it) and the payload goes on stdin.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { freePort, waitForListen } from "./net";

export { freePort };

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

export interface SshHost {
    address: string;
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
    /** Runs a command string over SSH with optional stdin. Bounded by timeoutMs (default 60 s). */
    run(command: string, stdin?: string, timeoutMs?: number): Promise<RunResult>;
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
}

/** Why SSH host tests cannot run here, or undefined when they can. */
export function sshHostUnavailable(): string | undefined {
    if (process.getuid?.() !== 0) {
        return "SSH test hosts need root (sshd privilege separation); run as root or via .ci/run";
    }
    for (const bin of ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"]) {
        if (!fs.existsSync(bin)) {
            return `${bin} missing: install openssh-server and openssh-client (.ci/run does)`;
        }
    }
    return undefined;
}


function mustRun(cmd: string, args: string[]) {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr || r.stdout}`);
    }
    return r.stdout;
}

/** This test run's suffix for the users it creates. */
const RUN_ID = process.pid.toString(36);

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


/** Starts a test host. Always `stop()` it (in an after hook). */
export async function startSshHost(opts: SshHostOptions = {}): Promise<SshHost> {
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
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });

    const port = await freePort();
    const hostKey = fs.readFileSync(path.join(dir, "host_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    const knownHostsPath = path.join(dir, "known_hosts");
    fs.writeFileSync(knownHostsPath, `[127.0.0.1]:${port} ${hostKey}\n`);
    const config = path.join(dir, "sshd_config");
    fs.writeFileSync(config, [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
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
    ].join("\n"));
    const proc = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    let sshdLog = "";
    proc.stderr!.on("data", d => { sshdLog += d; });
    try {
        await waitForListen(port, proc, () => `sshd: ${sshdLog}`);
    } catch (e) {
        proc.kill("SIGKILL");
        throw new Error(`${(e as Error).message}\n${sshdLog}`);
    }

    const run = (command: string, stdin?: string, timeoutMs = 60000) => new Promise<RunResult>((resolve, reject) => {
        const child = spawn("ssh", [
            "-p", String(port), "-i", keyPath,
            // Pinned, as every connection the program makes: the test host's own key only.
            "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHostsPath}`, "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
            `${user}@127.0.0.1`, command,
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

    return {
        address: "127.0.0.1",
        port,
        user,
        privateKey: fs.readFileSync(keyPath, "utf8"),
        privateKeyPath: keyPath,
        home,
        binDir,
        configPath: config,
        hostKey,
        knownHostsPath,
        run,
        stop: async () => {
            if (proc.exitCode === null) {
                const exited = new Promise(r => proc.once("exit", r));
                proc.kill("SIGTERM");
                await exited;
            }
            fs.rmSync(dir, { recursive: true, force: true });
            if (user !== "root") {
                removeUser(user);
            }
        },
    };
}

/** Writes an executable test double into the host's PATH directory. */
export function installTestDouble(host: SshHost, name: string, body: string): string {
    const p = path.join(host.binDir, name);
    fs.writeFileSync(p, body, { mode: 0o755 });
    return p;
}
