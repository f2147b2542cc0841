// Importing a cluster with the real kubectl and curl against fake APIs: the manifest fetched with the token from
// stdin only, applied to the target, the agent pinned to a private CA, the bounded wait for Rancher's Ready, and the
// agent's log on timeout.
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { importBundle, importClusterScript, releaseClusterScript } from "../../../components/rancherSetup/registration";
import { fakeKubeconfig, kubectlSandbox } from "../../helpers/fakeKubeApi";
import { requireTool, toolMissing } from "../../helpers/tools";
import { FakeRancherCluster, FakeRancherImport, FakeTargetCluster } from "../../fixtures/rancherSetup/fakeApis";

const TOKEN = "regtoken0123456789SECRET";
const SUM = "a".repeat(64);
const MANIFEST = [
    "apiVersion: v1", "kind: Namespace", "metadata:", "  name: cattle-system", "---",
    "apiVersion: apps/v1", "kind: Deployment", "metadata:", "  name: cattle-cluster-agent", "  namespace: cattle-system", "spec:",
    "  selector:", "    matchLabels: {app: cattle-cluster-agent}", "  template:", "    metadata:", "      labels: {app: cattle-cluster-agent}",
    "    spec:", "      containers:", "      - name: cluster-register", "        image: rancher/rancher-agent:v2.15.0",
    "        env:", "        - {name: CATTLE_SERVER, value: \"https://rancher.example.com\"}", "",
].join("\n");

function run(scriptText: string, stdin: string, env: NodeJS.ProcessEnv, timeoutMs = 60000): Promise<{ code: number; stdout: string; stderr: string; argv: string[] }> {
    return new Promise((resolve, reject) => {
        const child = spawn("sh", ["-c", scriptText], { env, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", d => { stdout += d; });
        child.stderr.on("data", d => { stderr += d; });
        const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`timed out: ${stderr}`)); }, timeoutMs);
        child.on("close", code => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr, argv: [] }); });
        child.stdin.on("error", () => undefined); // a script may exit before reading all of it; its exit code says how it went
        child.stdin.end(stdin);
    });
}

describe("rancherSetup: importing a cluster (real kubectl and curl, fake APIs)", function () {
    this.timeout(120000);
    let rancherImport: FakeRancherImport;
    let target: FakeTargetCluster;
    let rancherCluster: FakeRancherCluster;
    let sandbox: ReturnType<typeof kubectlSandbox>;
    let urls: { import: string; target: string; rancher: string };

    beforeEach(async function () {
        requireTool(this, toolMissing("kubectl") ?? toolMissing("curl"));
        rancherImport = new FakeRancherImport(TOKEN, MANIFEST);
        target = new FakeTargetCluster();
        rancherCluster = new FakeRancherCluster(2);
        urls = { import: await rancherImport.start(), target: await target.start(), rancher: await rancherCluster.start() };
        sandbox = kubectlSandbox("rancher-ha-import-");
    });
    afterEach(async () => {
        await Promise.all([rancherImport?.stop(), target?.stop(), rancherCluster?.stop()]);
        sandbox?.remove();
    });

    const bundle = () => importBundle({
        targetKubeconfig: fakeKubeconfig(urls.target, "target-token"),
        rancherKubeconfig: fakeKubeconfig(urls.rancher, "rancher-token"),
        manifestUrl: `${urls.import}/v3/import/${TOKEN}_c-abcde.yaml`,
    });

    it("applies Rancher's manifest to the cluster, pins the private CA, and waits until Rancher reports it Ready", async () => {
        const r = await run(importClusterScript({ clusterName: "prod-east", clusterId: "c-abcde", caChecksum: SUM, timeoutSeconds: 30, pollSeconds: 1 }),
            bundle(), sandbox.env);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), "c-abcde");
        assert.deepEqual(rancherImport.requests, [`GET /v3/import/${TOKEN}_c-abcde.yaml`]);
        assert.ok(target.objects.has("/api/v1/namespaces/cattle-system"));
        const agent = target.objects.get("/apis/apps/v1/namespaces/cattle-system/deployments/cattle-cluster-agent");
        assert.deepEqual(agent.spec.template.spec.containers[0].env.find((e: any) => e.name === "CATTLE_CA_CHECKSUM"), { name: "CATTLE_CA_CHECKSUM", value: SUM });
        assert.match(r.stderr, /setting CATTLE_CA_CHECKSUM on cattle-cluster-agent \(was unset\)/);
        assert.match(r.stderr, /imported cluster prod-east \(c-abcde\) is Ready in Rancher/);
        assert.ok(rancherCluster.reads >= 2);
        assert.ok(!r.stderr.includes(TOKEN), "the registration token is never printed");
        assert.deepEqual(fs.readdirSync(path.join(sandbox.dir, "tmp")), [], "the private temp dir is removed");
    });

    it("without a private CA leaves the agent's env as Rancher rendered it", async () => {
        const r = await run(importClusterScript({ clusterName: "prod-east", clusterId: "c-abcde", timeoutSeconds: 30, pollSeconds: 1 }), bundle(), sandbox.env);
        assert.equal(r.code, 0, r.stderr);
        const agent = target.objects.get("/apis/apps/v1/namespaces/cattle-system/deployments/cattle-cluster-agent");
        assert.deepEqual(agent.spec.template.spec.containers[0].env.map((e: any) => e.name), ["CATTLE_SERVER"]);
    });

    it("gives up after its timeout with the agent's last log lines, naming the cluster", async () => {
        rancherCluster.readyAfter = undefined;
        const started = Date.now();
        const r = await run(importClusterScript({ clusterName: "prod-east", clusterId: "c-abcde", timeoutSeconds: 3, pollSeconds: 1 }), bundle(), sandbox.env);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /imported cluster prod-east: last lines of the agent's log:\n {2}\| level=error msg="x509: certificate signed by unknown authority"/);
        assert.match(r.stderr, /Rancher does not report the cluster Ready after 3 s \(importedClusters\[\]\.activeTimeout; Ready=Unknown\)/);
        assert.ok(Date.now() - started < 40000, "bounded");
    });

    it("a manifest Rancher does not serve fails before touching the cluster", async () => {
        const r = await run(importClusterScript({ clusterName: "prod-east", clusterId: "c-abcde", timeoutSeconds: 3, pollSeconds: 1 }),
            importBundle({ targetKubeconfig: fakeKubeconfig(urls.target, "t"), rancherKubeconfig: fakeKubeconfig(urls.rancher, "r"), manifestUrl: `${urls.import}/v3/import/wrong_c-abcde.yaml` }),
            sandbox.env);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /could not fetch the registration manifest from Rancher/);
        assert.equal(target.objects.size, 0);
    });

    it("removal with cleanupAgentsOnRemove deletes Rancher's agents, their namespace and bindings from the cluster", async () => {
        const r0 = await run(importClusterScript({ clusterName: "prod-east", clusterId: "c-abcde", timeoutSeconds: 30, pollSeconds: 1 }), bundle(), sandbox.env);
        assert.equal(r0.code, 0, r0.stderr);
        target.objects.set("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cattle-admin-binding",
            { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "cattle-admin-binding" } });
        const r = await run(releaseClusterScript({ clusterName: "prod-east", cleanupAgents: true }), bundle(), sandbox.env);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(!target.objects.has("/api/v1/namespaces/cattle-system"), "the namespace is gone");
        assert.ok(!target.objects.has("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cattle-admin-binding"));
        assert.ok(target.requests.includes("DELETE /api/v1/namespaces/cattle-system"));
    });

    it("removal by default leaves the agents in the cluster and calls nothing on it", async () => {
        const keep = await run(releaseClusterScript({ clusterName: "prod-east", cleanupAgents: false }), bundle(), sandbox.env);
        assert.equal(keep.code, 0);
        assert.match(keep.stderr, /its agents were left in the cluster/);
        assert.ok(!target.requests.some(r => r.startsWith("DELETE")));
    });
});
