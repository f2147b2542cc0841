// The LB pair's virtual IP with the real keepalived and the real nginx: two LB hosts and a backend, each in a network
// namespace of its own on the run's bridge, the client in the root namespace (also on the bridge, so it sees the VIP
// move by ARP as a client on the LAN does). Each LB host runs nginx (renderNginxConf, listening on `listen <port>`,
// i.e. every address) and keepalived with the rendered keepalived.conf and check script. The backend answers with
// the address the request came from: the LB host that proxied it.
//
// Checked, in order (each step starts from the state the previous one left):
//   a. the first host (higher priority) holds the VIP, the other does not, and traffic through the VIP works;
//   b. nginx killed (SIGKILL, master and workers) on the master: new connections through the VIP succeed through
//      the other host within 3 s of the kill;
//   c. nginx back on the first host: after `rise` good checks the VIP moves back to it (preempt, as designed);
//   d. the master's whole host dies (its link down, then its keepalived and nginx killed, so it says nothing on
//      the way out): the other host takes the VIP and new connections succeed within 3 s.
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { renderNginxConf } from "../../../components/loadBalancer/nginxConf";
import {
    KEEPALIVED_DEFAULTS, keepalivedCheckScript, keepalivedConf, keepalivedInterfaceSh, keepalivedOptionsForHosts, KEEPALIVED_INTERFACE_TOKEN,
} from "../../../components/loadBalancer/keepalived";
import { NGINX, nginxUnavailable, requireTool, STREAM_MODULE, toolMissing } from "../../helpers/tools";
import { waitForListen } from "../../helpers/net";
import { SshHost, sshHostUnavailable, startSshHost, testNetGateway } from "../../helpers/sshHost";

/** The backend: answers every request with the address it came from (the LB host whose nginx proxied it). */
const BACKEND = `const [addr] = process.argv.slice(1);
require("http").createServer((q, s) => { s.writeHead(200, { connection: "close" }); s.end("via " + q.socket.remoteAddress); }).listen(8080, addr);`;

const LISTEN = { http: 18080, https: 18443, kubeApi: 16443 };
const BACKEND_PORTS = { http: 8080, https: 8443, kubeApi: 6443 };
/** The promise under test: the VIP serves again within this long after its master's nginx or host dies. */
const FAILOVER_MAX_MS = 3000;

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/**
 * One new TCP connection and an HTTP GET through the VIP, bounded by `ms` in all: the LB address that served it
 * (from the backend's answer), or undefined when it failed.
 */
function probe(host: string, port: number, ms = 600): Promise<string | undefined> {
    return new Promise(resolve => {
        let done = false;
        const finish = (v: string | undefined) => {
            if (!done) {
                done = true;
                clearTimeout(timer);
                req.destroy();
                resolve(v);
            }
        };
        const req = http.get({ host, port, path: "/", agent: false }, res => {
            let body = "";
            res.on("data", d => { body += d; });
            res.on("end", () => finish(/^via (\S+)$/.exec(body)?.[1]));
            res.on("error", () => finish(undefined));
        });
        req.on("error", () => finish(undefined));
        const timer = setTimeout(() => finish(undefined), ms);
    });
}

/** Pids whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
    const out: number[] = [];
    for (const e of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(e)) {
            continue;
        }
        try {
            // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
            const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
            if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) {
                out.push(Number(e));
            }
        } catch {
            // gone meanwhile
        }
    }
    return out;
}

function kill(pid: number | undefined, signal: NodeJS.Signals = "SIGKILL"): void {
    if (pid === undefined) {
        return;
    }
    try {
        process.kill(pid, signal);
    } catch {
        // already gone
    }
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** One LB host: its namespace, its files, and the nginx and keepalived running in it. */
interface Lb {
    host: SshHost;
    dir: string;
    nginx?: ChildProcess;
    keepalived?: ChildProcess;
    log: string;
}

describe("loadBalancer/keepalived: a VIP on two LB hosts, real keepalived and nginx, hosts in netns", function () {
    this.timeout(90000);
    let dir: string | undefined;
    const hosts: SshHost[] = [];
    const lbs: Lb[] = [];
    const procs: ChildProcess[] = [];
    let vip = "";
    const timings: string[] = [];

    const ns = (lb: Lb, ...args: string[]) => spawnSync("ip", ["netns", "exec", lb.host.netns, ...args], { encoding: "utf8" });
    /** Indexes of the LB hosts that have the VIP on an interface now. */
    const holders = () => lbs.flatMap((lb, i) =>
        (spawnSync("ip", ["-n", lb.host.netns, "-4", "-o", "addr", "show"], { encoding: "utf8" }).stdout.includes(` ${vip}/32 `) ? [i] : []));
    const logs = () => lbs.map((lb, i) => `--- keepalived lb${i} (${lb.host.address}):\n${lb.log.split("\n").slice(-40).join("\n")}`).join("\n");

    async function startNginx(lb: Lb): Promise<void> {
        const p = spawn("ip", ["netns", "exec", lb.host.netns, NGINX, "-c", path.join(lb.dir, "nginx.conf"), "-g", "daemon off;"], { stdio: "ignore" });
        procs.push(p);
        lb.nginx = p;
        // `ip netns exec` execs the command: p.pid is nginx's master.
        await waitForListen(LISTEN.http, p, () => fs.readFileSync(path.join(lb.dir, "error.log"), "utf8"), 10000, lb.host.address);
    }

    /** SIGKILL to nginx's master, then to its workers (the master cannot start new ones once dead). */
    function killNginx(lb: Lb): void {
        const master = lb.nginx!.pid!;
        const workers = childrenOf(master);
        kill(master);
        workers.forEach(w => kill(w));
    }

    function startKeepalived(lb: Lb): void {
        const p = spawn("ip", ["netns", "exec", lb.host.netns, "keepalived",
            // In the foreground, VRRP only, logging to the console (captured here), not to syslog; pid files of its
            // own (the default /run/keepalived.pid and /run/vrrp.pid would clash between the two hosts).
            "--dont-fork", "--vrrp", "--log-console", "--log-detail", "--no-syslog",
            "--use-file", path.join(lb.dir, "keepalived.conf"),
            "--pid", path.join(lb.dir, "keepalived.pid"), "--vrrp_pid", path.join(lb.dir, "vrrp.pid")],
        { stdio: ["ignore", "pipe", "pipe"] });
        procs.push(p);
        lb.keepalived = p;
        p.stdout!.on("data", d => { lb.log += d; });
        p.stderr!.on("data", d => { lb.log += d; });
    }

    /** keepalived's parent and its VRRP child, SIGKILLed (nothing said on the way out). */
    function killKeepalived(lb: Lb): void {
        const parent = lb.keepalived!.pid!;
        const children = childrenOf(parent);
        kill(parent);
        children.forEach(c => kill(c));
    }

    /**
     * New connections through the VIP, a new one every 50 ms (each bounded by 1 s, so one sent into the gap while no
     * host answers does not hide the moment service returns), until one is served by `want` (the LB's address);
     * bounded in count and time. Milliseconds from `t0` to the end of the first such success, or undefined.
     */
    async function firstServedBy(want: string, t0: number, maxMs: number): Promise<number | undefined> {
        let served: number | undefined;
        const inFlight: Promise<void>[] = [];
        for (let i = 0; i < 400 && served === undefined && Date.now() - t0 < maxMs; i++) {
            inFlight.push(probe(vip, LISTEN.http, 1000).then(by => {
                if (by === want && served === undefined) {
                    served = Date.now() - t0;
                }
            }));
            await sleep(50);
        }
        await Promise.all(inFlight);
        return served;
    }

    /** `n` new connections in a row, each of which must be served by `want`. */
    async function allServedBy(want: string, n: number): Promise<void> {
        const got: (string | undefined)[] = [];
        for (let i = 0; i < n; i++) {
            got.push(await probe(vip, LISTEN.http, 2000));
        }
        assert.deepEqual(got, Array(n).fill(want), `every new connection through the VIP served by ${want}\n${logs()}`);
    }

    /** The MAC the client (root namespace) has for the VIP now, and the LB host's own MAC. */
    const clientMacForVip = () => /lladdr (\S+)/.exec(spawnSync("ip", ["neigh", "show", "to", vip], { encoding: "utf8" }).stdout)?.[1];
    const macOf = (lb: Lb) => /link\/ether (\S+)/.exec(spawnSync("ip", ["-n", lb.host.netns, "link", "show", "eth0"], { encoding: "utf8" }).stdout)?.[1];

    async function until(what: string, check: () => boolean, maxMs: number): Promise<number> {
        const t0 = Date.now();
        while (!check()) {
            if (Date.now() - t0 > maxMs) {
                throw new Error(`${what}: not within ${maxMs} ms (VIP on lb${holders().join(", lb")})\n${logs()}`);
            }
            await sleep(50);
        }
        return Date.now() - t0;
    }

    before(async function () {
        requireTool(this, nginxUnavailable() ?? sshHostUnavailable() ?? toolMissing("keepalived", ["--version"]) ?? toolMissing("nc", ["-h"]));
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-keepalived-"));
        // A VIP in the run's /24 that no host has: hosts take .11 upwards.
        vip = testNetGateway().replace(/\.1$/, ".250");
        for (let i = 0; i < 3; i++) {
            hosts.push(await startSshHost());
        }
        const [lb0, lb1, backend] = hosts;
        assert.ok(!hosts.some(h => h.addresses.includes(vip)), `no test host has the VIP ${vip}`);

        const b = spawn("ip", ["netns", "exec", backend.netns, process.execPath, "-e", BACKEND, backend.address], { stdio: "ignore" });
        procs.push(b);
        await waitForListen(BACKEND_PORTS.http, b, () => "backend", 10000, backend.address);

        const options = keepalivedOptionsForHosts([lb0.address, lb1.address], {
            virtualIp: vip, virtualRouterId: 51, checkPorts: Object.values(LISTEN),
        });
        for (const [i, host] of [lb0, lb1].entries()) {
            const lb: Lb = { host, dir: path.join(dir, `lb${i}`), log: "" };
            lbs.push(lb);
            fs.mkdirSync(lb.dir, { mode: 0o755 });
            fs.writeFileSync(path.join(lb.dir, "nginx.conf"), renderNginxConf({
                backends: [{ address: backend.address, controlplane: true }],
                // No listenAddress: `listen <port>`, every address, the VIP included once it arrives.
                listenPorts: LISTEN, backendPorts: BACKEND_PORTS, workerProcesses: 1, maxConnections: 1024,
                pidPath: path.join(lb.dir, "nginx.pid"), errorLog: path.join(lb.dir, "error.log"), loadModules: [STREAM_MODULE],
            }));
            // As the installer will: the check script root-owned and not writable by others (enable_script_security
            // disables it otherwise), keepalived.conf with the interface token filled in on the host itself.
            const check = path.join(lb.dir, "check-nginx.sh");
            fs.writeFileSync(check, keepalivedCheckScript(options[i]), { mode: 0o755 });
            const conf = path.join(lb.dir, "keepalived.conf");
            fs.writeFileSync(conf, keepalivedConf({ ...options[i], checkScriptPath: check }));
            const fill = ns(lb, "sh", "-c", `set -eu\n${keepalivedInterfaceSh}\nlb_fill_interface "$1" "$2"`, "sh", conf, host.address);
            assert.equal(fill.status, 0, fill.stderr);
            assert.ok(!fs.readFileSync(conf, "utf8").includes(KEEPALIVED_INTERFACE_TOKEN));
            assert.match(fs.readFileSync(conf, "utf8"), /^ {4}interface eth0$/m, "the interface that carries the host's address");
            // nginx takes connections to the VIP without net.ipv4.ip_nonlocal_bind: it binds the wildcard address.
            assert.equal(ns(lb, "cat", "/proc/sys/net/ipv4/ip_nonlocal_bind").stdout.trim(), "0");
            await startNginx(lb);
        }
        for (const lb of lbs) {
            const test = ns(lb, "keepalived", "--config-test", "--use-file", path.join(lb.dir, "keepalived.conf"));
            assert.equal(test.status, 0, `keepalived --config-test:\n${test.stderr}`);
        }
        lbs.forEach(startKeepalived);
    });

    after(async () => {
        for (const lb of lbs) {
            if (lb.keepalived) {
                killKeepalived(lb);
            }
            if (lb.nginx) {
                killNginx(lb);
            }
        }
        procs.forEach(p => p.kill("SIGKILL"));
        await Promise.all(hosts.map(h => h.stop()));
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        if (timings.length > 0) {
            // eslint-disable-next-line no-console
            console.log(`      measured: ${timings.join("; ")}`);
        }
    });

    it("a. the first host holds the VIP, the other not, and traffic through the VIP works", async () => {
        const ms = await until("VIP on lb0 only", () => holders().join() === "0", 15000);
        timings.push(`VIP up ${ms} ms after keepalived started`);
        // Stays there: the second host, healthy too, does not take it (one master).
        for (let i = 0; i < 10; i++) {
            await sleep(100);
            assert.deepEqual(holders(), [0], `VIP on the first host only\n${logs()}`);
        }
        await allServedBy(lbs[0].host.address, 5);
        assert.match(lbs[1].log, /Entering BACKUP STATE/);
    });

    it("b. nginx killed on the master: new connections through the VIP work through the other host within 3 s", async () => {
        const t0 = Date.now();
        killNginx(lbs[0]);
        const ms = await firstServedBy(lbs[1].host.address, t0, 10000);
        timings.push(`nginx kill -> served by lb1 in ${ms} ms`);
        assert.ok(ms !== undefined && ms <= FAILOVER_MAX_MS, `served by the other host ${ms} ms after the kill (at most ${FAILOVER_MAX_MS})\n${logs()}`);
        assert.deepEqual(holders(), [1], "the VIP moved: the first host (FAULT) dropped it");
        // The client's ARP entry for the VIP (fresh: it was just used) follows at once: the new master's gratuitous ARPs.
        assert.equal(clientMacForVip(), macOf(lbs[1]), "the client's ARP entry for the VIP points at the second host");
        await allServedBy(lbs[1].host.address, 5);
        assert.match(lbs[0].log, /Entering FAULT STATE/);
    });

    it("c. nginx back on the first host: after `rise` good checks the VIP moves back to it (preempt)", async () => {
        const t0 = Date.now();
        await startNginx(lbs[0]);
        const ms = await firstServedBy(lbs[0].host.address, t0, 15000);
        timings.push(`nginx back -> served by lb0 again in ${ms} ms`);
        assert.ok(ms !== undefined, `the VIP returned to the first host\n${logs()}`);
        // Not before `rise` checks a second apart: a flapping nginx does not pull the VIP back at once.
        assert.ok(ms >= (KEEPALIVED_DEFAULTS.checkRise - 1) * 1000, `moved back after ${ms} ms, before ${KEEPALIVED_DEFAULTS.checkRise} good checks`);
        await until("VIP on lb0 only", () => holders().join() === "0", 5000);
        await allServedBy(lbs[0].host.address, 5);
    });

    it("d. the master host dies (link down, processes killed): the other host serves the VIP within 3 s", async () => {
        const t0 = Date.now();
        // Link first, so the dying host says nothing (no priority 0 advert): the backup must notice the silence.
        const down = spawnSync("ip", ["link", "set", lbs[0].host.veth, "down"], { encoding: "utf8" });
        assert.equal(down.status, 0, down.stderr);
        killKeepalived(lbs[0]);
        killNginx(lbs[0]);
        const ms = await firstServedBy(lbs[1].host.address, t0, 10000);
        timings.push(`link down -> served by lb1 in ${ms} ms`);
        assert.ok(ms !== undefined && ms <= FAILOVER_MAX_MS, `served by the other host ${ms} ms after the link went down (at most ${FAILOVER_MAX_MS})\n${logs()}`);
        assert.ok(holders().includes(1), "the second host holds the VIP");
        assert.equal(clientMacForVip(), macOf(lbs[1]), "the client's ARP entry for the VIP points at the second host");
        await allServedBy(lbs[1].host.address, 5);
        await until("the first host's processes gone", () => !alive(lbs[0].keepalived!.pid!) && !alive(lbs[0].nginx!.pid!), 5000);
    });
});
