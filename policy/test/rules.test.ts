// Tests of the rancher-ha-safety policy pack: the pure rules (rules.ts), the policies' validateResource wiring
// (policies.ts) with a fake args object and a reportViolation spy, and the whole path an engine request takes
// through @pulumi/policy's real Analyze handler (protobuf Struct with secret and unknown sentinels in, diagnostics
// out), with and without the secretness hook.
import * as assert from "assert";
import { ResourceValidationArgs, ResourceValidationPolicy, Secret } from "@pulumi/policy";
import {
    checkClusterIdentifier, checkClusterRemoval, checkHelmVersionPinned, checkHostKeyPinned, checkNoPreviousOutputInEnv,
    checkSecretsAreSecret, CLUSTER_REMOVAL_OPT_IN_MARKER, CLUSTER_REMOVAL_RE, hasClusterRemovalOptIn, isExactVersion,
    IsSecret, isNodeRemoval, NODE_REMOVAL_MARKER, removesCluster, TYPES,
} from "../rules";
import {
    helmChartVersionPinned, installSecretnessHook, kubernetesProviderClusterIdentifier, noClusterRemovalOnDelete,
    noPreviousOutputInEnv, policies, secretnessHookCalls, secretsAreSecret, sshHostKeyPinned,
} from "../policies";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTestsOnly";
const RKE_REMOVE = `#!/bin/bash
set -euo pipefail
{ "$RKE" remove --force --config rancher-cluster.yml 2>&1 && echo 0 > "$IN/rc" || echo $? > "$IN/rc"; } | tee rke.log >&2
`;
const OPTED_IN = `#!/bin/bash\n${CLUSTER_REMOVAL_OPT_IN_MARKER}\nrke remove --force --config rancher-cluster.yml\n`;

const noSecrets: IsSecret = () => false;
const secretAt = (...paths: string[]): IsSecret => path =>
    paths.some(p => path.join(".") === p || path.join(".").startsWith(p + "."));

function goodRemote(extra: Record<string, any> = {}): Record<string, any> {
    return {
        connection: { host: "10.0.0.1", user: "rancher", privateKey: "KEY", hostKey: HOST_KEY },
        create: "rke up --config rancher-cluster.yml",
        delete: "echo leaving the cluster in place",
        addPreviousOutputInEnv: false,
        ...extra,
    };
}

describe("policy rules (pure)", () => {
    describe("no-cluster-removal-on-delete", () => {
        it("matches rke remove with any flags, by name, path or variable, and the rke2/k3s scripts", () => {
            for (const s of [
                "rke remove", "rke remove --force", "rke --debug remove --force --config c.yml",
                "/usr/local/bin/rke remove --force", "\"$RKE\" remove --force --config x", "${RKE} remove",
                "sudo rke --quiet \\\n  remove --force", "/usr/local/bin/rke2-uninstall.sh",
                "rke2-killall.sh", "sh /usr/local/bin/k3s-uninstall.sh", "k3s-agent-uninstall.sh",
            ]) {
                assert.ok(removesCluster(s), `expected a match: ${s}`);
                assert.ok(CLUSTER_REMOVAL_RE.test(s), s);
            }
        });
        it("does not match other rke commands, file names or words", () => {
            for (const s of [
                "rke up --config c.yml", "rm -f rke-remove.sh", "echo removed", "rke2 server", "rke up\nrm -rf x",
                "rke etcd snapshot-save", "rke up; remove_things", "rke-remove", "k3s server", "rker remove",
            ]) {
                assert.ok(!removesCluster(s), `expected no match: ${s}`);
            }
        });
        it("passes a delete that does not remove the cluster", () => {
            assert.deepStrictEqual(checkClusterRemoval(goodRemote()), []);
            assert.deepStrictEqual(checkClusterRemoval({ create: "rke up" }), []);
        });
        it("fails a delete running rke remove without the opt-in marker", () => {
            const v = checkClusterRemoval(goodRemote({ delete: RKE_REMOVE }));
            assert.strictEqual(v.length, 1);
            assert.match(v[0], /removes the cluster/);
            assert.match(v[0], /admin\.removeClusterOnDestroy: true/);
            assert.ok(v[0].includes(CLUSTER_REMOVAL_OPT_IN_MARKER));
        });
        it("fails rke2-uninstall.sh in delete", () => {
            assert.strictEqual(checkClusterRemoval({ delete: "/usr/local/bin/rke2-uninstall.sh" }).length, 1);
        });
        it("passes an RKE2 node's own removal (its marker line: deletedWith the cluster record), not the marker in an echo", () => {
            const node = `${NODE_REMOVAL_MARKER}\nkubectl drain n1\n/usr/local/bin/rke2-uninstall.sh`;
            assert.ok(isNodeRemoval(node));
            assert.deepStrictEqual(checkClusterRemoval({ delete: node }), []);
            assert.strictEqual(checkClusterRemoval({ delete: `echo '${NODE_REMOVAL_MARKER}'\n/usr/local/bin/rke2-uninstall.sh` }).length, 1);
        });
        it("passes the same delete when the opt-in marker is a line of the script", () => {
            assert.deepStrictEqual(checkClusterRemoval(goodRemote({ delete: OPTED_IN })), []);
            assert.deepStrictEqual(checkClusterRemoval({ delete: `  ${CLUSTER_REMOVAL_OPT_IN_MARKER}  \r\n${RKE_REMOVE}` }), []);
        });
        it("does not accept the marker inside another line (e.g. an echo)", () => {
            const s = `echo '${CLUSTER_REMOVAL_OPT_IN_MARKER}'\n${RKE_REMOVE}`;
            assert.ok(!hasClusterRemovalOptIn(s));
            assert.strictEqual(checkClusterRemoval({ delete: s }).length, 1);
        });
        it("only looks at delete (create/update running rke remove are not this rule's business)", () => {
            assert.deepStrictEqual(checkClusterRemoval({ create: RKE_REMOVE, update: RKE_REMOVE }), []);
        });
    });

    describe("ssh-host-key-pinned", () => {
        it("passes a pinned host key, with and without a pinned proxy", () => {
            assert.deepStrictEqual(checkHostKeyPinned(goodRemote()), []);
            const conn = { ...goodRemote().connection, proxy: { host: "bastion", hostKey: HOST_KEY } };
            assert.deepStrictEqual(checkHostKeyPinned({ connection: conn }), []);
        });
        it("fails a missing or empty hostKey", () => {
            assert.match(checkHostKeyPinned({ connection: { host: "10.0.0.1" } })[0], /connection\.hostKey is not set for host 10\.0\.0\.1/);
            assert.strictEqual(checkHostKeyPinned({ connection: { host: "h", hostKey: "  " } }).length, 1);
            assert.strictEqual(checkHostKeyPinned({}).length, 1);
        });
        it("fails a proxy without hostKey even when the target's key is pinned", () => {
            const v = checkHostKeyPinned({ connection: { host: "h", hostKey: HOST_KEY, proxy: { host: "bastion" } } });
            assert.strictEqual(v.length, 1);
            assert.match(v[0], /connection\.proxy\.hostKey/);
            assert.match(v[0], /bastion host bastion/);
        });
        it("reports both when neither is pinned", () => {
            assert.strictEqual(checkHostKeyPinned({ connection: { host: "h", proxy: { host: "b", hostKey: "" } } }).length, 2);
        });
    });

    describe("no-previous-output-in-env", () => {
        it("passes addPreviousOutputInEnv: false", () => {
            assert.deepStrictEqual(checkNoPreviousOutputInEnv({ addPreviousOutputInEnv: false }), []);
        });
        it("fails when unset (provider default true) or true", () => {
            assert.match(checkNoPreviousOutputInEnv({})[0], /unset \(the provider default is true\)/);
            assert.match(checkNoPreviousOutputInEnv({ addPreviousOutputInEnv: true })[0], /Set addPreviousOutputInEnv: false/);
        });
    });

    describe("kubernetes-provider-cluster-identifier", () => {
        it("passes a non-empty clusterIdentifier", () => {
            assert.deepStrictEqual(checkClusterIdentifier({ clusterIdentifier: "rancher-ha-dev" }), []);
        });
        it("fails a missing or empty clusterIdentifier", () => {
            assert.match(checkClusterIdentifier({ kubeconfig: "x" })[0], /Set clusterIdentifier/);
            assert.strictEqual(checkClusterIdentifier({ clusterIdentifier: "" }).length, 1);
        });
    });

    describe("secrets-are-secret", () => {
        it("passes when the connection as a whole is secret", () => {
            const props = { connection: { host: "h", privateKey: "K", password: "P", proxy: { privateKey: "K2" } } };
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.remoteCommand, props, secretAt("connection")), []);
        });
        it("passes when each secret field is secret on its own", () => {
            const props = { connection: { host: "h", privateKey: "K", proxy: { password: "P" } }, stdin: "S" };
            const isSecret = secretAt("connection.privateKey", "connection.proxy.password", "stdin");
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.remoteCommand, props, isSecret), []);
        });
        it("fails a plain private key, proxy password and stdin", () => {
            const props = { connection: { host: "h", privateKey: "K", proxy: { password: "P" } }, stdin: "S" };
            const v = checkSecretsAreSecret(TYPES.remoteCommand, props, noSecrets);
            assert.deepStrictEqual(v.map(m => m.split(" ")[0]), ["connection.privateKey", "connection.proxy.password", "stdin"]);
            assert.match(v[0], /pulumi\.secret/);
        });
        it("ignores absent or empty inputs and non-secret fields", () => {
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.remoteCommand, { connection: { host: "h", hostKey: HOST_KEY }, stdin: "" }, noSecrets), []);
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.localCommand, { create: "true" }, noSecrets), []);
        });
        it("checks local command stdin (no connection)", () => {
            assert.strictEqual(checkSecretsAreSecret(TYPES.localCommand, { stdin: "kubeconfig" }, noSecrets).length, 1);
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.localCommand, { stdin: "kubeconfig" }, secretAt("stdin")), []);
        });
        it("checks the kubernetes provider's kubeconfig", () => {
            assert.match(checkSecretsAreSecret(TYPES.k8sProvider, { kubeconfig: "apiVersion: v1" }, noSecrets)[0], /^kubeconfig/);
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.k8sProvider, { kubeconfig: "apiVersion: v1" }, secretAt("kubeconfig")), []);
        });
        it("checks Secret data/stringData, as a whole or entry by entry", () => {
            const props = { data: { a: "YQ==" }, stringData: { "tls.key": "K", "tls.crt": "C" } };
            assert.strictEqual(checkSecretsAreSecret(TYPES.k8sSecret, props, noSecrets).length, 2);
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.k8sSecret, props, secretAt("data", "stringData.tls.key", "stringData.tls.crt")), []);
            const half = checkSecretsAreSecret(TYPES.k8sSecret, props, secretAt("data", "stringData.tls.key"));
            assert.deepStrictEqual(half.map(m => m.split(" ")[0]), ["stringData"]);
        });
        it("checks the rancher2 provider's token and the first-run setup's passwords", () => {
            assert.match(checkSecretsAreSecret(TYPES.rancher2Provider, { apiUrl: "https://r", tokenKey: "token-x:y" }, noSecrets)[0], /^tokenKey/);
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.rancher2Provider, { apiUrl: "https://r", tokenKey: "t" }, secretAt("tokenKey")), []);
            const v = checkSecretsAreSecret(TYPES.rancher2Bootstrap, { initialPassword: "a", password: "b" }, noSecrets);
            assert.deepStrictEqual(v.map(m => m.split(" ")[0]), ["initialPassword", "password"]);
        });
        it("checks a Helm release's chart repository password", () => {
            const props = { chart: "rancher", repositoryOpts: { repo: "https://charts.example.com", username: "u", password: "P" } };
            assert.match(checkSecretsAreSecret(TYPES.helmRelease, props, noSecrets)[0], /^repositoryOpts\.password/);
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.helmRelease, props, secretAt("repositoryOpts")), []);
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.helmRelease, { chart: "rancher", repositoryOpts: { repo: "r" } }, noSecrets), []);
        });
        it("does not look at other types", () => {
            assert.deepStrictEqual(checkSecretsAreSecret(TYPES.helmRelease, { kubeconfig: "x", stdin: "y" }, noSecrets), []);
        });
    });

    describe("helm-chart-version-pinned", () => {
        it("passes exact versions", () => {
            for (const v of ["1.15.3", "v2.9.2", "2.9.2-rc.1", "1.0.0+build.5", "2.9"]) {
                assert.deepStrictEqual(checkHelmVersionPinned({ chart: "rancher", version: v }), [], v);
            }
        });
        it("fails a missing version", () => {
            assert.match(checkHelmVersionPinned({ chart: "cert-manager" })[0], /version is not set, so chart cert-manager/);
            assert.strictEqual(checkHelmVersionPinned({ version: "" }).length, 1);
        });
        it("fails ranges", () => {
            for (const v of ["^1.15.0", "~1.15", ">=1.0.0", "*", "1.x", "1.15.X", "1.2.3 - 1.4", ">1 <2", "1.2 || 1.3", "=1.0.0", " 1.0.0", "latest"]) {
                assert.ok(!isExactVersion(v), v);
                assert.strictEqual(checkHelmVersionPinned({ version: v }).length, 1, v);
            }
            assert.match(checkHelmVersionPinned({ version: "^1.15.0" })[0], /"\^1\.15\.0" is a range/);
        });
    });
});

// --- the wiring: each policy's validateResource with a fake args object and a reportViolation spy ---

function fakeArgs(type: string, props: Record<string, any>): ResourceValidationArgs {
    return {
        type, props, urn: `urn:pulumi:dev::rancher-ha::${type}::test`, name: "test",
        opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig: <T extends object>() => ({} as T),
        notApplicable: (reason?: string): never => { throw new Error(`not applicable: ${reason}`); },
    };
}

async function validate(policy: ResourceValidationPolicy, type: string, props: Record<string, any>): Promise<string[]> {
    const messages: string[] = [];
    const fns = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
    for (const fn of fns) {
        await fn(fakeArgs(type, props), (m: string) => { messages.push(m); });
    }
    return messages;
}

describe("policy pack wiring (validateResource)", () => {
    it("has the six policies, all mandatory, with descriptions", () => {
        assert.deepStrictEqual(policies.map(p => p.name), [
            "no-cluster-removal-on-delete", "ssh-host-key-pinned", "no-previous-output-in-env",
            "kubernetes-provider-cluster-identifier", "secrets-are-secret", "helm-chart-version-pinned",
        ]);
        for (const p of policies) {
            assert.strictEqual(p.enforcementLevel, "mandatory", p.name);
            assert.ok(p.description.length > 20, p.name);
        }
    });
    it("no-cluster-removal-on-delete: remote and local commands, marker opt-in", async () => {
        assert.strictEqual((await validate(noClusterRemovalOnDelete, TYPES.remoteCommand, goodRemote({ delete: RKE_REMOVE }))).length, 1);
        assert.strictEqual((await validate(noClusterRemovalOnDelete, TYPES.localCommand, { delete: "k3s-uninstall.sh" })).length, 1);
        assert.deepStrictEqual(await validate(noClusterRemovalOnDelete, TYPES.remoteCommand, goodRemote({ delete: OPTED_IN })), []);
        assert.deepStrictEqual(await validate(noClusterRemovalOnDelete, TYPES.helmRelease, { delete: RKE_REMOVE }), []);
    });
    it("ssh-host-key-pinned: Command and CopyToRemote", async () => {
        assert.deepStrictEqual(await validate(sshHostKeyPinned, TYPES.remoteCommand, goodRemote()), []);
        const noProxyKey = { connection: { host: "h", hostKey: HOST_KEY, proxy: { host: "b" } } };
        assert.strictEqual((await validate(sshHostKeyPinned, TYPES.copyToRemote, noProxyKey)).length, 1);
        assert.deepStrictEqual(await validate(sshHostKeyPinned, TYPES.localCommand, {}), []);
    });
    it("no-previous-output-in-env: unset fails, false passes", async () => {
        assert.strictEqual((await validate(noPreviousOutputInEnv, TYPES.localCommand, { create: "true" })).length, 1);
        assert.deepStrictEqual(await validate(noPreviousOutputInEnv, TYPES.remoteCommand, goodRemote()), []);
        assert.deepStrictEqual(await validate(noPreviousOutputInEnv, TYPES.copyToRemote, {}), []);
    });
    it("kubernetes-provider-cluster-identifier", async () => {
        assert.strictEqual((await validate(kubernetesProviderClusterIdentifier, TYPES.k8sProvider, {})).length, 1);
        assert.deepStrictEqual(await validate(kubernetesProviderClusterIdentifier, TYPES.k8sProvider, { clusterIdentifier: "c" }), []);
    });
    it("secrets-are-secret reads Secret markers from the props (whole object or nested)", async () => {
        const wholeSecret = { connection: new Secret({ host: "h", privateKey: "K", hostKey: HOST_KEY }), stdin: new Secret("S") };
        assert.deepStrictEqual(await validate(secretsAreSecret, TYPES.remoteCommand, wholeSecret), []);
        const nested = { connection: { host: "h", privateKey: new Secret("K"), proxy: { password: new Secret("P") } } };
        assert.deepStrictEqual(await validate(secretsAreSecret, TYPES.remoteCommand, nested), []);
        const plainKey = { connection: { host: "h", privateKey: "K" }, stdin: new Secret("S") };
        const v = await validate(secretsAreSecret, TYPES.remoteCommand, plainKey);
        assert.strictEqual(v.length, 1);
        assert.match(v[0], /^connection\.privateKey is a plain/);
        assert.strictEqual((await validate(secretsAreSecret, TYPES.k8sSecret, { stringData: { a: "b" } })).length, 1);
        assert.deepStrictEqual(await validate(secretsAreSecret, TYPES.k8sSecret, { stringData: new Secret({ a: "b" }) }), []);
        assert.deepStrictEqual(await validate(secretsAreSecret, TYPES.k8sProvider, { kubeconfig: new Secret("kc"), clusterIdentifier: "c" }), []);
    });
    it("helm-chart-version-pinned: v3 Release and v4 Chart", async () => {
        assert.strictEqual((await validate(helmChartVersionPinned, TYPES.helmRelease, { chart: "rancher", version: "^2.9" })).length, 1);
        assert.strictEqual((await validate(helmChartVersionPinned, TYPES.helmChartV4, { chart: "x" })).length, 1);
        assert.deepStrictEqual(await validate(helmChartVersionPinned, TYPES.helmRelease, { chart: "rancher", version: "2.9.2" }), []);
    });
});

// --- end to end through @pulumi/policy's Analyze handler, as the engine calls it ---

/* eslint-disable @typescript-eslint/no-var-requires */
const server = require("@pulumi/policy/server") as {
    makeAnalyzeRpcFun: (name: string, version: string, level: string, policies: ResourceValidationPolicy[]) =>
        (call: { request: unknown }, cb: (err: unknown, resp: any) => void) => Promise<void>;
};
const analyzerproto = require("@pulumi/pulumi/proto/analyzer_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");
const rpc = require("@pulumi/pulumi/runtime/rpc") as { specialSigKey: string; specialSecretSig: string; unknownValue: string };
/* eslint-enable @typescript-eslint/no-var-requires */

/** A value as the engine marshals a secret (analyzer_plugin.go: KeepSecrets: true). */
const wire = (value: unknown) => ({ [rpc.specialSigKey]: rpc.specialSecretSig, value });

interface Diag { policy: string; message: string; level: string }

async function analyze(type: string, props: Record<string, any>): Promise<Diag[]> {
    const req = new analyzerproto.AnalyzeRequest();
    req.setType(type);
    req.setUrn(`urn:pulumi:dev::rancher-ha::${type}::e2e`);
    req.setName("e2e");
    req.setProperties(Struct.fromJavaScript(props));
    req.setOptions(new analyzerproto.AnalyzerResourceOptions());
    const resp = await new Promise<any>((resolve, reject) => {
        void server.makeAnalyzeRpcFun("rancher-ha-safety", "0.1.0", "mandatory", policies)(
            { request: req }, (err, r) => (err ? reject(err) : resolve(r)));
    });
    const levels = Object.fromEntries(Object.entries(analyzerproto.EnforcementLevel as Record<string, number>)
        .map(([name, n]) => [n, name.toLowerCase()]));
    // reportViolation(m) becomes "<policy description>\n<m>"; keep m.
    return resp.getDiagnosticsList().map((d: any) => ({
        policy: d.getPolicyname(), message: d.getMessage().split("\n").slice(1).join("\n") || d.getMessage(),
        level: levels[d.getEnforcementlevel()],
    }));
}

const e2eRemote = (connection: unknown, extra: Record<string, any> = {}) => {
    const props: Record<string, any> = { connection, create: "rke up", delete: "true", addPreviousOutputInEnv: false, ...extra };
    // The engine omits unset inputs (and Struct cannot hold undefined).
    Object.keys(props).filter(k => props[k] === undefined).forEach(k => delete props[k]);
    return props;
};

describe("policy pack end to end (@pulumi/policy Analyze handler, engine-style request)", () => {
    // The order matters: first without the hook (what @pulumi/policy does by itself), then with it.
    it("without the hook @pulumi/policy drops secret markers, and secrets-are-secret says it cannot see them", async () => {
        assert.strictEqual(secretnessHookCalls(), 0);
        const d = await analyze(TYPES.remoteCommand, e2eRemote(wire({ host: "h", privateKey: "K", hostKey: HOST_KEY })));
        assert.deepStrictEqual(d.map(x => x.policy), ["secrets-are-secret"]);
        assert.match(d[0].message, /cannot see which inputs are secret/);
    });

    it("with the hook: a secret connection (as @pulumi/command registers it) passes every policy", async () => {
        assert.ok(installSecretnessHook());
        const d = await analyze(TYPES.remoteCommand, e2eRemote(wire({ host: "h", privateKey: "K", hostKey: HOST_KEY }), { stdin: wire("S") }));
        assert.deepStrictEqual(d, []);
        assert.ok(secretnessHookCalls() > 0);
    });

    it("with the hook: nested secrets pass, a plain nested password fails, other policies still see unwrapped values", async () => {
        const conn = { host: "h", hostKey: HOST_KEY, privateKey: wire("K"), proxy: { host: "b", password: "plain" } };
        const d = await analyze(TYPES.remoteCommand, e2eRemote(conn, { delete: RKE_REMOVE, addPreviousOutputInEnv: undefined }));
        const byPolicy = (p: string) => d.filter(x => x.policy === p).map(x => x.message);
        assert.deepStrictEqual(byPolicy("secrets-are-secret").map(m => m.split(" ")[0]), ["connection.proxy.password"]);
        assert.strictEqual(byPolicy("ssh-host-key-pinned").length, 1); // proxy without hostKey
        assert.strictEqual(byPolicy("no-cluster-removal-on-delete").length, 1);
        assert.strictEqual(byPolicy("no-previous-output-in-env").length, 1); // unset
        assert.ok(d.every(x => x.level === "mandatory"), JSON.stringify(d));
    });

    it("with the hook: kubernetes provider kubeconfig and Secret stringData", async () => {
        assert.deepStrictEqual(await analyze(TYPES.k8sProvider, { kubeconfig: wire("kc"), clusterIdentifier: "rancher-ha-dev" }), []);
        const plain = await analyze(TYPES.k8sProvider, { kubeconfig: "kc" });
        assert.deepStrictEqual(plain.map(x => x.policy).sort(), ["kubernetes-provider-cluster-identifier", "secrets-are-secret"]);
        assert.deepStrictEqual(await analyze(TYPES.k8sSecret, { stringData: wire({ "tls.key": "K" }) }), []);
        assert.strictEqual((await analyze(TYPES.k8sSecret, { stringData: { "tls.key": "K" } })).length, 1);
    });

    it("with the hook: a secret whose value is unknown in preview counts as secret; an unknown delete is advisory", async () => {
        const d = await analyze(TYPES.remoteCommand, e2eRemote(wire({ host: "h", privateKey: "K", hostKey: HOST_KEY }), {
            stdin: wire(rpc.unknownValue), delete: rpc.unknownValue,
        }));
        assert.deepStrictEqual(d.map(x => [x.policy, x.level]), [["no-cluster-removal-on-delete", "advisory"]]);
        assert.match(d[0].message, /can't run policy 'no-cluster-removal-on-delete'.*during preview/);
    });

    it("with the hook: helm release version range", async () => {
        const d = await analyze(TYPES.helmRelease, { chart: "cert-manager", version: "~1.15" });
        assert.deepStrictEqual(d.map(x => x.policy), ["helm-chart-version-pinned"]);
        assert.deepStrictEqual(await analyze(TYPES.helmRelease, { chart: "cert-manager", version: "v1.15.3" }), []);
    });
});
