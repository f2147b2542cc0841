// backup and restoreFrom: Rancher backups with the rancher-backup operator, and a stack restored from one.
import { strict as assert } from "assert";
import { DEFAULTS, parseConfig } from "../../../components/config";
import { settle } from "../../helpers/mocks";
import { assertProblem, fakeFileOpts, problemsOf, validStack } from "./problems";
import { KNOWN_HOSTS_ANY } from "../../fixtures/hostKeys";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n";
const files: Record<string, string> = { "/home/op/.ssh/id_rsa": KEY, "/home/op/.ssh/known_hosts": KNOWN_HOSTS_ANY, "/ca.pem": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n" };
const opts = fakeFileOpts(files);
const ENC_KEY = Buffer.alloc(32, 7).toString("base64");
const s3 = { bucketName: "rancher-backups", accessKey: "AKIA1", folder: "prod", region: "eu-west-1" };
const FILE = "rancher-ha-scheduled-1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901-2026-12-03T10-00-00Z.tar.gz.enc";

describe("config: backup and restoreFrom", () => {
    it("backup: the line's chart and full resource set, defaults, the secrets kept secret", async () => {
        const { settings: s } = parseConfig({ ...validStack(), backup: { s3 }, backupS3SecretKey: "sk", backupEncryptionKey: ENC_KEY }, opts);
        const b = s.backup!;
        assert.equal(b.schedule, DEFAULTS.backupSchedule);
        assert.equal(b.retentionCount, DEFAULTS.backupRetentionCount);
        assert.equal(b.resourceSet, "rancher-resource-set-full", "Rancher 2.11 (the RKE default) has the full set");
        assert.match(b.chartVersion, /^106\./);
        assert.equal(b.s3.endpoint, "s3.amazonaws.com");
        const secret = await settle(b.s3.secretKey);
        assert.deepEqual([secret.value, secret.secret], ["sk", true]);
        assert.equal((await settle(b.encryptionKey!)).secret, true);
    });

    it("restoreFrom: the file, its encryption, the backup section's bucket unless it names its own", () => {
        const { settings: s } = parseConfig({
            ...validStack(), backup: { s3 }, backupS3SecretKey: "sk", backupEncryptionKey: ENC_KEY, restoreFrom: { backupFilename: FILE },
        }, opts);
        assert.equal(s.restoreFrom!.backupFilename, FILE);
        assert.equal(s.restoreFrom!.encrypted, true);
        assert.equal(s.restoreFrom!.s3.bucketName, "rancher-backups");
        assert.equal(s.restoreFrom!.timeoutMinutes, DEFAULTS.restoreTimeoutMinutes);
        const own = parseConfig({
            ...validStack(), restoreFrom: { backupFilename: FILE, s3: { ...s3, bucketName: "old-backups", caFile: "/ca.pem" } },
            restoreS3SecretKey: "sk2", backupEncryptionKey: ENC_KEY,
        }, opts).settings.restoreFrom!;
        assert.equal(own.s3.bucketName, "old-backups");
        assert.match(own.s3.endpointCA!, /BEGIN CERTIFICATE/);
    });

    it("refuses what cannot work, every problem at once, naming the key and the fix", () => {
        const ps = problemsOf({
            ...validStack(), backup: { s3: { bucketName: "B_ad", endpoint: "https://minio:9000", folder: "a/b" }, schedule: "every day" },
            backupEncryptionKey: "short", restoreFrom: { backupFilename: "latest" },
        }, opts);
        for (const k of ["backup.s3.bucketName", "backup.s3.endpoint", "backup.s3.folder", "backup.s3.accessKey", "backupS3SecretKey",
            "backup.schedule", "backupEncryptionKey", "restoreFrom.backupFilename"]) {
            assert.ok(ps.some(p => p.startsWith(`rancher-ha:${k}: `)), `${k} in:\n${ps.join("\n")}`);
        }
        assertProblem({ ...validStack(), restoreFrom: { backupFilename: FILE, s3 }, restoreS3SecretKey: "sk" }, opts,
            "rancher-ha:backupEncryptionKey", /is encrypted; set the old stack's key/);
        assertProblem({ ...validStack(), restoreFrom: { backupFilename: FILE.replace(".enc", "") } }, opts,
            "rancher-ha:restoreFrom.s3", /required \(or a backup section/);
    });

    it("restoreFrom refuses what the restored Rancher already has: a new CA, a first-run setup, imported clusters", () => {
        const restoring = { ...validStack(), backup: { s3 }, backupS3SecretKey: "sk", backupEncryptionKey: ENC_KEY, restoreFrom: { backupFilename: FILE } };
        assertProblem({ ...restoring, tls: { source: "secret", generateCa: true } }, opts,
            "rancher-ha:tls.generateCa", /not with restoreFrom: a new CA breaks every downstream cluster's agent.*tls-rancher-ingress tls-ca/);
        assertProblem({ ...restoring, rancherSetup: { enabled: true } }, opts,
            "rancher-ha:rancherSetup.enabled", /not with restoreFrom: the restored Rancher's admin, settings and clusters come from the backup/);
        // Without restoreFrom, the same settings are fine.
        const { restoreFrom, ...plain } = restoring;
        assert.ok(restoreFrom);
        const ok = parseConfig({ ...plain, tls: { source: "secret", generateCa: true }, rancherSetup: { enabled: true } }, opts).settings;
        assert.equal(ok.tls.generateCa, true);
    });
});
