// RkeCluster under Pulumi mocks: the resource graph, what is secret, and the bookkeeping that keeps an unchanged
// config from running `rke up` again (inputs must be byte-identical from one deployment to the next).
import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { requireTool, toolMissing } from "../../helpers/tools";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource, settle } from "../../helpers/mocks";
import { PreviousRkeRun, RkeCluster, RKE_STACK_OUTPUTS } from "../../../components/rke/RkeCluster";
import { kubeconfigServer } from "../../../components/shared/kubeconfig";
import { rkeRestoreBundle } from "../../../components/rke/scripts";
import { CLUSTER_KEY, fullRaw, minimalRaw, nodesRaw, settingsFrom } from "../../fixtures/rke/settings";
import { HOST_KEYS } from "../../fixtures/hostKeys";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** The files of a stdin bundle (`name mode base64` lines). */
function unbundle(text: string): Record<string, string> {
    return Object.fromEntries(text.split("\n").filter(Boolean).map(l => l.split(" ")).map(([n, , d]) => [n, Buffer.from(d, "base64").toString()]));
}
const sha = (s: string) => crypto.createHash("sha256").update(s).digest("hex");

/** What the rke-up Command prints on success; the state depends on the stdin it ran with, like a real run. */
function upStdout(stdin: string): string {
    const kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: \"https://192.0.2.11:6443\"\n  name: local\n" +
        "contexts:\n- context:\n    cluster: local\n    user: kube-admin-local\n  name: local\ncurrent-context: local\n" +
        "users:\n- name: kube-admin-local\n  user:\n    client-key-data: a2V5\n";
    return ["-----BEGIN RANCHER-HA RKE OUTPUTS-----", "mode full", `kubeconfig ${b64(kubeconfig)}`,
        `rkestate ${b64(`{"state-after":"${sha(stdin)}"}`)}`, "-----END RANCHER-HA RKE OUTPUTS-----"].join("\n");
}

interface Run {
    recorded: RecordedResource[];
    rke: RkeCluster;
    up: RecordedResource;
    outputs: { rkeConfigHash: string; rkeState: string; rkeRestorePayload: string };
}

/** Mocks (with an organization, which StackReference names need) that answer like the real providers. */
/** Stack references the mock engine was asked to read (reads are not registrations, so not in `recorded`). */
const stackReads: { name: string; inputs: any }[] = [];

async function record(stackOutputs?: Record<string, string>): Promise<RecordedResource[]> {
    const recorded = await recordResources({
        outputs: a => {
            if (a.type.startsWith("command:") && a.name.endsWith("-up")) {
                // Secret inputs reach the mock engine wrapped ({<sig>, value}); the real provider sees the text.
                const stdin = a.inputs.stdin;
                return { stdout: upStdout(typeof stdin === "string" ? stdin : stdin.value) };
            }
            if (a.type === "pulumi:pulumi:StackReference") {
                stackReads.push({ name: a.name, inputs: a.inputs });
                return { outputs: stackOutputs ?? {}, secretOutputNames: Object.keys(stackOutputs ?? {}) };
            }
            return undefined;
        },
    });
    return recorded;
}

async function deploy(name: string, raw: Record<string, unknown>, previous: PreviousRkeRun | undefined,
    stackOutputs?: Record<string, string>): Promise<Run> {
    const recorded = await record(stackOutputs);
    const rke = new RkeCluster(name, { settings: settingsFrom(raw), loadBalancerAddress: pulumi.output("192.0.2.10"), previous });
    const [h, s, p] = await Promise.all([settle(rke.rkeConfigHash), settle(rke.rkeState), settle(rke.rkeRestorePayload)]);
    await allRegistered(recorded);
    const up = recorded.find(r => r.name === `${name}-up`)!;
    return { recorded, rke, up, outputs: { rkeConfigHash: h.value, rkeState: s.value, rkeRestorePayload: p.value } };
}

describe("RkeCluster (mocks)", function () {
    this.timeout(60000);

    describe("resource graph", () => {
        let run: Run;
        before(async () => {
            run = await deploy("graph", fullRaw(), {});
        });

        it("is a rancher-ha:rke:RkeCluster with a preflight per node, then rke up on the admin host, then a k8s provider", () => {
            const { recorded, up } = run;
            const comp = recorded.find(r => r.type === "rancher-ha:rke:RkeCluster")!;
            assert.equal(comp.name, "graph");
            const preflights = byType(recorded, "command:remote:Command").filter(r => r.name.includes("-preflight-"));
            assert.deepEqual(preflights.map(p => p.name).sort(),
                ["graph-preflight-192.0.2.11", "graph-preflight-192.0.2.12", "graph-preflight-192.0.2.13", "graph-preflight-192.0.2.14"]);
            // One resource type whatever the admin host: moving it is an update, never a delete of the old one.
            assert.equal(up.type, "command:local:Command");
            for (const r of [...preflights, up]) {
                assert.equal(r.parent, comp.urn);
            }
            for (const p of preflights) {
                assert.ok(dependsOn(recorded, up, p), `rke up depends on ${p.name}`);
                assert.equal(p.inputs.create, p.inputs.update);
                assert.equal(p.inputs.delete, undefined);
                assert.deepEqual(p.secretInputs, ["connection"]);
                assert.equal(p.inputs.addPreviousOutputInEnv, false);
                // Every hop pins its host key: the node's own, and the bastion's.
                const node = (fullRaw().nodes as any[]).find(n => p.name.endsWith(n.address));
                assert.equal(p.inputs.connection.hostKey, node.hostKey);
                assert.equal(p.inputs.connection.proxy.hostKey, HOST_KEYS[0]);
            }
            assert.equal(preflights.find(p => p.name.endsWith("192.0.2.14"))!.inputs.connection.port, 22);
            assert.equal(preflights.find(p => p.name.endsWith("192.0.2.11"))!.inputs.connection.port, 2222);
            // nodes and the admin host are reached through the bastion, by the system ssh client with pinned keys
            assert.equal(up.inputs.connection, undefined);
            assert.match(up.inputs.create, /-o StrictHostKeyChecking=yes -o "UserKnownHostsFile=\$T\/known_hosts"/);
            assert.match(up.inputs.create, /ProxyCommand=ssh .*-o StrictHostKeyChecking=yes .* -p 2200 -W %h:%p jump@198\.51\.100\.5/);
            assert.match(up.inputs.create, / -p 2222 -o "ProxyCommand=.*" rancher@192\.0\.2\.11 "\$REMOTE" < "\$T\/payload"/);
            const bundle = unbundle(up.inputs.stdin);
            assert.equal(bundle.known_hosts, `[192.0.2.11]:2222 ${HOST_KEYS[1]}\n[198.51.100.5]:2200 ${HOST_KEYS[0]}\n`);
            assert.equal(up.inputs.addPreviousOutputInEnv, false, "the previous stdout (kubeconfig, state) never goes into an environment");
            const provider = recorded.find(r => r.type === "pulumi:providers:kubernetes")!;
            assert.equal(provider.inputs.clusterIdentifier, "rancher-ha/rancher-ha/test/rke",
                "a stable identity: a changed kubeconfig must not replace the provider and everything under it");
            assert.equal(provider.parent, comp.urn);
            assert.ok(provider.secretInputs.includes("kubeconfig"));
            assert.ok(dependsOn(recorded, provider, up), "the provider is built from rke up's kubeconfig");
        });

        it("keeps secrets out of command strings and logs: stdin, stdout and state are secret", () => {
            const { up } = run;
            assert.equal(up.inputs.create, up.inputs.update, "a config change updates in place with the same script");
            assert.match(up.inputs.create, /"\$RKE" up \$FLAGS --config rancher-cluster\.yml/);
            // Destroy forgets the cluster: nothing in the delete reaches a host or removes anything.
            assert.doesNotMatch(up.inputs.delete, /rke"? remove|ssh /);
            assert.match(up.inputs.delete, /is KEPT: pulumi destroy forgets it but never removes it unless admin\.removeClusterOnDestroy is true.*npm run ops -- remove-cluster --stack test --yes/);
            assert.deepEqual(up.secretInputs.sort(), ["stdin"]);
            assert.ok(up.additionalSecretOutputs.includes("stdout") && up.additionalSecretOutputs.includes("stdin"));
            assert.equal(up.inputs.logging, "stderr", "stdout (kubeconfig, state) is never logged; rke progress is");
            for (const secret of [CLUSTER_KEY.split("\n")[1], "registry-s3cret", "s3-s3cret"]) {
                for (const k of ["create", "update", "delete"]) {
                    assert.ok(!up.inputs[k].includes(secret), `${k} leaks ${secret}`);
                }
            }
            // ...they travel on stdin: the keys ssh needs here (admin host, bastion), and in the admin host's payload
            // each distinct key once (nodes share the cluster key; worker and bastion keys).
            const outer = unbundle(up.inputs.stdin);
            assert.deepEqual(Object.keys(outer).filter(k => k.startsWith("key-")).length, 2);
            const keyLines = outer.payload.split("\n").filter(l => l.startsWith("key-"));
            assert.equal(keyLines.length, 3);
            assert.ok(keyLines.some(l => l.endsWith(Buffer.from(CLUSTER_KEY).toString("base64"))));
            assert.equal(up.customTimeouts?.create, "90m");
        });

        it("outputs: kubeconfig via the LB, state and bookkeeping secret; the yml secret when it holds secrets", async () => {
            const kc = await settle(run.rke.kubeconfig);
            assert.equal(kc.secret, true);
            assert.equal(kubeconfigServer(kc.value), "https://192.0.2.10:6443");
            assert.equal((await settle(run.rke.rkeState)).secret, true);
            assert.equal((await settle(run.rke.rkeConfigHash)).secret, true);
            assert.equal((await settle(run.rke.rkeRestorePayload)).secret, true);
            const yml = await settle(run.rke.clusterYaml);
            assert.equal(yml.secret, true);
            assert.match(yml.value, /password: registry-s3cret/);
            assert.match(yml.value, /- 192\.0\.2\.10\n\s+- rancher\.example\.com/);
            assert.equal((await settle(run.rke.lastUpMode)).value, "full");
        });
    });

    it("the yml is plain when no secret is in it; a local admin host uses local.Command", async () => {
        const raw = minimalRaw();
        raw.admin = { host: "local" };
        const run = await deploy("local", raw, {});
        assert.equal(run.up.type, "command:local:Command");
        assert.equal(run.up.inputs.connection, undefined);
        assert.equal(run.up.inputs.create, run.up.inputs.update);
        assert.match(run.up.inputs.create, /HOST=local/);
        assert.equal((await settle(run.rke.clusterYaml)).secret, false);
    });

    it("kubeconfigServer: node keeps the server RKE wrote", async () => {
        const recorded = await record();
        const rke = new RkeCluster("node-kc", {
            settings: settingsFrom(minimalRaw()), loadBalancerAddress: "192.0.2.10", previous: {}, kubeconfigServer: "node",
        });
        assert.equal(kubeconfigServer((await settle(rke.kubeconfig)).value), "https://192.0.2.11:6443");
        await allRegistered(recorded);
    });

    it("admin.host moved between a node and local: the same rke-up resource (type and name), so nothing is deleted", async () => {
        const onNode = await deploy("move", minimalRaw(nodesRaw(3)), {});
        const local = await deploy("move", { ...minimalRaw(nodesRaw(3)), admin: { host: "local" } }, onNode.outputs);
        assert.equal(local.up.type, onNode.up.type);
        assert.equal(local.up.name, onNode.up.name);
        assert.equal(local.up.urn, onNode.up.urn, "same URN: an update of one resource, not a create plus a delete");
        // Stacks deployed before, with a node as admin host, hold rke-up as a remote Command: the alias makes that one
        // this one, so its stored delete (rke remove) never runs.
        assert.ok((onNode.up.aliases ?? []).some(a => a === "command:remote:Command" || a.includes("$command:remote:Command::move-up")),
            JSON.stringify(onNode.up.aliases));
        assert.match(onNode.up.inputs.create, /if ssh .* rancher@192\.0\.2\.11 "\$REMOTE"/);
        assert.match(local.up.inputs.create, /\/bin\/sh -c "\$REMOTE" < "\$T\/payload"/);
        assert.doesNotMatch(local.up.inputs.create, /\bssh /);
        // The new place gets the latest state to restore from (the config hash changed with it).
        assert.equal(local.outputs.rkeRestorePayload, rkeRestoreBundle(onNode.outputs.rkeState, true));
    });

    it("removes the cluster on delete only when the stack opts in (admin.removeClusterOnDestroy), marked as such", async () => {
        const kept = await deploy("keep", minimalRaw(nodesRaw(3)), {});
        assert.doesNotMatch(kept.up.inputs.delete, /remove --force|cluster removal opted in/);
        const optIn = await deploy("wipe", { ...minimalRaw(nodesRaw(3)), admin: { removeClusterOnDestroy: true } }, {});
        assert.match(optIn.up.inputs.delete, /^# rancher-ha: cluster removal opted in \(admin\.removeClusterOnDestroy\)$/m);
        assert.match(optIn.up.inputs.delete, /"\$RKE" remove --force --config rancher-cluster\.yml/);
        assert.match(optIn.up.inputs.delete, /if ssh .* rancher@192\.0\.2\.11 "\$REMOTE"/, "it runs on the admin host like rke up");
        assert.equal(optIn.up.inputs.create, kept.up.inputs.create, "the setting changes only the delete");
    });

    it("warns in every preview when a certificate in the stack's state expires within 30 days", async function () {
        requireTool(this, toolMissing("openssl", ["version"]));
        const d = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-cert-"));
        let pem: string;
        try {
            execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                path.join(d, "k"), "-out", path.join(d, "c"), "-days", "5", "-subj", "/CN=kube-apiserver", "-addext", "basicConstraints=critical,CA:FALSE"], { stdio: "ignore" });
            pem = fs.readFileSync(path.join(d, "c"), "utf8");
        } finally {
            fs.rmSync(d, { recursive: true, force: true });
        }
        const warned: string[] = [];
        const warn = pulumi.log.warn;
        (pulumi.log as any).warn = (msg: string) => { warned.push(msg); return Promise.resolve(); };
        try {
            const state = JSON.stringify({ currentState: { certificatesBundle: { "kube-apiserver": { certificatePEM: pem } } } });
            await deploy("certs", minimalRaw(nodesRaw(3)), { rkeState: state });
            await deploy("no-certs", minimalRaw(nodesRaw(3)), { rkeState: "not an RKE state" });
        } finally {
            (pulumi.log as any).warn = warn;
        }
        assert.deepEqual(warned.filter(w => /cluster certificate/.test(w)).length, 1, warned.join("\n"));
        assert.match(warned.find(w => /cluster certificate/.test(w))!,
            /^the cluster certificate kube-apiserver expires in [45] day\(s\) \(\d{4}-\d{2}-\d{2}\); a missed rotation stops the cluster: npm run ops -- cert-rotate --stack test, then set a new admin\.stateSync$/);
    });

    it("an unchanged config gives byte-identical rke-up inputs across deployments; a change feeds back the latest state", async () => {
        // 1st deployment: no previous outputs.
        const a = await deploy("idem-1", minimalRaw(nodesRaw(3)), {});
        assert.equal(a.outputs.rkeRestorePayload, "");
        // 2nd, same config: same inputs, so Pulumi sees no diff and rke up does not run.
        const b = await deploy("idem-2", minimalRaw(nodesRaw(3)), a.outputs);
        assert.equal(b.up.inputs.stdin, a.up.inputs.stdin);
        assert.equal(b.up.inputs.create, a.up.inputs.create);
        assert.deepEqual(b.outputs, { ...a.outputs, rkeState: b.outputs.rkeState });
        // 3rd, two workers added: stdin changes and carries the state of the last run, marked as existing.
        const c = await deploy("idem-3", minimalRaw(nodesRaw(5)), b.outputs);
        assert.notEqual(c.up.inputs.stdin, b.up.inputs.stdin);
        assert.notEqual(c.outputs.rkeConfigHash, b.outputs.rkeConfigHash);
        assert.equal(c.outputs.rkeRestorePayload, rkeRestoreBundle(b.outputs.rkeState, true));
        assert.ok(unbundle(c.up.inputs.stdin).payload.endsWith(rkeRestoreBundle(b.outputs.rkeState, true)));
        assert.notEqual(c.outputs.rkeState, b.outputs.rkeState, "the state moved on");
        // 4th, unchanged again: the newer state is NOT fed back, the payload of the 3rd run is reused as is.
        const d = await deploy("idem-4", minimalRaw(nodesRaw(5)), c.outputs);
        assert.equal(d.up.inputs.stdin, c.up.inputs.stdin);
        assert.equal(d.outputs.rkeRestorePayload, c.outputs.rkeRestorePayload);
    });

    it("reads the previous outputs from this stack through a StackReference by default", async () => {
        const first = await deploy("ref-1", minimalRaw(), {});
        const prev = {
            [RKE_STACK_OUTPUTS.rkeState]: first.outputs.rkeState,
            [RKE_STACK_OUTPUTS.rkeConfigHash]: first.outputs.rkeConfigHash,
            [RKE_STACK_OUTPUTS.rkeRestorePayload]: first.outputs.rkeRestorePayload,
        };
        const again = await deploy("ref-2", minimalRaw(), undefined, prev);
        assert.deepEqual(stackReads.filter(r => r.name === "ref-2-previous").map(r => r.inputs.name), ["organization/rancher-ha/test"]);
        assert.deepEqual(stackReads.filter(r => r.name.startsWith("ref-1")), [], "not read when previous is given");
        assert.equal(again.up.inputs.stdin, first.up.inputs.stdin, "same config through the StackReference: no diff");
        const firstEver = await deploy("ref-3", minimalRaw(), undefined, {});
        assert.equal(firstEver.outputs.rkeRestorePayload, "", "no outputs yet (first deployment): nothing to restore");
    });

    it("rejects a config RKE would fail on before creating anything", async () => {
        const recorded = await record();
        const raw = minimalRaw();
        raw.cluster = { networkPlugin: "weave" };
        assert.throws(() => new RkeCluster("bad", { settings: settingsFrom(raw), loadBalancerAddress: "192.0.2.10", previous: {} }),
            /cluster\.networkPlugin: weave is not available/);
        await allRegistered(recorded);
        assert.equal(recorded.filter(r => r.type.startsWith("command:")).length, 0);
    });
});
