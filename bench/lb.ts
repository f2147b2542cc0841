// Benchmark (not a test): what the nginx stream LB costs, on loopback, in one run.
//
//   npm run bench:lb            (BENCH_SECONDS=10 BENCH_CONNECTIONS=64 by default)
//
// A backend nginx (http, `return 200`) listens on 127.0.0.2/.3/.4; the LB runs the rendered config (as the
// component renders it, plus load_module and temp paths) on 127.0.0.1. wrk measures requests/s and p99 latency
// straight to one backend and through the LB, with keep-alive connections and with a new connection per request
// (the LB's real per-connection work). Goal: the LB costs under 10% of direct throughput.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderNginxConf } from "../components/loadBalancer/nginxConf";
import { portFreeOn, waitForListen } from "../test/helpers/net";

const NGINX = fs.existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
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
    return { rps, p99ms, errors };
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
    server {
${BACKENDS.map(h => `        listen ${h}:${backendPort};`).join("\n")}
        location / { return 200 "ok\\n"; }
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
    } finally {
        cleanup();
    }
}

main().catch(e => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
});
