// The restore stage (2b-restore) and the backup stage (6-backup) of `npm run render`: what each holds and where, that
// it is exactly what BackupOperator, RancherRestore and RancherBackup hand to the engine under Pulumi mocks (scripts
// byte for byte, the Restore, the Backup and the releases as objects, the Secrets but for the redacted values), that no
// secret reaches it, the notes when a stage is off, and that the folders sort in apply order.
import { strict as assert } from "assert";
import * as path from "path";
import * as yaml from "js-yaml";
import * as k8s from "@pulumi/kubernetes";
import { parseConfig, StackSettings } from "../../../components/config";
import { BackupOperator } from "../../../components/backup/BackupOperator";
import { RancherBackup } from "../../../components/backup/RancherBackup";
import { RancherRestore } from "../../../components/backup/RancherRestore";
import { encryptionConfigSecretData } from "../../../components/backup/resources";
import { readStackFile, redacted, toolSettings } from "../../../scripts/stackFile";
import { INDEX_FILE, ReviewArtifact, reviewArtifacts, secretLeaks, STAGE_DIRS } from "../../../scripts/render/reviewArtifacts";
import { backupOperatorReleases, encryptionDataRedacted, restoreS3SecretKeyName } from "../../../scripts/render/backupArtifacts";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource } from "../../helpers/mocks";
import { FIXTURES } from "../../helpers/paths";

const STACKS = path.join(FIXTURES, "stacks");
const FILE = "rancher-ha-scheduled-0d4f6c1e-9a8b-4c2d-8e7f-1a2b3c4d5e6f-2026-08-07T12-00-00Z.tar.gz.enc";
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\n";
const SEED = "-----BEGIN PRIVATE KEY-----\nseed\n-----END PRIVATE KEY-----\n";

/** Distinctive values for the secrets these stages use (and the others the fixture sets). */
const SECRETS = {
    backupS3SecretKey: "Backup-S3-wJalrXUtnFEMI-K7MDENG",
    restoreS3SecretKey: "Restore-S3-bPxRfiCYEXAMPLEKEY",
    backupEncryptionKey: Buffer.from("rancher-ha-render-test-key-0123!").toString("base64"),
    privateRegistryPassword: "Registry-S3cret-0815",
    rke2Token: "rke2-join-token-0123456789abcdef",
    sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nSSHKEYMATERIAL0123456789abcdef\n-----END OPENSSH PRIVATE KEY-----\n",
};

/** The migrate fixture's raw config, with changes (undefined removes a key). */
function migrateRaw(over: Record<string, unknown> = {}): Record<string, unknown> {
    const raw: Record<string, unknown> = { ...readStackFile(STACKS, "migrate").raw, ...over };
    return Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
}

/** Settings as the render command builds them: every secret a placeholder. */
function toolSettingsOf(raw: Record<string, unknown>): StackSettings {
    const r = toolSettings({ project: "rancher-ha", stack: "migrate", raw, encryptedKeys: [] }, { readFile: () => { throw new Error("none"); } });
    return r.settings;
}

function render(s: StackSettings): ReviewArtifact[] {
    return reviewArtifacts({ stack: "migrate", settings: s, encryptedKeys: [] });
}

const byPath = (files: ReviewArtifact[]) => new Map(files.map(f => [f.path, f.content]));
const under = (files: ReviewArtifact[], dir: string) => files.filter(f => f.path.startsWith(`${dir}/`)).map(f => f.path);
const unbundle = (text: string): Record<string, string> =>
    Object.fromEntries(text.split("\n").filter(Boolean).map(l => l.split(" ")).map(([n, , d]) => [n, Buffer.from(d, "base64").toString()]));

const OPERATOR_FILES = ["rancher-backup-crd/release.yaml", "rancher-backup-crd/values.yaml", "rancher-backup/release.yaml", "rancher-backup/values.yaml"];

describe("scripts/render: the restore and backup stages (2b-restore, 6-backup)", () => {
    it("migrate fixture: the operator, the restore Secrets, the Restore and its scripts in 2b-restore; the backup Secrets and the Backup in 6-backup", () => {
        const files = render(toolSettingsOf(migrateRaw()));
        assert.deepEqual(under(files, STAGE_DIRS.restore), [
            ...OPERATOR_FILES.map(f => `2b-restore/${f}`),
            "2b-restore/secret-rancher-ha-restore-s3.yaml", "2b-restore/secret-rancher-ha-restore-encryption.yaml",
            "2b-restore/restore.yaml", "2b-restore/restore.sh", "2b-restore/restore-delete.sh",
        ]);
        assert.deepEqual(under(files, STAGE_DIRS.backup), [
            "6-backup/secret-rancher-ha-backup-s3.yaml", "6-backup/secret-rancher-ha-backup-encryption.yaml", "6-backup/scheduled-backup.yaml",
        ]);
        const index = files[0].content;
        for (const f of files.slice(1)) {
            assert.ok(index.includes(`| \`${f.path}\` |`), `index lists ${f.path}`);
            if (f.path.startsWith(`${STAGE_DIRS.restore}/`) && f.path.endsWith(".sh")) {
                assert.ok(f.content.startsWith("set -eu\n"), `${f.path} is a strict sh script`);
            }
        }
        assert.match(index, /the rancher-backup operator the scheduled Backup runs on is in `2b-restore\/`/);
        assert.match(index, /Secret `cattle-resources-system\/rancher-ha-registry` \(image pull login/);
        assert.match(index, /`2b-restore\/restore\.sh` \| [^\n]*runs on the machine running pulumi[^\n]*kubeconfig[^\n]*on stdin/);
        assert.doesNotMatch(index, /No restore|No scheduled backups/);

        const got = byPath(files);
        const restore = yaml.load(got.get("2b-restore/restore.yaml")!) as any;
        assert.equal(restore.kind, "Restore");
        assert.equal(restore.spec.backupFilename, FILE);
        assert.equal(restore.spec.prune, false);
        assert.equal(restore.spec.storageLocation.s3.folder, "rancher-prod");
        const backup = yaml.load(got.get("6-backup/scheduled-backup.yaml")!) as any;
        assert.equal(backup.spec.schedule, "0 */4 * * *");
        assert.equal(backup.spec.storageLocation.s3.folder, "rancher-prod-rke2");
        // Both releases at the Rancher 2.11 line's chart; the operator from the private registry with its pull secret.
        for (const r of ["rancher-backup-crd", "rancher-backup"]) {
            assert.equal((yaml.load(got.get(`2b-restore/${r}/release.yaml`)!) as any).version, "106.0.10+up7.0.9", r);
        }
        assert.deepEqual(yaml.load(got.get("2b-restore/rancher-backup/values.yaml")!), {
            global: { cattle: { systemDefaultRegistry: "registry.corp.example.com:5000" } }, imagePullSecrets: [{ name: "rancher-ha-registry" }],
        });
    });

    it("the Secrets show each secret as its placeholder; the encryption config is whole but for the key", () => {
        const got = byPath(render(toolSettingsOf(migrateRaw())));
        const data = (p: string) => (yaml.load(got.get(p)!) as any).stringData;
        assert.deepEqual(data("2b-restore/secret-rancher-ha-restore-s3.yaml"), { accessKey: "AKIAOLDSTACKEXAMPLE", secretKey: redacted("restoreS3SecretKey") });
        assert.deepEqual(data("6-backup/secret-rancher-ha-backup-s3.yaml"), { accessKey: "AKIANEWSTACKEXAMPLE", secretKey: redacted("backupS3SecretKey") });
        for (const p of ["2b-restore/secret-rancher-ha-restore-encryption.yaml", "6-backup/secret-rancher-ha-backup-encryption.yaml"]) {
            assert.deepEqual(data(p), encryptionDataRedacted(), p);
            assert.match(data(p)["encryption-provider-config.yaml"], /^ {14}secret: <redacted:backupEncryptionKey>$/m, p);
        }
        // The same text as the builder makes for a real key, with the key replaced.
        const key = SECRETS.backupEncryptionKey;
        const real = encryptionConfigSecretData(key);
        assert.deepEqual(encryptionDataRedacted(), Object.fromEntries(Object.entries(real).map(([k, v]) => [k, v.replace(key, redacted("backupEncryptionKey"))])));
        const index = got.get(INDEX_FILE)!;
        assert.match(index, /`<redacted:backupEncryptionKey>` in `2b-restore\/secret-rancher-ha-restore-encryption\.yaml`, `6-backup\/secret-rancher-ha-backup-encryption\.yaml`/);
        assert.match(index, /`<redacted:restoreS3SecretKey>` in `2b-restore\/secret-rancher-ha-restore-s3\.yaml`/);
    });

    it("holds no secret even when the settings hold the real ones (both stages, and each alone)", () => {
        const variants: [string, Record<string, unknown>][] = [
            ["restore and backup", {}],
            ["backup only", { restoreFrom: undefined, restoreS3SecretKey: undefined }],
            ["restore only", { backup: undefined, backupS3SecretKey: undefined }],
            ["restore from the backup section's bucket", { restoreFrom: { backupFilename: FILE }, restoreS3SecretKey: undefined }],
        ];
        for (const [name, over] of variants) {
            const raw = migrateRaw(over);
            const secrets = Object.fromEntries(Object.entries(SECRETS).filter(([k]) => raw[k] !== undefined));
            const { settings } = parseConfig({ ...raw, ...secrets }, { stack: "migrate", readFile: () => { throw new Error("none"); } });
            const files = render(settings);
            assert.ok(files.some(f => f.path.startsWith("6-backup/") || f.path.startsWith("2b-restore/")), name);
            assert.deepEqual(secretLeaks(files, secrets), [], name);
            for (const f of files) {
                for (const [k, v] of Object.entries(secrets)) {
                    assert.ok(!f.content.includes(v.trim()), `${name}: ${f.path} holds ${k}`);
                }
            }
        }
    });

    it("says in the index when a stage is off; the operator moves to 6-backup without a restore", () => {
        const none = render(toolSettingsOf(migrateRaw({ restoreFrom: undefined, restoreS3SecretKey: undefined, backup: undefined, backupS3SecretKey: undefined, backupEncryptionKey: undefined })));
        assert.deepEqual([...under(none, STAGE_DIRS.restore), ...under(none, STAGE_DIRS.backup)], []);
        assert.match(none[0].content, /- No restore: restoreFrom is not set/);
        assert.match(none[0].content, /- No scheduled backups of Rancher: backup is not set\./);

        const backupOnly = render(toolSettingsOf(migrateRaw({ restoreFrom: undefined, restoreS3SecretKey: undefined, backupEncryptionKey: undefined })));
        assert.deepEqual(under(backupOnly, STAGE_DIRS.restore), []);
        assert.deepEqual(under(backupOnly, STAGE_DIRS.backup), [
            ...OPERATOR_FILES.map(f => `6-backup/${f}`),
            "6-backup/secret-rancher-ha-backup-s3.yaml", "6-backup/secret-rancher-ha-backup-encryption.yaml", "6-backup/scheduled-backup.yaml",
        ]);
        assert.match(backupOnly[0].content, /- No restore: restoreFrom is not set/);
        assert.match(backupOnly[0].content, /backupEncryptionKey: not set, so pulumi up generates the key once/);
        assert.doesNotMatch(backupOnly[0].content, /is in `2b-restore\/`/);

        const restoreOnly = render(toolSettingsOf(migrateRaw({ backup: undefined, backupS3SecretKey: undefined })));
        assert.equal(under(restoreOnly, STAGE_DIRS.restore).length, 9);
        assert.deepEqual(under(restoreOnly, STAGE_DIRS.backup), []);
        assert.match(restoreOnly[0].content, /- No scheduled backups of Rancher: backup is not set\./);
    });

    it("restoreFrom without a bucket of its own: the backup section's bucket and secret key; a plain file gets no encryption Secret", () => {
        const s = toolSettingsOf(migrateRaw({ restoreFrom: { backupFilename: FILE.replace(/\.enc$/, "") }, restoreS3SecretKey: undefined }));
        assert.equal(restoreS3SecretKeyName(s), "backupS3SecretKey");
        assert.equal(restoreS3SecretKeyName(toolSettingsOf(migrateRaw())), "restoreS3SecretKey");
        const files = render(s);
        const got = byPath(files);
        assert.ok(!got.has("2b-restore/secret-rancher-ha-restore-encryption.yaml"));
        assert.deepEqual((yaml.load(got.get("2b-restore/secret-rancher-ha-restore-s3.yaml")!) as any).stringData,
            { accessKey: "AKIANEWSTACKEXAMPLE", secretKey: redacted("backupS3SecretKey") });
        const restore = yaml.load(got.get("2b-restore/restore.yaml")!) as any;
        assert.equal(restore.spec.storageLocation.s3.folder, "rancher-prod-rke2");
        assert.equal(restore.spec.encryptionConfigSecretName, undefined);
    });

    it("the stage folders sort in apply order, and the files come in that order", () => {
        const order = ["loadBalancer", "rke", "rke2", "restore", "certManager", "rancher", "hostAliases", "backup"] as const;
        const dirs = order.map(k => STAGE_DIRS[k]);
        assert.deepEqual([...dirs].sort(), dirs);
        assert.deepEqual(Object.keys(STAGE_DIRS).sort(), [...order].sort());
        const files = render(toolSettingsOf(migrateRaw({ hostAliases: { enabled: true, ip: "192.0.2.30" } })));
        const seen = files.slice(1).map(f => f.path.split("/")[0]);
        assert.deepEqual(seen, [...seen].sort(), "files in the order of their folders");
        assert.deepEqual([...new Set(seen)], ["1-load-balancer", "2-rke2", "2b-restore", "3-cert-manager", "4-rancher", "5-host-aliases", "6-backup"]);
    });
});

// ---------------------------------------------------------------- the text the components apply

interface Deployed {
    recorded: RecordedResource[];
    /** The backup stage's encryption key as applied (generated when the stack sets none). */
    backupKey?: string;
}

/** The operator, the restore and the backup stage wired as index.ts wires them, under mocks. */
async function deploy(s: StackSettings): Promise<Deployed> {
    const recorded = await recordResources({
        stack: "migrate",
        outputs: a => (a.type === "tls:index/privateKey:PrivateKey" ? { privateKeyPem: SEED }
            : a.type === "kubernetes:helm.sh/v3:Release" ? { status: { revision: 1 } } : undefined),
    });
    const provider = new k8s.Provider("k", { kubeconfig: KUBECONFIG });
    const operator = new BackupOperator("rancher-backup", {
        rancherVersion: s.versions.rancher, chartVersion: s.restoreFrom?.chartVersion ?? s.backup?.chartVersion, provider, registry: s.privateRegistry,
    });
    if (s.restoreFrom) {
        new RancherRestore("rancher-restore", { settings: s.restoreFrom, distribution: s.distribution, operator, provider, kubeconfig: KUBECONFIG },
            { dependsOn: [operator] });
    }
    const backup = s.backup ? new RancherBackup("rancher-backup", { settings: s.backup, operator, provider }) : undefined;
    const backupKey = backup ? await new Promise<string>(resolve => backup.encryptionKey.apply(k => { resolve(k); return k; })) : undefined;
    await allRegistered(recorded);
    return { recorded, backupKey };
}

describe("scripts/render: 2b-restore and 6-backup are what the components apply (Pulumi mocks)", function () {
    this.timeout(60000);

    const stacks: [string, () => StackSettings][] = [
        ["migrate fixture: restore and backup", () => toolSettingsOf(migrateRaw())],
        ["backup only, generated key", () => toolSettingsOf(migrateRaw({ restoreFrom: undefined, restoreS3SecretKey: undefined, backupEncryptionKey: undefined }))],
        ["restore only, unencrypted file, no registry login", () => toolSettingsOf(migrateRaw({
            backup: undefined, backupS3SecretKey: undefined, backupEncryptionKey: undefined, privateRegistry: undefined, privateRegistryPassword: undefined,
            restoreFrom: { ...(migrateRaw().restoreFrom as object), backupFilename: FILE.replace(/\.enc$/, ""), chartVersion: "106.0.9+up7.0.8" },
        }))],
    ];

    for (const [name, settings] of stacks) {
        it(name, async () => {
            const s = settings();
            const files = byPath(render(s));
            const { recorded, backupKey } = await deploy(s);
            const operatorDir = s.restoreFrom ? STAGE_DIRS.restore : STAGE_DIRS.backup;

            // The releases: coordinates and values.
            const releases = byType(recorded, "kubernetes:helm.sh/v3:Release");
            assert.equal(releases.length, 2);
            assert.deepEqual(backupOperatorReleases(s).map(r => r.name), ["rancher-backup-crd", "rancher-backup"]);
            for (const rec of releases) {
                const chart = rec.inputs.chart as string;
                const coords = yaml.load(files.get(`${operatorDir}/${chart}/release.yaml`)!) as any;
                assert.deepEqual(coords, {
                    name: rec.inputs.name, namespace: rec.inputs.namespace, chart: rec.inputs.chart,
                    repo: rec.inputs.repositoryOpts.repo, version: rec.inputs.version,
                }, chart);
                assert.deepEqual(yaml.load(files.get(`${operatorDir}/${chart}/values.yaml`)!), rec.inputs.values ?? {}, `${chart} values`);
            }
            const crd = releases.find(r => r.inputs.chart === "rancher-backup-crd")!;
            assert.ok(dependsOn(recorded, releases.find(r => r.inputs.chart === "rancher-backup")!, crd), "the files' order is the install order");
            const pull = byType(recorded, "kubernetes:core/v1:Secret").filter(x => x.inputs.type === "kubernetes.io/dockerconfigjson");
            assert.equal(pull.length, s.privateRegistry?.password !== undefined ? 1 : 0);
            assert.equal(/Secret `cattle-resources-system\/rancher-ha-registry`/.test(files.get(INDEX_FILE)!), pull.length === 1);

            // The Secrets: metadata as applied; values as applied where the render shows a placeholder.
            const secrets = byType(recorded, "kubernetes:core/v1:Secret").filter(x => x.inputs.type !== "kubernetes.io/dockerconfigjson");
            const rendered = [...files.keys()].filter(p => /\/secret-[a-z0-9-]+\.yaml$/.test(p));
            assert.equal(rendered.length, secrets.length, `one file per Secret: ${rendered.join(", ")}`);
            for (const rec of secrets) {
                const dir = rec.name.startsWith("rancher-restore") ? STAGE_DIRS.restore : STAGE_DIRS.backup;
                const p = `${dir}/secret-${rec.inputs.metadata.name}.yaml`;
                assert.ok(files.has(p), `no ${p}`);
                const shown = yaml.load(files.get(p)!) as any;
                assert.deepEqual([shown.apiVersion, shown.kind], ["v1", "Secret"]);
                assert.deepEqual(shown.metadata, rec.inputs.metadata, p);
                assert.ok(rec.secretInputs.includes("stringData"), `${p}: applied as a secret`);
                // What toolSettings hands the components: the S3 keys as their placeholders, the encryption key as a
                // stand-in (or, generated, the key from the seed): the render shows the placeholder there.
                const key = rec.name.startsWith("rancher-backup") && backupKey !== undefined ? backupKey : undefined;
                const applied = JSON.parse(JSON.stringify(rec.inputs.stringData)) as Record<string, string>;
                for (const k of Object.keys(applied)) {
                    const cfg = /rancher-ha-(backup|restore)-encryption$/.test(rec.inputs.metadata.name);
                    if (cfg) {
                        const used = key ?? (/secret: (\S+)$/m.exec(applied[k]) ?? [])[1];
                        applied[k] = applied[k].split(used).join(redacted("backupEncryptionKey"));
                    }
                }
                assert.deepEqual(shown.stringData, applied, p);
            }

            // The Restore: the script is the Command's create and update, the Restore its stdin's restore.json.
            const cmd = recorded.find(r => r.type === "command:local:Command" && r.name === "rancher-restore");
            assert.equal(files.has(`${STAGE_DIRS.restore}/restore.sh`), cmd !== undefined, "restore.sh: rendered iff applied");
            if (cmd) {
                assert.equal(files.get(`${STAGE_DIRS.restore}/restore.sh`), cmd.inputs.create);
                assert.equal(files.get(`${STAGE_DIRS.restore}/restore.sh`), cmd.inputs.update);
                assert.equal(files.get(`${STAGE_DIRS.restore}/restore-delete.sh`), cmd.inputs.delete);
                const stdin = unbundle(cmd.inputs.stdin);
                assert.deepEqual(yaml.load(files.get(`${STAGE_DIRS.restore}/restore.yaml`)!), JSON.parse(stdin["restore.json"]));
                assert.ok(!files.get(`${STAGE_DIRS.restore}/restore.sh`)!.includes(KUBECONFIG), "the kubeconfig travels on stdin only");
            }

            // The scheduled Backup.
            const [cr] = byType(recorded, "kubernetes:resources.cattle.io/v1:Backup");
            assert.equal(files.has(`${STAGE_DIRS.backup}/scheduled-backup.yaml`), cr !== undefined, "scheduled-backup.yaml: rendered iff applied");
            if (cr) {
                assert.deepEqual(yaml.load(files.get(`${STAGE_DIRS.backup}/scheduled-backup.yaml`)!),
                    { apiVersion: cr.inputs.apiVersion, kind: cr.inputs.kind, metadata: cr.inputs.metadata, spec: cr.inputs.spec });
            }
        });
    }
});
