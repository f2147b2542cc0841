// The whole program on the RKE2 example stack (Pulumi.dev-rke2.yaml) under mocks: the same stages and contract as
// on RKE, with the RKE2 stage in the middle, the LB forwarding the supervisor port, Rancher's Ingress on Traefik and
// the Rancher hostname in the cluster's DNS.
import { strict as assert } from "assert";
import { generateKeyPairSync } from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource, settle } from "./helpers/mocks";
import { fakeHomeWithKey, runProgram, useStackConfig } from "./helpers/devStack";
import { ROOT } from "./helpers/paths";
import * as rules from "../policy/rules";
import { policyFindings } from "./helpers/policy";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\n" +
    "contexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\n" +
    "users:\n- name: default\n  user:\n    client-key-data: UktFMi1LRVktU0VDUkVU\n";
const SEED_KEY = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();

function nodeStdout(name: string): string {
    const m = /-(server|agent)-(.*)$/.exec(name)!;
    return ["-----BEGIN RANCHER-HA RKE2 NODE-----", `node-name node-${m[2]}`, "version v1.36.3+rke2r1",
        ...(m[1] === "server" ? [`kubeconfig ${b64(KUBECONFIG)}`] : []), "-----END RANCHER-HA RKE2 NODE-----"].join("\n");
}

describe("program (index.ts) on Pulumi.dev-rke2.yaml", function () {
    this.timeout(60000);
    let recorded: RecordedResource[];
    let program: any;
    let home: ReturnType<typeof fakeHomeWithKey>;
    const one = (type: string, nameSuffix = ""): RecordedResource => {
        const found = byType(recorded, type).filter(r => r.name.endsWith(nameSuffix));
        assert.equal(found.length, 1, `one ${type} named *${nameSuffix}, found ${found.map(f => f.name).join(", ")}`);
        return found[0];
    };

    before(async () => {
        home = fakeHomeWithKey("id_ed25519");
        recorded = await recordResources({
            project: "rancher-ha",
            stack: "dev-rke2",
            outputs: a => {
                if (a.type === "command:remote:Command" && /^rke2-(server|agent)-/.test(a.name)) {
                    return { stdout: nodeStdout(a.name) };
                }
                if (a.type === "tls:index/privateKey:PrivateKey") {
                    return { privateKeyPem: SEED_KEY };
                }
                if (a.type === "kubernetes:helm.sh/v3:Release") {
                    return { status: { revision: 1, status: "deployed" } };
                }
                return undefined;
            },
        });
        useStackConfig(path.join(ROOT, "Pulumi.dev-rke2.yaml"));
        program = runProgram();
        await settle(program.kubeconfig);
        await allRegistered(recorded);
    });
    after(() => {
        pulumi.runtime.setAllConfig({});
        home.restore();
    });

    it("builds the RKE2 stage instead of the RKE one, and the cluster DNS entry beside the agents' hostAliases", () => {
        for (const t of ["rancher-ha:loadBalancer:NginxLoadBalancer", "rancher-ha:rke2:Rke2Cluster", "rancher-ha:certManager:CertManager",
            "rancher-ha:rancher:Rancher", "rancher-ha:agentHostAliases:AgentHostAliases", "rancher-ha:hostAliases:ClusterDnsHosts"]) {
            assert.equal(byType(recorded, t).length, 1, t);
        }
        assert.equal(byType(recorded, "rancher-ha:rke:RkeCluster").length, 0);
        assert.equal(byType(recorded, "pulumi:pulumi:StackReference").length, 0, "RKE2 reads no earlier state back");
        const dns = one("kubernetes:helm.cattle.io/v1:HelmChartConfig");
        assert.equal(dns.inputs.metadata.name, "rke2-coredns");
        assert.match(JSON.stringify(dns.inputs.spec), /192\.0\.2\.20 rancher\.example\.com/);
    });

    it("orders LB -> servers one by one -> agent -> cert-manager -> Rancher", () => {
        const lb = one("command:remote:Command", "lb-nginx");
        const servers = [21, 22, 23].map(i => one("command:remote:Command", `rke2-server-192.0.2.${i}`));
        const agent = one("command:remote:Command", "rke2-agent-192.0.2.24");
        const releases = byType(recorded, "kubernetes:helm.sh/v3:Release");
        const certManager = releases.find(r => r.inputs.chart === "cert-manager")!;
        const rancher = releases.find(r => r.inputs.chart === "rancher")!;
        const chain = [lb, ...servers, agent, certManager, rancher];
        for (let i = 1; i < chain.length; i++) {
            assert.ok(dependsOn(recorded, chain[i], chain[i - 1]), `${chain[i].name} must wait for ${chain[i - 1].name}`);
            assert.ok(!dependsOn(recorded, chain[i - 1], chain[i]), `${chain[i - 1].name} must not wait for ${chain[i].name}`);
        }
    });

    it("is safe by construction: node deletes remove one node only, deletedWith the record, and pass every policy rule", () => {
        const record = one("command:local:Command", "rke2-cluster");
        assert.deepEqual(policyFindings(recorded), []);
        for (const c of recorded.filter(r => r.type.startsWith("command:"))) {
            assert.equal(c.inputs.addPreviousOutputInEnv, false, c.name);
            // Only a node's own removal may uninstall RKE2, and only deletedWith the record (pulumi destroy skips it).
            if (/rke2-(uninstall|killall)/.test(c.inputs.delete ?? "")) {
                assert.ok(rules.isNodeRemoval(c.inputs.delete), `${c.name}: node removal marker`);
                assert.equal(c.deletedWith, record.urn, `${c.name}: deletedWith the record`);
            }
        }
        assert.equal(one("pulumi:providers:kubernetes").inputs.clusterIdentifier, "rancher-ha/rancher-ha/dev-rke2/rke2");
        assert.equal(one("pulumi:providers:kubernetes").inputs.upsertExistingObjects, undefined, "an existing object stays an error (restoreFrom only)");
    });

    it("forwards 80/443 to every node and 6443 and the supervisor port 9345 to the servers only", () => {
        const conf = Buffer.from(one("command:remote:Command", "lb-nginx").inputs.stdin.split(" ")[2], "base64").toString();
        for (const node of ["192.0.2.21", "192.0.2.22", "192.0.2.23"]) {
            for (const port of [80, 443, 6443, 9345]) {
                assert.ok(conf.includes(`server ${node}:${port} `), `${node}:${port} in nginx.conf`);
            }
        }
        assert.ok(conf.includes("server 192.0.2.24:443 "), "the agent takes ingress traffic");
        assert.ok(!conf.includes("192.0.2.24:6443") && !conf.includes("192.0.2.24:9345"), "the agent is no server");
        assert.match(conf, /listen 9345/);
    });

    it("takes current releases and the distribution's ingress class to Rancher", () => {
        const releases = byType(recorded, "kubernetes:helm.sh/v3:Release");
        const rancher = releases.find(r => r.inputs.chart === "rancher")!;
        assert.equal(rancher.inputs.version, "2.15.0");
        assert.equal(rancher.inputs.values.ingress.ingressClassName, "traefik");
        assert.equal(releases.find(r => r.inputs.chart === "cert-manager")!.inputs.version, "v1.21.1");
    });

    it("keeps the token, kubeconfig and keys secret, and exports rke2Token instead of RKE's state", async () => {
        const token = await settle<string>(program.rke2Token);
        assert.ok(token.secret);
        assert.match(token.value, /^rh-[0-9a-f]{48}$/);
        for (const r of recorded) {
            for (const [input, value] of Object.entries(r.inputs ?? {})) {
                const text = JSON.stringify(value);
                const carries = [token.value, "UktFMi1LRVktU0VDUkVU", String(home.privateKey.split("\n")[1]), SEED_KEY.split("\n")[1]]
                    .some(s => text.includes(s) || text.includes(b64(s).slice(0, 24)));
                if (carries) {
                    assert.ok(r.secretInputs.includes(input), `${r.type} ${r.name}.${input} carries a secret but is not marked secret`);
                }
            }
        }
        const kc = await settle(program.kubeconfig);
        assert.ok(kc.secret);
        assert.match(String(kc.value), /server: https:\/\/192\.0\.2\.20:6443/);
        for (const name of ["rkeState", "rkeConfigHash", "rkeRestorePayload"]) {
            assert.equal(program[name], undefined, `${name} is RKE's`);
        }
    });
});
