import { strict as assert } from "assert";
import { generateKeyPairSync } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { RKE_STACK_OUTPUTS } from "../components/rke/RkeCluster";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource, settle } from "./helpers/mocks";
import { fakeHomeWithKey, runProgram, useStackConfig } from "./helpers/devStack";
import { ROOT } from "./helpers/paths";
import * as rules from "../policy/rules";
import { policyFindings } from "./helpers/policy";
import { CLUSTER_REMOVAL_OPT_IN_MARKER } from "../components/rke/scripts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: \"https://192.0.2.11:6443\"\n  name: local\n" +
    "contexts:\n- context:\n    cluster: local\n    user: kube-admin-local\n  name: local\ncurrent-context: local\n" +
    "users:\n- name: kube-admin-local\n  user:\n    client-key-data: S0VZLURBVEEtU0VDUkVU\n";
const RKESTATE = `{"currentState":{"certificatesBundle":{"kube-ca":{"keyPEM":"CA-KEY-SECRET"}}}}`;

const SEED_KEY = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();

/** What the rke-up Command prints on success (rke/scripts.ts frames it). */
const RKE_UP_STDOUT = ["-----BEGIN RANCHER-HA RKE OUTPUTS-----", "mode full", `kubeconfig ${b64(KUBECONFIG)}`,
    `rkestate ${b64(RKESTATE)}`, "-----END RANCHER-HA RKE OUTPUTS-----"].join("\n");

// The whole program, built from the example stack Pulumi.dev.yaml under mocks: the graph must build without
// errors, in the stage order, with every secret marked secret.
describe("program (index.ts) on Pulumi.dev.yaml", function () {
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
        home = fakeHomeWithKey();
        recorded = await recordResources({
            project: "rancher-ha",
            stack: "dev",
            outputs: a => {
                if (a.type === "command:local:Command" && a.name === "rke-up") {
                    return { stdout: RKE_UP_STDOUT };
                }
                if (a.type === "pulumi:pulumi:StackReference") {
                    return { outputs: {}, secretOutputNames: [] }; // the first deployment: nothing exported yet
                }
                if (a.type === "tls:index/privateKey:PrivateKey") {
                    return { privateKeyPem: SEED_KEY }; // the bootstrap password's seed
                }
                if (a.type === "kubernetes:helm.sh/v3:Release") {
                    return { status: { revision: 1, status: "deployed" } };
                }
                return undefined;
            },
        });
        useStackConfig(path.join(ROOT, "Pulumi.dev.yaml"));
        program = runProgram();
        await settle(program.kubeconfig);
        await allRegistered(recorded);
    });
    after(() => {
        pulumi.runtime.setAllConfig({});
        home.restore();
    });

    it("builds one component per stage, with the type tokens of the architecture", () => {
        for (const t of ["rancher-ha:loadBalancer:NginxLoadBalancer", "rancher-ha:rke:RkeCluster",
            "rancher-ha:certManager:CertManager", "rancher-ha:rancher:Rancher", "rancher-ha:agentHostAliases:AgentHostAliases"]) {
            assert.equal(byType(recorded, t).length, 1, t);
        }
        // Every resource but the components themselves sits under one of them.
        const components = new Set(recorded.filter(r => r.type.startsWith("rancher-ha:")).map(r => r.urn));
        const orphans = recorded.filter(r => !r.type.startsWith("rancher-ha:") && !components.has(r.parent)
            && !components.has(recorded.find(p => p.urn === r.parent)?.parent ?? ""));
        assert.deepEqual(orphans.map(o => `${o.type} ${o.name}`), []);
    });

    it("is safe by construction: no delete removes the cluster, no Command puts its previous output in an environment", () => {
        const commands = recorded.filter(r => r.type.startsWith("command:"));
        assert.ok(commands.length >= 6);
        for (const c of commands) {
            assert.equal(c.inputs.addPreviousOutputInEnv, false, `${c.type} ${c.name}`);
            assert.doesNotMatch(c.inputs.delete ?? "", /rke"? +remove|rke2-(uninstall|killall)/, `${c.name}: its delete must not remove the cluster`);
            if (c.type === "command:remote:Command") {
                assert.match(c.inputs.connection.hostKey, /^ssh-ed25519 AAAA/, `${c.name} pins the host key`);
            }
        }
        const provider = one("pulumi:providers:kubernetes");
        assert.equal(provider.inputs.clusterIdentifier, "rancher-ha/rancher-ha/dev/rke");
    });

    it("has the URN docs/troubleshooting.md gives for finishing an LB move off a dead host", () => {
        const doc = fs.readFileSync(path.join(ROOT, "docs", "troubleshooting.md"), "utf8");
        const urn = one("command:remote:Command", "lb-nginx").urn;
        assert.equal(urn, "urn:pulumi:dev::rancher-ha::rancher-ha:loadBalancer:NginxLoadBalancer$command:remote:Command::lb-nginx");
        assert.ok(doc.includes(urn.replace("urn:pulumi:dev::", "urn:pulumi:<stack>::")), "the documented URN");
    });

    it("passes every rule of the policy pack (policy/rules.ts), resource by resource", () => {
        assert.equal(rules.CLUSTER_REMOVAL_OPT_IN_MARKER, CLUSTER_REMOVAL_OPT_IN_MARKER, "the program and the policy agree on the marker");
        assert.deepEqual(policyFindings(recorded), []);
    });

    it("orders the stages LB -> RKE -> cert-manager -> Rancher -> hostAliases", () => {
        const lbCommand = one("command:remote:Command", "lb-nginx");
        const rkeUp = one("command:local:Command", "rke-up");
        const releases = byType(recorded, "kubernetes:helm.sh/v3:Release");
        const certManager = releases.find(r => r.inputs.chart === "cert-manager")!;
        const rancher = releases.find(r => r.inputs.chart === "rancher")!;
        const patch = one("kubernetes:apps/v1:DeploymentPatch");
        const agents = one("command:local:Command", "host-aliases-agents");
        const chain = [lbCommand, rkeUp, certManager, rancher, patch, agents];
        for (let i = 1; i < chain.length; i++) {
            assert.ok(dependsOn(recorded, chain[i], chain[i - 1]), `${chain[i].name} must wait for ${chain[i - 1].name}`);
            assert.ok(!dependsOn(recorded, chain[i - 1], chain[i]), `${chain[i - 1].name} must not wait for ${chain[i].name}`);
        }
        // rke up also waits for every node's preflight.
        const preflights = recorded.filter(r => r.name.startsWith("rke-preflight-"));
        assert.equal(preflights.length, 3);
        assert.ok(preflights.every(p => dependsOn(recorded, rkeUp, p)));
    });

    it("takes the example stack's settings through to the resources", () => {
        const rancher = byType(recorded, "kubernetes:helm.sh/v3:Release").find(r => r.inputs.chart === "rancher")!;
        assert.equal(rancher.inputs.version, "2.11.16");
        assert.equal(rancher.inputs.values.hostname, "rancher.example.com");
        assert.equal(rancher.inputs.values.replicas, 3);
        const conf = Buffer.from(one("command:remote:Command", "lb-nginx").inputs.stdin.split(" ")[2], "base64").toString();
        for (const node of ["192.0.2.11", "192.0.2.12", "192.0.2.13"]) {
            for (const port of [80, 443, 6443]) {
                assert.ok(conf.includes(`server ${node}:${port} max_fails=3 fail_timeout=5s;`), `${node}:${port} in nginx.conf`);
            }
        }
    });

    it("keeps every secret secret: keys, kubeconfig, state, passwords", async () => {
        const key = home.privateKey;
        const keyBody = String(key.split("\n")[1]);
        for (const r of recorded) {
            for (const [input, value] of Object.entries(r.inputs ?? {})) {
                const text = JSON.stringify(value);
                const carries = [keyBody, b64(key).slice(0, 40), "S0VZLURBVEEtU0VDUkVU", "CA-KEY-SECRET", SEED_KEY.split("\n")[1]]
                    .some(s => text.includes(s));
                if (carries) {
                    assert.ok(r.secretInputs.includes(input), `${r.type} ${r.name}.${input} carries a secret but is not marked secret`);
                }
            }
        }
        for (const name of ["kubeconfig", "bootstrapPassword", ...Object.values(RKE_STACK_OUTPUTS)]) {
            assert.equal((await settle(program[name])).secret, true, `output ${name} must be secret`);
        }
        assert.equal((await settle(program.rancherUrl)).value, "https://rancher.example.com");
        assert.equal((await settle(program.rancherUrl)).secret, false);
        assert.match(String((await settle(program.kubeconfig)).value), /server: https:\/\/192\.0\.2\.10:6443/, "kubeconfig points at the LB");
    });

    it("exports what the next deployment reads back, under the names RkeCluster reads", () => {
        for (const name of Object.values(RKE_STACK_OUTPUTS)) {
            assert.ok(program[name] !== undefined, `index.ts must export ${name}`);
        }
        const ref = one("pulumi:pulumi:StackReference");
        assert.equal(ref.inputs.name, "organization/rancher-ha/dev");
    });

    it("exports the node list from the example stack", async () => {
        const nodes = program.nodes;
        assert.deepEqual(nodes.map((n: any) => n.address), ["192.0.2.11", "192.0.2.12", "192.0.2.13"]);
        assert.ok(nodes.every((n: any) => n.roles.join(",") === "controlplane,etcd,worker"));
    });
});
