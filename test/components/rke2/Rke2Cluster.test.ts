// Rke2Cluster under Pulumi mocks: the order servers and agents install in, what is secret, what a node's delete
// does, and the provider's identity.
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { parseConfig, StackSettings } from "../../../components/config";
import { KNOWN_HOSTS_ANY } from "../../fixtures/hostKeys";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource, settle } from "../../helpers/mocks";
import { Rke2Cluster } from "../../../components/rke2/Rke2Cluster";
import { NODE_REMOVAL_MARKER } from "../../../components/rke2/record";
import { kubeconfigServer } from "../../../components/shared/kubeconfig";
import { CLUSTER_REMOVAL_OPT_IN_MARKER, checkClusterRemoval, isNodeRemoval } from "../../../policy/rules";
import { minimalRaw, nodesRaw, settingsFrom } from "../../fixtures/rke/settings";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unbundle = (text: string): Record<string, string> =>
    Object.fromEntries(text.split("\n").filter(Boolean).map(l => l.split(" ")).map(([n, , d]) => [n, Buffer.from(d, "base64").toString()]));
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: Y2E=\n    server: https://127.0.0.1:6443\n" +
    "  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\n" +
    "users:\n- name: default\n  user:\n    client-key-data: a2V5\n";

/** What a node's Command prints: its name from the address, servers also their rke2.yaml. */
function nodeStdout(name: string): string {
    const address = /-(server|agent)-(.*)$/.exec(name)!;
    return ["-----BEGIN RANCHER-HA RKE2 NODE-----", `node-name node-${address[2].replace(/\./g, "-")}`, "version v1.36.3+rke2r1",
        ...(address[1] === "server" ? [`kubeconfig ${b64(KUBECONFIG)}`] : []), "-----END RANCHER-HA RKE2 NODE-----"].join("\n");
}

function rke2Raw(nodes: number, over: Record<string, unknown> = {}): Record<string, unknown> {
    return { ...minimalRaw(nodesRaw(nodes)), distribution: "rke2", ...over };
}

async function build(raw: Record<string, unknown>, given?: StackSettings): Promise<{ recorded: RecordedResource[]; c: Rke2Cluster }> {
    const recorded = await recordResources({
        project: "rancher-ha", stack: "prod",
        outputs: a => {
            if (a.type === "command:remote:Command") {
                return { stdout: nodeStdout(a.name), stderr: "" };
            }
            if (a.type === "tls:index/privateKey:PrivateKey") {
                return { privateKeyPem: "-----BEGIN PRIVATE KEY-----\nseed\n-----END PRIVATE KEY-----\n" };
            }
            return undefined;
        },
    });
    const settings = given ?? settingsFrom(raw);
    assert.equal(settings.distribution, "rke2");
    const c = new Rke2Cluster("rke2", { settings, loadBalancerAddress: "192.0.2.10", kubeApiPort: 6443 });
    await settle(c.kubeconfig);
    await settle(c.nodeNames);
    await allRegistered(recorded);
    return { recorded, c };
}

const named = (recorded: RecordedResource[], name: string) => {
    const r = recorded.find(x => x.name === name);
    assert.ok(r, `${name} registered; have ${recorded.map(x => x.name).join(", ")}`);
    return r!;
};

describe("Rke2Cluster (mocks)", () => {
    it("installs the first server, then each next server after the previous one, then the agents after the last server", async () => {
        const { recorded } = await build(rke2Raw(6, { rke2: { agentConcurrency: 2 } }));
        const s = [11, 12, 13].map(i => named(recorded, `rke2-server-192.0.2.${i}`));
        const a = [14, 15, 16].map(i => named(recorded, `rke2-agent-192.0.2.${i}`));
        assert.ok(dependsOn(recorded, s[1], s[0]) && dependsOn(recorded, s[2], s[1]));
        assert.ok(!dependsOn(recorded, s[0], s[1]), "the first server waits for no other");
        for (const agent of a) {
            assert.ok(dependsOn(recorded, agent, s[2]), `${agent.name} after the last server`);
        }
        // At most agentConcurrency (2) agents at once: the third waits for the first, the first two for none.
        assert.ok(!dependsOn(recorded, a[1], a[0]));
        assert.ok(dependsOn(recorded, a[2], a[0]));
        assert.ok(!dependsOn(recorded, a[2], a[1]));
        const cmds = byType(recorded, "command:remote:Command");
        assert.equal(cmds.length, 6);
        for (const c of cmds) {
            assert.equal(c.inputs.addPreviousOutputInEnv, false);
            assert.ok(c.inputs.connection.hostKey, `${c.name} pins the host key`);
            assert.ok(["stdin", "stdout"].every(k => c.additionalSecretOutputs.includes(k)), `${c.name}: stdout and stdin secret`);
            assert.ok(c.secretInputs.includes("stdin"), `${c.name}: stdin is secret`);
            assert.equal(c.inputs.create, c.inputs.update);
        }
    });

    it("joins every node but the first through the LB's supervisor port with one token, kept secret and never in a command", async () => {
        const { recorded, c } = await build(rke2Raw(4));
        const token = await settle(c.token);
        assert.ok(token.secret);
        assert.match(token.value, /^rh-[0-9a-f]{48}$/);
        const configOf = (name: string) => yaml.load(unbundle(named(recorded, name).inputs.stdin)["config.yaml"]) as Record<string, unknown>;
        const first = configOf("rke2-server-192.0.2.11");
        assert.equal(first.server, undefined);
        assert.equal(first.token, token.value);
        for (const n of ["rke2-server-192.0.2.12", "rke2-server-192.0.2.13", "rke2-agent-192.0.2.14"]) {
            assert.equal(configOf(n).server, "https://192.0.2.10:9345", n);
            assert.equal(configOf(n).token, token.value, n);
        }
        assert.deepEqual(configOf("rke2-server-192.0.2.12")["tls-san"], ["192.0.2.10", "rancher.example.com"]);
        for (const cmd of byType(recorded, "command:remote:Command")) {
            for (const k of ["create", "update", "delete"]) {
                assert.ok(!cmd.inputs[k].includes(token.value), `${cmd.name}.${k} holds no token`);
            }
        }
        // Agents get the admin kubeconfig (pointed at the LB) to wait for Ready and to drain on removal; servers have their own.
        const agentFiles = unbundle(named(recorded, "rke2-agent-192.0.2.14").inputs.stdin);
        assert.equal(kubeconfigServer(agentFiles["admin-kubeconfig"]), "https://192.0.2.10:6443");
        assert.equal(unbundle(named(recorded, "rke2-server-192.0.2.12").inputs.stdin)["admin-kubeconfig"], undefined);
        const seed = byType(recorded, "tls:index/privateKey:PrivateKey");
        assert.equal(seed.length, 1);
        assert.deepEqual(seed[0].ignoreChanges, ["algorithm"]);
    });

    it("uses the stack's rke2Token when given (adopting a cluster) and generates none", async () => {
        const { recorded, c } = await build(rke2Raw(3, { rke2Token: "adopted-token-0123456789" }));
        assert.equal(byType(recorded, "tls:index/privateKey:PrivateKey").length, 0);
        const token = await settle(c.token);
        assert.deepEqual(token, { value: "adopted-token-0123456789", secret: true });
    });

    it("hands on a secret kubeconfig pointed at the LB, the node names, and a provider with a stable identity", async () => {
        const { recorded, c } = await build(rke2Raw(4));
        const kc = await settle(c.kubeconfig);
        assert.ok(kc.secret);
        assert.equal(kubeconfigServer(kc.value), "https://192.0.2.10:6443");
        assert.deepEqual((await settle(c.nodeNames)).value, ["node-192-0-2-11", "node-192-0-2-12", "node-192-0-2-13", "node-192-0-2-14"]);
        const provider = byType(recorded, "pulumi:providers:kubernetes")[0];
        assert.equal(provider.inputs.clusterIdentifier, "rancher-ha/rancher-ha/prod/rke2");
        assert.ok(provider.secretInputs.includes("kubeconfig"));
        for (const cmd of byType(recorded, "command:remote:Command")) {
            assert.ok(dependsOn(recorded, provider, cmd), `the provider waits for ${cmd.name}`);
        }
    });

    it("a node's delete removes that node only and is skipped when the cluster goes (deletedWith the record)", async () => {
        const { recorded } = await build(rke2Raw(4));
        const record = named(recorded, "rke2-cluster");
        assert.equal(record.type, "command:local:Command");
        assert.match(record.inputs.delete, /is KEPT/);
        assert.deepEqual(checkClusterRemoval(record.inputs), []);
        for (const cmd of byType(recorded, "command:remote:Command")) {
            assert.equal(cmd.deletedWith, record.urn, `${cmd.name} is deletedWith the record`);
            assert.ok(cmd.inputs.delete.startsWith(`${NODE_REMOVAL_MARKER}\n`));
            assert.ok(isNodeRemoval(cmd.inputs.delete));
            assert.ok(!cmd.inputs.delete.includes(CLUSTER_REMOVAL_OPT_IN_MARKER));
            assert.match(cmd.inputs.delete, /kubectl drain|k drain/);
            assert.match(cmd.inputs.delete, /rke2-uninstall\.sh/);
            assert.ok(!/--force|--grace-period=0/.test(cmd.inputs.delete), "never forced");
            assert.deepEqual(checkClusterRemoval(cmd.inputs), [], `${cmd.name}: the policy accepts it`);
        }
    });

    it("with admin.removeClusterOnDestroy the nodes carry no deletedWith and their deletes carry the opt-in marker", async () => {
        const { recorded } = await build(rke2Raw(4, { admin: { removeClusterOnDestroy: true } }));
        for (const cmd of byType(recorded, "command:remote:Command")) {
            assert.equal(cmd.deletedWith, "");
            assert.ok(cmd.inputs.delete.startsWith(`${CLUSTER_REMOVAL_OPT_IN_MARKER}\n`));
            assert.ok(!cmd.inputs.delete.includes(NODE_REMOVAL_MARKER));
            assert.ok(!/ drain /.test(cmd.inputs.delete), "the whole cluster goes: no drain");
        }
        assert.match(named(recorded, "rke2-cluster").inputs.delete, /removeClusterOnDestroy is true/);
    });

    it("air-gapped: copies the artifacts to each node before its install", async () => {
        const { settings, dir } = settingsWithArtifacts(rke2Raw(4, { rke2: {} }));
        after(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));
        const { recorded } = await build({}, settings);
        const copies = byType(recorded, "command:remote:CopyToRemote");
        assert.deepEqual(copies.map(x => x.name).sort(), [11, 12, 13, 14].map(i => `rke2-artifacts-192.0.2.${i}`));
        for (const i of [11, 12, 13]) {
            assert.ok(dependsOn(recorded, named(recorded, `rke2-server-192.0.2.${i}`), named(recorded, `rke2-artifacts-192.0.2.${i}`)));
        }
        assert.match(named(recorded, "rke2-server-192.0.2.11").inputs.create, /ART="\$USER_HOME"\/rancher-ha-rke2-artifacts\/v1\.36\.3\n[^]*INSTALL_RKE2_ARTIFACT_PATH="\$ART"/);
        assert.equal(copies[0].inputs.remotePath, "rancher-ha-rke2-artifacts");
    });

    it("admin.stateSync re-runs the first server only (it reports the kubeconfig), changing nothing else", async () => {
        const { recorded: plain } = await build(rke2Raw(4));
        const { recorded } = await build(rke2Raw(4, { admin: { stateSync: "20261203" } }));
        const create = (rs: RecordedResource[], n: string) => named(rs, n).inputs.create as string;
        assert.ok(create(recorded, "rke2-server-192.0.2.11").startsWith("# admin.stateSync: 20261203 "));
        assert.notEqual(create(recorded, "rke2-server-192.0.2.11"), create(plain, "rke2-server-192.0.2.11"));
        for (const n of ["rke2-server-192.0.2.12", "rke2-server-192.0.2.13", "rke2-agent-192.0.2.14"]) {
            assert.equal(create(recorded, n), create(plain, n), n);
        }
    });

    it("refuses a stack whose distribution is not rke2", () => {
        const settings = settingsFrom(minimalRaw());
        assert.throws(() => new Rke2Cluster("x", { settings, loadBalancerAddress: pulumi.output("192.0.2.10") }), /not rke2/);
    });
});

/** settingsFrom, with a real artifacts directory holding (empty) release files: the engine hashes the archive. */
function settingsWithArtifacts(raw: Record<string, unknown>): { settings: StackSettings; dir: string } {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-rke2-art-")), "v1.36.3");
    fs.mkdirSync(dir);
    for (const f of ["install.sh", "rke2.linux-amd64.tar.gz", "sha256sum-amd64.txt", "rke2-images.linux-amd64.tar.zst"]) {
        fs.writeFileSync(path.join(dir, f), f);
    }
    const rke2 = { ...(raw.rke2 as object), artifactsDir: dir };
    const settings = parseConfig({ ...raw, rke2 }, {
        homeDir: "/home/tester",
        readFile: (p: string) => { if (p === "/test/known_hosts") { return KNOWN_HOSTS_ANY; } throw Object.assign(new Error(p), { code: "ENOENT" }); },
    }).settings;
    return { settings, dir };
}
