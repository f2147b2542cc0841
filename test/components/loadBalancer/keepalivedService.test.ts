// keepalived as the LB stage installs it on a pair: the service's files for each host, and the install scripts run
// for real over SSH on two LB test hosts (network namespaces on one bridge, real keepalived, no systemd: the service
// runs detached). A listener on the LB ports stands in for nginx (keepalived.netns.test.ts runs real nginx).
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import type { LoadBalancerSettings, SshTarget } from "../../../components/config";
import { KEEPALIVED_INTERFACE_TOKEN, lbKeepalivedServices } from "../../../components/loadBalancer/keepalivedService";
import { lbServiceApplyScript, lbServiceDeleteScript, LbServiceSpec } from "../../../components/loadBalancer/serviceScripts";
import { SshHost, sshHostUnavailable, startSshHost, testNetGateway } from "../../helpers/sshHost";
import { requireTool, toolMissing } from "../../helpers/tools";
import { until } from "../../helpers/lbTraffic";

const PORTS = { http: 8080, https: 8443, kubeApi: 7443 };

function pairSettings(hosts: string[], vip: string, routerId = 42, iface?: string): LoadBalancerSettings {
    const targets: SshTarget[] = hosts.map(address => ({ address, port: 22, user: "root", privateKey: pulumi.secret("k"), keyId: "k" }));
    return {
        ...targets[0], hosts: targets, clientAddress: vip, virtualIp: { address: vip, routerId, ...(iface ? { interface: iface } : {}) },
        mode: "system", image: "", ports: PORTS, workerProcesses: "auto", workerConnections: 1024, workerRlimitNofile: 4096,
    };
}

const files = (svc: LbServiceSpec) => Object.fromEntries(svc.bundle.trim().split("\n").map(l => l.split(" "))
    .map(([n, , d]) => [n, Buffer.from(d, "base64").toString("utf8")]));

describe("loadBalancer/keepalivedService", () => {
    it("a pair: each host gets its own conf (itself, the other as peer, priorities 200/190), the same check", () => {
        const vips = lbKeepalivedServices(pairSettings(["192.0.2.5", "192.0.2.6"], "192.0.2.4"))!;
        const [a, b] = [vips(0, "a"), vips(1, "b")].map(files);
        assert.match(a["keepalived.conf"], /unicast_src_ip 192\.0\.2\.5/);
        assert.match(a["keepalived.conf"], /unicast_peer \{\s+192\.0\.2\.6\s+\}/);
        assert.match(a["keepalived.conf"], /priority 200/);
        assert.match(b["keepalived.conf"], /priority 190/);
        assert.match(a["keepalived.conf"], /virtual_router_id 42/);
        assert.match(a["keepalived.conf"], /192\.0\.2\.4\/32/);
        assert.ok(a["keepalived.conf"].includes(KEEPALIVED_INTERFACE_TOKEN), "the interface is found on the host");
        assert.match(a["keepalived.conf"], /script "\/etc\/rancher-ha\/lb\/rancher-ha-lb-keepalived\/check-nginx\.sh"/);
        assert.equal(a["check-nginx.sh"], b["check-nginx.sh"]);
        assert.match(a["check-nginx.sh"], /PORTS='7443 8080 8443'/);
        const named = files(lbKeepalivedServices(pairSettings(["192.0.2.5", "192.0.2.6"], "192.0.2.4", 42, "ens192"))!(0, "a"));
        assert.match(named["keepalived.conf"], /interface ens192/);
        assert.equal(lbKeepalivedServices({ ...pairSettings(["192.0.2.5", "192.0.2.6"], "192.0.2.4"), virtualIp: undefined }), undefined);
    });

    describe("over real SSH on two LB hosts", function () {
        this.timeout(180000);
        let hosts: SshHost[] = [];
        let vip: string;
        const listeners: (ChildProcess | undefined)[] = [];
        const holds = (h: SshHost) => spawnSync("ip", ["-n", h.netns, "-o", "-4", "addr", "show"], { encoding: "utf8" }).stdout.includes(` ${vip}/32 `);
        const listen = (i: number) => {
            listeners[i] = spawn("ip", ["netns", "exec", hosts[i].netns, process.execPath, "-e",
                `for (const p of [${Object.values(PORTS).join(",")}]) require("net").createServer(s => s.end()).listen(p, "0.0.0.0")`], { stdio: "ignore" });
        };
        let specs: LbServiceSpec[];

        before(async function () {
            requireTool(this, sshHostUnavailable() ?? toolMissing("keepalived", ["--version"]) ?? toolMissing("nc", ["-h"]));
            const dirs = ["/etc/rancher-ha", "/var/log/rancher-ha", "/run/rancher-ha"];
            hosts = [await startSshHost({ privateDirs: dirs }), await startSshHost({ privateDirs: dirs })];
            vip = `${testNetGateway().split(".").slice(0, 3).join(".")}.249`;
            const vips = lbKeepalivedServices(pairSettings(hosts.map(h => h.address), vip))!;
            specs = hosts.map((h, i) => vips(i, `root@${h.address}`));
            listen(0);
            listen(1);
        });
        after(async () => {
            listeners.forEach(l => l?.kill("SIGKILL"));
            for (const [i, h] of hosts.entries()) {
                await h.run(lbServiceDeleteScript(specs[i].options));
            }
            await Promise.all(hosts.map(h => h.stop()));
        });

        it("installs on both: the first holds the virtual IP; a dead nginx there moves it within 3 s; delete releases it", async () => {
            const applied = await Promise.all(hosts.map((h, i) => h.run(lbServiceApplyScript(specs[i].options), specs[i].bundle)));
            applied.forEach(r => assert.equal(r.code, 0, r.stderr + r.stdout));
            applied.forEach(r => assert.match(r.stdout, /rancher-ha-lb-service rancher-ha-lb-keepalived: started/));
            await until("the first host takes the virtual IP", () => holds(hosts[0]) && !holds(hosts[1]), 15);

            const again = await hosts[0].run(lbServiceApplyScript(specs[0].options), specs[0].bundle);
            assert.match(again.stdout, /rancher-ha-lb-keepalived: unchanged/);

            listeners[0]?.kill("SIGKILL");
            const moved = await until("the virtual IP moves to the second host", () => holds(hosts[1]) && !holds(hosts[0]), 10);
            assert.ok(moved <= 3, `moved in ${moved} s`);

            for (const [i, h] of hosts.entries()) {
                const r = await h.run(lbServiceDeleteScript(specs[i].options));
                assert.equal(r.code, 0, r.stderr);
            }
            await until("no host holds the virtual IP after delete", () => !holds(hosts[0]) && !holds(hosts[1]), 10);
        });
    });
});
