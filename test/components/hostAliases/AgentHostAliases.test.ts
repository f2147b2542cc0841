import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { AgentHostAliases } from "../../../components/hostAliases/AgentHostAliases";
import { agentHostAliasesScript, agentReleaseScript, agentTargets } from "../../../components/hostAliases/agentScripts";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource, settle } from "../../helpers/mocks";

const KUBECONFIG = "apiVersion: v1\nkind: Config\nusers: [{name: a, user: {token: KUBE-s3cret}}]\n";
const PATCH = "kubernetes:apps/v1:DeploymentPatch";
const LOCAL = "command:local:Command";

/** The stdin bundle's files, decoded. */
function bundleFiles(stdin: string): Record<string, string> {
    return Object.fromEntries(stdin.trim().split("\n").map(l => {
        const [name, , data] = l.split(" ");
        return [name, Buffer.from(data, "base64").toString("utf8")];
    }));
}

describe("AgentHostAliases (mocks)", () => {
    let recorded: RecordedResource[];
    let provider: k8s.Provider;
    let release: k8s.helm.v3.Release;

    beforeEach(async () => {
        recorded = await recordResources({
            outputs: a => {
                if (a.type === LOCAL) {
                    return { stdout: "patched deployment/cattle-cluster-agent\nabsent daemonset/cattle-node-agent\n" };
                }
                if (a.type === "kubernetes:helm.sh/v3:Release") {
                    return { status: { name: "rancher", namespace: "cattle-system", revision: 3, status: "deployed" } };
                }
                return undefined;
            },
        });
        provider = new k8s.Provider("k", { kubeconfig: "apiVersion: v1\nkind: Config\n" });
        release = new k8s.helm.v3.Release("rancher", { chart: "rancher", name: "rancher", namespace: "cattle-system" }, { provider });
    });

    function build(name: string, extra: Partial<ConstructorParameters<typeof AgentHostAliases>[1]> = {}) {
        return new AgentHostAliases(name, {
            hostname: "rancher.example.com", ip: "192.0.2.10", provider, kubeconfig: pulumi.secret(KUBECONFIG),
            rancherVersion: "2.9.2", rancherRelease: release, ...extra,
        }, { dependsOn: [release] });
    }

    it("patches the rancher deployment by server-side apply, forced, with the seed's alias, waiting for its rollout", async () => {
        build("aliases");
        await allRegistered(recorded);
        const [patch] = byType(recorded, PATCH);
        assert.deepEqual(patch.inputs.metadata, {
            name: "rancher", namespace: "cattle-system", annotations: { "pulumi.com/patchForce": "true" },
        });
        assert.deepEqual(patch.inputs.spec, {
            template: { spec: { hostAliases: [{ ip: "192.0.2.10", hostnames: ["rancher.example.com"] }] } },
        });
        assert.deepEqual(patch.customTimeouts, { create: "15m", update: "15m", delete: "" });
        const releaseRec = recorded.find(r => r.type === "kubernetes:helm.sh/v3:Release")!;
        assert.ok(dependsOn(recorded, patch, releaseRec), "after the Rancher release");
    });

    it("runs the agent script after the rancher rollout, kubeconfig only on secret stdin, release script on delete", async () => {
        const c = build("aliases-agents");
        const agents = await settle(c.patchedAgents);
        await allRegistered(recorded);

        const [cmd] = byType(recorded, LOCAL);
        const targets = agentTargets("2.9.2");
        assert.equal(cmd.inputs.create, agentHostAliasesScript({ targets, timeoutSeconds: 900 }));
        assert.equal(cmd.inputs.update, cmd.inputs.create, "a change re-runs the same script in place");
        assert.equal(cmd.inputs.delete, agentReleaseScript(targets));
        assert.ok(!cmd.inputs.create.includes("KUBE-s3cret") && !cmd.inputs.delete.includes("KUBE-s3cret"));
        assert.deepEqual(cmd.secretInputs, ["stdin"]);
        const files = bundleFiles(cmd.inputs.stdin);
        assert.equal(files.kubeconfig, KUBECONFIG);
        assert.deepEqual(JSON.parse(files["daemonset-cattle-node-agent.json"]).spec.template.spec.hostAliases,
            [{ ip: "192.0.2.10", hostnames: ["rancher.example.com"] }]);
        assert.equal(cmd.deleteBeforeReplace, true, "never re-add before the old one is taken out");
        assert.ok(dependsOn(recorded, cmd, byType(recorded, PATCH)[0]));
        assert.deepEqual(cmd.inputs.environment, { RANCHER_HA_RANCHER_REVISION: "3" }, "a new release revision re-runs it");
        assert.deepEqual(agents, { value: ["deployment/cattle-cluster-agent"], secret: false });
    });

    it("for Rancher < 2.5 the script must wait for cattle-cluster-agent; the timeout is configurable", async () => {
        build("aliases-legacy", { rancherVersion: "2.4.17", waitTimeoutSeconds: 300 });
        await allRegistered(recorded);
        const [cmd] = byType(recorded, LOCAL);
        assert.equal(cmd.inputs.create, agentHostAliasesScript({ targets: agentTargets("2.4.17"), timeoutSeconds: 300 }));
        assert.match(cmd.inputs.create, /timed out after 300s waiting for deployment\/cattle-cluster-agent/);
        assert.deepEqual(byType(recorded, PATCH)[0].customTimeouts?.create, "5m");
    });

    it("takes the IP as an Output (e.g. the LB address)", async () => {
        build("aliases-output", { ip: pulumi.output("198.51.100.7") });
        await allRegistered(recorded);
        assert.equal(byType(recorded, PATCH)[0].inputs.spec.template.spec.hostAliases[0].ip, "198.51.100.7");
        assert.match(bundleFiles(byType(recorded, LOCAL)[0].inputs.stdin)["deployment-cattle-cluster-agent.json"], /198\.51\.100\.7/);
    });

    it("a host name where the IP goes fails at once, naming hostAliases.ip, before anything is registered", async () => {
        assert.throws(() => build("aliases-bad", { ip: "lb.example.com" }), /hostAliases\.ip: "lb\.example\.com" is not an IP address/);
        await allRegistered(recorded);
        assert.equal(byType(recorded, PATCH).length + byType(recorded, LOCAL).length, 0);
        assert.equal(byType(recorded, "rancher-ha:agentHostAliases:AgentHostAliases").length, 0);
    });
});
