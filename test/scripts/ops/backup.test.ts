// npm run ops -- backup-now / migrate-check (issue #14): the comparison of two stack files through main(),
// backup-now with the real kubectl against a fake API server (test/helpers/fakeKubeApi.ts) whose Backup gets its file
// after a poll or two, or fails, and migrate-check with the real kubectl against two fake API servers
// (test/helpers/fakeObjectApi.ts), one per cluster.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as http from "http";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { main } from "../../../scripts/ops";
import { backupNow, checkNewCluster, checkOldCluster, loadBackupStack, migrateCheck } from "../../../scripts/ops/backup";
import { FakeHttpServer, fakeKubeconfig, kubeDiscovery, notFoundStatus } from "../../helpers/fakeKubeApi";
import { FakeObjectApi, FakeResource } from "../../helpers/fakeObjectApi";
import { requireTool, toolMissing } from "../../helpers/tools";

const FILE = "rancher-ha-scheduled-3f0e5c1a-8d2b-4c7e-9a61-0b5d2e7f4c19-2026-08-07T02-00-00Z.tar.gz.enc";
const NEWER = "rancher-ha-scheduled-3f0e5c1a-8d2b-4c7e-9a61-0b5d2e7f4c19-2026-08-07T08-00-00Z.tar.gz.enc";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBYZYmIhrOaLs7hB1jces/1w8Dzcm961Tj0IN1MBxazN";
// The chart version and resource set are given: the default Rancher version may be newer than the last known line.
const CHART = "109.0.5+up10.0.5";
const S3 = { bucketName: "rancher-backups", folder: "rancher-old", accessKey: "AKIAEXAMPLE" };

function base(extra: Record<string, unknown>): Record<string, unknown> {
    return {
        "rancher-ha:hostname": "rancher.example.com",
        "rancher-ha:ssh": { user: "rancher" },
        "rancher-ha:sshPrivateKey": { secure: "v1:not-a-ciphertext" },
        "rancher-ha:loadBalancer": { address: "192.0.2.10", hostKey: KEY },
        "rancher-ha:nodes": [{ address: "192.0.2.11", hostKey: KEY, roles: ["controlplane", "etcd", "worker"] }],
        ...extra,
    };
}
const OLD = base({
    "rancher-ha:backup": { s3: S3, chartVersion: CHART, resourceSet: "rancher-resource-set-full" }, "rancher-ha:backupS3SecretKey": { secure: "v1:x" }, "rancher-ha:backupEncryptionKey": { secure: "v1:k" },
});
// The distributions' default Rancher versions differ (RKE1 stays on an older line): the new stack names the old one's.
const NEW = (extra: Record<string, unknown> = {}) => base({
    "rancher-ha:distribution": "rke2", "rancher-ha:versions": { rancher: "2.11.16", kubernetes: "v1.32.5+rke2r1" },
    "rancher-ha:restoreFrom": { backupFilename: FILE, s3: S3, chartVersion: CHART },
    "rancher-ha:restoreS3SecretKey": { secure: "v1:x" }, "rancher-ha:backupEncryptionKey": { secure: "v1:k" },
    ...extra,
});

describe("ops backup-now and migrate-check", () => {
    let dir: string;
    const write = (name: string, config: Record<string, unknown>) =>
        fs.writeFileSync(path.join(dir, `Pulumi.${name}.yaml`), yaml.dump({ config }));
    const run = async (argv: string[]) => {
        let stdout = "";
        let stderr = "";
        const code = await main([...argv, "--cwd", dir], { out: t => { stdout += t; }, err: t => { stderr += t; }, stdinIsTty: false, readStdin: async () => "" });
        return { code, stdout, stderr };
    };

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-backup-"));
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: rancher-ha\nruntime: nodejs\n");
        write("old", OLD);
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    describe("migrate-check from the stack files", () => {
        it("go on every item when the new stack restores the old stack's backup", async () => {
            write("new", NEW());
            const r = await run(["migrate-check", "--stack", "new", "--from", "old"]);
            assert.equal(r.code, 0, r.stdout + r.stderr);
            for (const i of ["rancher version", "hostname", "distribution", "old stack backup", "new stack restoreFrom", "restore bucket/folder", "encryption key"]) {
                assert.match(r.stdout, new RegExp(`^go +${i.replace("/", "\\/")} `, "m"), i);
            }
            assert.match(r.stdout, /cannot be verified offline/);
        });

        it("NO-GO per item: another Rancher version, hostname, bucket folder; RKE1 target is a warning", async () => {
            write("new", NEW({
                "rancher-ha:distribution": "rke", "rancher-ha:hostname": "rancher2.example.com",
                "rancher-ha:versions": { rancher: "2.11.15" },
                "rancher-ha:restoreFrom": { backupFilename: FILE, s3: { ...S3, folder: "other" }, chartVersion: CHART },
            }));
            const r = await run(["migrate-check", "--stack", "new", "--from", "old"]);
            assert.equal(r.code, 3, r.stdout + r.stderr);
            assert.match(r.stdout, /^NO-GO +rancher version +.*2\.11\.15/m);
            assert.match(r.stdout, /^NO-GO +hostname +rancher\.example\.com vs rancher2\.example\.com/m);
            assert.match(r.stdout, /^warn +distribution +.*not rke2/m);
            assert.match(r.stdout, /^NO-GO +restore bucket\/folder +.*rancher-backups\/other.*rancher-backups\/rancher-old/m);
            assert.match(r.stdout, /^NO-GO: 3 item\(s\)$/m);
        });

        it("NO-GO when the old stack has no backup and the new one no restoreFrom", async () => {
            write("bare", base({ "rancher-ha:distribution": "rke2" }));
            write("plain", base({}));
            const r = await run(["migrate-check", "--stack", "bare", "--from", "plain"]);
            assert.equal(r.code, 3);
            assert.match(r.stdout, /^NO-GO +old stack backup +plain has no backup section/m);
            assert.match(r.stdout, /^NO-GO +new stack restoreFrom /m);
        });

        it("without --from it says what it needs", async () => {
            write("new", NEW());
            const r = await run(["migrate-check", "--stack", "new"]);
            assert.equal(r.code, 1);
            assert.match(r.stderr, /--from <old stack>/);
        });
    });

    describe("migrate-check on the clusters' objects", () => {
        beforeEach(() => write("new", NEW()));
        const ready = (name: string, s = "True") => ({ metadata: { name }, status: { conditions: [{ type: "Ready", status: s }] } });
        const done = { status: { restoreCompletionTs: "2026-08-07T10:00:00Z", conditions: [{ type: "Ready", status: "True", message: "Completed" }] } };

        it("old cluster: the latest backup within 24 h, restoreFrom naming an older file is a warning", () => {
            const to = loadBackupStack(dir, "new");
            const scheduled = { status: { filename: NEWER, lastSnapshotTs: "2026-08-07T08:00:00Z", conditions: [{ type: "Ready", status: "True" }] } };
            const items = checkOldCluster(scheduled, to, new Date("2026-08-07T12:00:00Z"));
            assert.deepEqual(items.map(i => [i.item, i.verdict]), [["latest backup", "go"], ["restore file", "warn"]]);
            const stale = checkOldCluster(scheduled, to, new Date("2026-08-09T12:00:00Z"));
            assert.equal(stale[0].verdict, "NO-GO");
            assert.match(stale[0].detail, /older than 24 h/);
            assert.equal(checkOldCluster(undefined, to, new Date())[0].verdict, "NO-GO");
            // A weekly schedule, and a backup-now file named by restoreFrom 10 h ago: recent enough.
            const weekly = { status: { filename: "rancher-ha-scheduled-3f0e5c1a-8d2b-4c7e-9a61-0b5d2e7f4c19-2026-08-01T02-00-00Z.tar.gz.enc",
                lastSnapshotTs: "2026-08-01T02:00:00Z", conditions: [{ type: "Ready", status: "True" }] } };
            const viaFile = checkOldCluster(weekly, to, new Date("2026-08-07T12:00:00Z"));
            assert.equal(viaFile[0].verdict, "go");
            assert.match(viaFile[0].detail, /older than 24 h; restoreFrom's file is 10 h old$/);
        });

        it("new cluster: nodes, the Restore, the local cluster's RKE1 provider with the documented fix, Rancher before the restore", () => {
            const to = loadBackupStack(dir, "new");
            const good = checkNewCluster({
                nodes: { items: [ready("a"), ready("b")] }, restore: done,
                localCluster: { metadata: { labels: {} }, status: { driver: "imported" } },
                rancherDeployment: { metadata: { creationTimestamp: "2026-08-07T11:00:00Z" } },
            }, to);
            assert.deepEqual(good.filter(i => i.verdict !== "go"), []);
            const bad = checkNewCluster({
                nodes: { items: [ready("a"), ready("b", "False")] }, restore: undefined,
                localCluster: { metadata: { labels: { "provider.cattle.io": "rke" } }, status: { driver: "imported", provider: "rke" } },
                rancherDeployment: { metadata: { creationTimestamp: "2026-08-07T09:00:00Z" } },
            }, to);
            assert.deepEqual(bad.map(i => i.verdict), ["NO-GO", "NO-GO", "NO-GO", "NO-GO"]);
            assert.match(bad[0].detail, /not Ready: b/);
            assert.match(bad[2].detail, /set status\.driver to imported; remove status\.provider/);
            assert.match(bad[3].detail, /backup-restore-operator#428/);
        });
    });

    describe("migrate-check with kubectl and fake API servers", function () {
        this.timeout(60000);
        before(function () {
            requireTool(this, toolMissing("kubectl", ["version", "--client"]));
        });

        // What migrate-check reads on the two clusters; the Backup and the Restore are cluster-scoped like the operator's CRDs.
        const RESOURCES: FakeResource[] = [
            { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false },
            { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true },
            { group: "resources.cattle.io", version: "v1", plural: "backups", kind: "Backup", namespaced: false, statusSubresource: true },
            { group: "resources.cattle.io", version: "v1", plural: "restores", kind: "Restore", namespaced: false, statusSubresource: true },
            { group: "management.cattle.io", version: "v3", plural: "clusters", kind: "Cluster", namespaced: false, statusSubresource: true },
        ];
        const OLD_TOKEN = "old-token-never-printed";
        const NEW_TOKEN = "new-token-never-printed";
        const NOW = new Date("2026-08-07T12:00:00Z");
        let oldApi: FakeObjectApi;
        let newApi: FakeObjectApi;
        let oldKc: string;
        let newKc: string;

        beforeEach(async () => {
            write("new", NEW());
            oldApi = new FakeObjectApi(RESOURCES);
            newApi = new FakeObjectApi(RESOURCES);
            oldKc = path.join(dir, "old.kubeconfig");
            newKc = path.join(dir, "new.kubeconfig");
            fs.writeFileSync(oldKc, fakeKubeconfig(await oldApi.start(), OLD_TOKEN, "old"));
            fs.writeFileSync(newKc, fakeKubeconfig(await newApi.start(), NEW_TOKEN, "new"));
        });
        afterEach(async () => {
            await oldApi.stop();
            await newApi.stop();
        });

        /** The old cluster's scheduled Backup wrote FILE (the file restoreFrom names) 10 h before NOW. */
        const oldClusterGood = () => oldApi.put("backups", "rancher-ha-scheduled", {
            spec: { resourceSetName: "rancher-resource-set-full", schedule: "0 2 * * *" },
            status: { filename: FILE, lastSnapshotTs: "2026-08-07T02:00:05Z", backupType: "Recurring", conditions: [{ type: "Ready", status: "True", message: "Completed" }] },
        });
        const node = (name: string) => ({ status: { conditions: [{ type: "Ready", status: "True" }] }, metadata: { name } });
        /** Two Ready nodes and a completed Restore (10:00); the local cluster object and Rancher as given. */
        const newCluster = (local: Record<string, unknown>, rancherCreated: string) => {
            newApi.put("nodes", "n1", node("n1"));
            newApi.put("nodes", "n2", node("n2"));
            newApi.put("restores", "rancher-ha-restore", {
                spec: { backupFilename: FILE, prune: false },
                status: { restoreCompletionTs: "2026-08-07T10:00:00Z", backupSource: "S3", conditions: [{ type: "Ready", status: "True", message: "Completed" }] },
            });
            newApi.put("clusters", "local", local, undefined, "management.cattle.io");
            newApi.put("deployments", "rancher", { metadata: { creationTimestamp: rancherCreated }, spec: { replicas: 3 } }, "cattle-system");
        };
        const check = async (o: Record<string, string>) => {
            const out = { stdout: "", stderr: "" };
            const io = { out: (t: string) => { out.stdout += t; }, err: (t: string) => { out.stderr += t; }, stdinIsTty: false, readStdin: async () => "" };
            const code = await migrateCheck({ stack: "new", from: "old", cwd: dir, ...o }, io, () => NOW);
            return { code, ...out };
        };
        /** [item, verdict] per report line. */
        const verdicts = (stdout: string) => stdout.split("\n").map(l => /^(go|NO-GO|warn) +(.+?)  /.exec(l)).filter(m => m !== null).map(m => [m![2].trim(), m![1]]);
        const noTokens = (text: string) => {
            assert.doesNotMatch(text, /token-never-printed/);
        };

        it("everything good: exit 0, every item go, each object read from its own cluster", async () => {
            oldClusterGood();
            newCluster({ metadata: { labels: { "provider.cattle.io": "rke2" } }, status: { driver: "imported", provider: "rke2" } }, "2026-08-07T11:00:00Z");
            const r = await check({ "from-kubeconfig": oldKc, "to-kubeconfig": newKc });
            assert.equal(r.code, 0, r.stdout + r.stderr);
            assert.deepEqual(verdicts(r.stdout), [
                "rancher version", "hostname", "distribution", "old stack backup", "new stack restoreFrom", "restore bucket/folder", "encryption key",
                "latest backup", "restore file", "nodes Ready", "restore", "local cluster object", "no Rancher before the restore",
            ].map(i => [i, "go"]));
            assert.match(r.stdout, /^go +latest backup +2026-08-07T02:00:05Z \(10 h ago\)$/m);
            assert.match(r.stdout, new RegExp(`^go +restore file +${FILE.replace(/\./g, "\\.")} is the latest scheduled backup$`, "m"));
            assert.match(r.stdout, /^go +nodes Ready +2 Ready$/m);
            assert.match(r.stdout, /^go +restore +Restore rancher-ha-restore: done: Completed$/m);
            assert.match(r.stdout, /^go +local cluster object +driver imported, provider rke2, label provider\.cattle\.io rke2$/m);
            assert.match(r.stdout, /^go +no Rancher before the restore +rancher installed 2026-08-07T11:00:00Z, after the Restore completed \(2026-08-07T10:00:00Z\)$/m);
            assert.match(r.stdout, /\ngo\n$/);
            assert.equal(r.stderr, "");
            // kubectl really asked each server for its own objects, once each.
            assert.equal(oldApi.gets.get("/apis/resources.cattle.io/v1/backups/rancher-ha-scheduled"), 1);
            assert.equal(newApi.gets.get("/apis/resources.cattle.io/v1/restores/rancher-ha-restore"), 1);
            assert.equal(newApi.gets.get("/apis/management.cattle.io/v3/clusters/local"), 1);
            assert.equal(newApi.gets.get("/apis/apps/v1/namespaces/cattle-system/deployments/rancher"), 1);
            assert.equal(oldApi.gets.size, 1, "nothing of the new cluster read on the old one");
            assert.deepEqual([...oldApi.writes, ...newApi.writes], [], "read only");
            noTokens(r.stdout + r.stderr);
        });

        it("RKE1 values in the local cluster object and Rancher created before the restore completed: exit 3 with the fixes", async () => {
            oldClusterGood();
            newCluster({
                metadata: { labels: { "provider.cattle.io": "rke" }, annotations: { "management.cattle.io/current-cluster-controllers-version": "v1.30.14" } },
                status: { driver: "rancherKubernetesEngine", provider: "rke", version: { gitVersion: "v1.30.14" } },
            }, "2026-08-07T09:00:00Z");
            const r = await check({ "from-kubeconfig": oldKc, "to-kubeconfig": newKc });
            assert.equal(r.code, 3, r.stdout + r.stderr);
            const nogo = verdicts(r.stdout).filter(([, v]) => v !== "go");
            assert.deepEqual(nogo, [["local cluster object", "NO-GO"], ["no Rancher before the restore", "NO-GO"]]);
            assert.match(r.stdout, /^NO-GO +local cluster object +driver rancherKubernetesEngine, provider rke, label provider\.cattle\.io rke\. RKE1 values on an RKE2 cluster \(rancher#41260, #50414\)\. Fix after the restore, before Rancher is installed .*kubectl edit clusters\.management\.cattle\.io local: set status\.driver to imported; remove status\.provider, status\.version, the label provider\.cattle\.io, the annotation management\.cattle\.io\/current-cluster-controllers-version/m);
            assert.match(r.stdout, /^NO-GO +no Rancher before the restore +the rancher Deployment \(created 2026-08-07T09:00:00Z\) exists before the Restore completed \(2026-08-07T10:00:00Z\): the restore loops on Rancher's webhook \(backup-restore-operator#428\); restore onto a cluster without Rancher$/m);
            assert.match(r.stdout, /^NO-GO: 2 item\(s\)$/m);
            noTokens(r.stdout + r.stderr);
        });

        it("an old cluster whose API answers 503: exit 1 naming the old cluster and kubectl's error, no verdict", async () => {
            oldClusterGood();
            oldApi.failAll = 503;
            const t0 = Date.now();
            const r = await run(["migrate-check", "--stack", "new", "--from", "old", "--from-kubeconfig", oldKc, "--to-kubeconfig", newKc]);
            assert.equal(r.code, 1, r.stdout + r.stderr);
            assert.ok(Date.now() - t0 < 30000, "bounded");
            assert.equal(r.stdout, "", "no go/NO-GO report from half the checks");
            assert.match(r.stderr, /^rancher-ha ops migrate-check: old cluster \(--from-kubeconfig .*old\.kubeconfig\): kubectl get backups\.resources\.cattle\.io rancher-ha-scheduled failed: .*\(ServiceUnavailable\).*the server is busy/m);
            assert.equal(newApi.gets.size, 0, "stops at the first cluster");
            noTokens(r.stdout + r.stderr);
        });

        it("a new cluster whose API answers 503: exit 1 naming the new cluster and kubectl's error", async () => {
            newCluster({ status: { driver: "imported" } }, "2026-08-07T11:00:00Z");
            newApi.failAll = 503;
            const r = await run(["migrate-check", "--stack", "new", "--from", "old", "--to-kubeconfig", newKc]);
            assert.equal(r.code, 1, r.stdout + r.stderr);
            assert.equal(r.stdout, "");
            // The fake fails object reads only (the node list is a collection path it still answers): the Restore's read fails.
            assert.match(r.stderr, /^rancher-ha ops migrate-check: new cluster \(--to-kubeconfig .*new\.kubeconfig\): kubectl get restores\.resources\.cattle\.io rancher-ha-restore failed: .*\(ServiceUnavailable\).*the server is busy/m);
            noTokens(r.stdout + r.stderr);
        });

        it("a new cluster without any objects (no Restore yet): the restore item NO-GO says pulumi up applies it", async () => {
            const r = await run(["migrate-check", "--from", "old", "--to", "new", "--to-kubeconfig", newKc]);
            assert.equal(r.code, 3, r.stdout + r.stderr);
            const got = verdicts(r.stdout);
            assert.deepEqual(got.slice(-4), [["nodes Ready", "NO-GO"], ["restore", "NO-GO"], ["local cluster object", "warn"], ["no Rancher before the restore", "go"]]);
            assert.match(r.stdout, /^NO-GO +nodes Ready +no nodes$/m);
            assert.match(r.stdout, /^NO-GO +restore +no Restore rancher-ha-restore \(pulumi up of the new stack with restoreFrom applies it\)$/m);
            assert.match(r.stdout, /^warn +local cluster object +clusters\.management\.cattle\.io local not found \(the Restore brings it\)$/m);
            assert.match(r.stdout, /^NO-GO: 2 item\(s\)$/m);
            assert.equal(oldApi.gets.size + newApi.gets.size, 0, "nothing there to read");
            noTokens(r.stdout + r.stderr);
        });
    });

    describe("backup-now with kubectl and a fake API server", function () {
        this.timeout(60000);
        let api: FakeBackupApi;
        let kubeconfig: string;
        const opts = () => ({ stack: "old", cwd: dir, kubeconfig, "timeout-minutes": "1" });
        const io = () => {
            const out = { stdout: "", stderr: "" };
            return { out, io: { out: (t: string) => { out.stdout += t; }, err: (t: string) => { out.stderr += t; }, stdinIsTty: false, readStdin: async () => "" } };
        };
        const at = () => new Date("2026-08-07T12:00:00Z");

        beforeEach(async () => {
            api = new FakeBackupApi();
            kubeconfig = path.join(dir, "kubeconfig");
            fs.writeFileSync(kubeconfig, fakeKubeconfig(await api.start(), "token-never-printed"));
        });
        afterEach(() => api.stop());

        it("applies the one-time Backup, polls until it has a file, prints it and the restoreFrom lines", async () => {
            api.outcome = { after: 2, status: { filename: FILE, lastSnapshotTs: "2026-08-07T12:00:05Z", conditions: [{ type: "Ready", status: "True", message: "Completed" }] } };
            const { out, io: i } = io();
            const code = await backupNow(opts(), i, { pollMs: 50, now: at });
            assert.equal(code, 0, out.stderr);
            const b = api.created!;
            assert.equal(b.metadata.name, "rancher-ha-now-20260807-120000");
            assert.equal(b.spec.encryptionConfigSecretName, "rancher-ha-backup-encryption");
            assert.equal(b.spec.schedule, undefined);
            assert.deepEqual(b.spec.storageLocation.s3, {
                bucketName: "rancher-backups", folder: "rancher-old", endpoint: "s3.amazonaws.com",
                credentialSecretName: "rancher-ha-backup-s3", credentialSecretNamespace: "cattle-resources-system",
            });
            assert.ok(api.gets >= 3, `polled ${api.gets} times`);
            assert.match(out.stdout, new RegExp(`^backup file: ${FILE.replace(/\./g, "\\.")}$`, "m"));
            assert.match(out.stdout, /^ {2}pulumi config set --stack <new> --path rancher-ha:restoreFrom\.backupFilename rancher-ha-scheduled-\S*\.tar\.gz\.enc$/m);
            assert.match(out.stdout, /pulumi stack output --stack old --show-secrets backupEncryptionKey \| pulumi config set --stack <new> --secret backupEncryptionKey/);
            assert.match(out.stdout, /never prunes one-time backups/);
            assert.doesNotMatch(out.stdout + out.stderr, /token-never-printed/);
        });

        it("a failing Backup: exit 1 with the operator's error and the hint", async () => {
            api.outcome = { after: 1, status: { conditions: [{ type: "Reconciling", status: "False", reason: "Error", message: "secrets \"rancher-ha-backup-s3\" not found" }, { type: "Ready", status: "Unknown", message: "Retrying" }] } };
            const { out, io: i } = io();
            assert.equal(await backupNow(opts(), i, { pollMs: 50, now: at }), 1);
            assert.match(out.stderr, /Backup rancher-ha-now-20260807-120000: failing .*not found \(a Secret the Backup or Restore names is missing/);
        });

        it("stops at the timeout when no file comes", async () => {
            api.outcome = { after: 1e9, status: {} };
            const { out, io: i } = io();
            const t0 = Date.now();
            assert.equal(await backupNow(opts(), i, { pollMs: 100, timeoutMs: 500, now: at }), 1);
            assert.ok(Date.now() - t0 < 20000);
            assert.ok(api.gets >= 1 && api.gets <= 6, `polled ${api.gets} times (at most timeout / poll + 1)`);
            assert.match(out.stderr, /timed out after 0\.5 s: Backup rancher-ha-now-20260807-120000: in progress/);
            assert.match(out.stderr, /The Backup rancher-ha-now-20260807-120000 stays/);
        });

        it("refuses a stack without a backup section", async () => {
            write("plain", base({}));
            const r = await run(["backup-now", "--stack", "plain", "--kubeconfig", kubeconfig]);
            assert.equal(r.code, 1);
            assert.match(r.stderr, /stack plain has no backup section/);
        });
    });
});

/** The resources.cattle.io API: a Backup can be created once; its status appears after `after` GETs. */
class FakeBackupApi extends FakeHttpServer {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    created?: any;
    gets = 0;
    outcome: { after: number; status: Record<string, unknown> } = { after: 0, status: {} };

    protected answer(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
        const url = new URL(req.url ?? "/", "http://x");
        const send = (code: number, o: unknown) => { res.writeHead(code, { "Content-Type": "application/json" }); res.end(JSON.stringify(o)); };
        const p = url.pathname;
        if (p === "/apis") {
            const g = kubeDiscovery(p) as { groups: unknown[] };
            return send(200, { ...g, groups: [...g.groups, { name: "resources.cattle.io", versions: [{ groupVersion: "resources.cattle.io/v1", version: "v1" }], preferredVersion: { groupVersion: "resources.cattle.io/v1", version: "v1" } }] });
        }
        if (p === "/apis/resources.cattle.io/v1") {
            return send(200, { kind: "APIResourceList", apiVersion: "v1", groupVersion: "resources.cattle.io/v1", resources: [
                { name: "backups", singularName: "backup", namespaced: false, kind: "Backup", verbs: ["create", "get", "list", "patch"] },
                { name: "restores", singularName: "restore", namespaced: false, kind: "Restore", verbs: ["create", "get", "list", "patch"] },
            ] });
        }
        if (p === "/openapi/v3") {
            // No group documents: kubectl validates only what it has a schema for (a CRD's own schema is not vendored here).
            return send(200, { paths: { "apis/resources.cattle.io/v1": { serverRelativeURL: "/openapi/v3/apis/resources.cattle.io/v1" } } });
        }
        if (p === "/openapi/v2") {
            return send(200, { swagger: "2.0", info: { title: "fake", version: "v1" }, paths: {}, definitions: {} });
        }
        if (p === "/openapi/v3/apis/resources.cattle.io/v1") {
            return send(200, { openapi: "3.0.0", info: { title: "fake", version: "v1" }, components: { schemas: {} }, paths: {
                // Only what kubectl looks for to decide the server validates fields itself (fieldValidation on PATCH).
                "/apis/resources.cattle.io/v1/backups/{name}": { patch: {
                    "x-kubernetes-group-version-kind": { group: "resources.cattle.io", version: "v1", kind: "Backup" },
                    parameters: [{ name: "fieldValidation", in: "query", schema: { type: "string" } }],
                } },
            } });
        }
        const d = kubeDiscovery(p);
        if (d !== undefined) {
            return send(200, d);
        }
        const m = /^\/apis\/resources\.cattle\.io\/v1\/backups(?:\/([^/]+))?$/.exec(p);
        if (m && req.method === "POST") {
            this.created = { ...JSON.parse(body), status: {} };
            this.created.metadata = { ...this.created.metadata, uid: "u1", resourceVersion: "1", generation: 1, creationTimestamp: "2026-08-07T12:00:00Z" };
            return send(201, this.created);
        }
        if (m && req.method === "GET" && m[1]) {
            if (!this.created || this.created.metadata.name !== m[1]) {
                return send(404, notFoundStatus(`backups.resources.cattle.io "${m[1]}"`));
            }
            this.gets++;
            return send(200, { ...this.created, status: this.gets > this.outcome.after ? this.outcome.status : {} });
        }
        send(404, notFoundStatus(p));
    }
}
