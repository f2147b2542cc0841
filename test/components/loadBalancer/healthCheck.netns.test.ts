// The LB's active health checker against a node that accepts and then resets (a dying ingress), on real nginx:
// the LB and three backends each in a network namespace of their own (the checker's routing rules stay in the LB's
// namespace), clients in the root namespace. Measured: client errors before the checker, the time to take the
// node out, errors after (at most 1%), the node put back once healthy, and never the last node taken out.
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { renderNginxConf } from "../../../components/loadBalancer/nginxConf";
import { HealthTarget, lbHealthCheckScript, lbHealthTargets } from "../../../components/loadBalancer/healthCheck";
import { NGINX, nginxUnavailable, requireTool, STREAM_MODULE, toolMissing } from "../../helpers/tools";
import { waitForListen } from "../../helpers/net";
import { SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";

/** A backend whose behaviour is read from a file per connection: ok (answers) or reset (accepts, resets after 2 ms). */
const BACKEND = `const fs = require("fs"); const [addr, id, modeFile] = process.argv.slice(1);
const web = require("http").createServer((q, s) => { s.writeHead(200, { connection: "close" }); s.end(id); });
require("net").createServer(sock => {
  if (fs.readFileSync(modeFile, "utf8").trim() === "reset") { sock.on("error", () => {}); setTimeout(() => sock.resetAndDestroy(), 2); }
  else { web.emit("connection", sock); }
}).listen(8080, addr);`;

function get(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const req = http.get({ host, port, path: "/", agent: false, timeout: 5000 }, res => {
            let body = "";
            res.on("data", d => { body += d; });
            res.on("end", () => resolve(body));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
    });
}

/** n requests, `concurrency` at a time; how many failed, and who answered. */
async function load(host: string, port: number, n: number, concurrency = 5): Promise<{ errors: number; by: Record<string, number> }> {
    let next = 0;
    let errors = 0;
    const by: Record<string, number> = {};
    await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < n) {
            next++;
            try {
                const id = await get(host, port);
                by[id] = (by[id] ?? 0) + 1;
            } catch {
                errors++;
            }
        }
    }));
    return { errors, by };
}

async function until(what: string, check: () => boolean, seconds: number, log?: () => string): Promise<number> {
    const t0 = Date.now();
    while (!check()) {
        if (Date.now() - t0 > seconds * 1000) {
            throw new Error(`${what}: not within ${seconds} s${log ? `; checker log:\n${log()}` : ""}`);
        }
        await new Promise(r => setTimeout(r, 100));
    }
    return (Date.now() - t0) / 1000;
}

describe("loadBalancer/healthCheck: a node that accepts then resets, real nginx, hosts in netns", function () {
    this.timeout(240000);
    let lbHost: SshHost;
    let nodes: SshHost[] = [];
    const procs: ChildProcess[] = [];
    let dir: string;
    let checker: ChildProcess | undefined;
    let checkerLog = "";
    const LB_PORT = 8088;
    const mode = (i: number, m: "ok" | "reset") => fs.writeFileSync(path.join(dir, `mode-${i}`), m);
    const rules = () => spawnSync("ip", ["netns", "exec", lbHost.netns, "ip", "rule", "show"], { encoding: "utf8" }).stdout
        .split("\n").filter(l => l.includes("prohibit")).length;

    before(async function () {
        requireTool(this, nginxUnavailable() ?? sshHostUnavailable() ?? toolMissing("curl"));
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-lb-check-"));
        lbHost = await startSshHost();
        nodes = [await startSshHost(), await startSshHost(), await startSshHost()];
        for (const [i, h] of nodes.entries()) {
            mode(i, "ok");
            const p = spawn("ip", ["netns", "exec", h.netns, process.execPath, "-e", BACKEND, h.address, `b${i}`, path.join(dir, `mode-${i}`)], { stdio: "ignore" });
            procs.push(p);
            await waitForListen(8080, p, () => `backend b${i}`, 10000, h.address);
        }
        const conf = renderNginxConf({
            backends: nodes.map(h => ({ address: h.address, controlplane: true })),
            listenAddress: lbHost.address,
            listenPorts: { http: LB_PORT, https: LB_PORT + 1, kubeApi: LB_PORT + 2 },
            backendPorts: { http: 8080, https: 8443, kubeApi: 6443 },
            pidPath: path.join(dir, "nginx.pid"), errorLog: path.join(dir, "error.log"), loadModules: [STREAM_MODULE],
        });
        fs.writeFileSync(path.join(dir, "nginx.conf"), conf);
        const nginx = spawn("ip", ["netns", "exec", lbHost.netns, NGINX, "-c", path.join(dir, "nginx.conf"), "-g", "daemon off;"], { stdio: "ignore" });
        procs.push(nginx);
        await waitForListen(LB_PORT, nginx, () => "nginx", 10000, lbHost.address);
    });

    after(async () => {
        checker?.kill("SIGKILL");
        procs.forEach(p => p.kill("SIGKILL"));
        await Promise.all([lbHost, ...nodes].filter(Boolean).map(h => h.stop()));
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("takes the sick node out within 6 s, then clients see at most 1% errors; puts it back once healthy; never the last", async () => {
        // The traffic's upstream only: the nodes here serve just the ingress port.
        const targets: HealthTarget[] = lbHealthTargets(nodes.map(h => ({ address: h.address, controlplane: false })),
            { http: 8080, https: 8443, kubeApi: 6443 }).filter(t => t.upstream === "http");
        mode(2, "reset");
        const before = await load(lbHost.address, LB_PORT, 150);
        assert.ok(before.errors >= 15, `without checks the resetting node fails its share of clients: ${JSON.stringify(before)}`);

        const scriptText = lbHealthCheckScript({ targets, stateDir: path.join(dir, "state"), maxRounds: 120 });
        checker = spawn("ip", ["netns", "exec", lbHost.netns, "sh", "-c", scriptText], { stdio: ["ignore", "pipe", "pipe"] });
        checker.stdout!.on("data", d => { checkerLog += d; });
        checker.stderr!.on("data", d => { checkerLog += d; });
        const detected = await until("the resetting node taken out", () => checkerLog.includes(`down: http ${nodes[2].address}:8080`), 15, () => checkerLog);
        assert.ok(detected <= 6, `detected in ${detected} s:\n${checkerLog}`);

        const after = await load(lbHost.address, LB_PORT, 600);
        assert.ok(after.errors <= 6, `at most 1% errors once detected: ${JSON.stringify(after)}\n${checkerLog}`);
        assert.equal(after.by.b2, undefined, "no client reaches the node taken out");

        mode(2, "ok");
        await until("the healed node put back", () => checkerLog.includes(`up: http ${nodes[2].address}:8080`), 15);
        // nginx itself still skips it for fail_timeout (5 s) after the refused connects: keep sending, bounded.
        let reached = 0;
        const end = Date.now() + 12000;
        while (reached === 0 && Date.now() < end) {
            const healed = await load(lbHost.address, LB_PORT, 30);
            assert.equal(healed.errors, 0, JSON.stringify(healed));
            reached = healed.by.b2 ?? 0;
            await new Promise(r => setTimeout(r, 300));
        }
        assert.ok(reached > 0, "the healed node gets clients again within fail_timeout");

        [0, 1, 2].forEach(i => mode(i, "reset"));
        await until("the last node kept", () => checkerLog.includes("kept in rotation: it is the last node of http still in"), 20);
        assert.equal(rules(), 2, `two nodes out, the last one kept:\n${checkerLog}`);
        [0, 1, 2].forEach(i => mode(i, "ok"));
        await until("all back", () => rules() === 0, 20);
    });
});
