// The backup stage under mocks (with the operator it uses, BackupOperator): charts in order, the Secrets secret, the
// scheduled Backup after the operator, the key; the charts keep the URNs they had as children of the backup stage.
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { RancherBackup } from "../../../components/backup/RancherBackup";
import { BackupOperator } from "../../../components/backup/BackupOperator";
import { backupKeyFrom } from "../../../components/backup/key";
import type { BackupSettings } from "../../../components/config";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource, settle } from "../../helpers/mocks";
import { crdErrors, vendoredCrdSets } from "../../helpers/crdSchema";

const SEED = "-----BEGIN PRIVATE KEY-----\nseed\n-----END PRIVATE KEY-----\n";
const settings = (over: Partial<BackupSettings> = {}): BackupSettings => ({
    schedule: "0 */6 * * *", retentionCount: 28, resourceSet: "rancher-resource-set-full", chartVersion: "106.0.10+up7.0.9",
    s3: { bucketName: "rancher-backups", folder: "prod", endpoint: "minio.example.com:9000", insecureTLSSkipVerify: false, accessKey: "AK", secretKey: pulumi.secret("s3-secret-key") },
    ...over,
});

describe("RancherBackup (mocks)", () => {
    let recorded: RecordedResource[];
    let provider: k8s.Provider;
    beforeEach(async () => {
        recorded = await recordResources({ outputs: a => a.type === "tls:index/privateKey:PrivateKey" ? { privateKeyPem: SEED } : undefined });
        provider = new k8s.Provider("k", { kubeconfig: "apiVersion: v1\nkind: Config\n" });
    });

    it("installs the CRD chart, then the operator, then the scheduled encrypted Backup; secrets stay secret", async () => {
        const backupOperator = new BackupOperator("rancher-backup", { rancherVersion: "2.11.16", chartVersion: "106.0.10+up7.0.9", provider });
        const b = new RancherBackup("rancher-backup", { settings: settings(), operator: backupOperator, provider });
        await allRegistered(recorded);
        const releases = byType(recorded, "kubernetes:helm.sh/v3:Release");
        const crd = releases.find(r => r.inputs.chart === "rancher-backup-crd")!;
        const operator = releases.find(r => r.inputs.chart === "rancher-backup")!;
        assert.equal(crd.inputs.version, "106.0.10+up7.0.9");
        assert.equal(crd.inputs.namespace, "cattle-resources-system");
        assert.ok(dependsOn(recorded, operator, crd), "the operator checks that its CRDs exist");
        const [cr] = byType(recorded, "kubernetes:resources.cattle.io/v1:Backup");
        assert.ok(dependsOn(recorded, cr, operator));
        // Before BackupOperator, the charts were the backup stage's children: each is aliased to that URN, so an
        // existing stack keeps its releases (a new URN would install the chart again beside itself and fail).
        for (const r of [crd, operator, byType(recorded, "kubernetes:core/v1:Namespace")[0]]) {
            const old = `urn:pulumi:test::rancher-ha::rancher-ha:backup:RancherBackup$${r.type}::${r.name}`;
            assert.ok(r.urn.includes("rancher-ha:backup:BackupOperator$"), r.urn);
            assert.ok(r.aliases?.includes(old), `${r.name}: aliases ${JSON.stringify(r.aliases)} hold ${old}`);
        }
        assert.equal(cr.inputs.spec.schedule, "0 */6 * * *");
        assert.equal(cr.inputs.spec.retentionCount, 28);
        assert.equal(cr.inputs.spec.encryptionConfigSecretName, "rancher-ha-backup-encryption");
        assert.equal(cr.inputs.spec.storageLocation.s3.credentialSecretName, "rancher-ha-backup-s3");
        // What the engine gets is a valid Backup for the operator of that line.
        assert.ok(vendoredCrdSets().includes("106.0.10+up7.0.9"));
        assert.deepEqual(crdErrors("106.0.10+up7.0.9", { apiVersion: cr.inputs.apiVersion, kind: cr.inputs.kind, metadata: cr.inputs.metadata, spec: cr.inputs.spec }), []);
        const secrets = byType(recorded, "kubernetes:core/v1:Secret");
        assert.equal(secrets.length, 2);
        for (const s of secrets) {
            assert.ok(s.secretInputs.includes("stringData"), `${s.name}: stringData secret`);
            assert.ok(dependsOn(recorded, cr, s), `the Backup waits for ${s.name}`);
        }
        const s3 = secrets.find(s => s.inputs.metadata.name === "rancher-ha-backup-s3")!;
        assert.deepEqual(s3.inputs.stringData, { accessKey: "AK", secretKey: "s3-secret-key" });
        const key = await settle(b.encryptionKey);
        assert.equal(key.secret, true);
        assert.equal(key.value, backupKeyFrom(SEED), "generated once from a key kept in state");
        assert.equal(Buffer.from(key.value, "base64").length, 32);
        const enc = secrets.find(s => s.inputs.metadata.name === "rancher-ha-backup-encryption")!;
        assert.ok(enc.inputs.stringData["encryption-provider-config.yaml"].includes(key.value));
    });

    it("the stack's own key wins, and no seed key is made", async () => {
        const own = Buffer.alloc(32, 9).toString("base64");
        const operator = new BackupOperator("rb", { rancherVersion: "2.11.16", provider });
        const b = new RancherBackup("rb", { settings: settings({ encryptionKey: pulumi.secret(own) }), operator, provider });
        await allRegistered(recorded);
        assert.equal((await settle(b.encryptionKey)).value, own);
        assert.equal(byType(recorded, "tls:index/privateKey:PrivateKey").length, 0);
    });
});
