// RancherSetup under Pulumi mocks: first-run setup after the Rancher release, one imported cluster per entry with
// its registration after it, secrets secret, and nothing at all when the setup is off.
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource, settle } from "../../helpers/mocks";
import { RancherSetup } from "../../../components/rancherSetup/RancherSetup";
import { RancherSetupSettings } from "../../../components/config";
import * as rules from "../../../policy/rules";

const KC = "apiVersion: v1\nkind: Config\nclusters: [east-SECRET-KC]\n";
const MANIFEST_URL = "https://rancher.example.com/v3/import/REGTOKEN-SECRET_c-abcde.yaml";

function settings(over: Partial<RancherSetupSettings> = {}): RancherSetupSettings {
    return {
        enabled: true, telemetry: false,
        importedClusters: [
            { name: "prod-east", kubeconfig: pulumi.secret(KC), labels: { env: "prod" }, activeTimeoutSeconds: 120, cleanupAgentsOnRemove: false },
            { name: "prod-west", kubeconfig: pulumi.secret(KC), labels: {}, activeTimeoutSeconds: 600, cleanupAgentsOnRemove: true },
        ],
        ...over,
    };
}

async function build(s: RancherSetupSettings, caFromCluster = false): Promise<{ recorded: RecordedResource[]; setup: RancherSetup; release: RecordedResource }> {
    const recorded = await recordResources({
        outputs: a => {
            switch (a.type) {
                case "rancher2:index/bootstrap:Bootstrap":
                    return { token: "token-admin:ADMIN-TOKEN-SECRET", url: "https://rancher.example.com" };
                case "rancher2:index/cluster:Cluster":
                    return { clusterRegistrationToken: { manifestUrl: MANIFEST_URL } };
                case "tls:index/privateKey:PrivateKey":
                    return { privateKeyOpenssh: "-----BEGIN OPENSSH PRIVATE KEY-----\nseed-for-the-admin-password\n-----END OPENSSH PRIVATE KEY-----\n" };
                case "kubernetes:core/v1:Secret":
                    return { data: { "tls.crt": Buffer.from("-----BEGIN CERTIFICATE-----\nRANCHER-CA\n-----END CERTIFICATE-----\n").toString("base64") } };
                case "command:local:Command":
                    return { stdout: "c-abcde\n" };
            }
            return undefined;
        },
    });
    const provider = new k8s.Provider("k", { kubeconfig: pulumi.secret("apiVersion: v1\nkind: Config\n") });
    const rancherRelease = new k8s.helm.v3.Release("rancher", { chart: "rancher", version: "2.15.0" }, { provider });
    const setup = new RancherSetup("rancher-setup", {
        settings: s, rancherUrl: "https://rancher.example.com", bootstrapPassword: pulumi.secret("bootstrap-BOOT-SECRET"),
        caFromCluster, kubeconfig: pulumi.secret("apiVersion: v1\nkind: Config\n# rancher cluster RANCHER-KC-SECRET\n"),
        provider, rancherReady: [rancherRelease],
    });
    await settle(setup.importedClusterIds);
    await allRegistered(recorded);
    return { recorded, setup, release: recorded.find(r => r.name === "rancher" && r.type === "kubernetes:helm.sh/v3:Release")! };
}

describe("RancherSetup (mocks)", () => {
    it("sets Rancher up after its release: admin password, server-url, token, telemetry off", async () => {
        const { recorded, setup, release } = await build(settings());
        const [bootstrap] = byType(recorded, "rancher2:index/bootstrap:Bootstrap");
        assert.ok(dependsOn(recorded, bootstrap, release), "after the Rancher release");
        assert.equal(bootstrap.inputs.initialPassword, "bootstrap-BOOT-SECRET");
        assert.equal(bootstrap.inputs.tokenTtl, 0);
        assert.ok(["initialPassword", "password"].every(k => bootstrap.secretInputs.includes(k)));
        const providers = byType(recorded, "pulumi:providers:rancher2");
        const bootProvider = providers.find(p => p.name.endsWith("bootstrap-provider"))!;
        assert.equal(String(bootProvider.inputs.bootstrap), "true", "provider inputs reach the engine as text");
        assert.equal(bootProvider.inputs.apiUrl, "https://rancher.example.com", "server-url = https://<hostname>");
        const apiProvider = providers.find(p => p.name.endsWith("api-provider"))!;
        assert.equal(apiProvider.inputs.tokenKey, "token-admin:ADMIN-TOKEN-SECRET");
        assert.ok(apiProvider.secretInputs.includes("tokenKey"));
        const [telemetry] = byType(recorded, "rancher2:index/setting:Setting");
        assert.deepEqual([telemetry.inputs.name, telemetry.inputs.value], ["telemetry-opt", "out"]);
        const password = await settle(setup.adminPassword);
        assert.ok(password.secret && password.value.length >= 12);
        assert.ok((await settle(setup.token)).secret);
    });

    it("imports each cluster: the cluster in Rancher, then its registration with everything secret on stdin", async () => {
        const { recorded, setup } = await build(settings());
        const clusters = byType(recorded, "rancher2:index/cluster:Cluster").sort((a, b) => a.name.localeCompare(b.name));
        assert.deepEqual(clusters.map(c => c.inputs.name), ["prod-east", "prod-west"]);
        assert.deepEqual(clusters[0].inputs.labels, { env: "prod" });
        const registers = byType(recorded, "command:local:Command").sort((a, b) => a.name.localeCompare(b.name));
        assert.equal(registers.length, 2);
        for (const [i, r] of registers.entries()) {
            assert.ok(dependsOn(recorded, r, clusters[i]));
            assert.equal(r.inputs.addPreviousOutputInEnv, false);
            assert.ok(r.secretInputs.includes("stdin"));
            for (const k of ["create", "update", "delete"]) {
                assert.ok(!/SECRET/.test(r.inputs[k]), `${r.name}.${k} holds no secret`);
            }
            assert.match(r.inputs.stdin, new RegExp(Buffer.from(MANIFEST_URL).toString("base64").slice(0, 20)));
        }
        assert.match(registers[0].inputs.create, /get clusters\.management\.cattle\.io "\$ID"/);
        assert.match(registers[0].inputs.delete, /its agents were left in the cluster/);
        assert.match(registers[1].inputs.delete, /delete namespace cattle-system/, "cleanupAgentsOnRemove");
        assert.deepEqual((await settle(setup.importedClusterIds)).value, { "prod-east": "rancher-setup-cluster-prod-east-id", "prod-west": "rancher-setup-cluster-prod-west-id" });
        // Every secret reaches the engine as a secret (policy rule 5).
        const problems = recorded.flatMap(r => rules.checkSecretsAreSecret(r.type, r.inputs, p => r.secretInputs.includes(p[0])).map(m => `${r.name}: ${m}`));
        assert.deepEqual(problems, []);
    });

    it("re-running changes nothing: every resource gets byte-identical inputs", async () => {
        const inputs = (rs: RecordedResource[]) => Object.fromEntries(rs.map(r => [`${r.type} ${r.name}`, JSON.stringify(r.inputs)]));
        const first = inputs((await build(settings())).recorded);
        const second = inputs((await build(settings())).recorded);
        assert.deepEqual(second, first);
    });

    it("with Rancher's own CA (tls.source rancher) trusts the CA read from the cluster", async () => {
        const { recorded } = await build(settings({ importedClusters: [] }), true);
        const read = recorded.find(r => r.type === "kubernetes:core/v1:Secret");
        assert.ok(read, "tls-rancher read through the cluster API");
        const api = byType(recorded, "pulumi:providers:rancher2").find(p => p.name.endsWith("api-provider"))!;
        assert.match(api.inputs.caCerts, /RANCHER-CA/);
        assert.equal(byType(recorded, "rancher2:index/cluster:Cluster").length, 0, "nothing registered when the list is empty");
        assert.equal(byType(recorded, "command:local:Command").length, 0);
    });
});
