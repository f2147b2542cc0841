// Benchmark (not a test): what the nginx stream LB costs, on loopback, in one run.
//
//   npm run bench:lb            (BENCH_SECONDS=10 BENCH_CONNECTIONS=64 by default)
//
// A backend nginx (http, `return 200`) listens on 127.0.0.2/.3/.4; the LB runs the rendered config (as the
// component renders it, plus load_module and temp paths) on 127.0.0.1. wrk measures requests/s and p99 latency
// straight to one backend and through the LB, with keep-alive connections and with a new connection per request
// (the LB's real per-connection work). Goal: the LB costs under 10% of direct throughput.
//
// Then nginx against HAProxy (Debian's package, `mode tcp`, the same balancing, timeouts and retries, no active
// checks on either), in interleaved rounds (BENCH_ROUNDS, default 3; the order alternates so neither always runs on
// a warmer machine): LB CPU per connection (a new connection per request) and per GiB (1 MiB responses over
// keep-alive), medians and the nginx/HAProxy ratio; and the connection ceiling each actually held (long-lived
// connections opened until one fails, up to BENCH_CEILING, default 5000, in at most 60 s).
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderNginxConf } from "../components/loadBalancer/nginxConf";
import { portFreeOn, waitForListen } from "../test/helpers/net";

const NGINX = fs.existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
const HAPROXY = fs.existsSync("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : "haproxy";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CEILING = Number(process.env.BENCH_CEILING ?? 5000);
const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const THREADS = Math.max(1, Math.min(4, os.cpus().length));
const GOAL = 0.10;
const BACKENDS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
/** LB worker_processes ("auto" as deployed, or a number to see how the LB scales on this machine). */
const LB_WORKERS: number | "auto" = process.env.BENCH_LB_WORKERS && process.env.BENCH_LB_WORKERS !== "auto"
    ? Number(process.env.BENCH_LB_WORKERS) : "auto";

interface Result {
    rps: number;
    p99ms: number;
    errors: number;
    /** Bytes read in the run. */
    bytes?: number;
    /** CPU the LB's nginx (master + workers) spent per request, in microseconds. */
    lbCpuUsPerRequest?: number;
}

function requireTools() {
    const missing: string[] = [];
    if (spawnSync("wrk", ["--version"]).error) {
        missing.push("wrk (apt-get install wrk)");
    }
    if (spawnSync(NGINX, ["-v"]).error) {
        missing.push("nginx (apt-get install nginx-light)");
    }
    if (!fs.existsSync(STREAM_MODULE)) {
        missing.push("the stream module (apt-get install libnginx-mod-stream)");
    }
    if (spawnSync(HAPROXY, ["-v"]).error) {
        missing.push("haproxy (apt-get install haproxy)");
    }
    if (missing.length) {
        console.error(`bench:lb needs ${missing.join(", ")}`);
        process.exit(2);
    }
}



/** CPU seconds (user + system) used so far by a process and its direct children (nginx master + workers). */
function cpuSeconds(pid: number): number {
    const ticks = 100; // USER_HZ: 100 on every Linux architecture nginx runs on here
    let total = 0;
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) {
            continue;
        }
        let stat: string;
        try {
            stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
        } catch {
            continue;
        }
        // Fields after the ")" closing the command name: state ppid ... utime(14) stime(15), 1-based overall.
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (Number(entry) === pid || Number(f[1]) === pid) {
            total += (Number(f[11]) + Number(f[12])) / ticks;
        }
    }
    return total;
}

function startNginx(confPath: string): ChildProcess {
    const p = spawn(NGINX, ["-c", confPath, "-g", "daemon off;"], { stdio: ["ignore", "inherit", "inherit"] });
    return p;
}

/**
 * HAProxy as the same L4 LB: `mode tcp`, round robin, 2 s connect timeout, two retries on another server
 * (redispatch, as proxy_next_upstream), 1 h idle timeout (proxy_timeout), passive only (no `check`), like nginx.
 */
function haproxyConf(listen: number, backends: string[], backendPort: number, pidFile: string): string {
    // HAProxy refuses to start when it cannot raise its descriptor limit to 2 x maxconn: stay under this
    // machine's hard limit (nginx, given more, keeps the hard limit and logs setrlimit failed).
    const hard = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(fs.readFileSync("/proc/self/limits", "utf8"))?.[1] ?? 100000);
    const maxconn = Math.min(50000, Math.floor((hard - 200) / 2));
    return `global
    maxconn ${maxconn}
    pidfile ${pidFile}
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    retries 2
    option redispatch
frontend http
    bind 127.0.0.1:${listen}
    default_backend nodes
backend nodes
    balance roundrobin
${backends.map((b, i) => `    server n${i} ${b}:${backendPort}`).join("\n")}
`;
}

/** Bytes wrk read in the run ("Transfer/sec" times the duration). */
function transferBytes(out: string): number {
    const m = /Transfer\/sec:\s+([\d.]+)([KMG]?)B/.exec(out);
    const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as const;
    return m ? Number(m[1]) * unit[m[2] as keyof typeof unit] * SECONDS : NaN;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Long-lived connections through `port`, opened 100 at a time until one fails or `limit` is reached (bounded: 60 s).
 * Each is a real proxied session: a request is sent and its answer read before the next batch.
 */
async function connectionCeiling(port: number, limit: number): Promise<{ held: number; stoppedBy: string }> {
    const net = await import("net");
    const sockets: import("net").Socket[] = [];
    const end = Date.now() + 60000;
    let stoppedBy = `the bench's limit (BENCH_CEILING=${limit})`;
    try {
        while (sockets.length < limit) {
            if (Date.now() > end) {
                stoppedBy = "the 60 s bound";
                break;
            }
            const batch = Math.min(100, limit - sockets.length);
            const results = await Promise.all(Array.from({ length: batch }, () => new Promise<import("net").Socket | string>(resolve => {
                const s = net.connect(port, "127.0.0.1");
                const timer = setTimeout(() => { s.destroy(); resolve("no answer within 5 s"); }, 5000);
                s.once("error", e => { clearTimeout(timer); resolve(e.message); });
                s.once("connect", () => s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
                s.once("data", () => { clearTimeout(timer); resolve(s); });
            })));
            const failed = results.find(r => typeof r === "string");
            sockets.push(...results.filter((r): r is import("net").Socket => typeof r !== "string"));
            if (failed !== undefined) {
                stoppedBy = `a failed connection (${failed})`;
                break;
            }
        }
        return { held: sockets.length, stoppedBy };
    } finally {
        sockets.forEach(s => s.destroy());
    }
}

/** wrk's "Requests/sec" and the 99% line of --latency, in ms. */
function wrk(url: string, extra: string[] = []): Result {
    const r = spawnSync("wrk", [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${SECONDS}s`, "--latency", ...extra, url],
        { encoding: "utf8", timeout: (SECONDS + 30) * 1000 });
    if (r.status !== 0) {
        throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
    }
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
    const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(r.stdout);
    const unit = { us: 0.001, ms: 1, s: 1000 } as const;
    const p99ms = p99 ? Number(p99[1]) * unit[p99[2] as keyof typeof unit] : NaN;
    const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0);
    const errors = (errs ? errs.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0) + non2xx;
    return { rps, p99ms, errors, bytes: transferBytes(r.stdout) };
}

async function main() {
    requireTools();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-bench-lb-"));
    const procs: ChildProcess[] = [];
    const cleanup = () => {
        for (const p of procs) {
            if (p.exitCode === null) {
                p.kill("SIGTERM");
            }
        }
        fs.rmSync(dir, { recursive: true, force: true });
    };
    process.on("SIGINT", () => { cleanup(); process.exit(130); });
    try {
        const backendPort = await portFreeOn(BACKENDS);
        const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .map(t => `    ${t}_temp_path ${path.join(dir, t)};`).join("\n");
        const backendConf = path.join(dir, "backend.conf");
        fs.writeFileSync(backendConf, `worker_processes 1;
pid ${path.join(dir, "backend.pid")};
error_log ${path.join(dir, "backend-error.log")} warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
${temp}
    keepalive_timeout 300s;
    server {
${BACKENDS.map(h => `        listen ${h}:${backendPort};`).join("\n")}
        location / { return 200 "ok\\n"; }
        location /mib { alias ${path.join(dir, "mib")}; }
    }
}
`);
        const lbPorts = { http: await portFreeOn(["127.0.0.1"]), https: await portFreeOn(["127.0.0.1"]), kubeApi: await portFreeOn(["127.0.0.1"]) };
        const lbConf = path.join(dir, "lb.conf");
        fs.writeFileSync(lbConf, renderNginxConf({
            backends: BACKENDS.map(address => ({ address, controlplane: true })),
            listenAddress: "127.0.0.1",
            listenPorts: lbPorts,
            backendPorts: { http: backendPort, https: backendPort, kubeApi: backendPort },
            pidPath: path.join(dir, "lb.pid"),
            errorLog: path.join(dir, "lb-error.log"),
            loadModules: [STREAM_MODULE],
            workerProcesses: LB_WORKERS,
        }));
        // Read by the backend's worker, which runs as nginx's unprivileged user.
        fs.chmodSync(dir, 0o755);
        fs.writeFileSync(path.join(dir, "mib"), Buffer.alloc(1024 * 1024, 120), { mode: 0o644 });
        const backend = startNginx(backendConf);
        procs.push(backend);
        await waitForListen(backendPort, backend, () => "backend nginx", 10000, BACKENDS[0]);
        const lb = startNginx(lbConf);
        procs.push(lb);
        await waitForListen(lbPorts.http, lb, () => "LB nginx");

        const direct = `http://${BACKENDS[0]}:${backendPort}/`;
        const viaLb = `http://127.0.0.1:${lbPorts.http}/`;
        console.log(`bench:lb  ${os.cpus().length} CPUs, wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s; ` +
            `backend: nginx return 200 on ${BACKENDS.join(", ")}; LB: rendered stream config, worker_processes ${LB_WORKERS}`);
        const rows: { scenario: string; target: string; r: Result }[] = [];
        for (const [scenario, extra] of [["keep-alive", []], ["new connection per request", ["-H", "Connection: close"]]] as const) {
            wrk(direct, ["-d1s", ...extra]); // warm-up
            const d = wrk(direct, [...extra]);
            const cpuBefore = cpuSeconds(lb.pid!);
            const l = wrk(viaLb, [...extra]);
            l.lbCpuUsPerRequest = (cpuSeconds(lb.pid!) - cpuBefore) * 1e6 / (l.rps * SECONDS);
            rows.push({ scenario, target: "direct", r: d }, { scenario, target: "via LB", r: l });
        }
        console.log("");
        console.log(`${"scenario".padEnd(28)}${"target".padEnd(9)}${"req/s".padStart(12)}${"p99 ms".padStart(10)}${"errors".padStart(8)}`);
        for (const { scenario, target, r } of rows) {
            console.log(`${scenario.padEnd(28)}${target.padEnd(9)}${r.rps.toFixed(0).padStart(12)}${r.p99ms.toFixed(2).padStart(10)}${String(r.errors).padStart(8)}`);
        }
        console.log("");
        for (let i = 0; i < rows.length; i += 2) {
            const ratio = rows[i + 1].r.rps / rows[i].r.rps;
            const cost = 1 - ratio;
            console.log(`${rows[i].scenario}: LB throughput ${(ratio * 100).toFixed(1)}% of direct ` +
                `(cost ${(cost * 100).toFixed(1)}%, goal < ${GOAL * 100}%: ${cost < GOAL ? "met" : "NOT met"}); ` +
                `p99 ${rows[i].r.p99ms.toFixed(2)} -> ${rows[i + 1].r.p99ms.toFixed(2)} ms`);
            const us = rows[i + 1].r.lbCpuUsPerRequest!;
            console.log(`  LB CPU: ${us.toFixed(1)} us per request, i.e. one dedicated LB core proxies ~${(1e6 / us).toFixed(0)} req/s of this kind`);
        }
        console.log("All processes (wrk, LB, backend) share this machine's CPUs: on few CPUs the LB's cost includes " +
            "the CPU it takes from the backend and wrk.");

        // nginx against HAProxy, interleaved rounds.
        const haPort = await portFreeOn(["127.0.0.1"]);
        const haCfg = path.join(dir, "haproxy.cfg");
        fs.writeFileSync(haCfg, haproxyConf(haPort, BACKENDS, backendPort, path.join(dir, "haproxy.pid")));
        const haproxy = spawn(HAPROXY, ["-W", "-db", "-f", haCfg], { stdio: ["ignore", "ignore", "inherit"] });
        procs.push(haproxy);
        await waitForListen(haPort, haproxy, () => "haproxy");
        const lbs = [
            { name: "nginx", pid: lb.pid!, base: `http://127.0.0.1:${lbPorts.http}` },
            { name: "haproxy", pid: haproxy.pid!, base: `http://127.0.0.1:${haPort}` },
        ];
        const perConn: Record<string, number[]> = { nginx: [], haproxy: [] };
        const perGiB: Record<string, number[]> = { nginx: [], haproxy: [] };
        for (let round = 0; round < ROUNDS; round++) {
            for (const l of round % 2 === 0 ? lbs : [...lbs].reverse()) {
                let cpu = cpuSeconds(l.pid);
                const c = wrk(`${l.base}/`, ["-H", "Connection: close"]);
                perConn[l.name].push((cpuSeconds(l.pid) - cpu) * 1e6 / (c.rps * SECONDS));
                cpu = cpuSeconds(l.pid);
                const b = wrk(`${l.base}/mib`);
                if (b.errors > 0 || c.errors > 0) {
                    throw new Error(`${l.name}: ${c.errors + b.errors} failed requests; the figures would not be comparable`);
                }
                perGiB[l.name].push((cpuSeconds(l.pid) - cpu) / (b.bytes! / 1024 ** 3));
            }
        }
        console.log("");
        console.log(`nginx vs HAProxy ${spawnSync(HAPROXY, ["-v"], { encoding: "utf8" }).stdout.split("\n")[0].replace(/ - .*/, "")}, ` +
            `${ROUNDS} interleaved rounds, medians:`);
        console.log(`${"".padEnd(10)}${"CPU us/connection".padStart(20)}${"CPU s/GiB".padStart(12)}`);
        for (const l of lbs) {
            console.log(`${l.name.padEnd(10)}${median(perConn[l.name]).toFixed(1).padStart(20)}${median(perGiB[l.name]).toFixed(2).padStart(12)}`);
        }
        console.log(`ratio nginx/HAProxy: ${(median(perConn.nginx) / median(perConn.haproxy)).toFixed(2)} per connection, ` +
            `${(median(perGiB.nginx) / median(perGiB.haproxy)).toFixed(2)} per GiB`);
        for (const l of lbs) {
            const c = await connectionCeiling(Number(new URL(l.base).port), CEILING);
            console.log(`${l.name}: held ${c.held} long-lived proxied connections; stopped by ${c.stoppedBy}`);
        }
        console.log("The LB's own ceiling is worker_connections / 2 per worker (client + node side each take one) and " +
            "worker_rlimit_nofile / 2 descriptors (README: loadBalancer.maxConnections sizes both).");
    } finally {
        cleanup();
    }
}

main().catch(e => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
});
