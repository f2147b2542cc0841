// `npm run ops -- drift`: the pure comparison (report lines and renders in, findings out) without SSH, then the whole
// command over a real sshd test host (its own OS user per run) with an rke test double, a docker test double that
// answers `docker info` / `docker inspect` for the LB container, and the real kubectl against a fake Kubernetes API
// holding Helm release Secrets. Hosts are edited by hand between runs, as drift happens.
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import * as yaml from "js-yaml";
import { keyId } from "../../../components/config";
import { lbNginxConf } from "../../../components/loadBalancer/nginxConf";
import { rkeClusterYaml, rkeUpPlan, rkeYamlArgs } from "../../../components/rke/clusterYml";
import { rkeConfigBundle, rkeUpScript } from "../../../components/rke/scripts";
import {
    AdminExpected, compareAdmin, DriftPaths, maskClusterYml, compareClusterYml, compareLb, compareRelease, drift, formatDrift, lbExpectation, LbExpected,
    MASKED, observedRelease, sha256, unifiedDiff, YmlMasks,
} from "../../../scripts/ops/drift";
import { driftScript } from "../../../scripts/ops/driftScripts";
import { parseOpsResult } from "../../../scripts/ops/remoteScripts";
import { readStackFile, toolSettings } from "../../../scripts/stackFile";
import { main } from "../../../scripts/ops";
import { installTestDouble, SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";
import { requireTool, toolMissing } from "../../helpers/tools";
import { installOpsDoubles } from "../../fixtures/rke/opsDoubles";
import { FakeHttpServer, fakeKubeconfig, kubeDiscovery } from "../../helpers/fakeKubeApi";
import { HOST_KEYS } from "../../fixtures/hostKeys";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const fileLine = (key: string, text: string) => `${key} present ${sha256(text)} ${b64(text)}`;
const CTX = { stack: "prod", project: "rancher-ha" };
/** A literal text as a regular expression. */
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("scripts/ops/drift: comparison", () => {
    const conf = "# Managed by rancher-ha (Pulumi)\nworker_processes auto;\nstream {\n  upstream a { server 192.0.2.11:443; }\n}\n";
    const lbExp: LbExpected = {
        ...CTX, where: "lb rancher@192.0.2.10:22", mode: "docker", conf, confPath: "/etc/rancher-ha/lb/nginx.conf",
        containerName: "rancher-ha-lb", spec: "0123456789abcdef", ssh: "ssh -p 22 rancher@192.0.2.10", root: false,
    };

    it("unifiedDiff: hunks with context, empty for equal texts", () => {
        assert.equal(unifiedDiff("a\nb\n", "a\nb\n", "x", "y"), "");
        const d = unifiedDiff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n", "host", "stack");
        assert.equal(d, "--- host\n+++ stack\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n");
    });

    it("LB docker: the stack's config and a running container of our spec are clean", () => {
        const r = compareLb([fileLine("lb-conf", conf), "lb-docker ok plain", "lb-container rancher-ha-lb true false 0123456789abcdef",
            "lb-container rancher-ha-lb-previous absent"], lbExp);
        assert.deepEqual([r.findings, r.problems], [[], []]);
        assert.equal(r.ok.length, 2);
    });

    it("LB docker: a changed config gives a diff and the --replace command; a stopped container its start command", () => {
        const edited = conf.replace("443", "444");
        const r = compareLb([fileLine("lb-conf", edited), "lb-docker ok sudo", "lb-container rancher-ha-lb false false 0123456789abcdef"], lbExp);
        assert.equal(r.findings.length, 2);
        assert.match(r.findings[0].what, /nginx\.conf differs from the nginx\.conf the stack renders/);
        assert.match(r.findings[0].diff!, /^-  upstream a \{ server 192\.0\.2\.11:444; \}\n\+  upstream a \{ server 192\.0\.2\.11:443; \}$/m);
        assert.ok(r.findings[0].fix.includes("pulumi up --stack prod --replace 'urn:pulumi:prod::rancher-ha::rancher-ha:loadBalancer:NginxLoadBalancer$command:remote:Command::lb-nginx'"));
        assert.equal(r.findings[1].fix, "ssh -p 22 rancher@192.0.2.10 'sudo docker start rancher-ha-lb'");
        const gone = compareLb(["lb-conf missing", "lb-docker ok plain", "lb-container rancher-ha-lb absent"], lbExp);
        assert.deepEqual(gone.findings.map(f => f.what), ["/etc/rancher-ha/lb/nginx.conf is missing: nginx has no rancher-ha config",
            "the nginx container rancher-ha-lb does not exist"]);
        const foreign = compareLb([fileLine("lb-conf", conf), "lb-docker ok plain", "lb-container rancher-ha-lb true false <no value>"], lbExp);
        assert.match(foreign.findings[0].what, /rancher-ha did not create/);
        const denied = compareLb([fileLine("lb-conf", conf), "lb-docker denied"], lbExp);
        assert.match(denied.problems[0], /docker is not usable/);
    });

    it("LB system: nginx stopped gets the start command for how it runs (systemd or the binary)", () => {
        const sys: LbExpected = { ...lbExp, mode: "system", confPath: "/etc/nginx/nginx.conf", spec: undefined };
        const base = [fileLine("lb-conf", conf), "lb-nginx-bin /usr/sbin/nginx"];
        assert.deepEqual(compareLb([...base, "lb-systemd yes active", "lb-master 42"], sys).findings, []);
        assert.equal(compareLb([...base, "lb-systemd yes inactive", "lb-master none"], sys).findings[0].fix,
            "ssh -p 22 rancher@192.0.2.10 'sudo systemctl start nginx'");
        assert.equal(compareLb([...base, "lb-systemd no", "lb-master none"], { ...sys, root: true }).findings[0].fix,
            "ssh -p 22 rancher@192.0.2.10 '/usr/sbin/nginx -c /etc/nginx/nginx.conf'");
    });

    it("cluster.yml: secrets unknown here are masked on both sides; the host's secret never reaches the diff", () => {
        const doc = {
            cluster_name: "rancher", nodes: [{ address: "192.0.2.11", ssh_key_path: "~/rancher-ha/keys/0123456789abcdef" }],
            private_registries: [{ url: "registry.example.com", user: "u", password: "<redacted>" }],
        };
        const stack = yaml.dump(doc);
        const host = yaml.dump({ ...doc, private_registries: [{ ...doc.private_registries[0], password: "hunter2-REAL" }],
            nodes: [{ ...doc.nodes[0], ssh_key_path: "~/rancher-ha/keys/fedcba9876543210" }] });
        const masks: YmlMasks = { registryPassword: true, s3SecretKey: false, unknownKeys: [0] };
        assert.deepEqual(compareClusterYml(host, stack, masks, "h"), { equal: true });
        const edited = host.replace("cluster_name: rancher", "cluster_name: hand-edited");
        const c = compareClusterYml(edited, stack, masks, "h");
        assert.equal(c.equal, false);
        assert.match(c.diff!, /^-cluster_name: "?hand-edited"?$/m);
        assert.ok(!c.diff!.includes("hunter2") && c.diff!.startsWith("--- h (secrets masked)\n"), c.diff);
        assert.match(yaml.dump(maskClusterYml(yaml.load(host), masks)), new RegExp(`password: '${MASKED}'`));
        // Nothing masked: byte for byte, and the raw texts are diffed.
        const none: YmlMasks = { registryPassword: false, s3SecretKey: false, unknownKeys: [] };
        assert.equal(compareClusterYml(`# comment\n${stack}`, stack, none, "h").formattingOnly, true);
        assert.match(compareClusterYml("a: [", stack, none, "h").invalid!, /unexpected end|end of the stream|flow collection/);
    });

    it("admin: a state changed since it was reported names admin.stateSync; leftovers and missing keys are findings", () => {
        const yml = "cluster_name: rancher\n";
        const e: AdminExpected = {
            ...CTX, where: "admin rancher@192.0.2.11:22", workDir: "~/rancher-ha", yml, plan: "base x\n",
            masks: { registryPassword: false, s3SecretKey: false, unknownKeys: [] }, keyIds: ["0123456789abcdef"], ssh: "ssh -p 22 rancher@192.0.2.11",
        };
        const st = "a".repeat(64);
        const clean = ["admin-workdir present", fileLine("admin-yml", yml), `admin-state present ${st}`, `admin-reported ${st}`,
            `admin-last-up ${sha256(yml + e.plan)}`, "admin-from-stack absent", "admin-keys present", "admin-key ok 0123456789abcdef",
            "admin-keyref ok ~/rancher-ha/keys/0123456789abcdef"];
        assert.deepEqual(compareAdmin(clean, e).findings, []);
        const drifted = compareAdmin(clean.map(l => l.startsWith("admin-reported") ? `admin-reported ${"b".repeat(64)}` :
            l === "admin-from-stack absent" ? "admin-from-stack present" : l.startsWith("admin-key ok") ? "admin-key unreadable 0123456789abcdef" : l), e);
        assert.equal(drifted.findings.length, 3);
        assert.match(drifted.findings[0].what, /changed since it was last reported to Pulumi/);
        assert.match(drifted.findings[0].fix, /admin\.stateSync "\$\(date \+%Y%m%d%H%M%S\)" && pulumi up --stack prod/);
        assert.match(drifted.findings[1].fix, /mv ~\/rancher-ha\/rancher-cluster\.rkestate\.from-stack ~\/rancher-ha\/rancher-cluster\.rkestate/);
        assert.match(drifted.findings[2].what, /keys\/0123456789abcdef/);
        assert.match(compareAdmin(["admin-workdir missing"], e).findings[0].fix, /rkeState \| npm run ops -- restore-workdir --stack prod/);
    });

    it("Helm: the deployed revision's chart version (from the release Secret) against the stack's", () => {
        const secret = (rev: number, status: string, version: string) => ({
            metadata: { name: `sh.helm.release.v1.rancher.v${rev}`, labels: { owner: "helm", name: "rancher", status, version: String(rev) } },
            data: { release: b64(zlib.gzipSync(JSON.stringify({ chart: { metadata: { version } } })).toString("base64")) },
        });
        const list = (...items: unknown[]) => JSON.stringify({ items });
        const e = { name: "rancher", namespace: "cattle-system", version: "2.9.2" };
        assert.deepEqual(observedRelease(list(secret(1, "superseded", "2.9.1"), secret(2, "deployed", "2.9.2"))),
            { deployedRevision: 2, deployedVersion: "2.9.2", latestRevision: 2, latestStatus: "deployed" });
        assert.deepEqual(compareRelease(observedRelease(list(secret(2, "deployed", "2.9.2"))), e, CTX).findings, []);
        const other = compareRelease(observedRelease(list(secret(3, "deployed", "2.9.3"))), e, CTX);
        assert.match(other.findings[0].what, /runs chart 2\.9\.3 \(revision 3\), the stack says 2\.9\.2/);
        assert.equal(other.findings[0].fix.split(" ").slice(0, 5).join(" "), "pulumi up --refresh --stack prod");
        assert.match(compareRelease(observedRelease(list()), e, CTX).findings[0].what, /no Helm release cattle-system\/rancher/);
        assert.match(compareRelease(observedRelease(list(secret(2, "deployed", "2.9.2"), secret(3, "failed", "2.9.3"))), e, CTX).findings[0].what,
            /revision 3 after the deployed one is failed/);
    });

    it("formatDrift: each finding with its fix and diff, the summary last", () => {
        const out = formatDrift({ findings: [{ where: "lb x", what: "w", fix: "f", diff: "--- a\n+++ b\n" }], problems: [], ok: ["admin y: fine"] }, "prod");
        assert.equal(out, "DRIFT [lb x] w\n  fix: f\n    --- a\n    +++ b\nok    [admin y] fine\n1 difference(s) between the hosts and stack prod.\n");
    });

    it("driftScript refuses relative paths and needs something to check", () => {
        assert.throws(() => driftScript({ hostLabel: "h", lb: { mode: "system", confPath: "etc/nginx.conf" } }), /absolute/);
        assert.throws(() => driftScript({ hostLabel: "h" }), /nothing to check/);
    });
});

/** docker-test-double for the LB host: `info`, and `inspect -f ...` of a container from ~/.docker-test-double/lb-<name>. */
const LB_DOCKER_DOUBLE = `#!/bin/sh
D="$HOME/.docker-test-double"
echo "$*" >> "$D/lb-calls.log"
case "\${1:-}" in
  info) [ -e "$D/denied" ] && { echo "permission denied (docker-test-double)" >&2; exit 1; }; echo "docker-test-double" ;;
  inspect)
    for a in "$@"; do name=$a; done
    if [ -s "$D/lb-$name" ]; then cat "$D/lb-$name"; else echo "Error: No such object: $name (docker-test-double)" >&2; exit 1; fi ;;
  *) echo "docker-test-double: unsupported: $*" >&2; exit 2 ;;
esac
`;

/** Helm release Secrets for the real kubectl: discovery plus `get secret -n NS -l owner=helm,name=N`. */
class FakeHelmApi extends FakeHttpServer {
    readonly secrets = new Map<string, unknown[]>();
    protected answer(req: http.IncomingMessage, _body: string, res: http.ServerResponse) {
        const url = new URL(req.url ?? "/", "http://x");
        const json = (code: number, o: unknown) => { res.writeHead(code, { "Content-Type": "application/json" }); res.end(JSON.stringify(o)); };
        if (url.pathname === "/api/v1") {
            return json(200, { kind: "APIResourceList", groupVersion: "v1", resources: [
                { name: "secrets", singularName: "secret", namespaced: true, kind: "Secret", verbs: ["get", "list"] }] });
        }
        const disc = kubeDiscovery(url.pathname);
        if (disc) {
            return json(200, disc);
        }
        const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(url.pathname);
        if (m) {
            const name = /name=([^,]+)/.exec(url.searchParams.get("labelSelector") ?? "")?.[1];
            return json(200, { kind: "SecretList", apiVersion: "v1", metadata: {}, items: this.secrets.get(`${m[1]}/${name}`) ?? [] });
        }
        json(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 });
    }
}

function helmSecret(name: string, rev: number, status: string, version: string): unknown {
    return {
        apiVersion: "v1", kind: "Secret", type: "helm.sh/release.v1",
        metadata: { name: `sh.helm.release.v1.${name}.v${rev}`, labels: { owner: "helm", name, status, version: String(rev) } },
        data: { release: b64(zlib.gzipSync(JSON.stringify({ name, chart: { metadata: { name, version } } })).toString("base64")) },
    };
}

describe("npm run ops -- drift over a real SSH host", function () {
    this.timeout(180000);
    let user: string;
    let host: SshHost;
    /** The test host's second address: the stack's load balancer. */
    let lbAddress: string;
    let dir: string;
    let work: string;
    let lbDir: string;
    let conf: string;

    async function run(extra: string[] = [], stack = "test", paths: DriftPaths = { lb: { configDir: lbDir } }) {
        let stdout = "";
        let stderr = "";
        const opts: Record<string, string | string[] | boolean> = { stack, cwd: dir };
        for (let i = 0; i < extra.length; i += 2) {
            opts[extra[i].replace(/^--/, "")] = extra[i + 1];
        }
        const code = await drift(opts, { out: t => { stdout += t; }, err: t => { stderr += t; }, stdinIsTty: false, readStdin: async () => "" }, paths);
        return { code, stdout, stderr };
    }

    function writeStack(name: string, lb: Record<string, unknown>): void {
        const config = {
            "rancher-ha:hostname": "rancher.example.com",
            "rancher-ha:ssh": { user, port: host.port, keyPath: host.privateKeyPath, knownHostsFile: path.join(dir, "known_hosts") },
            // The LB and the admin host (nodes[0]) are the same sshd under two addresses: two checks.
            "rancher-ha:loadBalancer": { address: lbAddress, ...lb },
            "rancher-ha:nodes": [host.address, "192.0.2.12", "192.0.2.13"].map(address => ({ address, roles: ["controlplane", "etcd", "worker"] })),
        };
        fs.writeFileSync(path.join(dir, `Pulumi.${name}.yaml`), yaml.dump({ config }));
    }

    function setContainer(state: string | undefined): void {
        const d = path.join(host.home, ".docker-test-double");
        fs.mkdirSync(d, { recursive: true });
        const p = path.join(d, "lb-rancher-ha-lb");
        if (state === undefined) {
            fs.rmSync(p, { force: true });
        } else {
            fs.writeFileSync(p, `${state}\n`);
        }
        spawnSync("chown", ["-R", `${user}:`, d]);
    }

    /** The work dir pulumi up leaves, and the LB as the stage leaves it. */
    async function deploy(): Promise<void> {
        fs.rmSync(work, { recursive: true, force: true });
        const { settings } = toolSettings(readStackFile(dir, "test"));
        const a = rkeYamlArgs(settings, settings.loadBalancer.address);
        const stdin = rkeConfigBundle(rkeClusterYaml(a), rkeUpPlan(a), [{ keyId: keyId(host.privateKey), privateKey: host.privateKey }]);
        const r = await host.run(rkeUpScript({ workDir: "~/rancher-ha", rkePath: "rke", rkeVersion: "v1.8.14", hostLabel: "x", stack: "test", retryDelaySeconds: 0 }), stdin);
        assert.equal(r.code, 0, r.stderr);
        conf = lbNginxConf(settings.loadBalancer, settings.nodes);
        fs.writeFileSync(path.join(lbDir, "nginx.conf"), conf, { mode: 0o644 });
        const spec = lbExpectation(settings, { stack: "test", project: "rancher-ha" }, "lb", { mode: "docker", configDir: lbDir }).spec;
        setContainer(`true false ${spec}`);
    }

    before(async function () {
        requireTool(this, sshHostUnavailable());
        // A user of this run only (the helper adds its run suffix and removes the user on stop()).
        host = await startSshHost({ user: `drift${process.pid}`, extraAddresses: 1 });
        user = host.user;
        lbAddress = host.addresses[1];
        installOpsDoubles(host);
        installTestDouble(host, "docker", LB_DOCKER_DOUBLE);
        work = path.join(host.home, "rancher-ha");
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-drift-"));
        lbDir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-drift-lb-"));
        fs.chmodSync(lbDir, 0o755);
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: rancher-ha\nruntime: nodejs\n");
        fs.writeFileSync(path.join(dir, "known_hosts"), // The test host's real key under both names; the other (unreachable) nodes one of the fixture keys.
            `${host.address} ${host.hostKey}\n${lbAddress} ${host.hostKey}\n*,!${host.address},!${lbAddress} ${HOST_KEYS[1]}\n`);
        writeStack("test", {});
    });
    after(async () => {
        await host?.stop();
        for (const d of [dir, lbDir]) {
            if (d) {
                fs.rmSync(d, { recursive: true, force: true });
            }
        }
        if (user) {
            assert.notEqual(spawnSync("getent", ["passwd", user]).status, 0, `the test user ${user} was not removed`);
        }
    });
    beforeEach(deploy);

    it("clean: every check matches, exit 0", async () => {
        const r = await run();
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`^ok {4}\\[lb \\S+@${re(lbAddress)}:${host.port}\\] \\S+/nginx\\.conf is the stack's`, "m"));
        assert.match(r.stdout, /container rancher-ha-lb runs/);
        assert.match(r.stdout, /rancher-cluster\.yml is the stack's\n/);
        assert.match(r.stdout, /rancher-cluster\.rkestate is the one last reported to the stack/);
        assert.match(r.stdout, /the last successful rke up ran the stack's config/);
        assert.match(r.stdout, /no drift: the hosts run what stack test applies\.\n$/);
    });

    it("a byte of nginx.conf changed: drift with the diff and the command that re-applies it", async () => {
        const edited = conf.replace(/worker_connections (\d+)/, (_m, n) => `worker_connections ${Number(n) + 1}`);
        assert.notEqual(edited, conf, "the hand edit changes a byte");
        fs.writeFileSync(path.join(lbDir, "nginx.conf"), edited);
        const r = await run();
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.match(r.stdout, /^DRIFT \[lb \S+\] \S+\/nginx\.conf differs from the nginx\.conf the stack renders/m);
        const n = Number(/worker_connections (\d+)/.exec(conf)![1]);
        assert.match(r.stdout, new RegExp(`^ {4}- +worker_connections ${n + 1};$`, "m"));
        assert.match(r.stdout, new RegExp(`^ {4}\\+ +worker_connections ${n};$`, "m"));
        assert.match(r.stdout, /fix: pulumi up --stack test --replace 'urn:pulumi:test::rancher-ha::rancher-ha:loadBalancer:NginxLoadBalancer\$command:remote:Command::lb-nginx'/);
    });

    it("the LB container stopped: drift with the exact start command", async () => {
        const spec = fs.readFileSync(path.join(host.home, ".docker-test-double", "lb-rancher-ha-lb"), "utf8").split(" ")[2].trim();
        setContainer(`false false ${spec}`);
        const r = await run();
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.match(r.stdout, /DRIFT \[lb \S+\] the nginx container rancher-ha-lb is stopped/);
        assert.ok(r.stdout.includes(`fix: ssh -p ${host.port} ${user}@${lbAddress} 'docker start rancher-ha-lb'`), r.stdout);
        setContainer(undefined);
        assert.match((await run()).stdout, /the nginx container rancher-ha-lb does not exist/);
    });

    it("rancher-cluster.yml edited by hand: drift with its diff and admin.stateSync", async () => {
        const p = path.join(work, "rancher-cluster.yml");
        fs.writeFileSync(p, fs.readFileSync(p, "utf8").replace(/^cluster_name: .*$/m, "cluster_name: by-hand"));
        const r = await run();
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`DRIFT \\[admin \\S+@${re(host.address)}:${host.port}\\] ~/rancher-ha/rancher-cluster\\.yml differs from the one the stack renders`));
        assert.match(r.stdout, /^ {4}-cluster_name: by-hand\n {4}\+cluster_name: "?rancher"?$/m);
        assert.match(r.stdout, /fix: pulumi config set --stack test --path rancher-ha:admin\.stateSync/);
    });

    it("the state file changed outside Pulumi: drift naming admin.stateSync; a stale from-stack copy and missing keys too", async () => {
        fs.appendFileSync(path.join(work, "rancher-cluster.rkestate"), "# rotated by an ops command\n");
        fs.writeFileSync(path.join(work, "rancher-cluster.rkestate.from-stack"), "{}\n");
        fs.rmSync(path.join(work, "keys", keyId(host.privateKey)));
        const r = await run();
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.match(r.stdout, /DRIFT \[admin \S+\] rancher-cluster\.rkestate changed since it was last reported to Pulumi .*\n {2}fix: set admin\.stateSync so the next pulumi up reads it back without running rke: pulumi config set --stack test --path rancher-ha:admin\.stateSync/);
        assert.match(r.stdout, /rancher-cluster\.rkestate\.from-stack is left from a refused rke up/);
        assert.match(r.stdout, /SSH key file\(s\) the stack's rancher-cluster\.yml names are missing or unreadable: keys\/[0-9a-f]{16}/);
    });

    it("an unreachable host is an error (exit 1), and what could be checked is still reported", async () => {
        const doc = yaml.load(fs.readFileSync(path.join(dir, "Pulumi.test.yaml"), "utf8")) as any;
        doc.config["rancher-ha:loadBalancer"].port = 1;
        fs.writeFileSync(path.join(dir, "Pulumi.down.yaml"), yaml.dump(doc));
        fs.appendFileSync(path.join(dir, "known_hosts"), `[${lbAddress}]:1 ${host.hostKey}\n`);
        const r = await run([], "down");
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stderr, new RegExp(`rancher-ha ops drift: lb \\S+@${re(lbAddress)}:1: the check could not run \\(exit 255: SSH failed`));
        assert.match(r.stdout, /ok {4}\[admin \S+\] rancher-cluster\.yml is the stack's/);
    });

    it("system mode: nginx's master process checked through the pid file; stopped -> the start command", async () => {
        writeStack("sys", { mode: "system" });
        fs.appendFileSync(path.join(dir, "known_hosts"), "");
        const { settings } = toolSettings(readStackFile(dir, "sys"));
        const sysConf = path.join(lbDir, "sys-nginx.conf");
        fs.writeFileSync(sysConf, lbNginxConf(settings.loadBalancer, settings.nodes), { mode: 0o644 });
        // A process whose name is nginx, standing for the master process.
        const fakeNginx = path.join(lbDir, "nginx");
        fs.copyFileSync("/bin/sleep", fakeNginx);
        fs.chmodSync(fakeNginx, 0o755);
        let proc: ChildProcess | undefined = spawn(fakeNginx, ["300"], { stdio: "ignore" });
        const pidFile = path.join(lbDir, "nginx.pid");
        fs.writeFileSync(pidFile, `${proc.pid}\n`, { mode: 0o644 });
        try {
            const paths = { lb: { confPath: sysConf, pidPath: pidFile } };
            const up = await run([], "sys", paths);
            assert.equal(up.code, 0, up.stdout + up.stderr);
            assert.match(up.stdout, new RegExp(`nginx runs \\(master pid ${proc.pid}\\)`));
            proc.kill("SIGKILL");
            await new Promise(r => proc!.once("exit", r));
            proc = undefined;
            const down = await run([], "sys", paths);
            assert.equal(down.code, 3, down.stdout + down.stderr);
            assert.match(down.stdout, /DRIFT \[lb \S+\] nginx is not running \(no nginx master process\)/);
            assert.ok(down.stdout.includes(`fix: ssh -p ${host.port} ${user}@${lbAddress} 'sudo /usr/sbin/nginx -c ${sysConf}'`), down.stdout);
        } finally {
            proc?.kill("SIGKILL");
        }
    });

    it("one script checks a host that is both the LB and the admin host", async () => {
        const r = await host.run(driftScript({ hostLabel: "x", lb: { mode: "docker", configDir: lbDir }, admin: { workDir: "~/rancher-ha" } }));
        assert.equal(r.code, 0, r.stderr);
        const lines = parseOpsResult(r.stdout).lines;
        assert.ok(lines.includes("lb-docker ok plain") && lines.includes("admin-workdir present"), lines.join("\n"));
        assert.ok(lines.some(l => l.startsWith(`lb-conf present ${sha256(conf)} `)));
        // Read-only: nothing new in the work dir.
        assert.ok(!fs.readdirSync(work).some(f => f.startsWith(".ops.")));
    });

    it("--kubeconfig: the cert-manager and Rancher release versions, read with kubectl from the Helm release Secrets", async function () {
        requireTool(this, toolMissing("kubectl", ["version", "--client"]));
        const api = new FakeHelmApi();
        const url = await api.start();
        try {
            const kc = path.join(dir, "admin.kubeconfig");
            fs.writeFileSync(kc, fakeKubeconfig(url, "inert"), { mode: 0o600 });
            api.secrets.set("cert-manager/cert-manager", [helmSecret("cert-manager", 1, "deployed", "v1.18.6")]);
            api.secrets.set("cattle-system/rancher", [helmSecret("rancher", 1, "superseded", "2.11.16"), helmSecret("rancher", 2, "deployed", "2.11.16")]);
            const clean = await run(["--kubeconfig", kc]);
            assert.equal(clean.code, 0, clean.stdout + clean.stderr);
            assert.match(clean.stdout, /ok {4}\[cluster\] cert-manager\/cert-manager is chart v1\.18\.6 \(revision 1\)/);
            api.secrets.set("cattle-system/rancher", [helmSecret("rancher", 3, "deployed", "2.9.3")]);
            const r = await run(["--kubeconfig", kc]);
            assert.equal(r.code, 3, r.stdout + r.stderr);
            assert.match(r.stdout, /DRIFT \[cluster\] Helm release cattle-system\/rancher runs chart 2\.9\.3 \(revision 3\), the stack says 2\.11\.16\n {2}fix: pulumi up --refresh --stack test/);
        } finally {
            await api.stop();
        }
    });

    it("through the ops command table (the real LB config path: absent on this test host)", async () => {
        let stdout = "";
        const code = await main(["drift", "--stack", "test", "--cwd", dir], { out: t => { stdout += t; }, err: () => undefined, stdinIsTty: false, readStdin: async () => "" });
        assert.equal(code, fs.existsSync("/etc/rancher-ha/lb/nginx.conf") ? code : 3, stdout);
        assert.match(stdout, /\/etc\/rancher-ha\/lb\/nginx\.conf/);
        assert.match(stdout, /ok {4}\[admin \S+\] rancher-cluster\.yml is the stack's/);
    });
});
