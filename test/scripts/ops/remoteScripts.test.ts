// The day-2 scripts over real sshd, as a non-root user, exactly as scripts/ops.ts runs them (command string as the
// session command, bundle on stdin), in a work dir made by the RKE stage's own rke-up script. rke and docker are
// test doubles (test/fixtures/rke/opsDoubles.ts), named so in their output.
import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { keyId } from "../../../components/config";
import { rkeYamlArgs } from "../../../components/rke/clusterYml";
import { rkeClusterYaml, rkeUpPlan } from "../../../components/rke/clusterYml";
import { rkeConfigBundle, rkeUpScript } from "../../../components/rke/scripts";
import {
    certRotateScript, installRecoveredBundle, installRecoveredScript, OpsWorkDirArgs, parseOpsResult, recoverStateScript,
    restoreHint, snapshotNameProblem, snapshotRestoreScript, snapshotSaveScript,
} from "../../../scripts/ops/remoteScripts";
import { fullStateFromObject, parseRkeState } from "../../../scripts/ops/rkeRecovery";
import { RunResult, SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";
import { requireTool } from "../../helpers/tools";
import { control, rkeCalls } from "../../fixtures/rke/doubles";
import { fullStateObject, installOpsDoubles, nodeList, rkeNode } from "../../fixtures/rke/opsDoubles";
import { CLUSTER_KEY, minimalRaw, settingsFrom } from "../../fixtures/rke/settings";
import { FIXTURES } from "../../helpers/paths";

const FIXTURE = fs.readFileSync(path.join(FIXTURES, "rke/recovered.rkestate.json"), "utf8");
const sha = (t: string) => crypto.createHash("sha256").update(t).digest("hex");
const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);

describe("scripts/ops/remoteScripts: day-2 scripts over real SSH (rke and docker test doubles)", function () {
    this.timeout(120000);
    let host: SshHost;
    let work: string;
    const args = (over: Partial<OpsWorkDirArgs> = {}): OpsWorkDirArgs => ({
        workDir: "~/rancher-ha", rkePath: "rke", rkeVersion: "v1.8.14", hostLabel: "opsuser@127.0.0.1:22", stack: "prod",
        sshToAdmin: "ssh -p 22 opsuser@127.0.0.1", ...over,
    });
    const ok = (r: RunResult) => assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
    const opsCalls = () => rkeCalls(host).filter(c => !c.argv.startsWith("up"));
    const statePath = () => path.join(work, "rancher-cluster.rkestate");

    before(async function () {
        requireTool(this, sshHostUnavailable());
        host = await startSshHost({ user: "opsuser" });
        installOpsDoubles(host);
        work = path.join(host.home, "rancher-ha");
    });
    after(async () => host && host.stop());

    /** A work dir as the RkeCluster stage leaves it after a successful `pulumi up`. */
    async function deployed(): Promise<void> {
        fs.rmSync(work, { recursive: true, force: true });
        for (const d of [".rke-test-double", ".docker-test-double"]) {
            fs.rmSync(path.join(host.home, d), { recursive: true, force: true });
        }
        const s = settingsFrom(minimalRaw());
        const a = rkeYamlArgs(s, "192.0.2.10");
        const stdin = rkeConfigBundle(rkeClusterYaml(a), rkeUpPlan(a), [{ keyId: keyId(CLUSTER_KEY), privateKey: CLUSTER_KEY }]);
        ok(await host.run(rkeUpScript({ workDir: "~/rancher-ha", rkePath: "rke", rkeVersion: "v1.8.14", hostLabel: "x", stack: "test", retryDelaySeconds: 0 }), stdin));
    }

    describe("snapshot-save", () => {
        beforeEach(deployed);

        it("runs rke etcd snapshot-save --name in the work dir, records it, and puts nothing secret on stdout", async () => {
            const r = await host.run(snapshotSaveScript({ ...args(), name: "before-upgrade" }));
            ok(r);
            assert.deepEqual(opsCalls().map(c => [c.cwd, c.argv]), [[work, "etcd snapshot-save --config rancher-cluster.yml --name before-upgrade"]]);
            assert.equal(opsCalls()[0].stateBefore, sha(fs.readFileSync(statePath(), "utf8")), "rke found the stage's state file");
            assert.deepEqual(parseOpsResult(r.stdout), { lines: ["snapshot before-upgrade"] });
            assert.match(r.stderr, /Finished saving\/uploading snapshot \[before-upgrade\] on all etcd hosts \(rke-test-double\)/);
            const log = fs.readFileSync(path.join(work, "snapshots.log"), "utf8");
            assert.match(log, /^before-upgrade \d{8}T\d{6}Z kubernetes=v1\.30\.14-rancher1-1 rke=v1\.8\.14\n$/);
            assert.equal(mode(path.join(work, "snapshots.log")), "600");
            assert.equal(fs.readFileSync(path.join(work, ".rancher-ha.lock"), "utf8"), "", "the lock file holds nothing; the lock went with the process");
        });

        it("refuses a name saved before unless --overwrite, and names RKE would not take", async () => {
            ok(await host.run(snapshotSaveScript({ ...args(), name: "nightly" })));
            const again = await host.run(snapshotSaveScript({ ...args(), name: "nightly" }));
            assert.equal(again.code, 1);
            assert.match(again.stderr, /a snapshot named nightly was saved before \(\d{8}T\d{6}Z\); .*choose another --name, or pass --overwrite/);
            assert.equal(opsCalls().length, 1);
            ok(await host.run(snapshotSaveScript({ ...args(), name: "nightly", overwrite: true })));
            assert.equal(opsCalls().length, 2);
            assert.throws(() => snapshotSaveScript({ ...args(), name: "nightly.zip" }), /without the \.zip extension .*use nightly/);
            assert.throws(() => snapshotSaveScript({ ...args(), name: "a b; rm -rf /" }), /not a usable snapshot name/);
            assert.equal(snapshotNameProblem("rke_etcd_snapshot_2024-05-01T10:00:00Z"), undefined, "RKE's own default names are fine");
        });

        it("lost files: says exactly how to put each back, and does not call rke", async () => {
            fs.rmSync(statePath());
            fs.rmSync(path.join(work, "keys"), { recursive: true });
            const r = await host.run(snapshotSaveScript({ ...args(), name: "x" }));
            assert.equal(r.code, 1);
            const id = keyId(CLUSTER_KEY);
            assert.ok(r.stderr.includes(`missing in ${work}: rancher-cluster.rkestate ${work}/keys/${id}; rke cannot work on the cluster without them. `), r.stderr);
            assert.ok(r.stderr.includes("pulumi stack output --stack prod --show-secrets rkeState | ssh -p 22 opsuser@127.0.0.1 " +
                "'umask 077; mkdir -p ~/rancher-ha && cat > ~/rancher-ha/rancher-cluster.rkestate'"), r.stderr);
            assert.ok(r.stderr.includes("npm run ops -- restore-workdir --stack prod"));
            fs.rmSync(work, { recursive: true });
            const gone = await host.run(snapshotSaveScript({ ...args(), name: "x" }));
            assert.match(gone.stderr, /the admin work dir .*rancher-ha does not exist \(lost disk or another admin host\?\); the state file comes back from the stack/);
            assert.deepEqual(opsCalls(), []);
            assert.equal(restoreHint({ workDir: "/srv/rke", stack: "dev" }),
                "the state file comes back from the stack: pulumi stack output --stack dev --show-secrets rkeState > /srv/rke/rancher-cluster.rkestate; " +
                "rancher-cluster.yml and keys/ come back with: npm run ops -- restore-workdir --stack dev");
        });

        it("one run at a time (the lock pulumi up's rke takes too); a failing rke is reported with its log and still releases the lock", async () => {
            // pulumi up's rke up holds the work dir lock while it runs: an ops command waits its bound, then names it.
            control(host, "rke", "up-seconds", "5");
            const a = rkeYamlArgs(settingsFrom(minimalRaw()), "192.0.2.10");
            // A changed yml, so rke up really runs (and takes its time).
            const stdin = rkeConfigBundle(`${rkeClusterYaml(a)}# changed\n`, rkeUpPlan(a), [{ keyId: keyId(CLUSTER_KEY), privateKey: CLUSTER_KEY }]);
            const running = host.run(rkeUpScript({ workDir: "~/rancher-ha", rkePath: "rke", rkeVersion: "v1.8.14", hostLabel: "x", stack: "test", retryDelaySeconds: 0 }), stdin);
            await new Promise(r => setTimeout(r, 1500));
            const locked = await host.run(snapshotSaveScript({ ...args(), name: "x", lockWaitSeconds: 1 }));
            assert.equal(locked.code, 1);
            assert.match(locked.stderr, /another rancher-ha run holds .*\.rancher-ha\.lock: rke up job, stack test, pid \d+/);
            ok(await running);
            control(host, "rke", "up-seconds", undefined);
            const sequential = await host.run(snapshotSaveScript({ ...args(), name: "after-rke-up" }));
            ok(sequential);
            control(host, "rke", "fail-times", "1");
            control(host, "rke", "fail-message", "[etcd] Failed to take snapshot on all etcd hosts: Failed to dial ssh using address [192.0.2.12:22]");
            const failed = await host.run(snapshotSaveScript({ ...args(), name: "x" }));
            assert.equal(failed.code, 1);
            assert.match(failed.stderr, /FATA\[0042\] \[etcd\] Failed to take snapshot/);
            assert.match(failed.stderr.trim().split("\n").pop()!, /rke etcd snapshot-save failed \(exit 1\); the output above is in .*ops\.log/);
            assert.equal(failed.stdout, "");
            assert.equal(fs.readFileSync(path.join(work, ".rancher-ha.lock"), "utf8"), "");
            assert.deepEqual(fs.readFileSync(path.join(work, "snapshots.log"), "utf8").split("\n").filter(Boolean).map(l => l.split(" ")[0]),
                ["after-rke-up"], "a failed snapshot is not recorded");
            control(host, "rke", "version", "v1.5.10");
            const wrong = await host.run(snapshotSaveScript({ ...args(), name: "x" }));
            assert.match(wrong.stderr, /rke is rke v1\.5\.10, but versions\.rke is v1\.8\.14/);
        });
    });

    describe("snapshot-restore and cert-rotate", () => {
        beforeEach(deployed);

        it("restore: copies the state and kubeconfig aside, runs snapshot-restore, returns the new state", async () => {
            ok(await host.run(snapshotSaveScript({ ...args(), name: "good" })));
            const before = fs.readFileSync(statePath(), "utf8");
            const r = await host.run(snapshotRestoreScript({ ...args(), name: "good" }));
            ok(r);
            assert.equal(opsCalls()[1].argv, "etcd snapshot-restore --config rancher-cluster.yml --name good");
            const res = parseOpsResult(r.stdout);
            const backups = res.lines.filter(l => l.startsWith("backup "));
            assert.equal(backups.length, 2);
            assert.match(backups[0], /^backup rancher-cluster\.rkestate\.before-restore-\d{8}T\d{6}Z$/);
            assert.equal(fs.readFileSync(path.join(work, backups[0].slice(7)), "utf8"), before);
            assert.ok(res.lines.includes("restored good"));
            assert.equal(res.rkeState, fs.readFileSync(statePath(), "utf8"));
            assert.match(res.rkeState!, /# rke-test-double restored good/);
            assert.match(res.kubeconfig!, /certificate-authority-data: Y2EtYWZ0ZXItcmVzdG9yZQ==/);
            assert.ok(!r.stderr.includes(res.rkeState!.split("\n")[1]), "the state is not logged");
        });

        it("restore of a name rke does not have fails with rke's message", async () => {
            const r = await host.run(snapshotRestoreScript({ ...args(), name: "never-saved" }));
            assert.equal(r.code, 1);
            assert.match(r.stderr, /never-saved was not saved through ops .*\/opt\/rke\/etcd-snapshots/);
            assert.match(r.stderr, /snapshot file does not exist on any etcd host/);
        });

        it("cert-rotate passes --service and --rotate-ca as rke takes them; unknown services are refused before SSH", async () => {
            ok(await host.run(certRotateScript({ ...args(), services: ["kubelet", "etcd"], rotateCa: false })));
            const ca = await host.run(certRotateScript({ ...args(), services: [], rotateCa: true }));
            ok(ca);
            assert.deepEqual(opsCalls().map(c => c.argv), [
                "cert rotate --config rancher-cluster.yml --service kubelet --service etcd",
                "cert rotate --config rancher-cluster.yml --rotate-ca",
            ]);
            const res = parseOpsResult(ca.stdout);
            assert.ok(res.lines.includes("rotated ca+all"));
            assert.match(res.kubeconfig!, /certificate-authority-data: bmV3LWNh/);
            assert.throws(() => certRotateScript({ ...args(), services: ["apiserver"], rotateCa: false }),
                /unknown service apiserver; rke cert rotate --service takes etcd, kubelet, kube-apiserver, kube-proxy, kube-scheduler, kube-controller-manager/);
        });
    });

    describe("recover-state (on a controlplane node) and install-recovered (on the admin host)", () => {
        const dbl = (file: string, content: string | undefined) => control(host, "docker", file, content);
        beforeEach(() => {
            fs.rmSync(path.join(host.home, ".docker-test-double"), { recursive: true, force: true });
            fs.rmSync(work, { recursive: true, force: true });
        });

        it("reads the Secret with kubectl from the kubelet image and the node's kubeconfig; the state only on stdout", async () => {
            dbl("secret.json", fullStateObject("Secret", FIXTURE));
            const r = await host.run(recoverStateScript({ nodeLabel: "opsuser@127.0.0.1:22" }));
            ok(r);
            const obj = parseOpsResult(r.stdout).object!;
            const { kind, state } = fullStateFromObject(obj);
            assert.equal(kind, "Secret");
            assert.equal(state, FIXTURE);
            assert.equal(parseRkeState(state).config.kubernetesVersion, "v1.28.15-rancher1-1");
            const calls = fs.readFileSync(path.join(host.home, ".docker-test-double", "calls.log"), "utf8").trim().split("\n");
            assert.equal(calls.find(c => c.includes(" get secret ")), "run --rm --net=host -v /etc/kubernetes:/etc/kubernetes:ro --entrypoint kubectl " +
                "rancher/hyperkube:v1.28.15-rancher1 --kubeconfig /etc/kubernetes/ssl/kubecfg-kube-node.yaml --request-timeout=20s " +
                "-n kube-system get secret full-cluster-state -o json");
            assert.ok(!r.stderr.includes("BEGIN") && !r.stderr.includes("FAKE"), "nothing of the state on stderr");
            // The nodes with the same kubectl, for the comparison with the state; without them (here: Forbidden) only a note.
            assert.ok(calls[calls.length - 1].endsWith("--request-timeout=20s get nodes -o json"), calls[calls.length - 1]);
            assert.match(parseOpsResult(r.stdout).nodesError!, /^Error from server \(Forbidden\): nodes is forbidden/);
            const list = nodeList([rkeNode("rancher-01", "192.0.2.21", ["controlplane", "etcd", "worker"])]);
            dbl("nodes.json", list);
            const withNodes = parseOpsResult((await host.run(recoverStateScript({ nodeLabel: "n" }))).stdout);
            assert.equal(withNodes.nodes, list);
            assert.equal(withNodes.nodesError, undefined);
        });

        it("says what the API server answered and what to do: NotFound, 403 (credentials/RBAC), 500 (its health)", async () => {
            const fail = async () => {
                const r = await host.run(recoverStateScript({ nodeLabel: "root@192.0.2.21:22" }));
                assert.equal(r.code, 1);
                assert.equal(r.stdout, "");
                return r.stderr.trim().split("\n").pop()!;
            };
            // Neither object: not an RKE cluster, or another cluster's node.
            assert.match(await fail(), /^rancher-ha ops: root@192\.0\.2\.21:22: the API server has neither a Secret nor a ConfigMap kube-system\/full-cluster-state \(Error from server \(NotFound\): configmaps "full-cluster-state" not found.*\): the cluster was not built by RKE .*run recover --from a controlplane node of the RKE cluster/);
            dbl("api-error", 'Error from server (Forbidden): secrets "full-cluster-state" is forbidden: User "system:node:rancher-01" cannot get resource "secrets" in API group "" in the namespace "kube-system"\n');
            const forbidden = await fail();
            assert.match(forbidden, /refused this node's credentials \(\/etc\/kubernetes\/ssl\/kubecfg-kube-node\.yaml\): Error from server \(Forbidden\): secrets .*credentials and RBAC, not the API server's health: .*certificate has not expired/);
            assert.doesNotMatch(forbidden, /kube-apiserver runs/);
            dbl("api-error", 'Error from server (InternalError): an error on the server ("etcdserver: request timed out") has prevented the request from succeeding (get secrets full-cluster-state)\n');
            const internal = await fail();
            assert.match(internal, /the API server failed the request itself: Error from server \(InternalError\).*; check its health and etcd's \(docker logs --tail 50 kube-apiserver; docker logs --tail 50 etcd\), then run recover again$/);
            dbl("api-error", undefined);
        });

        it("falls back to the ConfigMap older RKE releases wrote; says why when neither can be read", async () => {
            dbl("configmap.json", fullStateObject("ConfigMap", FIXTURE));
            const r = await host.run(recoverStateScript({ nodeLabel: "n" }));
            ok(r);
            assert.deepEqual(fullStateFromObject(parseOpsResult(r.stdout).object!), { kind: "ConfigMap", state: FIXTURE });

            dbl("apiserver-down", "1");
            const down = await host.run(recoverStateScript({ nodeLabel: "root@192.0.2.21:22" }));
            assert.equal(down.code, 1);
            assert.match(down.stderr, /root@192\.0\.2\.21:22: kube-apiserver does not answer on this node: .*connection to the server 127\.0\.0\.1:6443 was refused.*check that it runs here \(docker ps --filter name=kube-apiserver\) or run recover --from another controlplane node/);
            dbl("apiserver-down", undefined);
            dbl("no-kubelet", "1");
            const notRke = await host.run(recoverStateScript({ nodeLabel: "n" }));
            assert.equal(notRke.code, 1);
            assert.match(notRke.stderr, /no kubelet container here and no kubectl .*run recover --from a controlplane node/);
        });

        it("install-recovered writes 0600 files and the key, keeps identical ones, refuses different ones unless --replace", async () => {
            const id = keyId(CLUSTER_KEY);
            const files = { rkeState: FIXTURE, kubeconfig: "apiVersion: v1\nkind: Config\n", clusterYml: "nodes: []\n", keys: [{ keyId: id, privateKey: CLUSTER_KEY }] };
            const install = (replace: boolean, f = files) =>
                host.run(installRecoveredScript({ workDir: "~/rancher-ha", hostLabel: "h", replace }), installRecoveredBundle(f));
            ok(await host.run("mkdir -p ~/rancher-ha && echo stale > ~/rancher-ha/.rancher-ha-last-up"));
            const first = await install(false);
            ok(first);
            assert.deepEqual(parseOpsResult(first.stdout).lines.sort(), [
                `wrote keys/${id}`, "wrote kube_config_rancher-cluster.yml", "wrote rancher-cluster.rkestate", "wrote rancher-cluster.yml",
            ]);
            assert.equal(fs.readFileSync(statePath(), "utf8"), FIXTURE);
            assert.equal(mode(statePath()), "600");
            assert.equal(mode(path.join(work, "keys", id)), "600");
            assert.ok(!fs.existsSync(path.join(work, ".rancher-ha-last-up")), "the next pulumi up runs rke up");

            const again = await install(false);
            ok(again);
            assert.ok(parseOpsResult(again.stdout).lines.every(l => l.startsWith("kept ")));

            const other = { ...files, rkeState: FIXTURE.replace("v1.28.15-rancher1-1", "v1.28.9-rancher1-1") };
            const refused = await install(false, other);
            assert.equal(refused.code, 1);
            assert.match(refused.stderr, /already has different: rancher-cluster\.rkestate; nothing was written\. .*--replace/);
            assert.equal(fs.readFileSync(statePath(), "utf8"), FIXTURE);

            const replaced = await install(true, other);
            ok(replaced);
            const backup = parseOpsResult(replaced.stdout).lines.find(l => l.startsWith("backup "))!.slice(7);
            assert.match(backup, /^rancher-cluster\.rkestate\.replaced-\d{8}T\d{6}Z$/);
            assert.equal(fs.readFileSync(path.join(work, backup), "utf8"), FIXTURE);
            assert.match(fs.readFileSync(statePath(), "utf8"), /v1\.28\.9-rancher1-1/);
        });
    });
});
