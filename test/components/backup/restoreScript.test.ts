// The restore script as the local Command runs it (/bin/sh -c, stdin bundle), with the real kubectl against a fake
// API server (test/helpers/fakeObjectApi.ts) whose Restore completes or fails as a test says; and its pure parts.
import { strict as assert } from "assert";
import * as fs from "fs";
import {
    LOCAL_CLUSTER_PATCH, localClusterNeedsReset, restoreBundle, restoreDeleteScript, restoreScript, hintForSh,
} from "../../../components/backup/restoreScript";
import { knownOperatorProblem, OPERATOR_PROBLEMS } from "../../../components/backup/status";
import { restoreParts } from "../../../components/backup/RancherRestore";
import type { RestoreFromSettings } from "../../../components/config";
import * as pulumi from "@pulumi/pulumi";
import { fakeKubeconfig, kubectlSandbox } from "../../helpers/fakeKubeApi";
import { FakeObjectApi, FakeResource, mergePatch } from "../../helpers/fakeObjectApi";
import { runShellScript } from "../../helpers/run";
import { requireTool, toolMissing } from "../../helpers/tools";
import { crdErrors } from "../../helpers/crdSchema";

const FILE = "rancher-ha-scheduled-0d4f6c1e-9a8b-4c2d-8e7f-1a2b3c4d5e6f-2026-08-07T12-00-00Z.tar.gz.enc";
const OTHER = "rancher-ha-now-0d4f6c1e-9a8b-4c2d-8e7f-1a2b3c4d5e6f-2026-08-08T09-30-00Z.tar.gz.enc";
const settings = (over: Partial<RestoreFromSettings> = {}): RestoreFromSettings => ({
    backupFilename: FILE, encrypted: true, timeoutMinutes: 30, chartVersion: "106.0.10+up7.0.9",
    s3: { bucketName: "rancher-backups", folder: "rancher-old", endpoint: "s3.amazonaws.com", insecureTLSSkipVerify: false, accessKey: "AK", secretKey: pulumi.secret("sk") },
    encryptionKey: pulumi.secret(Buffer.alloc(32, 7).toString("base64")),
    ...over,
});

describe("restore script", () => {
    describe("pure parts", () => {
        it("the Restore: prune false, the restore stage's own Secrets, valid for the operator's CRD", () => {
            const { restore } = restoreParts(settings(), "rke2");
            const spec = (restore as { spec: Record<string, any> }).spec;
            assert.equal(spec.prune, false, "a migration never prunes");
            assert.equal(spec.backupFilename, FILE);
            assert.equal(spec.encryptionConfigSecretName, "rancher-ha-restore-encryption");
            assert.equal(spec.storageLocation.s3.credentialSecretName, "rancher-ha-restore-s3");
            assert.equal(spec.storageLocation.s3.folder, "rancher-old");
            assert.deepEqual(crdErrors("106.0.10+up7.0.9", restore), []);
            const plain = restoreParts(settings({ backupFilename: FILE.replace(/\.enc$/, ""), encrypted: false, encryptionKey: undefined }), "rke2");
            assert.equal((plain.restore as { spec: Record<string, unknown> }).spec.encryptionConfigSecretName, undefined);
        });

        it("the local cluster object is reset only when it describes another distribution", () => {
            assert.equal(localClusterNeedsReset("rke2", { driver: "rancherKubernetesEngine", provider: "rke", label: "rke" }), true);
            assert.equal(localClusterNeedsReset("rke2", { driver: "imported" }), false);
            assert.equal(localClusterNeedsReset("rke2", { driver: "rke2", provider: "rke2", label: "rke2" }), false);
            assert.equal(localClusterNeedsReset("rke2", { driver: "k3s" }), true);
            assert.equal(localClusterNeedsReset("rke", { driver: "rancherKubernetesEngine", provider: "rke", label: "rke" }), false);
            assert.equal(localClusterNeedsReset("rke", { provider: "rke2" }), true);
        });

        it("refuses options that would make an unbounded or broken script", () => {
            assert.throws(() => restoreScript({ backupFilename: FILE, distribution: "rke2", timeoutMinutes: 0 }), /timeoutMinutes/);
            assert.throws(() => restoreScript({ backupFilename: FILE, distribution: "rke2", timeoutMinutes: 5, intervalSeconds: 1.5 }), /intervalSeconds/);
            assert.throws(() => restoreScript({ backupFilename: "x'; rm -rf /; '.tar.gz", distribution: "rke2", timeoutMinutes: 5 }), /not a backup file name/);
        });

        it("the delete does nothing to the cluster", async () => {
            const r = await runShellScript(restoreDeleteScript(), "", { PATH: "/usr/bin:/bin" });
            assert.equal(r.code, 0);
            assert.equal(r.stdout, "");
            assert.match(r.stderr, /stays on the cluster/);
        });

        it("the shell gives the same hint as knownOperatorProblem for every known message, and none for others", async () => {
            const messages = [
                "error restoring namespaced resources, check logs for exact error",
                "error decrypting encrypted resource [x], provide same encryption config as used for backup",
                "no encryptionConfig provided",
                "no backup files found with prefix rancher-ha-x",
                "failed to check if s3 bucket [rancher-backups] exists, error: Access Denied",
                "s3 bucket [rancher-backups] not found",
                "resourcesets.resources.cattle.io \"rancher-resource-set-full\" not found",
                "malformed secret",
                "secrets \"rancher-ha-restore-s3\" not found",
                "something else entirely",
            ];
            const sh = `${hintForSh()}\nfor m in "$@"; do printf '%s\\n' "$(hint_for "$m")"; done`;
            const { spawnSync } = await import("child_process");
            const r = spawnSync("/bin/sh", ["-c", sh, "sh", ...messages], { encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            const got = r.stdout.split("\n").slice(0, messages.length);
            assert.deepEqual(got, messages.map(m => knownOperatorProblem(m) ?? ""));
            assert.equal(new Set(got.filter(Boolean)).size, OPERATOR_PROBLEMS.length, "every known problem is exercised");
        });

        it("merge patch helper (test double) follows RFC 7386", () => {
            assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: null, e: 4 }, f: null }), { a: 1, b: { d: 3, e: 4 } });
        });
    });

    describe("with kubectl and a fake API server", function () {
        this.timeout(90000);
        before(function () {
            requireTool(this, toolMissing("kubectl", ["version", "--client"]));
        });

        const RESOURCES: FakeResource[] = [
            { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true },
            { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true },
            { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true },
            { group: "admissionregistration.k8s.io", version: "v1", plural: "validatingwebhookconfigurations", kind: "ValidatingWebhookConfiguration", namespaced: false },
            { group: "admissionregistration.k8s.io", version: "v1", plural: "mutatingwebhookconfigurations", kind: "MutatingWebhookConfiguration", namespaced: false },
            { group: "resources.cattle.io", version: "v1", plural: "restores", kind: "Restore", namespaced: false, statusSubresource: true },
            { group: "management.cattle.io", version: "v3", plural: "clusters", kind: "Cluster", namespaced: false, statusSubresource: true },
            { group: "provisioning.cattle.io", version: "v1", plural: "clusters", kind: "Cluster", namespaced: true },
        ];
        const RESTORE = "/apis/resources.cattle.io/v1/restores/rancher-ha-restore";
        const LOCAL = "/apis/management.cattle.io/v3/clusters/local";
        const PROV = "/apis/provisioning.cattle.io/v1/namespaces/fleet-local/clusters/local";
        const oldLocal = () => ({
            apiVersion: "management.cattle.io/v3", kind: "Cluster",
            metadata: {
                labels: { "provider.cattle.io": "rke", keep: "me" },
                annotations: { "management.cattle.io/current-cluster-controllers-version": "v1.30.14", other: "x" },
            },
            spec: { displayName: "local", rancherKubernetesEngineConfig: { kubernetesVersion: "v1.30.14-rancher1-1" } },
            status: { driver: "rancherKubernetesEngine", provider: "rke", version: { gitVersion: "v1.30.14" }, conditions: [{ type: "Ready", status: "True" }] },
        });
        const completed = { restoreCompletionTs: "2026-08-08T10:00:00Z", backupSource: "S3", conditions: [{ type: "Ready", status: "True", message: "Completed" }] };

        let api: FakeObjectApi;
        let sandbox: ReturnType<typeof kubectlSandbox>;
        let kubeconfig: string;
        beforeEach(async () => {
            sandbox = kubectlSandbox("rancher-ha-restore-test-");
            api = new FakeObjectApi(RESOURCES);
            kubeconfig = fakeKubeconfig(await api.start(), "token-never-printed");
        });
        afterEach(async () => {
            await api.stop();
            sandbox.remove();
        });

        /**
         * The operator: a Restore the script created completes after `after` GETs of it (or fails with `error` until
         * then, or forever). Restores put in place by a test are left as they are.
         */
        function operator(o: { after: number; error?: string; forever?: boolean }): void {
            let n = 0;
            api.onGet = (p, obj) => {
                if (p !== RESTORE || !api.writes.some(w => w.method === "POST" && w.path === "/apis/resources.cattle.io/v1/restores")) {
                    return;
                }
                n++;
                if (o.error && (o.forever || n <= o.after)) {
                    obj.status = { conditions: [{ type: "Reconciling", status: "False", reason: "Error", message: o.error }, { type: "Ready", status: "Unknown", message: "Retrying" }] };
                } else if (n > o.after) {
                    obj.status = completed;
                }
            };
        }
        const run = (over: { file?: string; timeoutMinutes?: number; distribution?: "rke" | "rke2" } = {}) => {
            const s = settings({ ...(over.file ? { backupFilename: over.file } : {}) });
            const { restore } = restoreParts(s, over.distribution ?? "rke2");
            const script = restoreScript({ backupFilename: s.backupFilename, distribution: over.distribution ?? "rke2", timeoutMinutes: over.timeoutMinutes ?? 1, intervalSeconds: 1 });
            return runShellScript(script, restoreBundle(kubeconfig, restore), sandbox.env, 80000);
        };
        const written = (method: string, path: string) => api.writes.filter(w => w.method === method && w.path === path);

        it("applies the Restore, waits for it, resets the RKE1 local cluster and removes the old stack's backup Secrets", async () => {
            api.put("clusters", "local", oldLocal(), undefined, "management.cattle.io");
            api.put("clusters", "local", { metadata: { labels: { "provider.cattle.io": "rke" } } }, "fleet-local", "provisioning.cattle.io");
            const managed = { metadata: { labels: { "app.kubernetes.io/managed-by": "rancher-ha" } }, data: { accessKey: "T0xE" } };
            api.put("secrets", "rancher-ha-backup-s3", managed, "cattle-resources-system");
            api.put("secrets", "rancher-ha-backup-encryption", managed, "cattle-resources-system");
            api.put("secrets", "someone-elses", { data: {} }, "cattle-resources-system");
            operator({ after: 2 });

            const r = await run();
            assert.equal(r.code, 0, r.stderr);
            const [created] = written("POST", "/apis/resources.cattle.io/v1/restores");
            assert.ok(created, "the Restore was created");
            assert.deepEqual(created.body, restoreParts(settings(), "rke2").restore, "exactly the rendered Restore");
            assert.ok((api.gets.get(RESTORE) ?? 0) >= 3, "waited for it");
            assert.match(r.stdout, new RegExp(`^restored ${FILE.replace(/\./g, "\\.")} at 2026-08-08T10:00:00Z$`, "m"));
            assert.match(r.stdout, /^local cluster: reset to imported \(was driver rancherKubernetesEngine, provider rke, label rke; rancher#41260\)$/m);

            const local = api.objects.get(LOCAL)!;
            assert.deepEqual((local.metadata as any).labels, { keep: "me" });
            assert.deepEqual((local.metadata as any).annotations, { other: "x" });
            assert.deepEqual(local.status, { driver: "imported", conditions: [{ type: "Ready", status: "True" }] });
            assert.deepEqual(written("PATCH", `${LOCAL}/status`).map(w => w.body), [LOCAL_CLUSTER_PATCH.status], "status through its subresource");
            assert.deepEqual((api.objects.get(PROV)!.metadata as any).labels, {});

            assert.equal(api.objects.has("/api/v1/namespaces/cattle-resources-system/secrets/rancher-ha-backup-s3"), false);
            assert.equal(api.objects.has("/api/v1/namespaces/cattle-resources-system/secrets/rancher-ha-backup-encryption"), false);
            assert.ok(api.objects.has("/api/v1/namespaces/cattle-resources-system/secrets/someone-elses"), "only rancher-ha's own");
            assert.doesNotMatch(r.stdout + r.stderr, /token-never-printed/);
            assert.deepEqual(fs.readdirSync(sandbox.env.TMPDIR!), [], "the work dir with the kubeconfig is removed");
        });

        it("patches status on the object itself where the CRD has no status subresource (older Rancher)", async () => {
            api = await restartWith(RESOURCES.map(r => (r.group === "management.cattle.io" ? { ...r, statusSubresource: false } : r)));
            api.put("clusters", "local", oldLocal(), undefined, "management.cattle.io");
            operator({ after: 0 });
            const r = await run();
            assert.equal(r.code, 0, r.stderr);
            assert.equal((api.objects.get(LOCAL)!.status as any).driver, "imported");
            assert.equal((api.objects.get(LOCAL)!.status as any).provider, undefined);
        });

        it("re-run after success: no second Restore, nothing patched", async () => {
            api.put("restores", "rancher-ha-restore", { ...restoreParts(settings(), "rke2").restore, status: completed } as Record<string, unknown>);
            api.put("clusters", "local", { metadata: { labels: { "provider.cattle.io": "rke2" } }, status: { driver: "imported" } }, undefined, "management.cattle.io");
            api.put("deployments", "rancher", {}, "cattle-system");
            const r = await run();
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(api.writes, [], "no write at all");
            assert.match(r.stdout, /^local cluster: left to Rancher \(Rancher is installed\)$/m);
        });

        it("refuses to restore onto a cluster where Rancher's webhook already runs (backup-restore-operator#428)", async () => {
            api.put("validatingwebhookconfigurations", "rancher.cattle.io", {});
            const r = await run();
            assert.equal(r.code, 1);
            assert.match(r.stderr, /already on this cluster: a restore onto it loops on the webhook's denials \(backup-restore-operator#428/);
            assert.deepEqual(api.writes, [], "no Restore created");
        });

        it("refuses a second restore of another file over a completed one", async () => {
            api.put("restores", "rancher-ha-restore", { ...restoreParts(settings({ backupFilename: OTHER }), "rke2").restore, status: completed } as Record<string, unknown>);
            const r = await run();
            assert.equal(r.code, 1);
            assert.match(r.stderr, new RegExp(`restored from ${OTHER.replace(/\./g, "\\.")} \\(completed 2026-08-08T10:00:00Z\\)`));
            assert.match(r.stderr, /build a new cluster \(a new stack\), or set restoreFrom\.backupFilename back/);
            assert.deepEqual(api.writes, []);
        });

        it("replaces an unfinished Restore of another file (a wrong file name fixed)", async () => {
            api.put("restores", "rancher-ha-restore", { ...restoreParts(settings({ backupFilename: OTHER }), "rke2").restore,
                status: { conditions: [{ type: "Reconciling", status: "False", reason: "Error", message: "no backup files found with prefix x" }] } } as Record<string, unknown>);
            operator({ after: 1 });
            const r = await run();
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(api.writes.map(w => w.method), ["DELETE", "POST"]);
            assert.match(r.stderr, /replacing the unfinished Restore rancher-ha-restore of rancher-ha-now-/);
            assert.equal((api.objects.get(RESTORE)!.spec as any).backupFilename, FILE);
        });

        it("a failing Restore: reports the operator's error with its fix, then times out with the log hint; bounded", async () => {
            operator({ after: 0, error: "error decrypting encrypted resource [secrets], provide same encryption config as used for backup", forever: true });
            const r = await run({ timeoutMinutes: 1 });
            assert.equal(r.code, 1);
            assert.ok(r.ms < 80000, `bounded (${r.ms} ms)`);
            const reports = r.stderr.split("\n").filter(l => l.startsWith("rancher-ha: Restore rancher-ha-restore: error decrypting"));
            assert.equal(reports.length, 1, "reported once, not on every poll");
            assert.match(reports[0], /\(the encryption config does not match the backup's/);
            assert.match(r.stderr, /timed out after 1 min waiting for the Restore rancher-ha-restore of .*: error decrypting/);
            assert.match(r.stderr, /The Restore stays and the operator keeps retrying: fix the cause \(kubectl logs -n cattle-resources-system -l app\.kubernetes\.io\/instance=rancher-backup/);
            assert.equal(r.stdout, "");
            assert.deepEqual(fs.readdirSync(sandbox.env.TMPDIR!), []);
        });

        it("an unreachable API: fails at once with kubectl's error, creates nothing", async () => {
            api.failAll = 503;
            const r = await run();
            assert.equal(r.code, 1);
            assert.match(r.stderr, /cannot read restores\.resources\.cattle\.io rancher-ha-restore .*is the API reachable\?/);
            assert.deepEqual(api.writes, []);
        });

        it("a local cluster that already fits RKE2 is left alone", async () => {
            api.put("clusters", "local", { metadata: { labels: { "provider.cattle.io": "rke2" } }, status: { driver: "imported", provider: "rke2" } }, undefined, "management.cattle.io");
            operator({ after: 0 });
            const r = await run();
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, /^local cluster: fits rke2 \(driver imported, provider rke2, label rke2\)$/m);
            assert.deepEqual(api.writes.map(w => w.method), ["POST"]);
        });

        async function restartWith(resources: FakeResource[]): Promise<FakeObjectApi> {
            await api.stop();
            const next = new FakeObjectApi(resources);
            kubeconfig = fakeKubeconfig(await next.start(), "token-never-printed");
            return next;
        }
    });
});
