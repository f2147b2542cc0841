// agents-redeploy with the real kubectl against a fake Kubernetes API on 127.0.0.1 that holds the agent workloads of
// test/fixtures/k8s (their CATTLE_CA_CHECKSUM is an old CA's).
import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import { agentCaChecksum, agentRedeployBundle, agentRedeployScript } from "../../../scripts/ops/agentRedeploy";
import { caChecksum } from "../../../components/rancher/release";
import { requireTool, toolMissing } from "../../helpers/tools";
import { AGENT_PATHS, FakeAgentApi, kubeconfigFor } from "../../fixtures/rke/fakeAgentApi";
import { kubectlSandbox } from "../../helpers/fakeKubeApi";
import { runShellScript } from "../../helpers/run";

const NEW_CA = "-----BEGIN CERTIFICATE-----\nRkFLRSBORVcgQ0EgRk9SIFRFU1RT\n-----END CERTIFICATE-----";
const OLD = "0d1c0c7f7a3e4b3f5f0b1e7d4f9a2e6c8b5a3d2f1e0c9b8a7f6e5d4c3b2a1f0e";

const run = runShellScript;

describe("scripts/ops/agentRedeploy", () => {
    it("the checksum is the one agents compute: sha256 of the cacerts value plus the newline jq -r adds", () => {
        const expected = crypto.createHash("sha256").update(`${NEW_CA}\n`).digest("hex");
        assert.equal(agentCaChecksum(NEW_CA), expected);
        assert.equal(agentCaChecksum(`${NEW_CA}\n\n`), expected);
        assert.equal(agentCaChecksum(NEW_CA), caChecksum(NEW_CA), "the same as the stack's caChecksum output");
        assert.equal(agentCaChecksum(""), "", "a public CA: agents carry an empty checksum (Rancher docs)");
        assert.throws(() => agentRedeployScript({ expectedChecksum: "'; rm -rf /" }), /not a sha256 hex checksum/);
    });

    describe("with the real kubectl against a fake API on 127.0.0.1", function () {
        this.timeout(60000);
        let sandbox: ReturnType<typeof kubectlSandbox>;
        let env: NodeJS.ProcessEnv;
        let api: FakeAgentApi;
        const sum = agentCaChecksum(NEW_CA);

        before(function () {
            requireTool(this, toolMissing("kubectl", ["version", "--client"]));
        });
        beforeEach(() => {
            sandbox = kubectlSandbox("rancher-ha-redeploy-");
            ({ env } = sandbox);
        });
        afterEach(async () => {
            await api?.stop();
            sandbox.remove();
        });

        it("patches CATTLE_CA_CHECKSUM where it differs, only that env var, and a second run finds nothing to do", async () => {
            api = new FakeAgentApi();
            const kc = kubeconfigFor(await api.start());
            const r = await run(agentRedeployScript({ expectedChecksum: sum }), agentRedeployBundle(kc), env);
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(r.stdout.trim().split("\n"), [
                `patched deployment/cattle-cluster-agent cluster-register (had ${OLD})`,
                `patched daemonset/cattle-node-agent agent (had ${OLD})`,
            ]);
            const patches = api.patches();
            assert.deepEqual(patches.map(p => [p.path, p.contentType]), [
                [AGENT_PATHS.deployment, "application/strategic-merge-patch+json"],
                [AGENT_PATHS.daemonset, "application/strategic-merge-patch+json"],
            ]);
            assert.deepEqual(JSON.parse(patches[0].body), {
                spec: { template: { spec: { containers: [{ name: "cluster-register", env: [{ name: "CATTLE_CA_CHECKSUM", value: sum }] }] } } },
            });
            assert.deepEqual(api.checksums(AGENT_PATHS.deployment), { "cluster-register": sum });
            assert.deepEqual(fs.readdirSync(env.TMPDIR!), [], "the kubeconfig does not outlive the run");

            const again = await run(agentRedeployScript({ expectedChecksum: sum }), agentRedeployBundle(kc), env);
            assert.deepEqual(again.stdout.trim().split("\n"), ["ok deployment/cattle-cluster-agent cluster-register", "ok daemonset/cattle-node-agent agent"]);
            assert.equal(api.patches().length, 2);
        });

        it("--dry-run reports and changes nothing; a cluster without agents (Rancher's own on >= 2.5) says absent", async () => {
            api = new FakeAgentApi(["deployment"]);
            const kc = kubeconfigFor(await api.start());
            const r = await run(agentRedeployScript({ expectedChecksum: "", dryRun: true }), agentRedeployBundle(kc), env);
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(r.stdout.trim().split("\n"), [
                `would patch deployment/cattle-cluster-agent cluster-register (has ${OLD})`,
                "absent daemonset/cattle-node-agent",
            ]);
            assert.equal(api.patches().length, 0);
        });

        it("an unreachable cluster fails with kubectl's reason, and the kubeconfig token is never printed", async () => {
            const kc = kubeconfigFor("http://127.0.0.1:1", "fake-token-never-printed");
            const r = await run(agentRedeployScript({ expectedChecksum: sum }), agentRedeployBundle(kc), env);
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /rancher-ha ops: could not read deployment\/cattle-cluster-agent in cattle-system: .*(refused|connect)/);
            assert.ok(!(r.stdout + r.stderr).includes("fake-token-never-printed"));
        });
    });
});
