import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { CertManager } from "../../../components/certManager/CertManager";
import { REGISTRY_PULL_SECRET } from "../../../components/shared/helm";
import { allRegistered, byType, dependsOn, recordResources, RecordedResource, settle } from "../../helpers/mocks";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const NAMESPACE = "kubernetes:core/v1:Namespace";
const SECRET = "kubernetes:core/v1:Secret";

describe("CertManager (mocks)", () => {
    let recorded: RecordedResource[];
    let provider: k8s.Provider;

    beforeEach(async () => {
        recorded = await recordResources();
        provider = new k8s.Provider("k", { kubeconfig: "apiVersion: v1\nkind: Config\n" });
    });

    it("installs the pinned jetstack chart into its own namespace, after the namespace, waiting for the webhook", async () => {
        const cm = new CertManager("cert-manager", { version: "v1.15.3", tlsSource: "rancher", provider });
        await allRegistered(recorded);

        assert.equal(cm.installed, true);
        const [ns] = byType(recorded, NAMESPACE);
        assert.equal(ns.inputs.metadata.name, "cert-manager");
        const [release] = byType(recorded, RELEASE);
        assert.equal(release.parent, recorded.find(r => r.type === "rancher-ha:certManager:CertManager")!.urn);
        assert.equal(release.inputs.name, "cert-manager");
        assert.equal(release.inputs.chart, "cert-manager");
        assert.equal(release.inputs.version, "v1.15.3");
        assert.deepEqual(release.inputs.repositoryOpts, { repo: "https://charts.jetstack.io" });
        assert.equal(release.inputs.namespace, "cert-manager");
        assert.equal(release.inputs.createNamespace, false);
        assert.deepEqual(release.inputs.values, { crds: { enabled: true, keep: true }, startupapicheck: { enabled: true } });
        assert.equal(release.inputs.skipAwait, false);
        assert.equal(release.inputs.waitForJobs, true, "the startupapicheck job proves the webhook answers");
        assert.equal(release.inputs.timeout, 600);
        assert.ok(dependsOn(recorded, release, ns));
        assert.equal((await settle(cm.release!.name)).value, "cert-manager");
    });

    it("an older pinned chart gets installCRDs instead", async () => {
        new CertManager("cert-manager-old", { version: "v1.14.5", tlsSource: "letsEncrypt", provider, timeoutSeconds: 300 });
        await allRegistered(recorded);
        const [release] = byType(recorded, RELEASE);
        assert.equal(release.inputs.values.installCRDs, true);
        assert.equal(release.inputs.values.crds, undefined);
        assert.equal(release.inputs.timeout, 300);
    });

    it("secret TLS mode installs nothing: no namespace, no release", async () => {
        const cm = new CertManager("cert-manager-skip", { version: "v1.15.3", tlsSource: "secret", provider });
        await allRegistered(recorded);
        assert.equal(cm.installed, false);
        assert.equal(cm.release, undefined);
        assert.deepEqual(recorded.filter(r => r.custom && r.type !== "pulumi:providers:kubernetes").map(r => r.type), []);
    });

    it("a private default registry with a login: images from it, a secret pull secret the release waits for", async () => {
        new CertManager("cert-manager-reg", {
            version: "v1.15.3", tlsSource: "rancher", provider,
            registry: { url: "registry.example.com:5000", user: "puller", password: pulumi.secret("pull-s3cret"), isDefault: true },
        });
        await allRegistered(recorded);

        const [secret] = byType(recorded, SECRET);
        assert.equal(secret.inputs.metadata.name, REGISTRY_PULL_SECRET);
        assert.equal(secret.inputs.metadata.namespace, "cert-manager");
        assert.equal(secret.inputs.type, "kubernetes.io/dockerconfigjson");
        assert.deepEqual(secret.secretInputs, ["stringData"]);
        assert.ok(secret.deleteBeforeReplace);
        const auth = JSON.parse(secret.inputs.stringData[".dockerconfigjson"]).auths["registry.example.com:5000"];
        assert.equal(Buffer.from(auth.auth, "base64").toString(), "puller:pull-s3cret");

        const [release] = byType(recorded, RELEASE);
        assert.equal(release.inputs.values.image.repository, "registry.example.com:5000/quay.io/jetstack/cert-manager-controller");
        assert.deepEqual(release.inputs.values.global, { imagePullSecrets: [{ name: REGISTRY_PULL_SECRET }] });
        assert.ok(!JSON.stringify(release.inputs).includes("pull-s3cret"), "the password is only in the Secret");
        assert.ok(dependsOn(recorded, release, secret));
    });

    it("a registry that is not the default one is left to RKE: public images, no pull secret", async () => {
        new CertManager("cert-manager-nodefault", {
            version: "v1.15.3", tlsSource: "rancher", provider,
            registry: { url: "registry.example.com:5000", user: "puller", password: pulumi.secret("x"), isDefault: false },
        });
        await allRegistered(recorded);
        assert.equal(byType(recorded, SECRET).length, 0);
        const [release] = byType(recorded, RELEASE);
        assert.equal(release.inputs.values.image, undefined);
    });
});
