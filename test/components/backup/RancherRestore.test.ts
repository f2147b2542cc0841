// The restore stage under mocks: its own Secrets (the encryption config only for an encrypted file), the Command after
// them and the operator, the rendered script and Restore. The whole program's order: test/index.migrate.test.ts.
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { BackupOperator } from "../../../components/backup/BackupOperator";
import { RancherRestore, restoreParts } from "../../../components/backup/RancherRestore";
import type { RestoreFromSettings } from "../../../components/config";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource } from "../../helpers/mocks";

const FILE = "rancher-ha-scheduled-0d4f6c1e-9a8b-4c2d-8e7f-1a2b3c4d5e6f-2026-08-07T12-00-00Z.tar.gz";
const settings = (over: Partial<RestoreFromSettings> = {}): RestoreFromSettings => ({
    backupFilename: FILE, encrypted: false, timeoutMinutes: 20, chartVersion: "106.0.10+up7.0.9",
    s3: { bucketName: "rancher-backups", endpoint: "s3.amazonaws.com", insecureTLSSkipVerify: false, accessKey: "AK", secretKey: pulumi.secret("sk") },
    ...over,
});

describe("RancherRestore (mocks)", () => {
    let recorded: RecordedResource[];
    let provider: k8s.Provider;
    let operator: BackupOperator;
    beforeEach(async () => {
        recorded = await recordResources();
        provider = new k8s.Provider("k", { kubeconfig: "apiVersion: v1\nkind: Config\n", clusterIdentifier: "test" });
        operator = new BackupOperator("rancher-backup", { rancherVersion: "2.11.16", provider });
    });

    it("a plain file: the S3 Secret only, then the Command with the rendered script; kubeconfig secret on stdin", async () => {
        new RancherRestore("rancher-restore", { settings: settings(), distribution: "rke2", operator, provider, kubeconfig: pulumi.secret("KC-SECRET") });
        await allRegistered(recorded);
        const secrets = byType(recorded, "kubernetes:core/v1:Secret");
        assert.deepEqual(secrets.map(s => s.inputs.metadata.name), ["rancher-ha-restore-s3"]);
        assert.ok(secrets[0].secretInputs.includes("stringData"));
        const [cmd] = byType(recorded, "command:local:Command");
        assert.ok(dependsOn(recorded, cmd, secrets[0]));
        assert.ok(dependsOn(recorded, cmd, byType(recorded, "kubernetes:helm.sh/v3:Release").find(r => r.inputs.chart === "rancher-backup")!));
        assert.equal(cmd.inputs.create, restoreParts(settings(), "rke2").script);
        assert.ok(cmd.secretInputs.includes("stdin"));
        assert.match(Buffer.from(cmd.inputs.stdin.split("\n")[0].split(" ")[2], "base64").toString(), /^KC-SECRET$/);
        assert.equal(cmd.deleteBeforeReplace, false);
        assert.deepEqual(cmd.inputs.triggers, undefined);
    });

    it("an encrypted file: the encryption config Secret from the key, which it requires", async () => {
        const key = Buffer.alloc(32, 3).toString("base64");
        new RancherRestore("r", { settings: settings({ backupFilename: `${FILE}.enc`, encrypted: true, encryptionKey: pulumi.secret(key) }),
            distribution: "rke2", operator, provider, kubeconfig: "kc" });
        await allRegistered(recorded);
        const enc = byType(recorded, "kubernetes:core/v1:Secret").find(s => s.inputs.metadata.name === "rancher-ha-restore-encryption")!;
        assert.ok(enc.secretInputs.includes("stringData"));
        assert.ok(enc.inputs.stringData["encryption-provider-config.yaml"].includes(key));
        assert.throws(() => new RancherRestore("r2", { settings: settings({ backupFilename: `${FILE}.enc`, encrypted: true }),
            distribution: "rke2", operator, provider, kubeconfig: "kc" }), /is encrypted and restoreFrom has no encryption key/);
    });
});
