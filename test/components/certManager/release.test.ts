import { strict as assert } from "assert";
import { certManagerCrdValues, certManagerValues, needsCertManager } from "../../../components/certManager/release";

describe("certManager/release", () => {
    describe("cert-manager", () => {
        it("before v1.15 the chart only knows installCRDs", () => {
            for (const v of ["v1.14.7", "v1.11.0", "v1.14.0"]) {
                assert.deepEqual(certManagerCrdValues(v), { installCRDs: true }, v);
            }
        });

        it("from v1.15 it takes crds.enabled, with crds.keep so an uninstall never deletes every Certificate", () => {
            for (const v of ["v1.15.0", "v1.15.3", "v1.16.2", "v1.17.0-alpha.0"]) {
                assert.deepEqual(certManagerCrdValues(v), { crds: { enabled: true, keep: true } }, v);
            }
        });

        it("default values: CRDs and the startup API check the release waits on", () => {
            assert.deepEqual(certManagerValues({ version: "v1.15.3" }), {
                crds: { enabled: true, keep: true },
                startupapicheck: { enabled: true },
            });
            assert.deepEqual(certManagerValues({ version: "v1.14.5" }), { installCRDs: true, startupapicheck: { enabled: true } });
        });

        it("a private registry moves every image, and a pull secret goes to global.imagePullSecrets", () => {
            const v: any = certManagerValues({ version: "v1.15.3", registry: "registry.example.com:5000", imagePullSecret: "rancher-ha-registry" });
            const reg = "registry.example.com:5000/quay.io/jetstack";
            assert.equal(v.image.repository, `${reg}/cert-manager-controller`);
            assert.equal(v.webhook.image.repository, `${reg}/cert-manager-webhook`);
            assert.equal(v.cainjector.image.repository, `${reg}/cert-manager-cainjector`);
            assert.equal(v.acmesolver.image.repository, `${reg}/cert-manager-acmesolver`);
            assert.equal(v.startupapicheck.image.repository, `${reg}/cert-manager-startupapicheck`);
            assert.equal(v.startupapicheck.enabled, true, "registry settings merge into, not over, startupapicheck");
            assert.deepEqual(v.global, { imagePullSecrets: [{ name: "rancher-ha-registry" }] });
        });

        it("the startup API check image by version: cert-manager-ctl up to v1.13.x, cert-manager-startupapicheck from v1.14.0", () => {
            const repo = (version: string) => (certManagerValues({ version, registry: "reg.example.com" }) as any).startupapicheck.image.repository;
            assert.equal(repo("v1.12.9"), "reg.example.com/quay.io/jetstack/cert-manager-ctl");
            assert.equal(repo("v1.13.6"), "reg.example.com/quay.io/jetstack/cert-manager-ctl");
            assert.equal(repo("v1.14.0"), "reg.example.com/quay.io/jetstack/cert-manager-startupapicheck");
            assert.equal(repo("1.16.1"), "reg.example.com/quay.io/jetstack/cert-manager-startupapicheck");
            // The other images kept their names across that release.
            const v: any = certManagerValues({ version: "v1.13.6", registry: "reg.example.com" });
            assert.equal(v.webhook.image.repository, "reg.example.com/quay.io/jetstack/cert-manager-webhook");
        });
    });

    describe("cert-manager is needed", () => {
        it("for Rancher's own CA and Let's Encrypt, not for a certificate brought as a secret", () => {
            assert.equal(needsCertManager("rancher"), true);
            assert.equal(needsCertManager("letsEncrypt"), true);
            assert.equal(needsCertManager("secret"), false);
        });
    });

});
