// `npm run ops` on an RKE2 stack end to end: the CLI (main) reading a real Pulumi.<stack>.yaml and running its scripts
// with the system ssh client on four sshd test hosts (3 servers, 1 agent; each in a network namespace with
// /etc/rancher, /var/lib/rancher and /usr/local/bin of its own), as a non-root user with sudo. The nodes are installed
// first by the stage's own script; RKE2 is the rke2 test double (test/fixtures/rke2/doubles.ts), whose calls.log gives
// the order of every stop, start, reset and rotation across the hosts.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { rke2NodeConfigYaml } from "../../../components/rke2/configYaml";
import { rke2ClusterInputFor, rke2NodeInputFor, rke2NodeScriptArgsFor, rke2PlannedNodes } from "../../../components/rke2/nodeArgs";
import { rke2NodeBundle, rke2NodeScript } from "../../../components/rke2/scripts";
import { main } from "../../../scripts/ops";
import { compareRke2Node, rke2NodeExpectation } from "../../../scripts/ops/rke2Drift";
import { rke2DriftScript, rke2SnapshotSaveScript } from "../../../scripts/ops/rke2Scripts";
import { parseOpsResult } from "../../../scripts/ops/remoteScripts";
import { reportedFile } from "../../../scripts/ops/driftReport";
import { readStackFile, toolSettings } from "../../../scripts/stackFile";
import { HOST_KEYS } from "../../fixtures/hostKeys";
import { resetRke2Cluster, Rke2Call, rke2Calls, RKE2_PRIVATE_DIRS } from "../../fixtures/rke2/doubles";
import { SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";
import { requireTool } from "../../helpers/tools";

const TOKEN = "rh-0ps0ps0ps0ps0ps0ps0ps0ps0ps0ps0ps0ps0ps0ps0ps0ps0";
const ADMIN_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://192.0.2.10:6443\n  name: default\n";
const SNAPS = "/var/lib/rancher/rke2/server/db/snapshots";

interface CliResult { code: number; stdout: string; stderr: string }

describe("npm run ops on an RKE2 stack over real SSH (rke2 test double)", function () {
    this.timeout(300000);
    const ids = ["srv-1", "srv-2", "srv-3", "agt-1"];
    let hosts: SshHost[] = [];
    let dir: string;
    let clusterDir: string;
    const cluster = () => ({ dir: clusterDir });

    /** The CLI in this process, output captured. */
    async function ops(...args: string[]): Promise<CliResult> {
        let stdout = "";
        let stderr = "";
        const code = await main([...args, "--stack", "test", "--cwd", dir], {
            out: t => { stdout += t; }, err: t => { stderr += t; }, stdinIsTty: false, readStdin: async () => "",
        });
        return { code, stdout, stderr };
    }

    /** Calls logged since `since` (an index into calls.log), of one tool. */
    const callsOf = (tool: string, since = 0): Rke2Call[] => rke2Calls(cluster()).slice(since).filter(c => c.tool === tool);
    /** Where in calls.log (which every host appends to, in the order things happen) the first such call since `since` is. */
    const at = (tool: string, host: string, argv: RegExp, since = 0): number => {
        const i = rke2Calls(cluster()).findIndex((x, k) => k >= since && x.tool === tool && x.host === host && argv.test(x.argv));
        assert.ok(i >= 0, `${host}: ${tool} ${argv} was called (have: ${callsOf(tool, since).map(x => `${x.host} ${x.argv}`).join("; ")})`);
        return i;
    };
    const privatePath = (i: number, p: string) => path.join(hosts[i].privateDir("/var/lib/rancher"), path.relative("/var/lib/rancher", p));

    /** Pulumi.test.yaml: the four hosts as nodes (own user, key and pinned host key), the LB never contacted. */
    function writeStack(): void {
        const config = {
            "rancher-ha:distribution": "rke2",
            "rancher-ha:hostname": "rancher.example.com",
            "rancher-ha:loadBalancer": { address: "192.0.2.10", user: "lb", hostKey: HOST_KEYS[0] },
            "rancher-ha:nodes": hosts.map((h, i) => ({
                address: h.address, user: h.user, sshKeyPath: h.privateKeyPath, hostKey: h.hostKey,
                roles: i < 3 ? ["controlplane", "etcd", "worker"] : ["worker"],
            })),
            "rancher-ha:rke2": { nodeReadyTimeout: 60 },
        };
        fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), yaml.dump({ config }));
    }

    /** Every node installed by the stage's own script, from the stack's settings (as pulumi up would). */
    async function deploy(): Promise<void> {
        const { settings: s } = toolSettings(readStackFile(dir, "test"));
        const c = rke2ClusterInputFor(s, s.loadBalancer.address, undefined);
        for (const [i, p] of rke2PlannedNodes(s).entries()) {
            const a = { ...rke2NodeScriptArgsFor(s, p.node, p.kind, p.first, "test"), pollSeconds: 1 };
            const stdin = rke2NodeBundle({
                configYaml: rke2NodeConfigYaml(c, rke2NodeInputFor(p.node), { first: p.first, token: TOKEN }),
                kubeconfig: p.kind === "agent" ? ADMIN_KUBECONFIG : undefined,
            });
            const r = await hosts[i].run(rke2NodeScript(a), stdin, 120000);
            assert.equal(r.code, 0, `${ids[i]}: ${r.stderr}`);
        }
    }

    before(async function () {
        requireTool(this, sshHostUnavailable());
        for (let i = 0; i < ids.length; i++) {
            hosts.push(await startSshHost({ user: `rke2o${i}`, sudo: true, privateDirs: RKE2_PRIVATE_DIRS }));
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-ops-rke2-"));
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: rancher-ha\nruntime: nodejs\n");
        writeStack();
    });
    after(async () => {
        await Promise.all(hosts.map(h => h.stop()));
        hosts = [];
        for (const d of [dir, clusterDir]) {
            if (d) {
                fs.rmSync(d, { recursive: true, force: true });
            }
        }
    });
    beforeEach(async () => {
        // Background node doubles of the previous test end within ready-seconds (1 s).
        await new Promise(r => setTimeout(r, 1500));
        clusterDir = resetRke2Cluster(hosts, ids, clusterDir, "rancher-ha-rke2-ops-cluster-");
        await deploy();
    });

    it("snapshot-save: rke2 etcd-snapshot save on the first server only, prints the file and how to restore it", async () => {
        const since = rke2Calls(cluster()).length;
        const r = await ops("snapshot-save", "--name", "before-upgrade");
        assert.equal(r.code, 0, r.stderr);
        const m = new RegExp(`^snapshot before-upgrade saved on server ${hosts[0].address.replace(/\./g, "\\.")} \\(the first server\\):\\n  (${SNAPS}/before-upgrade-srv-1-\\d+)\\n`).exec(r.stdout);
        assert.ok(m, r.stdout);
        assert.ok(fs.existsSync(privatePath(0, m![1])), "the snapshot file is on the first server");
        assert.match(r.stdout, new RegExp(`npm run ops -- snapshot-restore --stack test --name ${path.basename(m![1])} --yes`));
        assert.match(r.stdout, /pulumi stack output --stack test --show-secrets rke2Token/);
        const saves = callsOf("rke2", since);
        assert.deepEqual(saves.map(c => `${c.host} ${c.argv}`), ["srv-1 etcd-snapshot save --name before-upgrade"]);
        assert.ok(rke2Calls(cluster()).every(c => !c.argv.includes(TOKEN)), "no command line holds the token");
    });

    it("takes the stage's node lock: waits (bounded) for another run on the node and names it", async () => {
        // Another run holds the node's lock (as a pulumi up's job would, writing the owner the same way).
        const holder = await hosts[0].run("sudo -n sh -c 'exec 9>>/var/lib/rancher/rancher-ha/lock; flock 9; " +
            "echo \"RKE2 install, stack other, pid $$\" > /var/lib/rancher/rancher-ha/lock.owner; " +
            "setsid sleep 20 </dev/null >/dev/null 2>&1 & echo $!'");
        assert.equal(holder.code, 0, holder.stderr);
        const pid = Number(holder.stdout.trim());
        assert.ok(pid > 1, holder.stdout);
        const started = Date.now();
        const r = await hosts[0].run(rke2SnapshotSaveScript({ kind: "server", hostLabel: "server srv-1", stack: "test", name: "x", lockWaitSeconds: 2 }));
        assert.equal(r.code, 1);
        assert.match(r.stderr, /waiting up to 2 s for another run on this node: RKE2 install, stack other, pid \d+/);
        assert.match(r.stderr, /another rancher-ha run holds \/var\/lib\/rancher\/rancher-ha\/lock: RKE2 install, stack other/);
        assert.ok(Date.now() - started < 15000, "bounded");
        await hosts[0].run(`sudo -n kill ${pid}`);
        const free = await hosts[0].run(rke2SnapshotSaveScript({ kind: "server", hostLabel: "server srv-1", stack: "test", name: "after", lockWaitSeconds: 5 }));
        assert.equal(free.code, 0, `the lock goes with its holder: ${free.stderr}`);
    });

    it("snapshot-restore: asks for --yes; then stops every node, resets the first server, rejoins the others one at a time with their datastore moved aside, then the agent", async () => {
        const saved = await ops("snapshot-save", "--name", "good");
        assert.equal(saved.code, 0, saved.stderr);
        const file = /^ {2}(\/\S+)$/m.exec(saved.stdout)![1];
        // Something in the other servers' datastores, to find again in their db.bak-*.
        for (const i of [1, 2]) {
            fs.mkdirSync(privatePath(i, "/var/lib/rancher/rke2/server/db/etcd"), { recursive: true });
            fs.writeFileSync(privatePath(i, "/var/lib/rancher/rke2/server/db/etcd/member"), `etcd data of ${ids[i]}\n`);
        }

        const before = rke2Calls(cluster()).length;
        const asked = await ops("snapshot-restore", "--name", "good");
        assert.equal(asked.code, 2);
        assert.match(asked.stdout, /rolls the RKE2 cluster of stack test back to snapshot good: ALL cluster data written since .* run the same command with --yes/);
        assert.equal(rke2Calls(cluster()).length, before, "nothing ran");

        const r = await ops("snapshot-restore", "--name", "good", "--yes");
        assert.equal(r.code, 0, r.stderr);
        // Found by its --name: the one file good-* on the first server.
        assert.match(r.stdout, new RegExp(`restored to ${file.replace(/[.+]/g, "\\$&")}`));
        const stops = ids.map(id => at("systemctl", id, /^stop rke2-(server|agent)\.service$/, before));
        const reset = at("rke2", "srv-1", new RegExp(`^server --cluster-reset --cluster-reset-restore-path=${file}$`), before);
        const starts = ids.map(id => at("systemctl", id, /^start --no-block rke2-(server|agent)\.service$/, before));
        const ready = ids.map(id => at("rke2-node", id, /^ready /, before));
        // Every node stops first (servers in order, then the agent), then the reset on the first server only.
        assert.deepEqual([...stops].sort((a, b) => a - b), stops, "stops in the stack's order");
        assert.ok(stops.every(s => s < reset), "every node is down before the reset");
        assert.equal(callsOf("rke2", before).filter(c => c.argv.includes("--cluster-reset")).length, 1);
        // Then one at a time: each node starts only after the previous one is Ready.
        assert.ok(reset < starts[0]);
        for (let i = 1; i < ids.length; i++) {
            assert.ok(ready[i - 1] < starts[i], `${ids[i]} starts after ${ids[i - 1]} is Ready`);
        }
        // The other servers' datastores are moved aside, never deleted; the first server's is the restored one.
        for (const i of [1, 2]) {
            const server = privatePath(i, "/var/lib/rancher/rke2/server");
            const moved = fs.readdirSync(server).filter(f => /^db\.bak-\d{8}T\d{6}Z$/.test(f));
            assert.equal(moved.length, 1, `${ids[i]}: ${fs.readdirSync(server).join(", ")}`);
            assert.equal(fs.readFileSync(path.join(server, moved[0], "etcd", "member"), "utf8"), `etcd data of ${ids[i]}\n`);
            assert.match(r.stdout, new RegExp(`server ${hosts[i].address.replace(/\./g, "\\.")}: datastore moved aside to /var/lib/rancher/rke2/server/db\\.bak-`));
        }
        const db0 = privatePath(0, "/var/lib/rancher/rke2/server/db");
        assert.equal(fs.readFileSync(path.join(db0, "etcd", "restored-from"), "utf8").trim(), file);
        assert.ok(!fs.existsSync(path.join(db0, "reset-flag")), "the normal start after the reset removed RKE2's reset flag");
        assert.ok(fs.existsSync(privatePath(0, file)), "the snapshot itself stays");
        assert.match(r.stdout, /agents Ready: agt-1/);
        assert.match(r.stdout, /rke2Token/);
        assert.ok(rke2Calls(cluster()).every(c => !c.argv.includes(TOKEN)), "no command line holds the token");
    });

    it("snapshot-restore of a snapshot that is not there stops nothing", async () => {
        const before = rke2Calls(cluster()).length;
        const r = await ops("snapshot-restore", "--name", "never-saved", "--yes");
        assert.equal(r.code, 1);
        assert.match(r.stderr, /no snapshot never-saved or never-saved-\* in \/var\/lib\/rancher\/rke2\/server\/db\/snapshots on this server/);
        assert.match(r.stdout, /nothing was stopped/);
        assert.deepEqual(callsOf("systemctl", before).filter(c => /^stop/.test(c.argv)), []);
    });

    it("cert-rotate: asks for --yes; then rke2 certificate rotate on one server at a time (stopped, rotated, started, Ready), agents untouched", async () => {
        const before = rke2Calls(cluster()).length;
        const asked = await ops("cert-rotate");
        assert.equal(asked.code, 2);
        assert.match(asked.stdout, /one server at a time.*Run it again with --yes/);
        assert.equal(rke2Calls(cluster()).length, before);

        const r = await ops("cert-rotate", "--yes");
        assert.equal(r.code, 0, r.stderr);
        const servers = ids.slice(0, 3);
        const step = (id: string) => [
            at("systemctl", id, /^stop rke2-server\.service$/, before),
            at("rke2", id, /^certificate rotate$/, before),
            at("systemctl", id, /^start --no-block rke2-server\.service$/, before),
            at("rke2-node", id, /^ready /, before),
        ];
        const steps = servers.map(step);
        for (const [i, s] of steps.entries()) {
            assert.deepEqual([...s].sort((a, b) => a - b), s, `${servers[i]}: stop, rotate, start, Ready`);
            if (i > 0) {
                assert.ok(steps[i - 1][3] < s[0], `${servers[i]} stops only after ${servers[i - 1]} is Ready again`);
            }
            assert.ok(fs.existsSync(privatePath(i, "/var/lib/rancher/rke2/server/tls/rotated-at")));
        }
        assert.deepEqual(rke2Calls(cluster()).slice(before).filter(c => c.host === "agt-1" && c.tool !== "kubectl"), [], "the agent is untouched");
        assert.match(r.stdout, /pulumi config set --stack test --path rancher-ha:admin\.stateSync "\$\(date \+%Y%m%d%H%M%S\)" && pulumi up --stack test/);
    });

    it("remove-cluster --yes: every node's removal with the opt-in, the agent first, then the servers last to first", async () => {
        const asked = await ops("remove-cluster");
        assert.equal(asked.code, 1);
        assert.match(asked.stdout, /WIPES the RKE2 cluster of stack test: rke2-uninstall\.sh runs on every node/);
        assert.deepEqual(callsOf("rke2-uninstall.sh"), []);
        const r = await ops("remove-cluster", "--yes");
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(callsOf("rke2-uninstall.sh").map(c => c.host), ["agt-1", "srv-3", "srv-2", "srv-1"]);
        assert.deepEqual(callsOf("kubectl").filter(c => /drain|delete node/.test(c.argv)), [], "no drain: the whole cluster goes");
        for (let i = 0; i < 4; i++) {
            assert.ok(!fs.existsSync(path.join(hosts[i].privateDir("/etc/rancher"), "rke2")), `${ids[i]}: RKE2's files are gone`);
        }
    });

    it("drift's node check: config.yaml compared without its token line (never sent); an edit shows as a diff", async () => {
        const { settings: s } = toolSettings(readStackFile(dir, "test"));
        const planned = rke2PlannedNodes(s);
        // systemd answers is-active to any user; the double reads a state file the stage's umask made root's.
        for (let i = 0; i < 4; i++) {
            for (const p of ["/var/lib/rancher/rke2", "/var/lib/rancher/rke2/.test-double"]) {
                fs.chmodSync(privatePath(i, p), 0o755);
            }
            fs.chmodSync(privatePath(i, "/var/lib/rancher/rke2/.test-double/state"), 0o644);
        }
        const check = async (i: number) => {
            const r = await hosts[i].run(rke2DriftScript({ kind: planned[i].kind, hostLabel: ids[i] }));
            assert.equal(r.code, 0, r.stderr);
            const lines = parseOpsResult(r.stdout).lines;
            const sent = reportedFile(lines, "node-config");
            assert.ok(sent.state === "present" && sent.text !== undefined && !sent.text.includes(TOKEN), "the token never leaves the node");
            assert.ok(!r.stdout.includes(TOKEN));
            const e = rke2NodeExpectation(s, planned[i].node, planned[i].kind, planned[i].first, "test", ids[i]);
            return compareRke2Node(lines, e);
        };
        for (const i of [0, 3]) {
            const res = await check(i);
            assert.deepEqual(res.findings, [], JSON.stringify(res));
            assert.ok(res.ok.some(l => /config\.yaml is the stack's/.test(l)));
        }
        const cfg = path.join(hosts[1].privateDir("/etc/rancher"), "rke2", "config.yaml");
        fs.appendFileSync(cfg, "kubelet-arg:\n  - max-pods=300\n");
        const res = await check(1);
        assert.equal(res.findings.length, 1);
        assert.match(res.findings[0].diff!, /^-kubelet-arg:$/m);
    });
});
