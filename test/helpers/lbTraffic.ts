// Traffic through the L4 load balancer for the health checker's network-namespace tests: backends that can turn
// sick (reset or hang), short requests and long-lived connections as clients make them, the checker itself and
// nginx, each in the network namespace a test gives (or the root namespace). Every wait here is bounded.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderNginxConf } from "../../components/loadBalancer/nginxConf";
import { SshHost, startSshHost } from "./sshHost";
import { NGINX, STREAM_MODULE } from "./tools";

/** How a backend treats connections. */
export type BackendMode = "ok" | "reset" | "hang";

/**
 * A node's server on one port, its behaviour read from a file (`ok`, `reset`, `hang`): a new connection is
 * - ok: served. A request starting `GET ` gets an HTTP 200 whose body is the backend's id (the checker's probe and
 *   the short clients); anything else is a line protocol: each line `X` is answered `<id> X` (the long-lived clients).
 * - reset: accepted and reset after 2 ms (a dying ingress).
 * - hang: accepted, read and never answered (a hung process).
 * A connection already open stops answering while the mode is not ok: a sick node leaves its sessions hanging.
 */
const BACKEND_JS = `const fs = require("fs"); const net = require("net");
const [addr, port, id, modeFile] = process.argv.slice(1);
let mode = "ok";
const readMode = () => { try { mode = fs.readFileSync(modeFile, "utf8").trim() || "ok"; } catch (e) { /* keep */ } };
readMode(); setInterval(readMode, 25);
net.createServer(sock => {
  sock.on("error", () => {});
  readMode();
  if (mode === "reset") { setTimeout(() => sock.resetAndDestroy(), 2); return; }
  if (mode === "hang") { sock.resume(); return; }
  let buf = ""; let kind;
  sock.on("data", d => {
    if (mode !== "ok") { return; }
    buf += d.toString("latin1");
    kind = kind || (buf.startsWith("G") ? "http" : "line");
    if (kind === "http") {
      if (buf.includes("\\r\\n\\r\\n")) { sock.end("HTTP/1.1 200 OK\\r\\nContent-Length: " + id.length + "\\r\\nConnection: close\\r\\n\\r\\n" + id); buf = ""; }
      return;
    }
    let i;
    while ((i = buf.indexOf("\\n")) >= 0) { sock.write(id + " " + buf.slice(0, i) + "\\n"); buf = buf.slice(i + 1); }
  });
}).listen(Number(port), addr);`;

/** `ip netns exec NS argv...`, or argv itself in the root namespace. */
function inNetns(netns: string | undefined, argv: string[]): [string, string[]] {
    return netns ? ["ip", ["netns", "exec", netns, ...argv]] : [argv[0], argv.slice(1)];
}

/** Whether something listens on TCP `port` in `netns` (asked of ss there: the test may not reach that namespace). */
function listening(netns: string | undefined, port: number): boolean {
    const [cmd, args] = inNetns(netns, ["ss", "-Hltn", `sport = :${port}`]);
    return (spawnSync(cmd, args, { encoding: "utf8" }).stdout ?? "").trim() !== "";
}

/** Waits (bounded) until `port` listens in `netns`, failing early when `proc` exits. */
export async function waitListening(netns: string | undefined, port: number, proc: ChildProcess, what: string, seconds = 10): Promise<void> {
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
        if (proc.exitCode !== null || proc.signalCode !== null) {
            throw new Error(`${what} exited (${proc.exitCode ?? proc.signalCode}) before listening on ${port}`);
        }
        if (listening(netns, port)) {
            return;
        }
        await sleep(50);
    }
    throw new Error(`${what}: nothing listens on ${port} in ${netns ?? "the root namespace"} after ${seconds} s`);
}

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Polls `check` every 50 ms until it holds; the seconds it took. Throws after `seconds`, with `detail()` if given. */
export async function until(what: string, check: () => boolean | Promise<boolean>, seconds: number, detail?: () => string): Promise<number> {
    const t0 = Date.now();
    while (!(await check())) {
        if (Date.now() - t0 > seconds * 1000) {
            throw new Error(`${what}: not within ${seconds} s${detail ? `\n${detail()}` : ""}`);
        }
        await sleep(50);
    }
    return (Date.now() - t0) / 1000;
}

/** Stops a child process: SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited (bounded). */
export async function stopProcess(p: ChildProcess | undefined, graceMs = 3000): Promise<void> {
    if (!p || p.exitCode !== null || p.signalCode !== null) {
        return;
    }
    const exited = new Promise<void>(resolve => p.once("exit", () => resolve()));
    p.kill("SIGTERM");
    const timer = setTimeout(() => p.kill("SIGKILL"), graceMs);
    await Promise.race([exited, sleep(graceMs + 2000)]);
    clearTimeout(timer);
}

export interface Backend {
    id: string;
    proc: ChildProcess;
    /** Switches what the backend does with new connections, and whether open ones are answered. */
    setMode(m: BackendMode): void;
}

/** Starts a backend on address:port in `netns` (its id answers every request), mode ok. */
export async function startBackend(netns: string, address: string, port: number, id: string, dir: string): Promise<Backend> {
    const modeFile = path.join(dir, `mode-${id}`);
    fs.writeFileSync(modeFile, "ok");
    const proc = spawn("ip", ["netns", "exec", netns, process.execPath, "-e", BACKEND_JS, address, String(port), id, modeFile], { stdio: "ignore" });
    await waitListening(netns, port, proc, `backend ${id}`);
    return { id, proc, setMode: m => fs.writeFileSync(modeFile, m) };
}

/** nginx (the real one, `daemon off`) with `conf` in `netns`, listening on `port` there. */
export async function startNginx(netns: string, dir: string, name: string, conf: string, port: number): Promise<ChildProcess> {
    const file = path.join(dir, `${name}.conf`);
    fs.writeFileSync(file, conf);
    const proc = spawn("ip", ["netns", "exec", netns, NGINX, "-c", file, "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    proc.stderr!.on("data", d => { err += d; });
    await waitListening(netns, port, proc, `nginx (${err.trim()})`);
    return proc;
}

/** The priorities of the `prohibit` rules in a namespace. */
export function prohibitRules(netns: string): number[] {
    return (spawnSync("ip", ["netns", "exec", netns, "ip", "rule", "show"], { encoding: "utf8" }).stdout ?? "").split("\n")
        .filter(l => l.includes("prohibit")).map(l => parseInt(l, 10));
}

// ---- clients, in a process of their own so they can run in any namespace

const CLIENT_JS = `const http = require("http"); const net = require("net");
const [cmd, host, port, ...rest] = process.argv.slice(1);
const a = rest.map(Number);
if (cmd === "load") {
  const [n, conc, timeoutMs] = a;
  let next = 0; const r = { n, errors: 0, by: {}, codes: {}, slow: 0, maxMs: 0 };
  const one = () => new Promise(resolve => {
    const t0 = Date.now(); let done = false; let req;
    const fin = (id, err) => {
      if (done) { return; } done = true; clearTimeout(tm); req.destroy();
      const ms = Date.now() - t0; r.maxMs = Math.max(r.maxMs, ms); if (ms > 1000) { r.slow++; }
      if (err) { r.errors++; r.codes[err] = (r.codes[err] || 0) + 1; } else { r.by[id] = (r.by[id] || 0) + 1; }
      resolve();
    };
    const tm = setTimeout(() => fin(null, "timeout"), timeoutMs);
    req = http.get({ host, port: Number(port), path: "/", agent: false }, res => {
      let b = ""; res.on("data", d => { b += d; });
      res.on("end", () => fin(b, res.statusCode === 200 && b ? undefined : "status " + res.statusCode));
      res.on("error", e => fin(null, e.code || "error"));
    });
    req.on("error", e => fin(null, e.code || "error"));
  });
  Promise.all(Array.from({ length: conc }, async () => { while (next < n) { next++; await one(); } }))
    .then(() => { process.stdout.write(JSON.stringify(r) + "\\n", () => process.exit(0)); });
} else if (cmd === "live") {
  const [count, intervalMs, maxReconnects, reconnectDelayMs] = a;
  const sessions = []; let stopping = false;
  const open = (client, attempt) => {
    const s = { client, attempt, node: null, openedAt: Date.now(), firstReplyAt: null, lastReplyAt: null, closedAt: null, error: null, maxGap: 0, sent: 0, replies: 0 };
    sessions.push(s);
    const sock = net.connect({ host, port: Number(port) }); let buf = ""; let timer;
    sock.setNoDelay(true);
    const send = () => { s.sent++; sock.write("p" + s.sent + "\\n"); };
    sock.on("connect", () => { send(); timer = setInterval(send, intervalMs); });
    sock.on("data", d => {
      buf += d; let i;
      while ((i = buf.indexOf("\\n")) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1); const now = Date.now();
        if (s.node === null) { s.node = line.split(" ")[0]; s.firstReplyAt = now; } else { s.maxGap = Math.max(s.maxGap, now - s.lastReplyAt); }
        s.lastReplyAt = now; s.replies++;
      }
    });
    sock.on("error", e => { s.error = e.code || String(e); });
    sock.on("close", () => {
      clearInterval(timer); s.closedAt = Date.now();
      if (!stopping && attempt < maxReconnects) { setTimeout(() => open(client, attempt + 1), reconnectDelayMs); }
    });
  };
  for (let c = 0; c < count; c++) { open(c, 0); }
  let inBuf = "";
  process.stdin.on("data", d => {
    inBuf += d; let i;
    while ((i = inBuf.indexOf("\\n")) >= 0) {
      const c = inBuf.slice(0, i); inBuf = inBuf.slice(i + 1);
      if (c === "snap") { process.stdout.write(JSON.stringify({ now: Date.now(), sessions }) + "\\n"); }
      if (c === "stop") { stopping = true; process.exit(0); }
    }
  });
  process.stdin.on("end", () => process.exit(0));
}`;

export interface LoadResult {
    n: number;
    errors: number;
    /** Answers per backend id. */
    by: Record<string, number>;
    /** Errors by kind (timeout, ECONNRESET, ...). */
    codes: Record<string, number>;
    /** Requests that took over 1 s (answered or not). */
    slow: number;
    maxMs: number;
}

/** `n` short HTTP requests through host:port, `concurrency` at a time, each failing after `timeoutMs`. */
export async function shortLoad(o: { netns?: string; host: string; port: number; n: number; concurrency?: number; timeoutMs?: number }): Promise<LoadResult> {
    const [cmd, args] = inNetns(o.netns, [process.execPath, "-e", CLIENT_JS, "load", o.host, String(o.port), String(o.n),
        String(o.concurrency ?? 5), String(o.timeoutMs ?? 5000)]);
    const budget = 10000 + Math.ceil(o.n / (o.concurrency ?? 5)) * (o.timeoutMs ?? 5000);
    const r = spawnSync(cmd, args, { encoding: "utf8", timeout: budget });
    if (r.status !== 0) {
        throw new Error(`load client failed (${r.status ?? r.signal}): ${r.stderr}`);
    }
    return JSON.parse(r.stdout) as LoadResult;
}

/** One connection of a long-lived client (times: ms since the epoch). */
export interface Session {
    client: number;
    /** 0 for the client's first connection, then 1, 2... for its reconnects. */
    attempt: number;
    /** The backend that answered, null while none has. */
    node: string | null;
    openedAt: number;
    firstReplyAt: number | null;
    lastReplyAt: number | null;
    closedAt: number | null;
    error: string | null;
    /** Longest time between two answers. */
    maxGap: number;
    sent: number;
    replies: number;
}

export interface Snapshot {
    now: number;
    sessions: Session[];
}

/**
 * `count` long-lived clients (watches, agent tunnels): each keeps a connection through the LB and sends a line every
 * `intervalMs`, which the backend answers; a connection that closes is opened again (through the LB) after
 * `reconnectDelayMs`, at most `maxReconnects` times per client.
 */
export class LiveClients {
    private readonly proc: ChildProcess;
    private buf = "";
    private readonly waiting: ((line: string) => void)[] = [];
    private stderr = "";

    constructor(o: { netns?: string; host: string; port: number; count: number; intervalMs?: number; maxReconnects?: number; reconnectDelayMs?: number }) {
        const [cmd, args] = inNetns(o.netns, [process.execPath, "-e", CLIENT_JS, "live", o.host, String(o.port), String(o.count),
            String(o.intervalMs ?? 200), String(o.maxReconnects ?? 3), String(o.reconnectDelayMs ?? 100)]);
        this.proc = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
        this.proc.stdout!.on("data", d => {
            this.buf += d;
            let i;
            while ((i = this.buf.indexOf("\n")) >= 0) {
                const line = this.buf.slice(0, i);
                this.buf = this.buf.slice(i + 1);
                this.waiting.shift()?.(line);
            }
        });
        this.proc.stderr!.on("data", d => { this.stderr += d; });
    }

    /** Every connection so far, as the clients see them now. */
    async snapshot(): Promise<Snapshot> {
        if (this.proc.exitCode !== null) {
            throw new Error(`the long-lived clients exited (${this.proc.exitCode}): ${this.stderr}`);
        }
        const line = new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no snapshot from the long-lived clients in 5 s: ${this.stderr}`)), 5000);
            this.waiting.push(l => { clearTimeout(timer); resolve(l); });
        });
        this.proc.stdin!.write("snap\n");
        return JSON.parse(await line) as Snapshot;
    }

    async stop(): Promise<void> {
        if (this.proc.exitCode === null && this.proc.signalCode === null) {
            this.proc.stdin!.write("stop\n");
            this.proc.stdin!.end();
        }
        await stopProcess(this.proc, 2000);
    }
}

/** The sessions open now, and whether each answered within `ms` (not hung). */
export function openSessions(s: Snapshot): Session[] {
    return s.sessions.filter(x => x.closedAt === null);
}

/** Open sessions that have not answered for `ms` (or never did, `ms` after opening): hung. */
export function hungSessions(s: Snapshot, ms: number): Session[] {
    return openSessions(s).filter(x => s.now - (x.lastReplyAt ?? x.openedAt) > ms);
}

/** Sessions per backend id, open ones only. */
export function openByNode(s: Snapshot): Record<string, number> {
    const by: Record<string, number> = {};
    for (const x of openSessions(s)) {
        by[x.node ?? "none"] = (by[x.node ?? "none"] ?? 0) + 1;
    }
    return by;
}

// ---- the checker

/** The health checker running in a namespace, its log collected with the time each line arrived. */
export class CheckerRun {
    readonly startedAt = Date.now();
    readonly lines: { at: number; line: string }[] = [];
    private readonly proc: ChildProcess;
    private partial = "";

    constructor(netns: string, scriptText: string, env: NodeJS.ProcessEnv = process.env) {
        this.proc = spawn("ip", ["netns", "exec", netns, "sh", "-c", scriptText], { stdio: ["ignore", "pipe", "pipe"], env });
        const take = (d: Buffer) => {
            this.partial += d;
            let i;
            while ((i = this.partial.indexOf("\n")) >= 0) {
                this.lines.push({ at: Date.now(), line: this.partial.slice(0, i) });
                this.partial = this.partial.slice(i + 1);
            }
        };
        this.proc.stdout!.on("data", take);
        this.proc.stderr!.on("data", take);
    }

    get log(): string {
        return this.lines.map(l => l.line).join("\n") + (this.partial ? `\n${this.partial}` : "");
    }

    /** The first log line containing `text`, if any. */
    find(text: string): { at: number; line: string } | undefined {
        return this.lines.find(l => l.line.includes(text));
    }

    /** Waits (bounded) for a log line containing `text`; returns it with the time it arrived. */
    async waitFor(text: string, seconds: number): Promise<{ at: number; line: string }> {
        await until(`checker log line "${text}"`, () => this.find(text) !== undefined, seconds, () => `checker log:\n${this.log}`);
        return this.find(text)!;
    }

    /** SIGTERM: the checker puts every node back and exits (bounded; SIGKILL after 5 s). */
    async stop(): Promise<void> {
        await stopProcess(this.proc, 5000);
    }
}

/** The health checker tests' hosts: an LB host and three nodes, each in a network namespace of its own, a backend on each node. */
export interface LbTestbed {
    dir: string;
    lbHost: SshHost;
    nodes: SshHost[];
    backends: Backend[];
    /** Kills the backends, stops the hosts, removes the dir. */
    stop(): Promise<void>;
}

/** Starts the testbed; its temp dir is named after `tag`. */
export async function startLbTestbed(tag: string, nodePort: number): Promise<LbTestbed> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rancher-ha-lb-${tag}-`));
    const hosts: SshHost[] = [];
    const backends: Backend[] = [];
    const stop = async () => {
        backends.forEach(b => b.proc.kill("SIGKILL"));
        await Promise.all(hosts.map(h => h.stop()));
        fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
        for (let i = 0; i < 4; i++) {
            hosts.push(await startSshHost());
        }
        const [lbHost, ...nodes] = hosts;
        backends.push(...await Promise.all(nodes.map((h, i) => startBackend(h.netns, h.address, nodePort, `b${i}`, dir))));
        return { dir, lbHost, nodes, backends, stop };
    } catch (e) {
        await stop();
        throw e;
    }
}

/**
 * nginx.conf as the stack renders it for the testbed's nodes (all controlplane) behind listenAddress:lbPort (https and
 * the API on the next two ports), its http port given the long-lived ports' 1 h proxy_timeout: what hangs, hangs that long.
 */
export function testbedNginxConf(nodes: SshHost[], o: { listenAddress: string; lbPort: number; nodePort: number; pidPath: string; errorLog: string }): string {
    return renderNginxConf({
        backends: nodes.map(h => ({ address: h.address, controlplane: true })),
        listenAddress: o.listenAddress,
        listenPorts: { http: o.lbPort, https: o.lbPort + 1, kubeApi: o.lbPort + 2 },
        backendPorts: { http: o.nodePort, https: 8443, kubeApi: 6443 },
        httpProxyTimeout: "1h",
        pidPath: o.pidPath, errorLog: o.errorLog, loadModules: [STREAM_MODULE],
    });
}
