// rancherSetup and importedClusters in the stack config: defaults, kubeconfigs from a file or a secret key, and the
// refusals with their keys.
import { strict as assert } from "assert";
import { parseConfig } from "../../../components/config";
import { kubeconfigSecretKeys } from "../../../components/config/sections/rancherSetup";
import { settle } from "../../helpers/mocks";
import { assertProblem, problemsOf, validStack } from "./problems";
import { KNOWN_HOSTS_ANY } from "../../fixtures/hostKeys";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n";
const KC = "apiVersion: v1\nkind: Config\nclusters: []\n";
const files: Record<string, string> = {
    "/home/op/.ssh/id_rsa": KEY, "/home/op/.ssh/known_hosts": KNOWN_HOSTS_ANY, "/home/op/.kube/east.yaml": KC, "/etc/motd": "hello\n",
};
const opts = {
    homeDir: "/home/op", today: "2026-12-03",
    readFile: (p: string) => { if (files[p] === undefined) { throw Object.assign(new Error(p), { code: "ENOENT" }); } return files[p]; },
};
/** A valid stack: 1 LB + 3 all-role nodes (problems.ts validStack), Rancher from Prime. */
function base(): Record<string, any> {
    return { ...validStack(), rancher: { chartRepo: "prime" } };
}
const oneProblem = (raw: Record<string, any>, key: string, pattern: RegExp) => assertProblem(raw, opts, key, pattern);

describe("config: rancherSetup and importedClusters", () => {
    it("is off by default: nothing to set up, nothing imported", () => {
        assert.deepEqual(parseConfig(base(), opts).settings.rancherSetup, { enabled: false, adminPassword: undefined, telemetry: false, importedClusters: [] });
    });

    it("reads each cluster (kubeconfig from a file or a secret key, both secret), and turns the setup on", async () => {
        const raw = {
            ...base(), adminPassword: "a-long-admin-password",
            rancherSetup: { telemetry: true },
            importedClusters: [
                { name: "prod-east", kubeconfigPath: "~/.kube/east.yaml", description: "East", labels: { env: "prod", tier: 1 } },
                { name: "prod-west", kubeconfigSecret: "prodWestKubeconfig", activeTimeout: 120, cleanupAgentsOnRemove: true },
            ],
            prodWestKubeconfig: KC.replace("clusters: []", "clusters: [west]"),
        };
        const s = parseConfig(raw, opts).settings.rancherSetup;
        assert.equal(s.enabled, true, "importing needs the setup");
        assert.equal(s.telemetry, true);
        assert.deepEqual(await settle(s.adminPassword!), { value: "a-long-admin-password", secret: true });
        assert.deepEqual(s.importedClusters.map(c => [c.name, c.description, c.labels, c.activeTimeoutSeconds, c.cleanupAgentsOnRemove]), [
            ["prod-east", "East", { env: "prod", tier: "1" }, 600, false],
            ["prod-west", undefined, {}, 120, true],
        ]);
        assert.deepEqual(await settle(s.importedClusters[0].kubeconfig), { value: KC, secret: true });
        assert.match((await settle(s.importedClusters[1].kubeconfig)).value, /clusters: \[west\]/);
        assert.deepEqual(kubeconfigSecretKeys(raw), ["prodWestKubeconfig"]);
    });

    it("refuses what cannot be imported, each with its key and fix", () => {
        const ps = problemsOf({
            ...base(), rancherSetup: { enabled: false }, adminPassword: "short",
            importedClusters: [
                { name: "Prod_East", kubeconfigPath: "~/.kube/east.yaml" },
                { name: "local", kubeconfigPath: "/nope" },
                { name: "a", kubeconfigPath: "/etc/motd", kubeconfigSecret: "x" },
                { name: "b", kubeconfigSecret: "missingKey", labels: { "bad key!": "v" } },
                { name: "c", kubeconfigPath: "/etc/motd" },
            ],
        }, opts);
        for (const [key, re] of [
            ["rancherSetup.enabled", /false, but importedClusters is set/],
            ["adminPassword", /at least 12 characters/],
            ["importedClusters[0].name", /must be a lower-case DNS label/],
            ["importedClusters[1].name", /"local" is Rancher's own cluster/],
            ["importedClusters[1].kubeconfigPath", /cannot be read \(ENOENT\)/],
            ["importedClusters[2].kubeconfigPath", /one way: kubeconfigPath .* or kubeconfigSecret/],
            ["importedClusters[3].kubeconfigSecret", /names missingKey, which is not set; pulumi config set --secret missingKey/],
            ["importedClusters[3].labels.bad key!", /is not a Kubernetes label/],
            ["importedClusters[4].kubeconfigPath", /does not hold a kubeconfig/],
        ] as const) {
            assert.ok(ps.some(p => p.startsWith(`rancher-ha:${key}: `) && re.test(p)), `${key} in:\n${ps.join("\n")}`);
        }
        oneProblem({ ...base(), adminPassword: "a-long-admin-password" }, "rancher-ha:adminPassword", /the first-run setup is off/);
        oneProblem({ ...base(), importedClusters: [{ name: "x", kubeconfigPath: "~/.kube/east.yaml" }, { name: "x", kubeconfigPath: "~/.kube/east.yaml" }] },
            "rancher-ha:importedClusters[1].name", /listed twice/);
    });
});
