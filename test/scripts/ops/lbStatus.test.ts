// npm run ops -- lb-status: the report from parsed host lines, and for real: the LB stage's health checker service
// installed over SSH on an LB test host (its own network namespace), probing two node hosts of which one serves
// HTTP and one nothing; lb-status then reads the checker's decisions, its rules and its log.
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { main } from "../../../scripts/ops";
import { formatLbStatus, parseLbStatus } from "../../../scripts/ops/lbStatus";
import { lbHealthCheckService } from "../../../components/loadBalancer/healthCheckService";
import { lbServiceApplyScript, lbServiceDeleteScript } from "../../../components/loadBalancer/serviceScripts";
import type { HealthTarget } from "../../../components/loadBalancer/healthCheck";
import type { LoadBalancerSettings } from "../../../components/config";
import { readStackFile, toolSettings } from "../../../scripts/stackFile";
import { waitForListen } from "../../helpers/net";
import { SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";
import { requireTool, toolMissing } from "../../helpers/tools";

const TARGETS: HealthTarget[] = [
    { upstream: "http", address: "192.0.2.11", port: 80, probe: "http" },
    { upstream: "http", address: "192.0.2.12", port: 80, probe: "http" },
];
const PAIR = {
    address: "192.0.2.10", port: 22, user: "ops", keyId: "k", mode: "system", image: "", ports: { http: 80, https: 443, kubeApi: 6443 },
    workerProcesses: "auto", workerConnections: 1, workerRlimitNofile: 1,
    virtualIp: { address: "192.0.2.9", routerId: 9 },
} as unknown as LoadBalancerSettings;

const hostLines = (vip: "held" | "not-held", t2: string, rules = "") => [
    "listen 80 yes", "listen 443 yes", "listen 6443 yes",
    "service rancher-ha-lb-check active", "log rancher-ha-lb-check 2026-12-03T10:00:00Z rancher-ha-lb-check: down: http 192.0.2.12:80 after 3 failed http probes",
    "service rancher-ha-lb-keepalived active", `vip ${vip}`,
    "target 20000 up 0", `target 20001 ${t2} 4`, rules,
].join("\n");

describe("ops lb-status", () => {
    it("reports each host: nginx, keepalived and the virtual IP, every node:port as the checker sees it, the log", () => {
        const { text, attention } = formatLbStatus(PAIR, TARGETS, [
            parseLbStatus("lb a", hostLines("held", "down", "rule 20001")),
            parseLbStatus("lb b", hostLines("not-held", "up")),
        ]);
        assert.ok(attention, "a node out of rotation is worth a look");
        assert.match(text, /^lb a\n {2}nginx: listening on 80, 443, 6443\n {2}keepalived: active; HOLDS the virtual IP 192\.0\.2\.9\n/);
        assert.match(text, / {4}http +192\.0\.2\.12:80 +OUT of rotation \[ip rule 20001\]\n/);
        assert.match(text, /lb b\n(.*\n)* {2}keepalived: active; standby\n/);
        assert.match(text, /192\.0\.2\.12:80 +in rotation \(4 failed probes in a row\)/);
        assert.match(text, /recent checker log:\n {4}2026-12-03T10:00:00Z rancher-ha-lb-check: down: http 192\.0\.2\.12:80/);
    });

    it("flags a virtual IP held by no host or by both (split brain), and a dead checker", () => {
        const none = formatLbStatus(PAIR, TARGETS, [parseLbStatus("a", hostLines("not-held", "up")), parseLbStatus("b", hostLines("not-held", "up"))]);
        assert.ok(none.attention);
        assert.match(none.text, /NO host holds the virtual IP 192\.0\.2\.9/);
        const both = formatLbStatus(PAIR, TARGETS, [parseLbStatus("a", hostLines("held", "up")), parseLbStatus("b", hostLines("held", "up"))]);
        assert.match(both.text, /on 2 hosts at once \(VRRP split brain/);
        const ok = formatLbStatus(PAIR, TARGETS, [parseLbStatus("a", hostLines("held", "up")), parseLbStatus("b", hostLines("not-held", "up"))]);
        assert.equal(ok.attention, false, ok.text);
        const dead = formatLbStatus(PAIR, TARGETS, [parseLbStatus("a", hostLines("held", "up").replace("service rancher-ha-lb-check active", "service rancher-ha-lb-check failed")),
            parseLbStatus("b", hostLines("not-held", "up"))]);
        assert.ok(dead.attention);
        assert.match(dead.text, /health checker: failed/);
    });

    it("says which stack each host serves, and flags a host another stack took over", () => {
        const mine = formatLbStatus(PAIR, TARGETS, [parseLbStatus("a", hostLines("held", "up") + "\nowner rancher-ha/new"),
            parseLbStatus("b", hostLines("not-held", "up") + "\nowner ")], "rancher-ha/new");
        assert.equal(mine.attention, false, mine.text);
        assert.match(mine.text, /^a\n {2}serves stack: rancher-ha\/new\n/);
        assert.match(mine.text, /^b\n {2}serves stack: \(not recorded yet: the next pulumi up records it\)\n/m);
        const taken = formatLbStatus(PAIR, TARGETS, [parseLbStatus("a", hostLines("held", "up") + "\nowner rancher-ha/new"),
            parseLbStatus("b", hostLines("not-held", "up") + "\nowner rancher-ha/new")], "rancher-ha/old");
        assert.ok(taken.attention);
        assert.match(taken.text, /serves stack: rancher-ha\/new — NOT rancher-ha\/old/);
    });

    describe("over real SSH: the stage's checker service on an LB host, two nodes", function () {
        this.timeout(180000);
        let lbHost: SshHost;
        let nodes: SshHost[] = [];
        let dir: string;
        let web: ChildProcess | undefined;
        const HTTP = 8080;
        const run = async () => {
            let stdout = "";
            let stderr = "";
            const code = await main(["lb-status", "--stack", "test", "--cwd", dir],
                { out: t => { stdout += t; }, err: t => { stderr += t; }, stdinIsTty: false, readStdin: async () => "" });
            return { code, stdout, stderr };
        };
        const prohibitRules = () => spawnSync("ip", ["netns", "exec", lbHost.netns, "ip", "rule", "show"], { encoding: "utf8" }).stdout
            .split("\n").filter(l => l.includes("prohibit"));

        before(async function () {
            requireTool(this, sshHostUnavailable() ?? toolMissing("curl"));
            lbHost = await startSshHost({ privateDirs: ["/etc/rancher-ha", "/var/lib/rancher-ha", "/var/log/rancher-ha", "/run/rancher-ha"] });
            nodes = [await startSshHost(), await startSshHost()];
            // Node 0 answers HTTP on the ingress port; node 1 serves nothing (its connects are refused).
            web = spawn("ip", ["netns", "exec", nodes[0].netns, process.execPath, "-e",
                `require("http").createServer((q, s) => s.end("ok")).listen(${HTTP}, "${nodes[0].address}")`], { stdio: "ignore" });
            await waitForListen(HTTP, web, () => "node 0's web server", 10000, nodes[0].address);
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-lb-status-"));
            fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: rancher-ha\nruntime: nodejs\n");
            fs.writeFileSync(path.join(dir, "known_hosts"), [lbHost, ...nodes].map(h => `${h.address} ${h.hostKey}\n`).join(""));
            fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), yaml.dump({
                config: {
                    "rancher-ha:hostname": "rancher.example.com",
                    "rancher-ha:ssh": { user: lbHost.user, port: lbHost.port, keyPath: lbHost.privateKeyPath, knownHostsFile: path.join(dir, "known_hosts") },
                    "rancher-ha:loadBalancer": { address: lbHost.address, mode: "system", httpPort: HTTP, httpsPort: 8443, kubeApiPort: 7443 },
                    "rancher-ha:nodes": nodes.map(h => ({ address: h.address, roles: ["controlplane", "etcd", "worker"] })),
                },
            }));
        });
        after(async () => {
            web?.kill("SIGKILL");
            await Promise.all([lbHost, ...nodes].filter(Boolean).map(h => h.stop()));
            if (dir) {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("install, the checker takes the dead node out; lb-status shows it; delete puts every node back", async () => {
            const { settings: s } = toolSettings(readStackFile(dir, "test"));
            const svc = lbHealthCheckService(s.loadBalancer, s.nodes, "root@lb");
            const r = await lbHost.run(lbServiceApplyScript(svc.options), svc.bundle);
            assert.equal(r.code, 0, r.stderr + r.stdout);
            assert.match(r.stdout, /rancher-ha-lb-service rancher-ha-lb-check: started/);

            // 3 failed rounds of 1 s (+ the probe timeout): out within 6 s; bounded wait.
            const t0 = Date.now();
            let status = await run();
            while (!status.stdout.includes(`${nodes[1].address}:${HTTP}`.padEnd(21) + " OUT of rotation") && Date.now() - t0 < 15000) {
                await new Promise(res => setTimeout(res, 500));
                status = await run();
            }
            assert.equal(status.code, 3, status.stdout + status.stderr);
            assert.ok((Date.now() - t0) / 1000 <= 8, `taken out and reported in ${(Date.now() - t0) / 1000} s`);
            assert.match(status.stdout, new RegExp(`clients use ${lbHost.address.replace(/\./g, "\\.")}`));
            assert.match(status.stdout, /health checker: active/);
            assert.match(status.stdout, new RegExp(`http +${nodes[0].address.replace(/\./g, "\\.")}:${HTTP} +in rotation\\n`));
            assert.match(status.stdout, new RegExp(`http +${nodes[1].address.replace(/\./g, "\\.")}:${HTTP} +OUT of rotation \\[ip rule \\d+\\]`));
            // Neither node answers 8443 or 7443: one of each upstream out, the other kept as the last.
            assert.match(status.stdout, /FAILING, kept in rotation \(the last node of its upstream\)/);
            assert.match(status.stdout, /recent checker log:\n(.*\n)*.*down: http /);
            assert.ok(prohibitRules().some(l => l.includes(`to ${nodes[1].address} ipproto tcp dport ${HTTP} prohibit`)), prohibitRules().join("\n"));

            const d = await lbHost.run(lbServiceDeleteScript(svc.options));
            assert.equal(d.code, 0, d.stderr);
            const t1 = Date.now();
            while (prohibitRules().length > 0 && Date.now() - t1 < 10000) {
                await new Promise(res => setTimeout(res, 200));
            }
            assert.deepEqual(prohibitRules(), [], "stopping the checker puts every node back");
            const after = await run();
            assert.match(after.stdout, /health checker: (absent|inactive)/);
        });
    });
});
