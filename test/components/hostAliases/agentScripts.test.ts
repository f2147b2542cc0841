import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import {
    agentBundle, agentHostAliasesScript, agentReleaseScript, agentTargets, AgentTarget, FIELD_MANAGER,
} from "../../../components/hostAliases/agentScripts";
import { CLUSTER_AGENT, NODE_AGENT } from "../../../components/hostAliases/patches";
import { requireTool, toolMissing } from "../../helpers/tools";
import { fakeKubeconfig, FakeHttpServer, kubeDiscovery, kubectlSandbox, notFoundStatus } from "../../helpers/fakeKubeApi";
import { runShellScript } from "../../helpers/run";

const IP = "192.0.2.10";
const HOST = "rancher.example.com";
const TOKEN = "fake-token-5f2b9c0e";
const DEPLOY_PATH = "/apis/apps/v1/namespaces/cattle-system/deployments/cattle-cluster-agent";
const DS_PATH = "/apis/apps/v1/namespaces/cattle-system/daemonsets/cattle-node-agent";

/** How the fake API answers GETs of one object: 404 for the first `notFoundFor` GETs then 200, or always `status`. */
interface ObjectBehaviour {
    notFoundFor?: number;
    status?: number;
    message?: string;
}

interface Recorded {
    method: string;
    path: string;
    query: URLSearchParams;
    contentType: string;
    body: string;
}

/**
 * A tiny Kubernetes API server on 127.0.0.1: the discovery documents kubectl asks for, GETs of the two agent
 * objects as configured, and server-side apply PATCHes (answered with the applied object). Every request is
 * recorded so tests can check what kubectl really sent.
 */
class FakeKubeApi extends FakeHttpServer {
    readonly requests: Recorded[] = [];
    private gets = new Map<string, number>();

    constructor(private objects: Record<string, ObjectBehaviour>) {
        super();
    }


    getsOf(p: string): number {
        return this.requests.filter(r => r.method === "GET" && r.path === p).length;
    }

    patches(): Recorded[] {
        return this.requests.filter(r => r.method === "PATCH");
    }

    protected answer(req: http.IncomingMessage, body: string, res: http.ServerResponse) {
        const url = new URL(req.url ?? "/", "http://x");
        this.requests.push({
            method: req.method ?? "", path: url.pathname, query: url.searchParams,
            contentType: String(req.headers["content-type"] ?? ""), body,
        });
        const json = (code: number, o: unknown) => {
            res.writeHead(code, { "content-type": "application/json" });
            res.end(JSON.stringify(o));
        };
        const notFound = (what: string) => json(404, notFoundStatus(what));
        const discovery = kubeDiscovery(url.pathname);
        if (discovery !== undefined) {
            return json(200, discovery);
        }
        const behaviour = this.objects[url.pathname];
        if (behaviour === undefined) {
            return notFound(url.pathname);
        }
        if (behaviour.status !== undefined) {
            return json(behaviour.status, { kind: "Status", apiVersion: "v1", status: "Failure", code: behaviour.status, message: behaviour.message ?? "etcdserver: request timed out" });
        }
        if (req.method === "GET") {
            const n = (this.gets.get(url.pathname) ?? 0) + 1;
            this.gets.set(url.pathname, n);
            if (n <= (behaviour.notFoundFor ?? 0)) {
                return notFound(url.pathname.split("/").pop()!);
            }
            return json(200, { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: url.pathname.split("/").pop() } });
        }
        if (req.method === "PATCH") {
            return json(200, JSON.parse(body));
        }
        return json(405, { kind: "Status", code: 405 });
    }
}

interface RunResult {
    code: number | null;
    stdout: string;
    stderr: string;
    ms: number;
}

const runScript = (script: string, stdin: string, env: NodeJS.ProcessEnv): Promise<RunResult> => runShellScript(script, stdin, env);

const kubeconfig = (server: string) => fakeKubeconfig(server, TOKEN);

const LEGACY: AgentTarget[] = agentTargets("2.4.17");
const CURRENT: AgentTarget[] = agentTargets("2.9.2");

describe("hostAliases/agentScripts", () => {
    describe("targets and script text", () => {
        it("Rancher < 2.5 requires cattle-cluster-agent; from 2.5 on both agents are optional (not deployed to local)", () => {
            assert.deepEqual(LEGACY.map(t => [t.workload.name, t.required]), [["cattle-cluster-agent", true], ["cattle-node-agent", false]]);
            assert.deepEqual(CURRENT.map(t => [t.workload.name, t.required]), [["cattle-cluster-agent", false], ["cattle-node-agent", false]]);
            assert.deepEqual(agentTargets("v2.5.0").map(t => t.required), [false, false]);
            assert.deepEqual(agentTargets("2.4.99").map(t => t.required), [true, false]);
        });

        it("keeps the kubeconfig off the command string: it travels in the stdin bundle", () => {
            const text = agentHostAliasesScript({ targets: LEGACY, timeoutSeconds: 900 });
            const bundle = agentBundle(kubeconfig("http://127.0.0.1:1"), LEGACY, IP, HOST);
            assert.ok(text.startsWith("set -eu\n"));
            assert.ok(!text.includes(TOKEN) && !text.includes("kind: Config"));
            const files = bundle.trim().split("\n").map(l => l.split(" "));
            assert.deepEqual(files.map(f => [f[0], f[1]]), [
                ["kubeconfig", "600"],
                ["deployment-cattle-cluster-agent.json", "600"], ["deployment-cattle-cluster-agent.release.json", "600"],
                ["daemonset-cattle-node-agent.json", "600"], ["daemonset-cattle-node-agent.release.json", "600"],
            ]);
            const file = (i: number) => Buffer.from(files[i][2], "base64").toString();
            assert.ok(file(0).includes(TOKEN));
            assert.deepEqual(JSON.parse(file(3)).spec.template.spec.hostAliases, [{ ip: IP, hostnames: [HOST] }]);
            assert.equal(JSON.parse(file(4)).spec, undefined, "the release configuration owns no field");
        });

        it("rejects a zero timeout or interval", () => {
            assert.throws(() => agentHostAliasesScript({ targets: LEGACY, timeoutSeconds: 0 }), /timeoutSeconds must be a positive/);
            assert.throws(() => agentHostAliasesScript({ targets: LEGACY, timeoutSeconds: 5, intervalSeconds: 0 }), /intervalSeconds/);
        });
    });

    describe("run with the real kubectl against a fake API server on 127.0.0.1", function () {
        this.timeout(60000);
        let sandbox: ReturnType<typeof kubectlSandbox>;
        let tmp: string;
        let env: NodeJS.ProcessEnv;
        let api: FakeKubeApi | undefined;

        before(function () {
            requireTool(this, toolMissing("kubectl", ["version", "--client"]));
        });
        beforeEach(() => {
            sandbox = kubectlSandbox("rancher-ha-agents-test-");
            ({ dir: tmp, env } = sandbox);
        });
        afterEach(async () => {
            await api?.stop();
            api = undefined;
            sandbox.remove();
        });

        async function start(objects: Record<string, ObjectBehaviour>): Promise<string> {
            api = new FakeKubeApi(objects);
            return kubeconfig(await api.start());
        }

        it("waits through 404s for the required cluster agent, then applies the aliases to both agents", async () => {
            const kc = await start({ [DEPLOY_PATH]: { notFoundFor: 3 }, [DS_PATH]: {} });
            const r = await runScript(agentHostAliasesScript({ targets: LEGACY, timeoutSeconds: 20, intervalSeconds: 1 }),
                agentBundle(kc, LEGACY, IP, HOST), env);

            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(r.stdout.trim().split("\n"), ["patched deployment/cattle-cluster-agent", "patched daemonset/cattle-node-agent"]);
            // This server's address exists only in the kubeconfig on stdin: reaching it proves kubectl used that file.
            assert.ok(api!.getsOf(DEPLOY_PATH) >= 4, `polled until found (${api!.getsOf(DEPLOY_PATH)} GETs)`);
            const patches = api!.patches();
            assert.deepEqual(patches.map(p => p.path), [DEPLOY_PATH, DS_PATH]);
            for (const p of patches) {
                assert.equal(p.contentType, "application/apply-patch+yaml", "server-side apply");
                assert.equal(p.query.get("fieldManager"), FIELD_MANAGER);
                assert.equal(p.query.get("force"), "true");
                assert.deepEqual(JSON.parse(p.body).spec.template.spec.hostAliases, [{ ip: IP, hostnames: [HOST] }]);
            }
            assert.deepEqual(fs.readdirSync(env.TMPDIR!), [], "the work dir with the kubeconfig is removed");
        });

        it("fails after the timeout with a message naming the agent, the namespace and what to do", async () => {
            const kc = await start({ [DEPLOY_PATH]: { notFoundFor: 1e9 }, [DS_PATH]: {} });
            const r = await runScript(agentHostAliasesScript({ targets: LEGACY, timeoutSeconds: 2, intervalSeconds: 1 }),
                agentBundle(kc, LEGACY, IP, HOST), env);

            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /rancher-ha: timed out after 2s waiting for deployment\/cattle-cluster-agent in namespace cattle-system\./);
            assert.match(r.stderr, /kubectl -n cattle-system get pods/);
            assert.match(r.stderr, /run 'pulumi up' again/);
            assert.equal(api!.patches().length, 0, "nothing patched");
            assert.ok(r.ms < 20000, `bounded (${r.ms} ms)`);
            assert.deepEqual(fs.readdirSync(env.TMPDIR!), []);
        });

        it("patches the deployment and skips a daemonset this Rancher version does not create", async () => {
            const kc = await start({ [DEPLOY_PATH]: {}, [DS_PATH]: { notFoundFor: 1e9 } });
            const r = await runScript(agentHostAliasesScript({ targets: LEGACY, timeoutSeconds: 20, intervalSeconds: 1, optionalGraceSeconds: 2 }),
                agentBundle(kc, LEGACY, IP, HOST), env);

            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(r.stdout.trim().split("\n"), ["patched deployment/cattle-cluster-agent", "absent daemonset/cattle-node-agent"]);
            assert.deepEqual(api!.patches().map(p => p.path), [DEPLOY_PATH], "no patch sent for the missing daemonset");
            assert.ok(api!.getsOf(DS_PATH) >= 2, "the daemonset got its grace period");
        });

        it("Rancher >= 2.5 with no agents in the local cluster: checks once, patches nothing, succeeds at once", async () => {
            const kc = await start({ [DEPLOY_PATH]: { notFoundFor: 1e9 }, [DS_PATH]: { notFoundFor: 1e9 } });
            const r = await runScript(agentHostAliasesScript({ targets: CURRENT, timeoutSeconds: 900 }),
                agentBundle(kc, CURRENT, IP, HOST), env);

            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(r.stdout.trim().split("\n"), ["absent deployment/cattle-cluster-agent", "absent daemonset/cattle-node-agent"]);
            assert.equal(api!.patches().length, 0);
            assert.equal(api!.getsOf(DEPLOY_PATH), 1);
        });

        it("an API error is not taken for an absent agent: it fails and says why", async () => {
            const kc = await start({ [DEPLOY_PATH]: { status: 500 }, [DS_PATH]: {} });
            const r = await runScript(agentHostAliasesScript({ targets: CURRENT, timeoutSeconds: 900 }),
                agentBundle(kc, CURRENT, IP, HOST), env);

            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /rancher-ha: could not check for deployment\/cattle-cluster-agent in namespace cattle-system: .*request timed out/);
            assert.equal(api!.patches().length, 0);
        });

        it("only the API's NotFound means absent: an error whose text says \"not found\" is still an error", async () => {
            const kc = await start({ [DEPLOY_PATH]: { status: 500, message: "etcdserver: key not found" }, [DS_PATH]: {} });
            const r = await runScript(agentHostAliasesScript({ targets: CURRENT, timeoutSeconds: 900 }),
                agentBundle(kc, CURRENT, IP, HOST), env);

            assert.notEqual(r.code, 0, r.stdout);
            assert.match(r.stderr, /could not check for deployment\/cattle-cluster-agent in namespace cattle-system: .*key not found/);
            assert.ok(!r.stdout.includes("absent"));
        });

        it("a cancelled run (SIGTERM) still removes the work dir holding the kubeconfig", async () => {
            const kc = await start({ [DEPLOY_PATH]: { notFoundFor: 1e9 } });
            const child = spawn("/bin/sh", ["-c", agentHostAliasesScript({ targets: LEGACY, timeoutSeconds: 600, intervalSeconds: 1 })],
                { env, stdio: ["pipe", "ignore", "ignore"] });
            const exited = new Promise(r => child.on("close", r));
            child.stdin.end(agentBundle(kc, LEGACY, IP, HOST));
            // Cancel once the script is polling, i.e. the kubeconfig is on disk.
            const until = Date.now() + 15000;
            while (api!.getsOf(DEPLOY_PATH) === 0 && Date.now() < until) {
                await new Promise(r => setTimeout(r, 50));
            }
            assert.equal(fs.readdirSync(env.TMPDIR!).length, 1, "the work dir exists while it runs");
            child.kill("SIGTERM");
            await exited;
            assert.deepEqual(fs.readdirSync(env.TMPDIR!), []);
        });

        it("the release script applies an empty configuration under the same field manager (removes our alias only)", async () => {
            const kc = await start({ [DEPLOY_PATH]: {}, [DS_PATH]: { notFoundFor: 1e9 } });
            const r = await runScript(agentReleaseScript(LEGACY), agentBundle(kc, LEGACY, IP, HOST), env);

            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(r.stdout.trim().split("\n"), ["released deployment/cattle-cluster-agent"]);
            const [p] = api!.patches();
            assert.equal(p.path, DEPLOY_PATH);
            assert.equal(p.query.get("fieldManager"), FIELD_MANAGER);
            assert.deepEqual(JSON.parse(p.body), {
                apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "cattle-cluster-agent", namespace: "cattle-system" },
            });
        });

        it("says so when kubectl is missing", async () => {
            const r = await runScript(agentHostAliasesScript({ targets: CURRENT, timeoutSeconds: 5 }), "",
                { ...env, PATH: path.join(tmp, "tmp") });
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /rancher-ha: kubectl is not on PATH on the machine running pulumi; install kubectl, or set hostAliases\.enabled to false/);
        });
    });

    void CLUSTER_AGENT;
    void NODE_AGENT;
});
