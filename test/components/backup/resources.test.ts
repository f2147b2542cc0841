import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as yaml from "js-yaml";
import {
    BACKUP_CHART, BACKUP_CHART_REPO, BACKUP_CRD_CHART, BACKUP_NAMESPACE, backupChartValues, backupEncryptionConfig,
    backupReleases, backupResource, BackupResourceInput, DEFAULT_S3_ENDPOINT, ENCRYPTION_CONFIG_KEY, ENCRYPTION_CONFIG_SECRET,
    ENCRYPTION_KEY_NAME, encryptionConfigSecretData, onDemandBackupName, parseBackupFilename, RANCHER_BACKUP_LINES,
    rancherBackupChartVersion, rancherBackupLine, rancherLineOf, RESOURCE_SET_BASIC, RESOURCE_SET_FULL, RESOURCE_SET_LEGACY,
    resourceSetFor, restoreResource, RestoreResourceInput, S3_CREDENTIAL_SECRET, s3CredentialData, S3Location,
    SCHEDULED_BACKUP_NAME, storageLocation, validateSchedule,
} from "../../../components/backup/resources";
import { crdErrors, vendoredCrdSets } from "../../helpers/crdSchema";

const KEY = Buffer.alloc(32, 7).toString("base64");
const CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUCFv5sYnqfAHDLKeX+59gKOMP+7UwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVcmFuY2hlci1oYSB0ZXN0IFMzIENBMB4XDTI2MTIwMzEwMzI1
MloXDTM2MTEzMDEwMzI1MlowIDEeMBwGA1UEAwwVcmFuY2hlci1oYSB0ZXN0IFMz
IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErNKtHwlExLxFzOqHPLs+P/nA
2ijP0DEAZIF+8fDPrp90rt4fiuLCIRC91J7RHWOhrUqzyYSujNW2mG9W5TG626NT
MFEwHQYDVR0OBBYEFF9ZhRVGIZOqMmheGc2jZvijoZmYMB8GA1UdIwQYMBaAFF9Z
hRVGIZOqMmheGc2jZvijoZmYMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SAAwRQIhALL7LiWSLCUce4NKLbeGhXFXqEPTRqv2b7y/sxDNDp7dAiAbZkZWg+7i
xNs9qdx3T3lNEU+lMEX98qBZ3/3gB70pSQ==
-----END CERTIFICATE-----
`;

const S3_MIN: S3Location = {
    bucketName: "rancher-backups", credentialSecretName: S3_CREDENTIAL_SECRET, credentialSecretNamespace: BACKUP_NAMESPACE,
};
const S3_FULL: S3Location = {
    ...S3_MIN, folder: "rancher-prod", region: "us-west-2", endpoint: "minio.example.com:9000", endpointCA: CA_PEM,
    insecureTLSSkipVerify: true,
};
/** Every S3 field on or off, the ones that matter alone. */
const S3_VARIANTS: [string, S3Location][] = [
    ["minimal", S3_MIN],
    ["folder", { ...S3_MIN, folder: "ecm1" }],
    ["region + AWS regional endpoint", { ...S3_MIN, region: "us-west-2", endpoint: "s3.us-west-2.amazonaws.com" }],
    ["endpointCA", { ...S3_MIN, endpoint: "minio.internal", endpointCA: CA_PEM }],
    ["insecureTLSSkipVerify", { ...S3_MIN, endpoint: "10.0.0.5:9000", insecureTLSSkipVerify: true }],
    ["everything", S3_FULL],
];
const SETS = vendoredCrdSets();

function assertValid(obj: unknown, what: string) {
    for (const set of SETS) {
        assert.deepEqual(crdErrors(set, obj), [], `${what} against ${set}`);
    }
}

describe("backup/resources", () => {
    describe("chart version per Rancher line", () => {
        it("has a row for each line 2.8 .. 2.14, with the chart major 95 + the Rancher minor (103 = 2.8)", () => {
            assert.deepEqual(RANCHER_BACKUP_LINES.map(r => r.rancher), ["2.8", "2.9", "2.10", "2.11", "2.12", "2.13", "2.14"]);
            for (const r of RANCHER_BACKUP_LINES) {
                const [major, rest] = r.chartVersion.split(".", 2);
                assert.equal(Number(major), 95 + Number(r.rancher.split(".")[1]), r.chartVersion);
                assert.ok(rest !== undefined && r.chartVersion.endsWith(`+up${r.operatorVersion.slice(1)}`), r.chartVersion);
                assert.ok(r.source.length > 0);
            }
        });

        it("maps Rancher versions, with or without v and patch, to the row's chart", () => {
            assert.equal(rancherBackupChartVersion("v2.11.16"), "106.0.10+up7.0.9");
            assert.equal(rancherBackupChartVersion("2.11.3"), "106.0.10+up7.0.9");
            assert.equal(rancherBackupChartVersion("2.8.5"), "103.0.4+up4.0.4");
            assert.equal(rancherBackupChartVersion("2.14"), "109.0.5+up10.0.5");
            assert.equal(rancherBackupChartVersion("v2.14.1-rc2"), "109.0.5+up10.0.5");
            assert.equal(rancherLineOf("v2.10.12"), "2.10");
        });

        it("knows no chart for lines without a row", () => {
            for (const v of ["2.7.9", "2.15.0", "3.0.0", "latest", ""]) {
                assert.equal(rancherBackupChartVersion(v), undefined, v);
            }
        });

        it("picks rancher-resource-set before 2.11, -full/-basic from 2.11", () => {
            for (const v of ["2.8.5", "2.9.3", "2.10.12"]) {
                assert.equal(resourceSetFor(v), RESOURCE_SET_LEGACY, v);
                assert.throws(() => resourceSetFor(v, false), /only rancher-resource-set/, v);
            }
            for (const v of ["2.11.3", "2.12.12", "2.13.8", "2.14.4"]) {
                assert.equal(resourceSetFor(v), RESOURCE_SET_FULL, v);
                assert.equal(resourceSetFor(v, false), RESOURCE_SET_BASIC, v);
            }
            assert.equal(resourceSetFor("2.15.0"), undefined);
            assert.ok(rancherBackupLine("2.11.0")!.resourceSets.includes(RESOURCE_SET_LEGACY), "2.11 still ships the legacy set");
            assert.ok(!rancherBackupLine("2.12.0")!.resourceSets.includes(RESOURCE_SET_LEGACY), "2.12 no longer does");
        });
    });

    describe("chart releases", () => {
        it("installs the CRD chart first, then the operator, at one version, in cattle-resources-system", () => {
            const [crd, operator] = backupReleases("v2.11.16", {});
            assert.deepEqual(crd, {
                name: BACKUP_CRD_CHART, namespace: BACKUP_NAMESPACE, chart: BACKUP_CRD_CHART, repo: BACKUP_CHART_REPO,
                version: "106.0.10+up7.0.9", values: {},
            });
            assert.deepEqual(operator, {
                name: BACKUP_CHART, namespace: BACKUP_NAMESPACE, chart: BACKUP_CHART, repo: BACKUP_CHART_REPO,
                version: "106.0.10+up7.0.9", values: {},
            });
        });

        it("a private registry goes to global.cattle.systemDefaultRegistry, a login to imagePullSecrets", () => {
            const [, operator] = backupReleases("2.14.4", { url: "registry.example.com:5000", pullSecret: "rancher-ha-registry" });
            assert.deepEqual(operator.values, {
                global: { cattle: { systemDefaultRegistry: "registry.example.com:5000" } },
                imagePullSecrets: [{ name: "rancher-ha-registry" }],
            });
            assert.deepEqual(backupChartValues(), {});
        });

        it("takes a chart mirror, OCI included", () => {
            const [crd, operator] = backupReleases("2.12.1", {}, "oci://registry.example.com/charts");
            assert.equal(crd.chart, "oci://registry.example.com/charts/rancher-backup-crd");
            assert.equal(operator.repo, "");
        });

        it("refuses a Rancher line without a row, naming the known ones", () => {
            assert.throws(() => backupReleases("2.7.9", {}), /Rancher 2\.7\.9; known lines: 2\.8, .*2\.14/);
        });
    });

    describe("encryption config", () => {
        it("is an EncryptionConfiguration with one aescbc key over secrets", () => {
            const text = backupEncryptionConfig(KEY);
            assert.deepEqual(yaml.load(text), {
                apiVersion: "apiserver.config.k8s.io/v1",
                kind: "EncryptionConfiguration",
                resources: [{ resources: ["secrets"], providers: [{ aescbc: { keys: [{ name: ENCRYPTION_KEY_NAME, secret: KEY }] } }] }],
            });
        });

        it("takes secretbox, another key name and more resources", () => {
            const doc: any = yaml.load(backupEncryptionConfig(KEY, { provider: "secretbox", keyName: "k2", resources: ["secrets", "*.management.cattle.io"] }));
            assert.deepEqual(doc.resources[0].resources, ["secrets", "*.management.cattle.io"]);
            assert.deepEqual(doc.resources[0].providers, [{ secretbox: { keys: [{ name: "k2", secret: KEY }] } }]);
        });

        it("wants standard base64 of exactly 32 bytes", () => {
            assert.throws(() => backupEncryptionConfig(Buffer.alloc(16).toString("base64")), /32 bytes.*16 bytes/);
            assert.throws(() => backupEncryptionConfig(Buffer.alloc(33).toString("base64")), /33 bytes/);
            assert.throws(() => backupEncryptionConfig(""), /base64/);
            assert.throws(() => backupEncryptionConfig(KEY.replace(/=$/, "") + "\n"), /base64/);
            const urlSafe = crypto.randomBytes(32).toString("base64url");
            assert.throws(() => backupEncryptionConfig(urlSafe.replace(/[^-_]/, "-")), /base64/);
            assert.throws(() => backupEncryptionConfig(KEY, { provider: "aesgcm" as any }), /aescbc or secretbox/);
            assert.throws(() => backupEncryptionConfig(KEY, { keyName: "a b" }), /key name/);
            assert.throws(() => backupEncryptionConfig(KEY, { resources: [] }), /resources/);
        });

        it("is the Secret's only key, encryption-provider-config.yaml", () => {
            assert.deepEqual(Object.keys(encryptionConfigSecretData(KEY)), [ENCRYPTION_CONFIG_KEY]);
            assert.equal(ENCRYPTION_CONFIG_KEY, "encryption-provider-config.yaml");
        });
    });

    describe("S3", () => {
        it("credential data has exactly accessKey and secretKey", () => {
            assert.deepEqual(s3CredentialData("AKIA123", "s3cr3t/+="), { accessKey: "AKIA123", secretKey: "s3cr3t/+=" });
            assert.throws(() => s3CredentialData("", "x"), /accessKey is empty/);
            assert.throws(() => s3CredentialData("AKIA123", "secret\n"), /secretKey has leading or trailing whitespace/);
        });

        it("defaults the endpoint to s3.amazonaws.com and renders only what is set", () => {
            assert.deepEqual(storageLocation(S3_MIN), {
                s3: {
                    bucketName: "rancher-backups", endpoint: DEFAULT_S3_ENDPOINT,
                    credentialSecretName: S3_CREDENTIAL_SECRET, credentialSecretNamespace: BACKUP_NAMESPACE,
                },
            });
        });

        it("renders the CA base64-encoded, as the operator decodes it", () => {
            const s3: any = storageLocation(S3_FULL).s3;
            assert.equal(Buffer.from(s3.endpointCA, "base64").toString("utf8"), CA_PEM);
            assert.doesNotThrow(() => new crypto.X509Certificate(Buffer.from(s3.endpointCA, "base64")));
            assert.equal(s3.insecureTLSSkipVerify, true);
            assert.equal(s3.folder, "rancher-prod");
        });

        it("refuses what the operator cannot use", () => {
            assert.throws(() => storageLocation({ ...S3_MIN, endpoint: "https://minio.example.com" }), /without the scheme/);
            assert.throws(() => storageLocation({ ...S3_MIN, endpoint: "minio.example.com/path" }), /not host\[:port\]/);
            assert.throws(() => storageLocation({ ...S3_MIN, folder: "a/b" }), /nested folders/);
            assert.throws(() => storageLocation({ ...S3_MIN, folder: "" }), /folder/);
            assert.throws(() => storageLocation({ ...S3_MIN, bucketName: "" }), /bucketName/);
            assert.throws(() => storageLocation({ ...S3_MIN, endpointCA: "not a pem" }), /PEM certificate/);
            assert.throws(() => storageLocation({ ...S3_MIN, credentialSecretName: "S3_Creds" }), /credentialSecretName/);
            assert.doesNotThrow(() => storageLocation({ ...S3_MIN, endpoint: "[fd00::5]:9000" }));
        });
    });

    describe("Backup", () => {
        const encrypted = { encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET };
        const combos: [string, Omit<BackupResourceInput, "s3">][] = [
            ["one-time, full, encrypted", { name: "rancher-ha-now-20260807-120000", ...encrypted }],
            ["scheduled, full, encrypted, default retention", { name: SCHEDULED_BACKUP_NAME, schedule: "0 2 * * *", ...encrypted }],
            ["scheduled, retention 3", { name: SCHEDULED_BACKUP_NAME, schedule: "@every 6h", retentionCount: 3, ...encrypted }],
            ["basic, unencrypted", { name: "basic", resourceSetName: RESOURCE_SET_BASIC }],
            ["legacy set (2.8-2.10), encrypted", { name: "legacy", resourceSetName: RESOURCE_SET_LEGACY, ...encrypted }],
            ["full, unencrypted on purpose", { name: "plain", allowUnencryptedSecrets: true }],
        ];

        for (const [what, input] of combos) {
            for (const [where, s3] of S3_VARIANTS) {
                it(`${what}, S3 ${where}: valid against every vendored CRD`, () => {
                    assertValid(backupResource({ ...input, s3 }), `${what} / ${where}`);
                });
            }
        }

        it("renders a scheduled, encrypted backup as the operator reads it", () => {
            assert.deepEqual(backupResource({ name: SCHEDULED_BACKUP_NAME, schedule: "0 2 * * *", s3: S3_MIN, ...encrypted }), {
                apiVersion: "resources.cattle.io/v1", kind: "Backup",
                metadata: { name: SCHEDULED_BACKUP_NAME, labels: { "app.kubernetes.io/managed-by": "rancher-ha" } },
                spec: {
                    resourceSetName: RESOURCE_SET_FULL, encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET,
                    schedule: "0 2 * * *", retentionCount: 10,
                    storageLocation: storageLocation(S3_MIN),
                },
            });
        });

        it("a one-time backup has no schedule and no retention", () => {
            const spec: any = (backupResource({ name: "once", s3: S3_MIN, ...encrypted }) as any).spec;
            assert.equal(spec.schedule, undefined);
            assert.equal(spec.retentionCount, undefined);
            assert.throws(() => backupResource({ name: "once", retentionCount: 5, s3: S3_MIN, ...encrypted }), /only to scheduled/);
        });

        it("refuses Secrets in plain text unless asked", () => {
            assert.throws(() => backupResource({ name: "x", s3: S3_MIN }), /includes Secrets; set encryptionConfigSecretName/);
            assert.throws(() => backupResource({ name: "x", resourceSetName: RESOURCE_SET_LEGACY, s3: S3_MIN }), /includes Secrets/);
        });

        it("refuses bad names, retention and schedules", () => {
            assert.throws(() => backupResource({ name: "Nightly", s3: S3_MIN, ...encrypted }), /Backup name/);
            assert.throws(() => backupResource({ name: "n", schedule: "@daily", retentionCount: 0, s3: S3_MIN, ...encrypted }), /at least 1/);
            assert.throws(() => backupResource({ name: "n", schedule: "@daily", retentionCount: 2.5, s3: S3_MIN, ...encrypted }), /whole number/);
            assert.throws(() => backupResource({ name: "n", schedule: "every night", s3: S3_MIN, ...encrypted }), /schedule/);
        });
    });

    describe("cron schedules (robfig/cron ParseStandard)", () => {
        it("takes five fields, names, descriptors, @every and a time zone", () => {
            for (const s of ["0 2 * * *", "*/15 * * * *", "0 0 1,15 * *", "30 3 * JAN-MAR MON-FRI", "0 0 * * 0",
                "@midnight", "@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@annually", "@every 1h30m", "@every 90s",
                "CRON_TZ=Europe/Paris 0 2 * * *", "TZ=UTC @daily", "0-30/10 8-18 ? * *"]) {
                assert.doesNotThrow(() => validateSchedule(s), s);
            }
        });

        it("refuses the rest", () => {
            for (const [s, re] of [
                ["0 2 * *", /4 fields/], ["0 0 2 * * *", /6 fields/], ["60 * * * *", /minute 60/], ["0 24 * * *", /hour 24/],
                ["0 0 0 * *", /day of month 0/], ["0 0 * 13 *", /month 13/], ["0 0 * * 7", /day of week 7/],
                ["0 0 * * FOO", /not a number/], ["*/0 * * * *", /not a cron field/], ["30-10 * * * *", /backwards/],
                ["@reboot", /descriptor/], ["@every 0s", /descriptor/], ["@every 1d", /descriptor/],
            ] as [string, RegExp][]) {
                assert.throws(() => validateSchedule(s), re, s);
            }
        });
    });

    describe("Restore", () => {
        const combos: [string, Omit<RestoreResourceInput, "s3">][] = [
            ["migration of an encrypted backup", {
                backupFilename: "rancher-ha-scheduled-3f0e5c1a-8d2b-4c7e-9a61-0b5d2e7f4c19-2026-08-07T02-00-00Z.tar.gz.enc",
                encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET,
            }],
            ["migration of a plain backup", { name: "restore-migration", backupFilename: "backup-b0450532-cee1-4aa1-a881-f5f48a007b1c-2020-09-15T07-27-09Z.tar.gz" }],
            ["in-place, prune with a delete timeout", {
                backupFilename: "x-3f0e5c1a-8d2b-4c7e-9a61-0b5d2e7f4c19-2026-08-07T02-00-00Z.tar.gz", prune: true, deleteTimeoutSeconds: 10,
            }],
            ["file in a subfolder of the folder", { backupFilename: "s3sub/backupfile.tar.gz" }],
        ];

        for (const [what, input] of combos) {
            for (const [where, s3] of S3_VARIANTS) {
                it(`${what}, S3 ${where}: valid against every vendored CRD`, () => {
                    assertValid(restoreResource({ ...input, s3 }), `${what} / ${where}`);
                });
            }
        }

        it("renders prune: false by default (the operator prunes when it is absent)", () => {
            const file = "rancher-ha-scheduled-3f0e5c1a-8d2b-4c7e-9a61-0b5d2e7f4c19-2026-08-07T02-00-00Z.tar.gz.enc";
            assert.deepEqual(restoreResource({ backupFilename: file, encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET, s3: S3_MIN }), {
                apiVersion: "resources.cattle.io/v1", kind: "Restore",
                metadata: { name: "rancher-ha-restore", labels: { "app.kubernetes.io/managed-by": "rancher-ha" } },
                spec: {
                    backupFilename: file, prune: false, encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET,
                    storageLocation: storageLocation(S3_MIN),
                },
            });
        });

        it("ties the encryption secret to the .enc suffix", () => {
            assert.throws(() => restoreResource({ backupFilename: "a-b.tar.gz.enc", s3: S3_MIN }), /is encrypted; set encryptionConfigSecretName/);
            assert.throws(() => restoreResource({ backupFilename: "a-b.tar.gz", encryptionConfigSecretName: "e", s3: S3_MIN }), /not encrypted/);
        });

        it("refuses bad files and delete timeouts", () => {
            for (const f of ["", "backup.zip", "/abs/path.tar.gz", "with space.tar.gz"]) {
                assert.throws(() => restoreResource({ backupFilename: f, s3: S3_MIN }), /not a backup file name/, f);
            }
            assert.throws(() => restoreResource({ backupFilename: "a.tar.gz", deleteTimeoutSeconds: 5, s3: S3_MIN }), /only with prune/);
            assert.throws(() => restoreResource({ backupFilename: "a.tar.gz", prune: true, deleteTimeoutSeconds: 11, s3: S3_MIN }), /0 to 10/);
        });
    });

    describe("the schema check is not vacuous", () => {
        const backup = () => backupResource({ name: "b", schedule: "@daily", s3: S3_FULL, encryptionConfigSecretName: "e" }) as any;
        const restore = () => restoreResource({ backupFilename: "a.tar.gz", s3: S3_FULL }) as any;

        for (const set of SETS) {
            it(`${set}: refuses wrong types, missing required fields, unknown fields and out-of-range values`, () => {
                const cases: [string, any, RegExp][] = [
                    ["retentionCount as a string", { ...backup(), spec: { ...backup().spec, retentionCount: "10" } }, /retentionCount must be integer/],
                    ["retentionCount 0", { ...backup(), spec: { ...backup().spec, retentionCount: 0 } }, /retentionCount must be >= 1/],
                    ["Backup without resourceSetName", { ...backup(), spec: { ...backup().spec, resourceSetName: undefined } }, /must have required property 'resourceSetName'/],
                    ["insecureTLSSkipVerify as a string", (() => { const b = backup(); b.spec.storageLocation.s3.insecureTLSSkipVerify = "true"; return b; })(), /insecureTLSSkipVerify must be boolean/],
                    ["a typo in an S3 field", (() => { const b = backup(); b.spec.storageLocation.s3.bucket = "x"; return b; })(), /must NOT have additional properties \(bucket\)/],
                    ["Restore without backupFilename", { ...restore(), spec: { ...restore().spec, backupFilename: undefined } }, /must have required property 'backupFilename'/],
                    ["prune as a string", { ...restore(), spec: { ...restore().spec, prune: "false" } }, /prune must be boolean/],
                    ["deleteTimeoutSeconds 11", { ...restore(), spec: { ...restore().spec, deleteTimeoutSeconds: 11 } }, /deleteTimeoutSeconds must be <= 10/],
                    ["an unknown spec field", { ...restore(), spec: { ...restore().spec, ignoreError: true } }, /additional properties \(ignoreError\)/],
                    ["an upper-case name", { ...restore(), metadata: { name: "Restore" } }, /metadata\/name must match pattern/],
                    ["no metadata", { ...restore(), metadata: undefined }, /must have required property 'metadata'/],
                    ["a wrong kind", { ...restore(), kind: "Backup" }, /must have required property 'resourceSetName'|additional properties/],
                ];
                for (const [what, obj, re] of cases) {
                    const errors = crdErrors(set, JSON.parse(JSON.stringify(obj)));
                    assert.ok(errors.some(e => re.test(e)), `${what}: ${JSON.stringify(errors)}`);
                }
                assert.deepEqual(crdErrors(set, { apiVersion: "resources.cattle.io/v2", kind: "Restore" }),
                    [`no CRD for apiVersion resources.cattle.io/v2 kind Restore in ${set}`]);
            });
        }

        it("the generated v10.0.8 schema requires endpoint and bucketName and refuses null; the older ones allow both", () => {
            const noEndpoint = restore();
            delete noEndpoint.spec.storageLocation.s3.endpoint;
            const nullFolder = restore();
            nullFolder.spec.storageLocation.s3.folder = null;
            assert.ok(crdErrors("operator-v10.0.8", noEndpoint).some(e => /required property 'endpoint'/.test(e)));
            assert.ok(crdErrors("operator-v10.0.8", nullFolder).some(e => /folder must be string/.test(e)));
            for (const set of ["103.0.4+up4.0.4", "106.0.10+up7.0.9", "109.0.5+up10.0.5"]) {
                assert.deepEqual(crdErrors(set, noEndpoint), [], set);
                assert.deepEqual(crdErrors(set, nullFolder), [], set);
            }
        });

        it("clientConfig exists from the 2.11 CRDs on, not in 2.8's", () => {
            const withClientConfig = restore();
            withClientConfig.spec.storageLocation.s3.clientConfig = { aws: { dualStack: false } };
            assert.ok(crdErrors("103.0.4+up4.0.4", withClientConfig).some(e => /additional properties \(clientConfig\)/.test(e)));
            assert.deepEqual(crdErrors("106.0.10+up7.0.9", withClientConfig), []);
        });

        it("accepts the Restore of the Rancher migration docs", () => {
            const docs = yaml.load(`
apiVersion: resources.cattle.io/v1
kind: Restore
metadata:
  name: restore-migration
spec:
  backupFilename: backup-b0450532-cee1-4aa1-a881-f5f48a007b1c-2020-09-15T07-27-09Z.tar.gz
  prune: false
  encryptionConfigSecretName: encryptionconfig
  storageLocation:
    s3:
      credentialSecretName: s3-creds
      credentialSecretNamespace: default
      bucketName: backup-test
      folder: ecm1
      region: us-west-2
      endpoint: s3.us-west-2.amazonaws.com
`);
            assertValid(docs, "docs example");
        });
    });

    describe("backup file names", () => {
        it("takes apart the operator's names", () => {
            assert.deepEqual(parseBackupFilename("backup-b0450532-cee1-4aa1-a881-f5f48a007b1c-2020-09-15T07-27-09Z.tar.gz"), {
                backupName: "backup", clusterUid: "b0450532-cee1-4aa1-a881-f5f48a007b1c",
                time: new Date("2020-09-15T07:27:09Z"), encrypted: false,
            });
            const recurring = parseBackupFilename(
                "ecm1/test-s3-recurring-backup-752ecd87-d958-4d20-8350-072f8d090045-2020-09-26T12-49-34-07-00.tar.gz.enc");
            assert.equal(recurring?.backupName, "test-s3-recurring-backup");
            assert.equal(recurring?.time.toISOString(), "2020-09-26T19:49:34.000Z");
            assert.equal(recurring?.encrypted, true);
            const early = parseBackupFilename("gitjob-included-d51f46e6-ba32-4cf1-8989-01a6bd8c03de-2020-09-23T23#01#54Z.tar.gz");
            assert.equal(early?.time.toISOString(), "2020-09-23T23:01:54.000Z");
            assert.equal(parseBackupFilename("backupfile.tar.gz"), undefined);
            assert.equal(parseBackupFilename("b-b0450532-cee1-4aa1-a881-f5f48a007b1c-2020-13-45T07-27-09Z.tar.gz"), undefined);
        });

        it("names on-demand backups by the UTC time", () => {
            assert.equal(onDemandBackupName(new Date("2026-08-07T12:00:05.123Z")), "rancher-ha-now-20260807-120005");
            assert.doesNotThrow(() => backupResource({ name: onDemandBackupName(new Date()), s3: S3_MIN, encryptionConfigSecretName: "e" }));
        });
    });
});
