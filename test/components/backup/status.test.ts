// Status samples as `kubectl get backup|restore <name> -o json` prints them, built from what the operator writes
// (BRO v7.0.9 and v10.0.8 pkg/controllers/{backup,restore}/controller.go through wrangler's condition package; the
// status structs of pkg/apis/resources.cattle.io/v1: no omitempty up to v7, omitempty from the v10.0.8 types), each
// checked against the CRD schema of an operator that writes it.
import { strict as assert } from "assert";
import { backupResource, ENCRYPTION_CONFIG_SECRET, restoreResource, S3_CREDENTIAL_SECRET, BACKUP_NAMESPACE } from "../../../components/backup/resources";
import { backupState, conditionsOf, describeState, knownOperatorProblem, restoreState } from "../../../components/backup/status";
import { crdErrors } from "../../helpers/crdSchema";

const S3 = { bucketName: "rancher-backups", folder: "prod", endpoint: "minio.example.com:9000", credentialSecretName: S3_CREDENTIAL_SECRET, credentialSecretNamespace: BACKUP_NAMESPACE };
const UID = "3f0e5c1a-8d2b-4c7e-9a61-0b5d2e7f4c19";
const FILE = `rancher-ha-now-20260807-120000-${UID}-2026-08-07T12-00-01Z.tar.gz.enc`;

/** A live object: the rendered resource plus the metadata the API server adds, and a status. */
function live(resource: Record<string, unknown>, status: Record<string, unknown> | undefined, generation = 1): any {
    const obj: any = JSON.parse(JSON.stringify(resource));
    obj.metadata = {
        ...obj.metadata, generation, uid: "9b7c2f0e-1111-4d2a-8c3e-5e6f7a8b9c0d", resourceVersion: "123456",
        creationTimestamp: "2026-08-07T12:00:00Z",
    };
    if (status !== undefined) {
        obj.status = status;
    }
    return obj;
}

const oneTime = backupResource({ name: "rancher-ha-now-20260807-120000", s3: S3, encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET });
const scheduled = backupResource({ name: "rancher-ha-scheduled", schedule: "0 2 * * *", s3: S3, encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET });
const restore = restoreResource({ backupFilename: FILE, encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET, s3: S3 });

// Zero-valued fields a v7 operator writes with every status update (no omitempty in its BackupStatus).
const V7_BACKUP_ZERO = { backupType: "", filename: "", lastSnapshotTs: "", nextSnapshotAt: "", observedGeneration: 0, storageLocation: "", summary: "" };
const S3_ERROR = "failed to check if s3 bucket [rancher-backups] exists, error: Get \"https://minio.example.com:9000/rancher-backups/?location=\": dial tcp 10.0.0.5:9000: connect: connection refused";

const BACKUP_SAMPLES: Record<string, { obj: any; sets: string[] }> = {
    // Just created: no status yet.
    "new": { obj: live(oneTime, undefined), sets: ["106.0.10+up7.0.9", "operator-v10.0.8"] },
    // v8+: setBackupType writes the type before the run.
    "running (v8+)": { obj: live(oneTime, { backupType: "One-time" }), sets: ["109.0.5+up10.0.5", "operator-v10.0.8"] },
    // v7: success, as OnBackupChange writes it after the upload.
    "done (v7)": {
        obj: live(oneTime, {
            ...V7_BACKUP_ZERO,
            conditions: [
                { type: "Ready", status: "True", message: "Completed", lastUpdateTime: "2026-08-07T12:00:09Z" },
                { type: "Uploaded", status: "True", lastUpdateTime: "2026-08-07T12:00:09Z" },
            ],
            backupType: "One-time", filename: FILE, lastSnapshotTs: "2026-08-07T12:00:09Z", observedGeneration: 1, storageLocation: "S3",
        }),
        sets: ["103.0.4+up4.0.4", "106.0.10+up7.0.9"],
    },
    // v10.0.8: the same, without the empty fields.
    "done (v10.0.8)": {
        obj: live(oneTime, {
            conditions: [
                { type: "Ready", status: "True", message: "Completed", lastUpdateTime: "2026-08-07T12:00:09Z" },
                { type: "Uploaded", status: "True", lastUpdateTime: "2026-08-07T12:00:09Z" },
            ],
            backupType: "One-time", filename: FILE, lastSnapshotTs: "2026-08-07T12:00:09Z", observedGeneration: 1, storageLocation: "S3",
        }),
        sets: ["109.0.5+up10.0.5", "operator-v10.0.8"],
    },
    // v7: the bucket is unreachable; setReconcilingCondition on a Backup that had no conditions.
    "failing (v7)": {
        obj: live(oneTime, {
            ...V7_BACKUP_ZERO,
            conditions: [
                { type: "Reconciling", status: "False", reason: "Error", message: S3_ERROR, lastUpdateTime: "2026-08-07T12:00:02Z" },
                { type: "Ready", status: "Unknown", message: "Retrying", lastUpdateTime: "2026-08-07T12:00:02Z" },
            ],
        }),
        sets: ["103.0.4+up4.0.4", "106.0.10+up7.0.9"],
    },
    // A recurring backup whose first run succeeded and whose next run cannot find the encryption Secret.
    "recurring, later run failing (v10.0.8)": {
        obj: live(scheduled, {
            conditions: [
                { type: "Ready", status: "True", message: "Retrying", lastUpdateTime: "2026-08-08T02:00:01Z" },
                { type: "Uploaded", status: "True", lastUpdateTime: "2026-08-07T02:00:09Z" },
                { type: "Reconciling", status: "False", reason: "Error", message: `secrets "${ENCRYPTION_CONFIG_SECRET}" not found`, lastUpdateTime: "2026-08-08T02:00:01Z" },
            ],
            backupType: "Recurring", filename: `rancher-ha-scheduled-${UID}-2026-08-07T02-00-00Z.tar.gz.enc`,
            lastSnapshotTs: "2026-08-07T02:00:09Z", nextSnapshotAt: "2026-08-08T02:00:00Z", observedGeneration: 1, storageLocation: "S3",
        }),
        sets: ["109.0.5+up10.0.5", "operator-v10.0.8"],
    },
    // A recurring backup, done, next run scheduled.
    "recurring, done (v10.0.8)": {
        obj: live(scheduled, {
            conditions: [
                { type: "Ready", status: "True", message: "Completed", lastUpdateTime: "2026-08-08T02:00:09Z" },
                { type: "Uploaded", status: "True", lastUpdateTime: "2026-08-08T02:00:09Z" },
            ],
            backupType: "Recurring", filename: `rancher-ha-scheduled-${UID}-2026-08-08T02-00-00Z.tar.gz.enc`,
            lastSnapshotTs: "2026-08-08T02:00:09Z", nextSnapshotAt: "2026-08-09T02:00:00Z", observedGeneration: 1, storageLocation: "S3",
        }),
        sets: ["109.0.5+up10.0.5", "operator-v10.0.8"],
    },
    // The spec was edited after the run (generation 2): the file belongs to the old spec.
    "done, then edited": {
        obj: live(oneTime, {
            conditions: [{ type: "Ready", status: "True", message: "Completed" }, { type: "Uploaded", status: "True" }],
            backupType: "One-time", filename: FILE, lastSnapshotTs: "2026-08-07T12:00:09Z", observedGeneration: 1, storageLocation: "S3",
        }, 2),
        sets: ["operator-v10.0.8"],
    },
};

const RESTORE_SAMPLES: Record<string, { obj: any; sets: string[] }> = {
    "new": { obj: live(restore, undefined), sets: ["106.0.10+up7.0.9", "operator-v10.0.8"] },
    "done (v7)": {
        obj: live(restore, {
            conditions: [{ type: "Ready", status: "True", message: "Completed", lastUpdateTime: "2026-08-07T12:10:41Z" }],
            restoreCompletionTs: "2026-08-07T12:10:41Z", observedGeneration: 1, backupSource: "S3", summary: "",
        }),
        sets: ["103.0.4+up4.0.4", "106.0.10+up7.0.9"],
    },
    "done (v10.0.8)": {
        obj: live(restore, {
            conditions: [{ type: "Ready", status: "True", message: "Completed", lastUpdateTime: "2026-08-07T12:10:41Z" }],
            restoreCompletionTs: "2026-08-07T12:10:41Z", observedGeneration: 1, backupSource: "S3",
        }),
        sets: ["109.0.5+up10.0.5", "operator-v10.0.8"],
    },
    // Objects refused (e.g. by the Rancher webhook); the condition keeps a fixed text, the details are in the log.
    "failing on namespaced resources (v7)": {
        obj: live(restore, {
            conditions: [
                { type: "Reconciling", status: "False", reason: "Error", message: "error restoring namespaced resources, check logs for exact error", lastUpdateTime: "2026-08-07T12:05:13Z" },
                { type: "Ready", status: "Unknown", message: "Retrying", lastUpdateTime: "2026-08-07T12:05:13Z" },
            ],
            restoreCompletionTs: "", observedGeneration: 0, backupSource: "", summary: "",
        }),
        sets: ["103.0.4+up4.0.4", "106.0.10+up7.0.9"],
    },
    "failing to decrypt (v10.0.8)": {
        obj: live(restore, {
            conditions: [
                { type: "Reconciling", status: "False", reason: "Error", message: "error decrypting encrypted resource [secrets]: no matching prefix found, provide same encryption config as used for backup" },
                { type: "Ready", status: "Unknown", message: "Retrying" },
            ],
        }),
        sets: ["109.0.5+up10.0.5", "operator-v10.0.8"],
    },
    "failing: no such file (v10.0.8)": {
        obj: live(restore, {
            conditions: [
                { type: "Reconciling", status: "False", reason: "Error", message: `failed to download s3 backup: no backup files found with prefix [prod/${FILE}] in bucket [rancher-backups]` },
                { type: "Ready", status: "Unknown", message: "Retrying" },
            ],
        }),
        sets: ["operator-v10.0.8"],
    },
};

describe("backup/status", () => {
    describe("the samples are what the operator's CRDs admit", () => {
        for (const [what, { obj, sets }] of [...Object.entries(BACKUP_SAMPLES), ...Object.entries(RESTORE_SAMPLES)]) {
            it(`${obj.kind} ${what}`, () => {
                for (const set of sets) {
                    assert.deepEqual(crdErrors(set, obj), [], set);
                }
            });
        }

        it("v10.0.8's schema refuses a v7-style empty backupType, so the samples are checked per version", () => {
            assert.ok(crdErrors("operator-v10.0.8", BACKUP_SAMPLES["failing (v7)"].obj).some(e => /backupType must be equal to one of/.test(e)));
        });
    });

    describe("Backup", () => {
        const state = (k: string) => backupState(BACKUP_SAMPLES[k].obj);

        it("new and running backups are neither done nor failed", () => {
            for (const k of ["new", "running (v8+)"]) {
                const s = state(k);
                assert.equal(s.done, false, k);
                assert.equal(s.failed, false, k);
                assert.equal(s.filename, undefined, k);
            }
            assert.equal(state("running (v8+)").backupType, "One-time");
        });

        it("a finished one-time backup is done and names its file", () => {
            for (const k of ["done (v7)", "done (v10.0.8)"]) {
                assert.deepEqual(state(k), {
                    done: true, failed: false, filename: FILE, message: "Completed", lastSnapshotTs: "2026-08-07T12:00:09Z",
                    nextSnapshotAt: undefined, backupType: "One-time", storageLocation: "S3", hint: undefined,
                }, k);
            }
        });

        it("a failing backup reports the operator's error, with a hint", () => {
            const s = state("failing (v7)");
            assert.equal(s.done, false);
            assert.equal(s.failed, true);
            assert.equal(s.message, S3_ERROR);
            assert.match(s.hint!, /bucket is unreachable/);
            assert.equal(s.filename, undefined, "v7 writes filename \"\": no file");
        });

        it("a recurring backup whose latest run fails is not done, and keeps naming the last good file", () => {
            const s = state("recurring, later run failing (v10.0.8)");
            assert.equal(s.done, false);
            assert.equal(s.failed, true);
            assert.equal(s.filename, `rancher-ha-scheduled-${UID}-2026-08-07T02-00-00Z.tar.gz.enc`);
            assert.equal(s.message, `secrets "${ENCRYPTION_CONFIG_SECRET}" not found`);
            assert.match(s.hint!, /a Secret the Backup or Restore names is missing/);
            const ok = state("recurring, done (v10.0.8)");
            assert.equal(ok.done, true);
            assert.equal(ok.nextSnapshotAt, "2026-08-09T02:00:00Z");
            assert.equal(ok.backupType, "Recurring");
        });

        it("a backup edited after its run is not done until the operator sees the new spec", () => {
            assert.equal(state("done, then edited").done, false);
        });
    });

    describe("Restore", () => {
        const state = (k: string) => restoreState(RESTORE_SAMPLES[k].obj);

        it("a new restore is in progress", () => {
            assert.deepEqual(state("new"), { done: false, failed: false, message: undefined, completedAt: undefined, backupSource: undefined, hint: undefined });
        });

        it("a completed restore is done when restoreCompletionTs is set", () => {
            for (const k of ["done (v7)", "done (v10.0.8)"]) {
                assert.deepEqual(state(k), {
                    done: true, failed: false, message: "Completed", completedAt: "2026-08-07T12:10:41Z", backupSource: "S3", hint: undefined,
                }, k);
            }
        });

        it("refused objects point at the operator's log and the webhook pitfall", () => {
            const s = state("failing on namespaced resources (v7)");
            assert.equal(s.done, false);
            assert.equal(s.failed, true);
            assert.equal(s.completedAt, undefined, "v7 writes restoreCompletionTs \"\"");
            assert.match(s.hint!, /kubectl logs -n cattle-resources-system -l app.kubernetes.io\/instance=rancher-backup/);
            assert.match(s.hint!, /backup-restore-operator#428/);
        });

        it("a wrong encryption config and a wrong file name say so", () => {
            assert.match(state("failing to decrypt (v10.0.8)").hint!, /same file \(same key and key name\)/);
            assert.match(state("failing: no such file (v10.0.8)").hint!, /relative to the folder/);
        });

        it("describes a state in one line", () => {
            assert.equal(describeState("Restore", "rancher-ha-restore", state("failing: no such file (v10.0.8)")).split("\n").length, 1);
            assert.match(describeState("Restore", "rancher-ha-restore", state("failing on namespaced resources (v7)")),
                /^Restore rancher-ha-restore: failing \(the operator retries\): error restoring namespaced resources/);
            assert.equal(describeState("Backup", "b", backupState(BACKUP_SAMPLES["done (v10.0.8)"].obj)),
                `Backup b: done, file ${FILE}: Completed`);
            assert.equal(describeState("Restore", "r", state("new")), "Restore r: in progress");
        });
    });

    describe("robustness", () => {
        it("reads nothing from malformed objects rather than throwing", () => {
            for (const obj of [undefined, null, "text", 42, [], {}, { status: null }, { status: { conditions: "x" } },
                { status: { conditions: [null, 3, { status: "True" }, { type: 5 }] } }]) {
                assert.deepEqual(conditionsOf(obj), [], JSON.stringify(obj));
                assert.equal(backupState(obj).done, false);
                assert.equal(restoreState(obj).done, false);
            }
        });

        it("a Reconciling condition without reason Error is not a failure", () => {
            const obj = { status: { conditions: [{ type: "Reconciling", status: "True" }] } };
            assert.equal(restoreState(obj).failed, false);
        });

        it("has no hint for an unknown message", () => {
            assert.equal(knownOperatorProblem("something new"), undefined);
            assert.match(knownOperatorProblem('resourcesets.resources.cattle.io "rancher-resource-set-full" not found')!, /before Rancher 2.11/);
            assert.match(knownOperatorProblem("malformed secret [s3] in namespace [x], the following keys were not found in the data field: [secretKey]")!, /accessKey and secretKey/);
        });
    });
});
