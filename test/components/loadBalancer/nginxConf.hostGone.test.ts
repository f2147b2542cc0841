// A node whose host is gone (its SYNs go unanswered) behind the rendered config, on real nginx: backends run in
// network namespaces of their own; "gone" is that namespace's link taken down while the LB keeps a permanent
// neighbour entry for it, so SYNs leave and nothing comes back (no refusal, no "host unreachable"), as with a
// powered-off host. The 2 s proxy_connect_timeout and the next-upstream retry must keep every request answered,
// each within about one connect timeout.
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { renderNginxConf } from "../../../components/loadBalancer/nginxConf";
import { NGINX, nginxUnavailable, requireTool, STREAM_MODULE } from "../../helpers/tools";
import { portFreeOn, waitForListen } from "../../helpers/net";
import { SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";

const BACKEND = `require("http").createServer((q, s) => { s.writeHead(200, {connection: "close"}); s.end(process.argv[2]); })
  .listen(8080, process.argv[1]);`;

function get(port: number): Promise<{ body: string; ms: number }> {
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 10000 }, res => {
            let body = "";
            res.on("data", d => { body += d; });
            res.on("end", () => resolve({ body, ms: Date.now() - t0 }));
        });
        req.on("timeout", () => req.destroy(new Error("no answer within 10 s")));
        req.on("error", reject);
    });
}

const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
    }
    return r.stdout.trim();
};

describe("loadBalancer/nginxConf: a node whose host is gone (SYNs unanswered), real nginx, backends in netns", function () {
    this.timeout(180000);
    let hosts: SshHost[] = [];
    const backends: ChildProcess[] = [];
    let nginx: ChildProcess | undefined;
    let dir: string;
    let lbPort: number;
    let pinned: { address: string; dev: string } | undefined;

    before(async function () {
        requireTool(this, nginxUnavailable() ?? sshHostUnavailable());
        hosts = [await startSshHost(), await startSshHost()];
        for (const [i, h] of hosts.entries()) {
            const p = spawn("ip", ["netns", "exec", h.netns, process.execPath, "-e", BACKEND, h.address, `b${i}`], { stdio: "ignore" });
            backends.push(p);
            await waitForListen(8080, p, () => `backend b${i}`, 10000, h.address);
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-lb-gone-"));
        lbPort = await portFreeOn(["127.0.0.1"]);
        const other = [await portFreeOn(["127.0.0.1"]), await portFreeOn(["127.0.0.1"])];
        const conf = renderNginxConf({
            backends: hosts.map(h => ({ address: h.address, controlplane: true })),
            listenAddress: "127.0.0.1",
            listenPorts: { http: lbPort, https: other[0], kubeApi: other[1] },
            backendPorts: { http: 8080, https: 8443, kubeApi: 6443 },
            pidPath: path.join(dir, "nginx.pid"), errorLog: path.join(dir, "error.log"), loadModules: [STREAM_MODULE],
        });
        fs.writeFileSync(path.join(dir, "nginx.conf"), conf);
        nginx = spawn(NGINX, ["-c", path.join(dir, "nginx.conf"), "-g", "daemon off;"], { stdio: "ignore" });
        await waitForListen(lbPort, nginx, () => "nginx");
    });

    after(async () => {
        if (pinned) {
            spawnSync("ip", ["neigh", "del", pinned.address, "dev", pinned.dev]);
        }
        nginx?.kill("SIGKILL");
        backends.forEach(b => b.kill("SIGKILL"));
        await Promise.all(hosts.map(h => h.stop()));
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("answers every request; one that meets the gone node waits one connect timeout (2 s), then the node is skipped", async () => {
        // Both answer first.
        const warm = await Promise.all([get(lbPort), get(lbPort), get(lbPort), get(lbPort)]);
        assert.deepEqual([...new Set(warm.map(r => r.body))].sort(), ["b0", "b1"]);

        // b1's host goes away: the LB keeps its MAC (no ARP failure to report), its link goes down (nothing answers).
        const gone = hosts[1];
        const mac = run("ip", ["netns", "exec", gone.netns, "cat", "/sys/class/net/eth0/address"]);
        const dev = /dev (\S+)/.exec(run("ip", ["-o", "route", "get", gone.address]))![1];
        run("ip", ["neigh", "replace", gone.address, "lladdr", mac, "dev", dev, "nud", "permanent"]);
        pinned = { address: gone.address, dev };
        run("ip", ["netns", "exec", gone.netns, "ip", "link", "set", "eth0", "down"]);

        const results: { body: string; ms: number }[] = [];
        for (let i = 0; i < 24; i++) {
            results.push(await get(lbPort)); // a failure throws: every request must be answered
        }
        assert.ok(results.every(r => r.body === "b0"), JSON.stringify(results.map(r => r.body)));
        const slow = results.filter(r => r.ms >= 1500);
        assert.ok(slow.length >= 1, `some request met the gone node and waited for the connect timeout: ${JSON.stringify(results.map(r => r.ms))}`);
        assert.ok(results.every(r => r.ms < 3500), `none waits much past one 2 s connect timeout: ${JSON.stringify(results.map(r => r.ms))}`);
        // max_fails=3 within fail_timeout=5s: after the third failure the node is skipped, so most requests are fast.
        assert.ok(slow.length <= 4, `the gone node is skipped after its failures: ${slow.length} slow of 24`);
    });
});
