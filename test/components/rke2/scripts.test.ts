// The RKE2 stage's node scripts over real sshd, as a non-root user with sudo, exactly as @pulumi/command runs them
// (command string as the session command, bundle on stdin), on hosts in network namespaces with /etc/rancher,
// /var/lib/rancher and /usr/local/bin of their own. RKE2 itself is an rke2 test double (test/fixtures/rke2).
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { Rke2ClusterInput, Rke2NodeInput, rke2NodeConfigYaml } from "../../../components/rke2/configYaml";
import {
    parseRke2NodeOutput, rke2NodeBundle, Rke2NodeScriptArgs, rke2NodeScript, rke2RemoveNodeScript,
} from "../../../components/rke2/scripts";
import { RunResult, SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";
import { requireTool } from "../../helpers/tools";
import { resetRke2Cluster, Rke2Call, rke2Calls, RKE2_PRIVATE_DIRS, writeArtifactDoubles } from "../../fixtures/rke2/doubles";

const TOKEN = "rh-5e11a7c0ffee5e11a7c0ffee5e11a7c0ffee5e11a7c0ffee";
const V = "v1.36.3+rke2r1";
const ADMIN_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://192.0.2.10:6443\n  name: default\n";

const clusterInput = (over: Partial<Rke2ClusterInput> = {}): Rke2ClusterInput => ({
    hostname: "rancher.example.com", lbAddress: "192.0.2.10", supervisorPort: 9345, cni: "canal", ingressProvider: "traefik",
    etcdSnapshots: { enabled: true, creation: "6h", retention: "24h" }, serverConfig: {}, agentConfig: {}, ...over,
});

const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
const ok = (r: RunResult, what = "") => assert.equal(r.code, 0, `${what} exit ${r.code}\n${r.stderr}`);
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

describe("RKE2 node scripts over real SSH (rke2 test double)", function () {
    this.timeout(180000);
    const ids = ["srv-1", "srv-2", "srv-3", "agt-1"];
    let hosts: SshHost[] = [];
    let clusterDir: string;
    const cluster = () => ({ dir: clusterDir });
    const calls = (tool?: string, host?: string): Rke2Call[] =>
        rke2Calls(cluster()).filter(c => (tool === undefined || c.tool === tool) && (host === undefined || c.host === host));
    const kindOf = (i: number): "server" | "agent" => (i < 3 ? "server" : "agent");

    const args = (i: number, over: Partial<Rke2NodeScriptArgs> = {}): Rke2NodeScriptArgs => ({
        kind: kindOf(i), version: V, install: { method: "script", scriptUrl: "https://get.rke2.io" },
        nodeReadyTimeoutSeconds: 30, hostLabel: `${kindOf(i)} ${ids[i]}`, stack: "test", removeClusterOnDestroy: false,
        pollSeconds: 1, lockWaitSeconds: 5, drainTimeoutSeconds: 30, ...over,
    });
    const node = (i: number, over: Partial<Rke2NodeInput> = {}): Rke2NodeInput => ({
        address: hosts[i].address, roles: i < 3 ? ["controlplane", "etcd", "worker"] : ["worker"], labels: {}, taints: [], ...over,
    });
    const bundle = (i: number, c = clusterInput(), n = node(i)) => rke2NodeBundle({
        configYaml: rke2NodeConfigYaml(c, n, { first: i === 0, token: TOKEN }),
        kubeconfig: kindOf(i) === "agent" ? ADMIN_KUBECONFIG : undefined,
    });
    const install = (i: number, over: Partial<Rke2NodeScriptArgs> = {}, stdin = bundle(i), timeoutMs = 120000) =>
        hosts[i].run(rke2NodeScript(args(i, over)), stdin, timeoutMs);
    const remove = (i: number, over: Partial<Rke2NodeScriptArgs> = {}, stdin = bundle(i)) =>
        hosts[i].run(rke2RemoveNodeScript(args(i, over)), stdin, 120000);
    const installAll = async () => {
        for (let i = 0; i < 4; i++) {
            ok(await install(i), ids[i]);
        }
    };

    before(async function () {
        requireTool(this, sshHostUnavailable());
        for (let i = 0; i < ids.length; i++) {
            hosts.push(await startSshHost({ user: `rke2n${i}`, sudo: true, privateDirs: RKE2_PRIVATE_DIRS }));
        }
    });
    after(async () => {
        await Promise.all(hosts.map(h => h.stop()));
        hosts = [];
        if (clusterDir) {
            fs.rmSync(clusterDir, { recursive: true, force: true });
        }
    });
    beforeEach(async () => {
        // Let background node doubles of the previous test finish (each is bounded by ready-seconds).
        await sleep(300);
        clusterDir = resetRke2Cluster(hosts, ids, clusterDir, "rancher-ha-rke2-cluster-");
        for (const h of hosts) {
            fs.rmSync(path.join(h.home, "rancher-ha-rke2-artifacts"), { recursive: true, force: true });
        }
    });

    it("installs the first server, joins each next one after the previous is Ready, then the agent; reports name, version, kubeconfig", async () => {
        const outputs = [];
        for (let i = 0; i < 4; i++) {
            const r = await install(i);
            ok(r, ids[i]);
            outputs.push(parseRke2NodeOutput(r.stdout));
            assert.match(r.stderr, new RegExp(`node ${ids[i]} is Ready \\(RKE2 ${V.replace("+", "\\+")}\\)`));
        }
        assert.deepEqual(outputs.map(o => o.nodeName), ids);
        assert.ok(outputs.every(o => o.version === V));
        assert.match(outputs[0].kubeconfig!, /server: https:\/\/127\.0\.0\.1:6443/);
        assert.equal(outputs[3].kubeconfig, undefined, "agents have no admin kubeconfig to report");
        // Each join starts after the previous node is Ready.
        const started = ids.map(id => calls("rke2-node", id).find(c => c.argv.startsWith("start"))!);
        const ready = ids.map(id => calls("rke2-node", id).find(c => c.argv.startsWith("ready"))!);
        assert.match(started[0].argv, /server=none/);
        for (let i = 1; i < 4; i++) {
            assert.match(started[i].argv, /server=https:\/\/192\.0\.2\.10:9345/);
            assert.ok(started[i].at >= ready[i - 1].at, `${ids[i]} started after ${ids[i - 1]} was Ready`);
        }
        // Installed as the script says, with the version pinned; files 0600, the config exactly the bundle's.
        const installs = calls("install.sh");
        assert.deepEqual(installs.map(c => c.host), ids);
        assert.ok(installs.every((c, i) => c.argv === `type=${kindOf(i)} version=${V} artifacts=`), JSON.stringify(installs));
        assert.ok(calls("curl").every(c => c.argv.includes("https://get.rke2.io")));
        for (let i = 0; i < 4; i++) {
            const cfg = path.join(hosts[i].privateDir("/etc/rancher"), "rke2", "config.yaml");
            assert.equal(mode(cfg), "600");
            const written = yaml.load(fs.readFileSync(cfg, "utf8")) as Record<string, unknown>;
            assert.equal(written.token, TOKEN);
            assert.equal(written.server, i === 0 ? undefined : "https://192.0.2.10:9345");
            // Nothing secret stays behind outside RKE2's own files: the job's inputs and the session's temp dir are gone.
            const state = path.join(hosts[i].privateDir("/var/lib/rancher"), "rancher-ha");
            assert.equal(mode(state), "700");
            assert.ok(!fs.existsSync(path.join(state, "job", "in")), "the job's copy of the bundle is removed");
            assert.equal(fs.readFileSync(path.join(state, "node-name"), "utf8").trim(), ids[i]);
        }
        assert.deepEqual(calls("systemctl").filter(c => c.argv.startsWith("restart")).map(c => `${c.host} ${c.argv}`),
            ids.map((id, i) => `${id} restart --no-block rke2-${kindOf(i)}.service`));
    });

    it("runs again without installing or restarting anything when nothing changed", async () => {
        await installAll();
        const before = rke2Calls(cluster()).length;
        for (let i = 0; i < 4; i++) {
            const r = await install(i);
            ok(r);
            assert.match(r.stderr, /config unchanged and rke2-(server|agent)\.service running: nothing to restart/);
            assert.equal(parseRke2NodeOutput(r.stdout).nodeName, ids[i]);
        }
        const after = rke2Calls(cluster()).slice(before);
        assert.deepEqual(after.filter(c => c.tool === "install.sh" || c.tool === "curl" || c.argv.startsWith("restart")), []);
    });

    it("writes a changed config and restarts for it; upgrades one minor; refuses downgrades and skipped minors", async () => {
        ok(await install(0));
        const restarts = () => calls("systemctl", "srv-1").filter(c => c.argv.startsWith("restart")).length;
        const r1 = await install(0, {}, bundle(0, clusterInput(), node(0, { labels: { zone: "a" } })));
        ok(r1);
        assert.match(r1.stderr, /\(re\)starting rke2-server\.service \(changed: config\.yaml\)/);
        assert.equal(restarts(), 2);
        assert.deepEqual((yaml.load(fs.readFileSync(path.join(hosts[0].privateDir("/etc/rancher"), "rke2", "config.yaml"), "utf8")) as any)["node-label"], ["zone=a"]);
        const r2 = await install(0, { version: "v1.37.1+rke2r1" }, bundle(0, clusterInput(), node(0, { labels: { zone: "a" } })));
        ok(r2);
        assert.match(r2.stderr, /upgrading RKE2 v1\.36\.3\+rke2r1 -> v1\.37\.1\+rke2r1/);
        assert.equal(parseRke2NodeOutput(r2.stdout).version, "v1.37.1+rke2r1");
        assert.equal(restarts(), 3);
        const down = await install(0, { version: "v1.36.3+rke2r1" });
        assert.equal(down.code, 1);
        assert.match(down.stderr, /RKE2 v1\.37\.1\+rke2r1 is installed and versions\.kubernetes is v1\.36\.3\+rke2r1, an older release: RKE2 cannot be downgraded/);
        const skip = await install(0, { version: "v1.39.0+rke2r1" });
        assert.equal(skip.code, 1);
        assert.match(skip.stderr, /skips a minor version: upgrade one minor at a time \(set versions\.kubernetes to the newest v1\.38 release/);
        assert.equal(restarts(), 3, "refused runs restart nothing");
    });

    it("concurrent server joins fail the way etcd refuses them (why the stage chains servers), within the bounded wait", async () => {
        ok(await install(0));
        fs.writeFileSync(path.join(clusterDir, "ready-seconds"), "3");
        const [a, b] = await Promise.all([install(1), install(2)]);
        const failed = [a, b].filter(r => r.code !== 0);
        assert.equal(failed.length, 1, `one of two concurrent joins fails: ${a.stderr}\n${b.stderr}`);
        assert.match(failed[0].stderr, /too many learner members in cluster/);
        assert.match(failed[0].stderr, /rke2-server\.service failed to start \(see the journal above\)/);
    });

    it("gives up after rke2.nodeReadyTimeout with the unit's journal when a node never becomes Ready", async () => {
        fs.writeFileSync(path.join(clusterDir, "ready-seconds"), "60");
        const started = Date.now();
        const r = await install(0, { nodeReadyTimeoutSeconds: 3 });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /node srv-1 is not Ready after 3 s \(rke2\.nodeReadyTimeout; Ready=unknown\)/);
        assert.match(r.stderr, /last lines of journalctl -u rke2-server\.service:\n {2}\| starting rke2 server as srv-1/);
        assert.ok(Date.now() - started < 20000, "bounded");
    });

    it("survives a dropped SSH session: the install goes on, and the next run waits for it instead of starting again", async () => {
        fs.writeFileSync(path.join(clusterDir, "ready-seconds"), "5");
        await assert.rejects(install(0, {}, bundle(0), 2500), /timed out/);
        const again = await install(0);
        ok(again);
        assert.match(again.stderr, /the same RKE2 install started earlier is still running \(pid \d+\); waiting for it/);
        assert.equal(parseRke2NodeOutput(again.stdout).nodeName, "srv-1");
        assert.equal(calls("install.sh").length, 1, "installed once");
        assert.equal(calls("systemctl", "srv-1").filter(c => c.argv.startsWith("restart")).length, 1, "started once");
    });

    it("one run per node at a time: another one waits for the lock (bounded) and names the holder", async () => {
        fs.writeFileSync(path.join(clusterDir, "ready-seconds"), "6");
        const first = install(0);
        await sleep(1500);
        const other = await install(0, { lockWaitSeconds: 1 }, bundle(0, clusterInput(), node(0, { labels: { x: "y" } })));
        assert.equal(other.code, 1);
        assert.match(other.stderr, /another rancher-ha run holds \/var\/lib\/rancher\/rancher-ha\/lock: RKE2 install, stack test, pid \d+/);
        ok(await first);
    });

    it("installs from the artifacts copied into the SSH user's home (air-gapped)", async () => {
        const dir = path.join(hosts[3].home, "rancher-ha-rke2-artifacts", "rke2-v1.36.3");
        writeArtifactDoubles(dir, cluster(), V);
        fs.chmodSync(path.dirname(dir), 0o755);
        ok(await install(0));
        const r = await install(3, { install: { method: "artifacts", remoteDir: "rancher-ha-rke2-artifacts/rke2-v1.36.3" } });
        ok(r);
        const inst = calls("install.sh", "agt-1");
        assert.equal(inst.length, 1);
        assert.equal(inst[0].argv, `type=agent version= artifacts=${dir}`);
        assert.deepEqual(calls("curl", "agt-1"), [], "nothing downloaded");
        assert.ok(fs.existsSync(path.join(hosts[3].privateDir("/var/lib/rancher"), "rke2", "agent", "images", "rke2-images.linux-amd64.tar.zst")));
        // Artifacts of another release than versions.kubernetes are refused after install.sh reports what it put there.
        fs.writeFileSync(path.join(dir, "rke2.linux-amd64.tar.gz"), "v1.37.0+rke2r1");
        const wrong = await install(3, { version: "v1.37.1+rke2r1", install: { method: "artifacts", remoteDir: "rancher-ha-rke2-artifacts/rke2-v1.36.3" } });
        assert.equal(wrong.code, 1);
        assert.match(wrong.stderr, /the installed RKE2 is v1\.37\.0\+rke2r1, but versions\.kubernetes is v1\.37\.1\+rke2r1/);
    });

    it("removes a node: drain, delete node and its node-password secret, uninstall; refuses to remove the last server", async () => {
        await installAll();
        ok(await remove(3), "agent removal");
        const k = calls("kubectl", "agt-1").map(c => c.argv.replace(/^--kubeconfig \S+ --request-timeout=\S+ /, ""));
        assert.ok(k.some(a => /^drain agt-1 --ignore-daemonsets --delete-emptydir-data --timeout=30s$/.test(a)), k.join("\n"));
        assert.ok(k.some(a => /^delete node agt-1 --timeout=120s$/.test(a)));
        assert.ok(k.some(a => /^-n kube-system delete secret agt-1\.node-password\.rke2 --ignore-not-found$/.test(a)));
        assert.ok(k.every(a => !/--force|--grace-period=0/.test(a)), "never forced");
        assert.equal(calls("rke2-uninstall.sh", "agt-1").length, 1);
        assert.ok(!fs.existsSync(path.join(clusterDir, "nodes", "agt-1")));
        assert.ok(!fs.existsSync(path.join(hosts[3].privateDir("/etc/rancher"), "rke2")), "RKE2's files are gone");
        // Running the removal again finds nothing to do.
        const again = await remove(3);
        ok(again);
        assert.match(again.stderr, /RKE2 is not installed here; nothing to remove/);

        ok(await remove(2), "srv-3");
        ok(await remove(1), "srv-2");
        const last = await remove(0);
        assert.equal(last.code, 1);
        assert.match(last.stderr, /srv-1 is the cluster's last server: removing it removes the cluster\. .*npm run ops -- remove-cluster --stack test --yes/);
        assert.equal(calls("rke2-uninstall.sh", "srv-1").length, 0, "the last server stays installed");
    });

    it("a drain that fails leaves the node installed and cordoned, and says how to go on", async () => {
        await installAll();
        fs.writeFileSync(path.join(clusterDir, "drain-fails"), "1");
        const r = await remove(3);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /kubectl drain agt-1 failed \(a PodDisruptionBudget, or pods without a controller\?\); the node stays cordoned and installed/);
        assert.equal(calls("rke2-uninstall.sh").length, 0);
        assert.ok(fs.existsSync(path.join(clusterDir, "nodes", "agt-1")));
    });

    it("with admin.removeClusterOnDestroy a node is uninstalled without a drain (the whole cluster goes)", async () => {
        await installAll();
        ok(await remove(0, { removeClusterOnDestroy: true }));
        assert.deepEqual(calls("kubectl", "srv-1").filter(c => /drain|delete/.test(c.argv)), []);
        assert.equal(calls("rke2-uninstall.sh", "srv-1").length, 1);
    });
});
