// The RKE2 part of `npm run render` (2-rke2/): what it holds per node, that it is exactly what Rke2Cluster hands to
// each node under Pulumi mocks (scripts byte for byte, config.yaml but for the redacted values), that no secret
// reaches it, and that the example stack Pulumi.dev-rke2.yaml renders.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { lbClientAddress, parseConfig, StackSettings } from "../../../components/config";
import { REDACTED } from "../../../components/rke2/configYaml";
import { Rke2Cluster } from "../../../components/rke2/Rke2Cluster";
import { ClusterDnsHosts } from "../../../components/hostAliases/ClusterDnsHosts";
import { NODE_REMOVAL_MARKER } from "../../../components/rke2/record";
import { CLUSTER_REMOVAL_OPT_IN_MARKER } from "../../../components/rke/scripts";
import { readStackFile, StackFile, toolSettings } from "../../../scripts/stackFile";
import { INDEX_FILE, ReviewArtifact, reviewArtifacts, secretLeaks, STAGE_DIRS } from "../../../scripts/render/reviewArtifacts";
import { main } from "../../../scripts/render";
import { allRegistered, byType, recordResources, RecordedResource, settle } from "../../helpers/mocks";
import { FIXTURES, ROOT } from "../../helpers/paths";

const STACKS = path.join(FIXTURES, "stacks");

/** A stack file's settings as the render command reads them (secrets as placeholders, no key file read). */
function fileSettings(dir: string, stack: string, today?: string): { file: StackFile; settings: StackSettings; warnings: string[] } {
    const file = readStackFile(dir, stack);
    const { settings, warnings } = toolSettings(file, { readFile: () => { throw new Error("no key files here"); }, homeDir: "/nonexistent", today });
    return { file, settings, warnings };
}

function render(dir: string, stack: string, today?: string): ReviewArtifact[] {
    const { file, settings, warnings } = fileSettings(dir, stack, today);
    return reviewArtifacts({ stack, settings, warnings, encryptedKeys: file.encryptedKeys });
}

const byPath = (files: ReviewArtifact[]) => new Map(files.map(f => [f.path, f.content]));
const unbundle = (text: string): Record<string, string> =>
    Object.fromEntries(text.split("\n").filter(Boolean).map(l => l.split(" ")).map(([n, , d]) => [n, Buffer.from(d, "base64").toString()]));

describe("scripts/render: the RKE2 stage (2-rke2)", () => {
    it("has per node, in the stack's order, config.yaml, install.sh and remove.sh; registries.yaml; the record's delete; no 2-rke", () => {
        const files = render(STACKS, "rke2");
        const stage = files.filter(f => f.path.startsWith(`${STAGE_DIRS.rke2}/`)).map(f => f.path);
        const nodes = ["192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.21", "192.0.2.22"];
        assert.deepEqual(stage, [
            ...nodes.flatMap(n => ["config.yaml", "install.sh", "remove.sh"].map(f => `2-rke2/${n}/${f}`)),
            "2-rke2/registries.yaml", "2-rke2/destroy.sh",
        ]);
        assert.ok(!files.some(f => f.path.startsWith(`${STAGE_DIRS.rke}/`)));
        // Stages 1, 3, 4, 5 as on RKE1, plus RKE2's CoreDNS hosts block.
        for (const p of ["1-load-balancer/nginx.conf", "3-cert-manager/values.yaml", "4-rancher/values.yaml", "5-host-aliases/agents-apply.sh",
            "5-host-aliases/helmchartconfig-rke2-coredns.yaml"]) {
            assert.ok(files.some(f => f.path === p), p);
        }
        const index = files[0].content;
        for (const p of stage) {
            assert.ok(index.includes(`| \`${p}\` |`), `index lists ${p}`);
        }
    });

    it("config.yaml: the first server without server:, the token and S3 secret key redacted, each node's own keys", () => {
        const files = byPath(render(STACKS, "rke2"));
        const cfg = (n: string) => yaml.load(files.get(`2-rke2/${n}/config.yaml`)!) as Record<string, unknown>;
        assert.equal(cfg("192.0.2.11").server, undefined);
        for (const n of ["192.0.2.12", "192.0.2.13", "192.0.2.21", "192.0.2.22"]) {
            assert.equal(cfg(n).server, "https://192.0.2.8:9345", n); // the LB pair's virtual IP
        }
        for (const n of ["192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.21", "192.0.2.22"]) {
            assert.equal(cfg(n).token, REDACTED, n);
        }
        assert.equal(cfg("192.0.2.12")["etcd-s3-secret-key"], REDACTED);
        assert.equal(cfg("192.0.2.12")["etcd-s3-endpoint-ca"], "/etc/rancher/rke2/etcd-s3-ca.pem");
        assert.deepEqual([cfg("192.0.2.13")["node-name"], cfg("192.0.2.13")["node-ip"], cfg("192.0.2.13")["node-taint"]],
            ["server-3", "10.10.0.13", ["CriticalAddonsOnly=true:NoExecute"]]);
        assert.equal(cfg("192.0.2.11")["profile"], "cis", "rke2.serverConfig on servers");
        assert.deepEqual(cfg("192.0.2.21")["kubelet-arg"], ["max-pods=250"], "rke2.agentConfig on agents");
        assert.equal(cfg("192.0.2.21")["profile"], undefined);
        assert.equal(cfg("192.0.2.21")["tls-san"], undefined, "agents get no cluster-wide server keys");
        assert.match(files.get("2-rke2/registries.yaml")!, /password: <redacted:privateRegistryPassword>/);
        // With the opt-in, every delete carries its marker; the first server's script reports the kubeconfig.
        for (const n of ["192.0.2.11", "192.0.2.21"]) {
            assert.ok(files.get(`2-rke2/${n}/remove.sh`)!.startsWith(`${CLUSTER_REMOVAL_OPT_IN_MARKER}\n`));
        }
    });

    it("without the opt-in, remove.sh starts with the node-removal marker", () => {
        const files = byPath(render(ROOT, "dev-rke2"));
        for (const n of ["192.0.2.21", "192.0.2.24"]) {
            assert.ok(files.get(`2-rke2/${n}/remove.sh`)!.startsWith(`${NODE_REMOVAL_MARKER}\n`), n);
        }
        assert.ok(!files.has("2-rke2/registries.yaml"), "no privateRegistry, no registries.yaml");
    });

    it("renders the example stack Pulumi.dev-rke2.yaml with no secret in it; config warnings reach the index", () => {
        const result = { out: "", err: "" };
        const out = path.join(os.tmpdir(), `rancher-ha-render-dev-rke2-${process.pid}`);
        try {
            const code = main(["--stack", "dev-rke2", "--out", out, "--project-dir", ROOT], {
                out: s => { result.out += s; }, err: s => { result.err += s; }, homeDir: "/nonexistent",
            });
            assert.equal(code, 0, result.err);
            assert.match(result.out, /2-rke2\/192\.0\.2\.24\/config\.yaml/);
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
        // Far enough ahead that Kubernetes 1.36 is past its end of life: the warning is in the index.
        const { settings, warnings } = fileSettings(ROOT, "dev-rke2", "2028-12-01");
        assert.ok(warnings.length > 0, "a compatibility warning in 2028");
        const files = reviewArtifacts({ stack: "dev-rke2", settings, warnings, encryptedKeys: [] });
        assert.match(files[0].content, /## Config warnings\n\n- rancher-ha:/);
        for (const w of warnings) {
            assert.ok(files[0].content.includes(w), w);
        }
    });

    it("holds no secret even when the settings hold the real ones", () => {
        const file = readStackFile(STACKS, "rke2");
        const secrets = {
            rke2Token: "rke2-join-token-0123456789abcdef", privateRegistryPassword: "Registry-S3cret-0815",
            etcdS3SecretKey: "wJalrXUtnFEMI-K7MDENG-S3SECRET",
        };
        const raw = { ...file.raw, ...secrets, sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nSSHKEYMATERIAL0123456789\n-----END OPENSSH PRIVATE KEY-----\n" };
        const { settings } = parseConfig(raw, { stack: "rke2", readFile: () => { throw new Error("none"); } });
        const files = reviewArtifacts({ stack: "rke2", settings, encryptedKeys: [] });
        assert.deepEqual(secretLeaks(files, secrets), []);
    });
});

describe("scripts/render: 2-rke2 is what Rke2Cluster applies (Pulumi mocks)", function () {
    this.timeout(60000);

    /** What a node's Command prints (its name and version; servers their kubeconfig). */
    const nodeStdout = (name: string) => ["-----BEGIN RANCHER-HA RKE2 NODE-----", `node-name ${name.replace(/\./g, "-")}`, "version v1.36.3+rke2r1",
        ...(name.includes("-server-") ? [`kubeconfig ${Buffer.from("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\n").toString("base64")}`] : []),
        "-----END RANCHER-HA RKE2 NODE-----"].join("\n");

    async function deploy(s: StackSettings, stack: string): Promise<RecordedResource[]> {
        const recorded = await recordResources({
            stack,
            outputs: a => (a.type === "command:remote:Command" ? { stdout: nodeStdout(a.name), stderr: "" }
                // The seed of a generated token (dev-rke2 sets no rke2Token).
                : a.type === "tls:index/privateKey:PrivateKey" ? { privateKeyPem: "-----BEGIN PRIVATE KEY-----\nseed\n-----END PRIVATE KEY-----\n" }
                    : undefined),
        });
        const c = new Rke2Cluster("rke2", { settings: s, loadBalancerAddress: lbClientAddress(s.loadBalancer), kubeApiPort: 6443 });
        if (s.hostAliases.enabled) {
            new ClusterDnsHosts("cluster-dns", { hostname: s.hostname, ip: s.hostAliases.ip, provider: c.provider });
        }
        await settle(c.nodeNames);
        await allRegistered(recorded);
        return recorded;
    }

    for (const [dir, stack] of [[STACKS, "rke2"], [ROOT, "dev-rke2"]] as const) {
        it(`${stack}: install.sh and remove.sh are each node's create/update and delete; config.yaml and registries.yaml its stdin`, async () => {
            const { settings } = fileSettings(dir, stack);
            const files = byPath(reviewArtifacts({ stack, settings, encryptedKeys: [] }));
            const recorded = await deploy(settings, stack);
            const cmds = byType(recorded, "command:remote:Command");
            assert.equal(cmds.length, settings.nodes.length);
            for (const n of settings.nodes) {
                const cmd = cmds.find(c => c.name.endsWith(`-${n.address}`))!;
                assert.equal(cmd.inputs.create, files.get(`2-rke2/${n.address}/install.sh`), `${n.address} create`);
                assert.equal(cmd.inputs.update, files.get(`2-rke2/${n.address}/install.sh`), `${n.address} update`);
                assert.equal(cmd.inputs.delete, files.get(`2-rke2/${n.address}/remove.sh`), `${n.address} delete`);
                // The stdin's config.yaml holds the (placeholder) secrets where the render shows REDACTED, nothing else differs.
                const sent = unbundle(cmd.inputs.stdin);
                const shown = files.get(`2-rke2/${n.address}/config.yaml`)!;
                const masked = (t: string) => t.split("\n").filter(l => !/^(token|etcd-s3-secret-key):/.test(l)).join("\n");
                assert.equal(masked(sent["config.yaml"]), masked(shown), `${n.address} config.yaml`);
                const sentDoc = yaml.load(sent["config.yaml"]) as Record<string, unknown>;
                const shownDoc = yaml.load(shown) as Record<string, unknown>;
                assert.deepEqual(Object.keys(sentDoc), Object.keys(shownDoc));
                if (settings.privateRegistry) {
                    assert.equal(sent["registries.yaml"], files.get("2-rke2/registries.yaml"));
                } else {
                    assert.equal(sent["registries.yaml"], undefined);
                }
            }
            const record = recorded.find(r => r.name === "rke2-cluster")!;
            assert.equal(record.inputs.delete, files.get("2-rke2/destroy.sh"));
            if (settings.hostAliases.enabled) {
                const hcc = byType(recorded, "kubernetes:helm.cattle.io/v1:HelmChartConfig")[0];
                const shownHcc = yaml.load(files.get("5-host-aliases/helmchartconfig-rke2-coredns.yaml")!) as Record<string, any>;
                assert.deepEqual(hcc.inputs.spec, shownHcc.spec);
                assert.deepEqual(hcc.inputs.metadata, shownHcc.metadata);
            }
            assert.ok(files.has(INDEX_FILE));
        });
    }
});
