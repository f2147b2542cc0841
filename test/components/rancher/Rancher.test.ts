import { strict as assert } from "assert";
import { createHash, generateKeyPairSync } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import { AgentHostAliases } from "../../../components/hostAliases/AgentHostAliases";
import { CertManager } from "../../../components/certManager/CertManager";
import { parseConfig, StackSettings } from "../../../components/config";
import { Rancher } from "../../../components/rancher/Rancher";
import { bootstrapPasswordFrom, caChecksum, cacertsPem } from "../../../components/rancher/release";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource, settle } from "../../helpers/mocks";
import { HOST_KEYS } from "../../fixtures/hostKeys";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const SECRET = "kubernetes:core/v1:Secret";
const NAMESPACE = "kubernetes:core/v1:Namespace";
const PATCH = "kubernetes:apps/v1:DeploymentPatch";
const PRIVATE_KEY = "tls:index/privateKey:PrivateKey";

const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${Buffer.from(body).toString("base64")}\n-----END ${label}-----\n`;
const USER_CERT = pem("CERTIFICATE", "user server certificate");
const USER_KEY = pem("PRIVATE KEY", "user-key-material-s3cret");
const USER_CA = pem("CERTIFICATE", "user private CA");

/** Mock engine answers: real random keys for PrivateKey (as the tls provider would), labelled PEMs for certs. */
const generatedKeys = new Map<string, string>();
function tlsOutputs(a: pulumi.runtime.MockResourceArgs): Record<string, any> | undefined {
    switch (a.type) {
        case PRIVATE_KEY: {
            const privateKeyEncoding = { type: "pkcs8" as const, format: "pem" as const };
            const publicKeyEncoding = { type: "spki" as const, format: "pem" as const };
            const { privateKey } = a.inputs.algorithm === "ED25519"
                ? generateKeyPairSync("ed25519", { privateKeyEncoding, publicKeyEncoding })
                : generateKeyPairSync("ec", { namedCurve: "P-256", privateKeyEncoding, publicKeyEncoding });
            generatedKeys.set(a.name, privateKey);
            return { privateKeyPem: privateKey };
        }
        case "tls:index/selfSignedCert:SelfSignedCert":
        case "tls:index/locallySignedCert:LocallySignedCert":
            return { certPem: pem("CERTIFICATE", `cert of ${a.name}`) };
        case "tls:index/certRequest:CertRequest":
            return { certRequestPem: pem("CERTIFICATE REQUEST", a.name) };
        case "command:local:Command":
            return { stdout: "absent deployment/cattle-cluster-agent\nabsent daemonset/cattle-node-agent\n" };
    }
    return undefined;
}

/** Stack settings through the real config parser, for the example hosts plus `extra` keys. */
function stackSettings(extra: Record<string, unknown> = {}): StackSettings {
    return parseConfig({
        hostname: "rancher.example.com",
        ssh: { user: "rancher" },
        sshPrivateKey: pem("OPENSSH PRIVATE KEY", "ssh-key"),
        loadBalancer: { address: "192.0.2.10", hostKey: HOST_KEYS[0] },
        nodes: [11, 12, 13].map(n => ({ address: `192.0.2.${n}`, roles: ["controlplane", "etcd", "worker"], hostKey: HOST_KEYS[n - 10] })),
        ...extra,
    }).settings;
}

function secretByName(recorded: RecordedResource[], name: string): RecordedResource | undefined {
    return byType(recorded, SECRET).find(s => s.inputs.metadata?.name === name);
}

describe("Rancher (mocks)", () => {
    let recorded: RecordedResource[];
    let provider: k8s.Provider;

    beforeEach(async () => {
        generatedKeys.clear();
        recorded = await recordResources({ outputs: tlsOutputs });
        provider = new k8s.Provider("k", { kubeconfig: "apiVersion: v1\nkind: Config\n" });
    });

    it("charts from the operator's OCI registry with a login: the password reaches the provider only as a secret", async () => {
        new Rancher("rancher", {
            settings: stackSettings({
                rancher: { chartRepo: "prime" }, charts: { rancher: "oci://registry.example.com/charts", user: "puller" },
                chartRepositoryPassword: "chart-s3cret", airGapped: false,
            }), provider,
        });
        await allRegistered(recorded);
        const [release] = byType(recorded, RELEASE);
        assert.equal(release.inputs.chart, "oci://registry.example.com/charts/rancher");
        assert.deepEqual(release.inputs.repositoryOpts, { username: "puller", password: "chart-s3cret" });
        assert.ok(release.secretInputs.includes("repositoryOpts"), "the chart password is secret");
        assert.equal(release.inputs.values.systemDefaultRegistry, "registry.rancher.com", "Prime images");
    });

    it("rancher TLS mode: the pinned chart from the configured channel into cattle-system, after the namespace", async () => {
        const r = new Rancher("rancher", { settings: stackSettings({ rancher: { chartRepo: "latest" }, versions: { rancher: "2.11.3" } }), provider });
        await allRegistered(recorded);

        const [ns] = byType(recorded, NAMESPACE);
        assert.equal(ns.inputs.metadata.name, "cattle-system");
        const [release] = byType(recorded, RELEASE);
        assert.equal(release.inputs.name, "rancher", "release name = chart fullname = the `rancher` deployment");
        assert.equal(release.inputs.chart, "rancher");
        assert.equal(release.inputs.version, "2.11.3");
        assert.deepEqual(release.inputs.repositoryOpts, { repo: "https://releases.rancher.com/server-charts/latest" });
        assert.equal(release.inputs.namespace, "cattle-system");
        assert.equal(release.inputs.skipAwait, false, "waits for the rollout");
        assert.equal(release.inputs.timeout, 900);
        assert.ok(dependsOn(recorded, release, ns));
        const v = release.inputs.values;
        assert.equal(v.hostname, "rancher.example.com");
        assert.equal(v.replicas, 3);
        assert.deepEqual(v.ingress, { ingressClassName: "nginx", includeDefaultExtraAnnotations: true, tls: { source: "rancher" } });
        assert.equal(v.privateCA, false);
        assert.equal(byType(recorded, PATCH).length, 0, "no CA, nothing to restart for");
        assert.equal(byType(recorded, SECRET).length, 0, "no TLS secrets outside secret mode");
        assert.deepEqual(await settle(r.url), { value: "https://rancher.example.com", secret: false });
        assert.deepEqual(await settle(r.caChecksum), { value: undefined, secret: false });
    });

    it("generates the bootstrap password from a stored key, keeps it secret everywhere", async () => {
        const r = new Rancher("rancher-gen", { settings: stackSettings(), provider });
        const password = await settle(r.bootstrapPassword);
        await allRegistered(recorded);

        const [seed] = byType(recorded, PRIVATE_KEY);
        assert.equal(seed.inputs.algorithm, "ED25519");
        assert.ok(seed.additionalSecretOutputs.includes("privateKeyPem"));
        assert.equal(password.secret, true);
        assert.equal(password.value, bootstrapPasswordFrom(generatedKeys.get(seed.name)!), "derived from the key in state");
        const [release] = byType(recorded, RELEASE);
        assert.equal(release.inputs.values.bootstrapPassword, password.value);
        assert.deepEqual(release.secretInputs, ["values"]);
        assert.ok(release.additionalSecretOutputs.includes("values"));
    });

    it("uses the configured bootstrapPassword and generates nothing", async () => {
        const r = new Rancher("rancher-cfg", { settings: stackSettings({ bootstrapPassword: "configured-Passw0rd" }), provider });
        const password = await settle(r.bootstrapPassword);
        await allRegistered(recorded);
        assert.deepEqual(password, { value: "configured-Passw0rd", secret: true });
        assert.equal(byType(recorded, PRIVATE_KEY).length, 0);
        assert.equal(byType(recorded, RELEASE)[0].inputs.values.bootstrapPassword, "configured-Passw0rd");
    });

    it("letsEncrypt mode: email and environment reach the chart, agents use the system trust store", async () => {
        new Rancher("rancher-le", {
            settings: stackSettings({ tls: { source: "letsEncrypt", letsEncryptEmail: "ops@example.com", letsEncryptEnvironment: "staging" } }),
            provider,
        });
        await allRegistered(recorded);
        const v = byType(recorded, RELEASE)[0].inputs.values;
        assert.deepEqual(v.ingress, { ingressClassName: "nginx", includeDefaultExtraAnnotations: true, tls: { source: "letsEncrypt" } });
        assert.deepEqual(v.letsEncrypt, { email: "ops@example.com", environment: "staging", ingress: { class: "nginx" } });
        assert.equal(v.agentTLSMode, "system-store");
    });

    it("cluster.ingressProvider none: the Ingress and the ACME solver use rancher.ingressClassName", async () => {
        new Rancher("rancher-own-ingress", {
            settings: stackSettings({
                cluster: { ingressProvider: "none" }, rancher: { ingressClassName: "traefik" },
                tls: { source: "letsEncrypt", letsEncryptEmail: "ops@example.com" },
            }),
            provider,
        });
        await allRegistered(recorded);
        const v = byType(recorded, RELEASE)[0].inputs.values;
        assert.equal(v.ingress.ingressClassName, "traefik");
        assert.deepEqual(v.letsEncrypt.ingress, { class: "traefik" });
    });

    it("secret mode, generated CA: a CA and a hostname certificate, the two Secrets with the right keys, the checksum", async () => {
        const r = new Rancher("rancher-gca", { settings: stackSettings({ tls: { source: "secret", generateCa: true } }), provider });
        const checksum = await settle(r.caChecksum);
        await allRegistered(recorded);

        const caCert = recorded.find(x => x.type === "tls:index/selfSignedCert:SelfSignedCert")!;
        assert.equal(caCert.inputs.isCaCertificate, true);
        const csr = recorded.find(x => x.type === "tls:index/certRequest:CertRequest")!;
        assert.deepEqual(csr.inputs.dnsNames, ["rancher.example.com"]);
        assert.equal(csr.inputs.subject.commonName, "rancher.example.com");
        const signed = recorded.find(x => x.type === "tls:index/locallySignedCert:LocallySignedCert")!;
        assert.ok(signed.inputs.allowedUses.includes("server_auth"));
        assert.ok(signed.inputs.earlyRenewalHours > 0, "renewed by pulumi up before it expires");

        const ingress = secretByName(recorded, "tls-rancher-ingress")!;
        assert.equal(ingress.inputs.metadata.namespace, "cattle-system");
        assert.equal(ingress.inputs.type, "kubernetes.io/tls");
        assert.deepEqual(Object.keys(ingress.inputs.stringData).sort(), ["tls.crt", "tls.key"]);
        assert.deepEqual(ingress.secretInputs, ["stringData"]);
        assert.equal(ingress.inputs.stringData["tls.crt"], pem("CERTIFICATE", `cert of ${signed.name}`));
        const serverKey = byType(recorded, PRIVATE_KEY).find(k => k.name.endsWith("server-key"))!;
        assert.equal(ingress.inputs.stringData["tls.key"], generatedKeys.get(serverKey.name));

        const ca = secretByName(recorded, "tls-ca")!;
        assert.deepEqual(Object.keys(ca.inputs.stringData), ["cacerts.pem"]);
        const caPem = pem("CERTIFICATE", `cert of ${caCert.name}`);
        assert.equal(ca.inputs.stringData["cacerts.pem"], cacertsPem(caPem));
        assert.deepEqual(checksum, { value: caChecksum(caPem), secret: false });

        const [release] = byType(recorded, RELEASE);
        assert.equal(release.inputs.values.privateCA, true);
        assert.equal(release.inputs.values.ingress.tls.source, "secret");
        assert.ok(dependsOn(recorded, release, ingress) && dependsOn(recorded, release, ca), "Secrets exist before the release");
        assert.ok(ingress.deleteBeforeReplace && ca.deleteBeforeReplace);

        // tls-ca is mounted with subPath: a new CA reaches the pods only through a restart, which its checksum on
        // the pod template causes.
        const [patch] = byType(recorded, PATCH);
        assert.deepEqual(patch.inputs.metadata, { name: "rancher", namespace: "cattle-system" });
        assert.deepEqual(patch.inputs.spec, { template: { metadata: { annotations: { "rancher-ha/cacerts-sha256": caChecksum(caPem) } } } });
        assert.ok(dependsOn(recorded, patch, release), "patches the chart's deployment once it exists");
    });

    it("additionalTrustedCas: the tls-ca-additional Secret before the release, the chart flag, a restart on change", async () => {
        const bundle = `\n${USER_CA}${USER_CA}\n`;
        new Rancher("rancher-extra-ca", { settings: stackSettings({ additionalTrustedCas: bundle }), provider });
        await allRegistered(recorded);
        const extra = secretByName(recorded, "tls-ca-additional")!;
        assert.equal(extra.inputs.metadata.namespace, "cattle-system");
        assert.deepEqual(extra.inputs.stringData, { "ca-additional.pem": `${USER_CA}${USER_CA}` });
        assert.deepEqual(extra.secretInputs, ["stringData"]);
        const [release] = byType(recorded, RELEASE);
        assert.equal(release.inputs.values.additionalTrustedCAs, true);
        assert.ok(dependsOn(recorded, release, extra));
        const [patch] = byType(recorded, PATCH);
        assert.deepEqual(patch.inputs.spec.template.metadata.annotations,
            { "rancher-ha/ca-additional-sha256": createHash("sha256").update(`${USER_CA}${USER_CA}`).digest("hex") });
    });

    it("secret mode, given certificate, key and CA: they go into the Secrets as given (CA normalised), checksum of the CA", async () => {
        const r = new Rancher("rancher-given", {
            settings: stackSettings({ tls: { source: "secret" }, tlsCert: USER_CERT, tlsKey: USER_KEY, tlsCaCert: `${USER_CA}\n\n` }),
            provider,
        });
        const checksum = await settle(r.caChecksum);
        await allRegistered(recorded);
        assert.equal(recorded.filter(x => x.type.startsWith("tls:")).length, 1, "only the bootstrap-password seed");
        assert.deepEqual(secretByName(recorded, "tls-rancher-ingress")!.inputs.stringData, { "tls.crt": USER_CERT, "tls.key": USER_KEY });
        const ca = secretByName(recorded, "tls-ca")!;
        assert.equal(ca.inputs.stringData["cacerts.pem"], USER_CA);
        assert.deepEqual(ca.secretInputs, ["stringData"], "given as a secret config key, stays secret in the Secret");
        assert.deepEqual(checksum, { value: caChecksum(USER_CA), secret: false });
        assert.deepEqual(byType(recorded, PATCH)[0].inputs.spec.template.metadata.annotations,
            { "rancher-ha/cacerts-sha256": caChecksum(USER_CA) });
    });

    it("secret mode, publicly trusted certificate: no tls-ca, no checksum, agents use the system trust store", async () => {
        const r = new Rancher("rancher-public", {
            settings: stackSettings({ tls: { source: "secret" }, tlsCert: USER_CERT, tlsKey: USER_KEY }), provider,
        });
        const checksum = await settle(r.caChecksum);
        await allRegistered(recorded);
        assert.ok(secretByName(recorded, "tls-rancher-ingress"));
        assert.equal(secretByName(recorded, "tls-ca"), undefined);
        assert.equal(checksum.value, undefined);
        const v = byType(recorded, RELEASE)[0].inputs.values;
        assert.equal(v.privateCA, false);
        assert.equal(v.agentTLSMode, "system-store");
    });

    it("private default registry with a login: Rancher image and systemDefaultRegistry from it, a pull secret first", async () => {
        new Rancher("rancher-reg", {
            settings: stackSettings({ privateRegistry: { url: "registry.example.com:5000", user: "puller" }, privateRegistryPassword: "pull-s3cret" }),
            provider,
        });
        await allRegistered(recorded);
        const pull = secretByName(recorded, "rancher-ha-registry")!;
        assert.equal(pull.inputs.metadata.namespace, "cattle-system");
        assert.deepEqual(pull.secretInputs, ["stringData"]);
        const [release] = byType(recorded, RELEASE);
        assert.equal(release.inputs.values.rancherImage, "registry.example.com:5000/rancher/rancher");
        assert.equal(release.inputs.values.systemDefaultRegistry, "registry.example.com:5000");
        assert.deepEqual(release.inputs.values.imagePullSecrets, [{ name: "rancher-ha-registry" }]);
        assert.ok(dependsOn(recorded, release, pull));
    });
});

/** Stand-ins for the LB and RKE stages (their own tests cover them): one remote step each, RKE hands out a provider. */
class StandInStage extends pulumi.ComponentResource {
    readonly provider?: k8s.Provider;
    readonly kubeconfig: pulumi.Output<string>;
    constructor(kind: string, name: string, withProvider: boolean, opts?: pulumi.ComponentResourceOptions) {
        super(`rancher-ha:test:${kind}`, name, {}, opts);
        new command.remote.Command(`${name}-step`, {
            connection: { host: "192.0.2.10", user: "rancher", privateKey: pulumi.secret("SSH-KEY-s3cret") },
            create: "true",
        }, { parent: this });
        this.kubeconfig = pulumi.secret("apiVersion: v1\nkind: Config\nusers: [{name: a, user: {token: KUBE-s3cret}}]\n");
        if (withProvider) {
            this.provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: this.kubeconfig }, { parent: this });
        }
        this.registerOutputs({});
    }
}

/** The stages wired as index.ts wires them: LB -> RKE -> cert-manager -> Rancher -> hostAliases patches. */
function buildStages(settings: StackSettings) {
    const lb = new StandInStage("LoadBalancer", "lb", false);
    const rke = new StandInStage("RkeCluster", "rke", true, { dependsOn: [lb] });
    const certManager = new CertManager("cert-manager", {
        version: settings.versions.certManager, tlsSource: settings.tls.source, provider: rke.provider!,
        registry: settings.privateRegistry,
    }, { dependsOn: [rke] });
    // [rke, certManager], not [certManager] alone: in secret mode CertManager has no children, and depending on a
    // component only waits for its children (see the last test).
    const rancher = new Rancher("rancher", { settings, provider: rke.provider! }, { dependsOn: [rke, certManager] });
    const aliases = new AgentHostAliases("host-aliases", {
        hostname: settings.hostname, ip: settings.hostAliases.ip, provider: rke.provider!, kubeconfig: rke.kubeconfig,
        rancherVersion: settings.versions.rancher, rancherRelease: rancher.release,
    }, { dependsOn: [rancher] });
    return { lb, rke, certManager, rancher, aliases };
}

/**
 * Every top-level input that carries one of `secrets` (also inside base64, as in stdin bundles and
 * dockerconfigjson) must have reached the engine as a secret. Returns the carriers, `type name.input`.
 */
function assertSecretsMarked(recorded: RecordedResource[], secrets: string[]): string[] {
    const carriers: string[] = [];
    for (const r of recorded) {
        for (const [key, value] of Object.entries(r.inputs ?? {})) {
            const raw = JSON.stringify(value);
            const decoded = (raw.match(/[A-Za-z0-9+/=]{16,}/g) ?? []).map(b => Buffer.from(b, "base64").toString("utf8"));
            const text = [raw, ...decoded].join("\n");
            if (secrets.some(s => text.includes(s))) {
                carriers.push(`${r.type} ${r.name}.${key}`);
                assert.ok(r.secretInputs.includes(key), `${r.type} ${r.name}: input "${key}" carries a secret but is not marked secret`);
            }
        }
    }
    return carriers;
}

describe("stages wired as index.ts does (mocks)", () => {
    let recorded: RecordedResource[];
    beforeEach(async () => {
        generatedKeys.clear();
        recorded = await recordResources({ outputs: tlsOutputs });
    });

    const find = (type: string, pred: (r: RecordedResource) => boolean = () => true) => recorded.find(r => r.type === type && pred(r))!;

    it("rancher mode: LB -> RKE -> cert-manager -> Rancher -> patches, and every secret is marked secret", async () => {
        const settings = stackSettings({ hostAliases: { enabled: true }, bootstrapPassword: "configured-Passw0rd" });
        const stages = buildStages(settings);
        await settle(stages.aliases.patchedAgents);
        await allRegistered(recorded);

        const lbStep = find("command:remote:Command", r => r.name === "lb-step");
        const rkeStep = find("command:remote:Command", r => r.name === "rke-step");
        const cmRelease = find(RELEASE, r => r.inputs.chart === "cert-manager");
        const rancherRelease = find(RELEASE, r => r.inputs.chart === "rancher");
        const patch = find("kubernetes:apps/v1:DeploymentPatch");
        const agents = find("command:local:Command");

        assert.ok(dependsOn(recorded, rkeStep, lbStep), "RKE after LB");
        assert.ok(dependsOn(recorded, cmRelease, rkeStep), "cert-manager after RKE");
        assert.ok(dependsOn(recorded, rancherRelease, cmRelease), "Rancher after cert-manager");
        assert.ok(dependsOn(recorded, patch, rancherRelease), "rancher deployment patched after the release");
        assert.ok(dependsOn(recorded, agents, patch), "agents after the rancher rollout");
        assert.ok(!dependsOn(recorded, cmRelease, rancherRelease) && !dependsOn(recorded, rancherRelease, patch), "no cycle");

        const carriers = assertSecretsMarked(recorded, ["configured-Passw0rd", "KUBE-s3cret", "SSH-KEY-s3cret"]);
        for (const c of ["kubernetes:helm.sh/v3:Release rancher.values", "command:local:Command host-aliases-agents.stdin",
            "pulumi:providers:kubernetes rke-k8s.kubeconfig", "command:remote:Command lb-step.connection"]) {
            assert.ok(carriers.includes(c), `the scan saw ${c} (saw ${carriers.join(", ")})`);
        }
        assert.equal((await settle(stages.rancher.bootstrapPassword)).secret, true);
    });

    it("secret mode: no cert-manager at all; the two TLS Secrets before Rancher; generated keys all marked secret", async () => {
        const settings = stackSettings({ tls: { source: "secret", generateCa: true }, hostAliases: { enabled: true } });
        const stages = buildStages(settings);
        const password = await settle(stages.rancher.bootstrapPassword);
        await allRegistered(recorded);

        assert.equal(stages.certManager.installed, false);
        assert.equal(recorded.filter(r => r.type === RELEASE && r.inputs.chart === "cert-manager").length, 0);
        assert.equal(recorded.filter(r => r.type === NAMESPACE && r.inputs.metadata.name === "cert-manager").length, 0);
        const rancherRelease = find(RELEASE);
        const rkeStep = find("command:remote:Command", r => r.name === "rke-step");
        assert.ok(dependsOn(recorded, rancherRelease, rkeStep), "Rancher still after RKE");
        for (const name of ["tls-rancher-ingress", "tls-ca"]) {
            const s = secretByName(recorded, name)!;
            assert.ok(s, name);
            assert.ok(dependsOn(recorded, rancherRelease, s), `${name} before the release`);
            assert.ok(dependsOn(recorded, s, rkeStep), `${name} after RKE`);
        }
        const keys = [...generatedKeys.values()].map(k => k.split("\n")[1]);
        const carriers = assertSecretsMarked(recorded, [password.value, "KUBE-s3cret", "SSH-KEY-s3cret", ...keys]);
        assert.equal(keys.length, 3, "bootstrap seed, CA key, server key");
        for (const c of ["kubernetes:core/v1:Secret rancher-tls-ingress.stringData", "tls:index/selfSignedCert:SelfSignedCert rancher-tls-ca.privateKeyPem",
            "tls:index/locallySignedCert:LocallySignedCert rancher-tls-server-cert.caPrivateKeyPem", "kubernetes:helm.sh/v3:Release rancher.values"]) {
            assert.ok(carriers.includes(c), `the scan saw ${c} (saw ${carriers.join(", ")})`);
        }
    });

    it("why Rancher also names RKE: a skipped CertManager alone orders nothing", async () => {
        const settings = stackSettings({ tls: { source: "secret", generateCa: true } });
        const rke = new StandInStage("RkeCluster", "rke-alone", true);
        const certManager = new CertManager("cert-manager-alone", {
            version: settings.versions.certManager, tlsSource: "secret", provider: rke.provider!,
        }, { dependsOn: [rke] });
        new Rancher("rancher-alone", { settings, provider: rke.provider! }, { dependsOn: [certManager] });
        await allRegistered(recorded);
        const rkeStep = find("command:remote:Command", r => r.name === "rke-alone-step");
        assert.ok(!dependsOn(recorded, find(RELEASE), rkeStep), "Pulumi expands a component to its children: none here");
    });
});
