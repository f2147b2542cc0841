import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import {
    CLUSTER_AGENT, hostAlias, hostAliasesApplyConfiguration, hostAliasesPatch, NODE_AGENT, RANCHER_DEPLOYMENT,
    releaseConfiguration,
} from "../../../components/hostAliases/patches";
import { requireTool, toolMissing } from "../../helpers/tools";
import { FIXTURES } from "../../helpers/paths";

const K8S_FIXTURES = path.join(FIXTURES, "k8s");
const IP = "192.0.2.10";
const HOST = "rancher.example.com";

/** `kubectl patch --local`: the strategic merge kubectl and the API server apply, on a manifest file. */
function kubectlPatch(file: string, patch: unknown): any {
    const out = execFileSync("kubectl", ["patch", "--local", "-f", file, "-p", JSON.stringify(patch), "-o", "yaml"],
        { encoding: "utf8", timeout: 20000 });
    return yaml.load(out);
}

function load(file: string): any {
    return yaml.load(fs.readFileSync(file, "utf8"));
}

/** The object without the pod template's hostAliases: what the patch must leave untouched. */
function withoutAliases(o: any): any {
    const copy = JSON.parse(JSON.stringify(o));
    delete copy.spec.template.spec.hostAliases;
    return copy;
}

describe("hostAliases/patches", () => {
    describe("patch body", () => {
        it("is the seed's patch: one alias for the pod template, usable for a Deployment and a DaemonSet", () => {
            assert.deepEqual(hostAliasesPatch(IP, HOST), {
                spec: { template: { spec: { hostAliases: [{ ip: IP, hostnames: [HOST] }] } } },
            });
            assert.deepEqual(hostAlias("2001:db8::10", HOST), { ip: "2001:db8::10", hostnames: [HOST] });
        });

        it("refuses a host name where the IP goes and an IP where the host name goes, naming the config key", () => {
            assert.throws(() => hostAliasesPatch("lb.example.com", HOST), /hostAliases\.ip: "lb\.example\.com" is not an IP address/);
            assert.throws(() => hostAliasesPatch("", HOST), /hostAliases\.ip: "" is not an IP address/);
            assert.throws(() => hostAliasesPatch(IP, "192.0.2.99"), /"192\.0\.2\.99" is not a host name/);
            assert.throws(() => hostAliasesPatch(IP, "bad host"), /is not a host name/);
        });

        it("apply configurations carry identity plus only the alias; the release configuration carries identity only", () => {
            assert.deepEqual(hostAliasesApplyConfiguration(NODE_AGENT, IP, HOST), {
                apiVersion: "apps/v1", kind: "DaemonSet",
                metadata: { name: "cattle-node-agent", namespace: "cattle-system" },
                spec: { template: { spec: { hostAliases: [{ ip: IP, hostnames: [HOST] }] } } },
            });
            assert.deepEqual(releaseConfiguration(CLUSTER_AGENT), {
                apiVersion: "apps/v1", kind: "Deployment",
                metadata: { name: "cattle-cluster-agent", namespace: "cattle-system" },
            });
            assert.deepEqual([RANCHER_DEPLOYMENT, CLUSTER_AGENT, NODE_AGENT].map(w => `${w.kind}/${w.namespace}/${w.name}`),
                ["Deployment/cattle-system/rancher", "Deployment/cattle-system/cattle-cluster-agent", "DaemonSet/cattle-system/cattle-node-agent"]);
        });
    });

    describe("applied with kubectl patch --local to the three workloads", function () {
        before(function () {
            requireTool(this, toolMissing("kubectl", ["version", "--client"]));
        });

        it("rancher deployment: gains the alias, nothing else changes", () => {
            const file = path.join(K8S_FIXTURES, "rancher-deployment.yaml");
            const before = load(file);
            assert.equal(before.spec.template.spec.hostAliases, undefined, "fixture starts without aliases");
            const after = kubectlPatch(file, hostAliasesPatch(IP, HOST));
            assert.deepEqual(after.spec.template.spec.hostAliases, [{ ip: IP, hostnames: [HOST] }]);
            assert.deepEqual(withoutAliases(after), withoutAliases(before));
        });

        it("cattle-cluster-agent: the entry for the same IP is updated to the Rancher hostname, not duplicated", () => {
            const file = path.join(K8S_FIXTURES, "cattle-cluster-agent.yaml");
            const before = load(file);
            assert.deepEqual(before.spec.template.spec.hostAliases, [{ ip: IP, hostnames: ["rancher.old.example.com"] }]);
            const after = kubectlPatch(file, hostAliasesPatch(IP, HOST));
            assert.deepEqual(after.spec.template.spec.hostAliases, [{ ip: IP, hostnames: [HOST] }]);
            assert.deepEqual(withoutAliases(after), withoutAliases(before));
        });

        it("cattle-node-agent: an unrelated alias is kept next to ours; hostNetwork and the rest are untouched", () => {
            const file = path.join(K8S_FIXTURES, "cattle-node-agent.yaml");
            const before = load(file);
            const after = kubectlPatch(file, hostAliasesPatch(IP, HOST));
            const aliases = after.spec.template.spec.hostAliases;
            assert.equal(aliases.length, 2);
            assert.deepEqual(aliases.find((a: any) => a.ip === IP), { ip: IP, hostnames: [HOST] });
            assert.deepEqual(aliases.find((a: any) => a.ip === "192.0.2.50"), { ip: "192.0.2.50", hostnames: ["registry.example.com"] });
            assert.equal(after.spec.template.spec.hostNetwork, true);
            assert.deepEqual(withoutAliases(after), withoutAliases(before));
        });

        it("is idempotent: patching the patched manifest again changes nothing", () => {
            const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-patch-"));
            try {
                for (const name of ["rancher-deployment.yaml", "cattle-cluster-agent.yaml", "cattle-node-agent.yaml"]) {
                    const once = kubectlPatch(path.join(K8S_FIXTURES, name), hostAliasesPatch(IP, HOST));
                    const file = path.join(tmp, name);
                    fs.writeFileSync(file, yaml.dump(once));
                    assert.deepEqual(kubectlPatch(file, hostAliasesPatch(IP, HOST)), once, name);
                }
            } finally {
                fs.rmSync(tmp, { recursive: true, force: true });
            }
        });
    });
});
