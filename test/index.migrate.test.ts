// The whole program on the migration fixture (test/fixtures/stacks/Pulumi.migrate.yaml: a new RKE2 stack with
// restoreFrom and backup) under mocks: the rancher-backup operator right after the cluster, the Restore before
// cert-manager and Rancher, the backup stage after Rancher; secrets secret; the provider adopting what the restore
// brought; every policy rule.
import { strict as assert } from "assert";
import { generateKeyPairSync } from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource, settle } from "./helpers/mocks";
import { fakeHomeWithKey, runProgram, stackConfig } from "./helpers/devStack";
import { FIXTURES, ROOT } from "./helpers/paths";
import { policyFindings } from "./helpers/policy";
import { restoreDeleteScript } from "../components/backup/restoreScript";
import { restoreParts } from "../components/backup/RancherRestore";
import { parseConfig } from "../components/config";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\n" +
    "contexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\n" +
    "users:\n- name: default\n  user:\n    client-key-data: TUlHUkFURS1LRVktU0VDUkVU\n";
const SEED_KEY = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
/** The fixture's `secure:` values, in plain text here (distinctive, to find them wherever they go). */
const SECRETS: Record<string, string> = {
    "rancher-ha:rke2Token": "K10-migrate-token-0123456789abcdef",
    "rancher-ha:privateRegistryPassword": "Registry-Pw-4711",
    "rancher-ha:restoreS3SecretKey": "Old-S3-Secret-0815",
    "rancher-ha:backupS3SecretKey": "New-S3-Secret-2342",
    "rancher-ha:backupEncryptionKey": Buffer.alloc(32, 0x5a).toString("base64"),
};

function nodeStdout(name: string): string {
    const m = /-(server|agent)-(.*)$/.exec(name)!;
    return ["-----BEGIN RANCHER-HA RKE2 NODE-----", `node-name node-${m[2]}`, "version v1.32.5+rke2r1",
        ...(m[1] === "server" ? [`kubeconfig ${b64(KUBECONFIG)}`] : []), "-----END RANCHER-HA RKE2 NODE-----"].join("\n");
}

/** The bundle on a Command's stdin, file by file. */
function bundleFiles(stdin: string): Record<string, string> {
    return Object.fromEntries(stdin.trim().split("\n").map(l => l.split(" ")).map(([n, , d]) => [n, Buffer.from(d, "base64").toString()]));
}

describe("program (index.ts) on the migration fixture (restoreFrom + backup on RKE2)", function () {
    this.timeout(60000);
    let recorded: RecordedResource[];
    let program: any;
    let home: ReturnType<typeof fakeHomeWithKey>;
    const config = () => {
        const c = stackConfig(path.join(FIXTURES, "stacks", "Pulumi.migrate.yaml"));
        delete c["rancher-ha:sshPrivateKey"]; // the key in the fake HOME instead
        return { ...c, ...SECRETS };
    };
    const one = (type: string, nameSuffix = ""): RecordedResource => {
        const found = byType(recorded, type).filter(r => r.name.endsWith(nameSuffix));
        assert.equal(found.length, 1, `one ${type} named *${nameSuffix}, found ${found.map(f => f.name).join(", ")}`);
        return found[0];
    };
    const release = (chart: string) => byType(recorded, "kubernetes:helm.sh/v3:Release").find(r => r.inputs.chart === chart)!;

    before(async () => {
        home = fakeHomeWithKey("id_rsa");
        recorded = await recordResources({
            project: "rancher-ha", stack: "migrate",
            outputs: a => {
                if (a.type === "command:remote:Command" && /^rke2-(server|agent)-/.test(a.name)) {
                    return { stdout: nodeStdout(a.name) };
                }
                if (a.type === "tls:index/privateKey:PrivateKey") {
                    return { privateKeyPem: SEED_KEY };
                }
                if (a.type === "command:local:Command" && a.name === "rancher-restore") {
                    return { stdout: "restored x at 2026-08-08T10:00:00Z\nlocal cluster: reset to imported\n" };
                }
                return undefined;
            },
        });
        pulumi.runtime.setAllConfig(config(), Object.keys(SECRETS));
        program = runProgram();
        await settle(program.kubeconfig);
        await allRegistered(recorded);
    });
    after(() => {
        pulumi.runtime.setAllConfig({});
        home.restore();
    });

    it("orders servers -> operator (CRDs, then the operator) -> restore -> cert-manager -> Rancher -> the scheduled Backup", () => {
        const servers = [31, 32, 33].map(i => one("command:remote:Command", `rke2-server-192.0.2.${i}`));
        const restore = one("command:local:Command", "rancher-restore");
        const chain = [servers[2], release("rancher-backup-crd"), release("rancher-backup"), restore, release("cert-manager"), release("rancher"),
            one("kubernetes:resources.cattle.io/v1:Backup")];
        for (let i = 1; i < chain.length; i++) {
            assert.ok(dependsOn(recorded, chain[i], chain[i - 1]), `${chain[i].name} must wait for ${chain[i - 1].name}`);
            assert.ok(!dependsOn(recorded, chain[i - 1], chain[i]), `${chain[i - 1].name} must not wait for ${chain[i].name}`);
        }
        for (const s of ["rancher-ha-restore-s3", "rancher-ha-restore-encryption"]) {
            const secret = byType(recorded, "kubernetes:core/v1:Secret").find(x => x.inputs.metadata.name === s)!;
            assert.ok(dependsOn(recorded, restore, secret), `the Restore waits for ${s}`);
        }
        // The backup stage's Secrets come after Rancher: the restore removes the old cluster's copies of them first.
        for (const s of ["rancher-ha-backup-s3", "rancher-ha-backup-encryption"]) {
            const secret = byType(recorded, "kubernetes:core/v1:Secret").find(x => x.inputs.metadata.name === s)!;
            assert.ok(dependsOn(recorded, secret, release("rancher")) && dependsOn(recorded, secret, restore), s);
        }
        assert.equal(byType(recorded, "rancher-ha:backup:BackupOperator").length, 1, "one operator for both stages");
    });

    it("the restore Command: the rendered Restore and script, kubeconfig on stdin (secret), no trigger, a delete that does nothing", async () => {
        const restore = one("command:local:Command", "rancher-restore");
        const settings = parseConfig(Object.fromEntries(Object.entries(config()).map(([k, v]) => {
            try { return [k.replace(/^rancher-ha:/, ""), JSON.parse(v)]; } catch { return [k.replace(/^rancher-ha:/, ""), v]; }
        })), { readFile: () => home.privateKey }).settings;
        const parts = restoreParts(settings.restoreFrom!, "rke2");
        assert.equal(restore.inputs.create, parts.script);
        assert.equal(restore.inputs.update, parts.script);
        assert.equal(restore.inputs.delete, restoreDeleteScript());
        assert.equal(restore.inputs.triggers, undefined, "nothing replaces it");
        assert.equal(restore.inputs.addPreviousOutputInEnv, false);
        assert.ok(restore.secretInputs.includes("stdin"));
        const files = bundleFiles(restore.inputs.stdin);
        assert.deepEqual(JSON.parse(files["restore.json"]), parts.restore);
        assert.match(files.kubeconfig, /server: https:\/\/192\.0\.2\.30:6443/);
        assert.doesNotMatch(parts.script, /TUlHUkFURS1LRVktU0VDUkVU/);
        assert.deepEqual(restore.customTimeouts, { create: "55m", update: "55m", delete: "" }, "timeoutMinutes 45 + 10");
        assert.match((await settle<string>(program.restoreReport)).value, /^restored x at/);
    });

    it("the provider adopts what the restore brought (upsertExistingObjects) and keeps its stable identity", () => {
        const provider = one("pulumi:providers:kubernetes");
        assert.equal(String(provider.inputs.upsertExistingObjects), "true", "provider config reaches the engine as text");
        assert.equal(provider.inputs.clusterIdentifier, "rancher-ha/rancher-ha/migrate/rke2");
    });

    it("passes every policy rule and keeps every secret secret", () => {
        assert.deepEqual(policyFindings(recorded), []);
        const values = [...Object.values(SECRETS), "TUlHUkFURS1LRVktU0VDUkVU"];
        let seen = 0;
        for (const r of recorded) {
            for (const [input, value] of Object.entries(r.inputs ?? {})) {
                const text = JSON.stringify(value);
                if (values.some(s => text.includes(s) || text.includes(b64(s).slice(0, 24)))) {
                    seen++;
                    assert.ok(r.secretInputs.includes(input), `${r.type} ${r.name}.${input} carries a secret but is not marked secret`);
                }
            }
        }
        assert.ok(seen >= 5, `the secrets reach the engine (${seen} inputs)`);
    });
});

// The old stack of the same migration: Pulumi.dev.yaml (RKE) with `backup`. The operator right after the cluster, the
// scheduled Backup after Rancher, no restore, and the provider keeps refusing existing objects.
describe("program (index.ts) on the old stack (Pulumi.dev.yaml with backup)", function () {
    this.timeout(60000);
    const OLD_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: \"https://192.0.2.11:6443\"\n  name: local\n" +
        "contexts:\n- context:\n    cluster: local\n    user: kube-admin-local\n  name: local\ncurrent-context: local\n" +
        "users:\n- name: kube-admin-local\n  user:\n    client-key-data: T0xELUtFWS1TRUNSRVQ=\n";
    const RKE_UP_STDOUT = ["-----BEGIN RANCHER-HA RKE OUTPUTS-----", "mode full", `kubeconfig ${b64(OLD_KUBECONFIG)}`,
        `rkestate ${b64("{\"currentState\":{}}")}`, "-----END RANCHER-HA RKE OUTPUTS-----"].join("\n");
    let recorded: RecordedResource[];
    let program: any;
    let home: ReturnType<typeof fakeHomeWithKey>;
    const release = (chart: string) => byType(recorded, "kubernetes:helm.sh/v3:Release").find(r => r.inputs.chart === chart)!;

    before(async () => {
        home = fakeHomeWithKey();
        recorded = await recordResources({
            project: "rancher-ha", stack: "dev",
            outputs: a => {
                if (a.type === "command:local:Command" && a.name === "rke-up") {
                    return { stdout: RKE_UP_STDOUT };
                }
                if (a.type === "pulumi:pulumi:StackReference") {
                    return { outputs: {}, secretOutputNames: [] };
                }
                if (a.type === "tls:index/privateKey:PrivateKey") {
                    return { privateKeyPem: SEED_KEY };
                }
                return undefined;
            },
        });
        pulumi.runtime.setAllConfig({
            ...stackConfig(path.join(ROOT, "Pulumi.dev.yaml")),
            "rancher-ha:backup": JSON.stringify({ s3: { bucketName: "rancher-backups", folder: "rancher-rke1", accessKey: "AKIAOLD" } }),
            "rancher-ha:backupS3SecretKey": "Old-Stack-S3-Secret",
        }, ["rancher-ha:backupS3SecretKey"]);
        program = runProgram();
        await settle(program.kubeconfig);
        await allRegistered(recorded);
    });
    after(() => {
        pulumi.runtime.setAllConfig({});
        home.restore();
    });

    it("orders rke up -> operator; Rancher -> the scheduled Backup; no restore; exports the generated key (secret)", async () => {
        const up = byType(recorded, "command:local:Command").find(r => r.name === "rke-up")!;
        const [backup] = byType(recorded, "kubernetes:resources.cattle.io/v1:Backup");
        assert.ok(dependsOn(recorded, release("rancher-backup-crd"), up));
        assert.ok(dependsOn(recorded, release("rancher-backup"), release("rancher-backup-crd")));
        assert.ok(!dependsOn(recorded, release("rancher"), release("rancher-backup")), "Rancher does not wait for the operator");
        assert.ok(dependsOn(recorded, backup, release("rancher")) && dependsOn(recorded, backup, release("rancher-backup")));
        assert.equal(backup.inputs.spec.storageLocation.s3.folder, "rancher-rke1");
        assert.equal(byType(recorded, "rancher-ha:backup:RancherRestore").length, 0);
        assert.equal(program.restoreReport, undefined);
        const key = await settle<string>(program.backupEncryptionKey);
        assert.ok(key.secret);
        assert.equal(Buffer.from(key.value, "base64").length, 32);
        assert.equal(byType(recorded, "pulumi:providers:kubernetes")[0].inputs.upsertExistingObjects, undefined);
        const s3 = byType(recorded, "kubernetes:core/v1:Secret").find(s => s.inputs.metadata.name === "rancher-ha-backup-s3")!;
        assert.ok(s3.secretInputs.includes("stringData"));
    });
});
