import { strict as assert } from "assert";
import { createHash, generateKeyPairSync } from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { RKE_STACK_OUTPUTS } from "../components/rke/RkeCluster";
import { allRegistered, recordResources, RecordedResource, settle } from "./helpers/mocks";
import { fakeHomeWithKey, runProgram, stackConfig } from "./helpers/devStack";
import { ROOT } from "./helpers/paths";
import { HOST_KEYS } from "./fixtures/hostKeys";

// "Running pulumi up twice changes nothing the second time": the whole program is run as consecutive deployments
// of one stack under mocks, each reading back what the previous one exported (as its StackReference to itself
// does), and the inputs of every resource are compared. Equal inputs mean Pulumi plans no update, so no command
// runs on any host.

const b64 = (s: string) => Buffer.from(s).toString("base64");
const SEED_KEY = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: \"https://192.0.2.11:6443\"\n  name: local\n" +
    "contexts:\n- context:\n    cluster: local\n    user: kube-admin-local\n  name: local\ncurrent-context: local\n" +
    "users:\n- name: kube-admin-local\n  user:\n    client-key-data: a2V5\n";

interface Deployment {
    inputs: Map<string, string>;
    exports: Record<string, string>;
}

/** One `pulumi up` of index.ts on `config`, after a deployment that exported `previous`. */
async function deploy(config: Record<string, string>, previous: Record<string, string>): Promise<Deployment> {
    const recorded: RecordedResource[] = await recordResources({
        project: "rancher-ha",
        stack: "dev",
        outputs: a => {
            if (a.type === "pulumi:pulumi:StackReference") {
                return { outputs: previous, secretOutputNames: Object.keys(previous) };
            }
            if (a.name === "rke-up") {
                // Like RKE: the state file changes with every rke up that runs, i.e. with every new input (the
                // engine keeps the last outputs while the inputs stay the same).
                const stdin = typeof a.inputs.stdin === "string" ? a.inputs.stdin : a.inputs.stdin.value;
                const state = `{"after":"${createHash("sha256").update(stdin).digest("hex")}"}`;
                return {
                    stdout: ["-----BEGIN RANCHER-HA RKE OUTPUTS-----", "mode full", `kubeconfig ${b64(KUBECONFIG)}`,
                        `rkestate ${b64(state)}`, "-----END RANCHER-HA RKE OUTPUTS-----"].join("\n"),
                };
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
    pulumi.runtime.setAllConfig(config);
    const program = runProgram();
    const exports: Record<string, string> = {};
    for (const name of Object.values(RKE_STACK_OUTPUTS)) {
        exports[name] = (await settle(program[name])).value as string;
    }
    await allRegistered(recorded);
    const inputs = new Map(recorded.filter(r => r.custom).map(r => [`${r.type}::${r.name}`, JSON.stringify(r.inputs)]));
    return { inputs, exports };
}

function changed(a: Deployment, b: Deployment): string[] {
    const keys = new Set([...a.inputs.keys(), ...b.inputs.keys()]);
    return [...keys].filter(k => a.inputs.get(k) !== b.inputs.get(k)).sort();
}

describe("idempotency: consecutive deployments of Pulumi.dev.yaml", function () {
    this.timeout(60000);
    let home: ReturnType<typeof fakeHomeWithKey>;
    let config: Record<string, string>;
    before(() => {
        home = fakeHomeWithKey();
        config = stackConfig(path.join(ROOT, "Pulumi.dev.yaml"));
    });
    after(() => {
        pulumi.runtime.setAllConfig({});
        home.restore();
    });

    it("the second and third pulumi up on an unchanged config change no resource input", async () => {
        const first = await deploy(config, {});
        const second = await deploy(config, first.exports);
        assert.deepEqual(changed(first, second), [], "inputs that changed on the second run");
        // Nothing ran, so the stack exports the same state and bookkeeping again.
        assert.deepEqual(second.exports, first.exports);
        const third = await deploy(config, second.exports);
        assert.deepEqual(changed(second, third), []);
    });

    it("a new worker node changes exactly what must change: the LB config and its health checks, the rke run and its preflights", async () => {
        const first = await deploy(config, {});
        const grown = { ...config };
        const nodes = JSON.parse(grown["rancher-ha:nodes"]);
        nodes.push({ address: "192.0.2.14", roles: ["worker"], hostKey: HOST_KEYS[4] });
        grown["rancher-ha:nodes"] = JSON.stringify(nodes);
        const second = await deploy(grown, first.exports);
        assert.deepEqual(changed(first, second), [
            "command:local:Command::rke-up",
            "command:remote:Command::lb-health-check",
            "command:remote:Command::lb-nginx",
            "command:remote:Command::rke-preflight-192.0.2.14",
        ]);
        // The rke run that follows the change gets the latest state to restore from, then settles again.
        const third = await deploy(grown, second.exports);
        assert.deepEqual(changed(second, third), []);
    });
});
