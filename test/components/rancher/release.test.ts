import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    additionalCasPem, bootstrapPasswordFrom, caChecksum, cacertsPem, caRestartPatch, goTrimSpace, rancherChart, rancherChartRepo,
    rancherRelease, RancherReleaseInput, rancherValues, RancherValuesInput,
} from "../../../components/rancher/release";
import { certManagerRelease } from "../../../components/certManager/release";
import { chartAuth, helmReleaseArgs } from "../../../components/shared/helm";
import { requireTool, toolMissing } from "../../helpers/tools";

const CA_PEM = [
    "-----BEGIN CERTIFICATE-----",
    "MIIBeTCCAR+gAwIBAgIRAOa1kD2Vb0f8rS1x9vH3cQswCgYIKoZIzj0EAwIwFTET",
    "MBEGA1UEAxMKcmFuY2hlci1oYTAeFw0yNDA5MDEwMDAwMDBaFw0zNDA5MDEwMDAw",
    "-----END CERTIFICATE-----",
].join("\n");

const BASE: RancherValuesInput = {
    hostname: "rancher.example.com",
    replicas: 3,
    tlsSource: "rancher",
    privateCa: false,
    bootstrapPassword: "generated-password-123",
    version: "2.9.2",
};

describe("rancher/release", () => {
    describe("rancher", () => {
        it("chart repositories per channel", () => {
            assert.equal(rancherChartRepo("stable"), "https://releases.rancher.com/server-charts/stable");
            assert.equal(rancherChartRepo("latest"), "https://releases.rancher.com/server-charts/latest");
            assert.equal(rancherChartRepo("alpha"), "https://releases.rancher.com/server-charts/alpha");
            assert.equal(rancherChartRepo("prime"), "https://charts.rancher.com/server-charts/prime");
        });

        const releaseInput = (over: Partial<RancherReleaseInput> = {}): RancherReleaseInput => ({
            hostname: "rancher.example.com", version: "2.11.16", channel: "prime", replicas: 3,
            tls: { source: "rancher", privateCa: false }, registry: {}, chart: {}, ...over,
        });

        it("Rancher Prime: the chart from charts.rancher.com, every image from registry.rancher.com unless the site mirrors them", () => {
            const r = rancherRelease(releaseInput(), "pw-1234567890");
            assert.equal(r.repo, "https://charts.rancher.com/server-charts/prime");
            assert.equal(r.chart, "rancher");
            assert.equal(r.values.systemDefaultRegistry, "registry.rancher.com");
            assert.equal(r.values.rancherImage, "registry.rancher.com/rancher/rancher", "before 2.12.3 the chart takes rancherImage");
            const mirrored = rancherRelease(releaseInput({ registry: { url: "registry.example.com:5000" } }), "pw-1234567890");
            assert.equal(mirrored.values.systemDefaultRegistry, "registry.example.com:5000");
            const community = rancherRelease(releaseInput({ version: "2.11.3", channel: "stable" }), "pw-1234567890");
            assert.equal(community.values.systemDefaultRegistry, undefined);
            assert.equal(community.repo, "https://releases.rancher.com/server-charts/stable");
        });

        it("the operator's repository wins over the channel: a Helm repository by name, an OCI path with the chart appended", () => {
            const helm = rancherChart(releaseInput({ chartRepository: "https://charts.example.com/rancher" }));
            assert.deepEqual([helm.chart, helm.repo], ["rancher", "https://charts.example.com/rancher"]);
            const oci = rancherChart(releaseInput({ chartRepository: "oci://registry.example.com:5000/charts/" }));
            assert.deepEqual([oci.chart, oci.repo], ["oci://registry.example.com:5000/charts/rancher", ""]);
            const cm = certManagerRelease("v1.21.1", "rancher", {}, "oci://registry.example.com:5000/charts")!;
            assert.deepEqual([cm.chart, cm.repo], ["oci://registry.example.com:5000/charts/cert-manager", ""]);
            assert.deepEqual([certManagerRelease("v1.21.1", "rancher", {})!.repo], ["https://charts.jetstack.io"]);
        });

        it("air-gapped: Rancher uses the system charts bundled in its image", () => {
            assert.equal(rancherValues({ ...BASE, useBundledSystemChart: true }).useBundledSystemChart, true);
            assert.equal(rancherValues(BASE).useBundledSystemChart, undefined, "the chart's default (false) otherwise");
        });

        it("a release's chart source and login as @pulumi/kubernetes takes them (OCI: no repo)", () => {
            const spec = rancherChart(releaseInput({ chartRepository: "oci://registry.example.com/charts" }));
            assert.deepEqual(helmReleaseArgs(spec, "cattle-system", chartAuth({ user: "puller", password: "pw", caFile: "/ca.pem" })).repositoryOpts,
                { username: "puller", password: "pw", caFile: "/ca.pem" });
            assert.deepEqual(helmReleaseArgs(rancherChart(releaseInput()), "cattle-system", chartAuth(undefined)).repositoryOpts,
                { repo: "https://charts.rancher.com/server-charts/prime" });
        });

        it("rancher mode: hostname, replicas, the password, TLS by Rancher's own CA (agents stay strict)", () => {
            assert.deepEqual(rancherValues(BASE), {
                hostname: "rancher.example.com",
                replicas: 3,
                bootstrapPassword: "generated-password-123",
                antiAffinity: "preferred",
                ingress: { ingressClassName: "nginx", includeDefaultExtraAnnotations: true, tls: { source: "rancher" } },
                privateCA: false,
                postDelete: { ignoreTimeoutError: true },
            });
        });

        it("letsEncrypt mode: email, environment, the ACME solver's ingress class, and system-store agents", () => {
            const v: any = rancherValues({ ...BASE, tlsSource: "letsEncrypt", letsEncryptEmail: "ops@example.com", letsEncryptEnvironment: "staging" });
            assert.deepEqual(v.ingress, { ingressClassName: "nginx", includeDefaultExtraAnnotations: true, tls: { source: "letsEncrypt" } });
            assert.deepEqual(v.letsEncrypt, { email: "ops@example.com", environment: "staging", ingress: { class: "nginx" } });
            assert.equal(v.agentTLSMode, "system-store");
            assert.equal(v.privateCA, false);
            assert.throws(() => rancherValues({ ...BASE, tlsSource: "letsEncrypt" }), /letsEncrypt needs an e-mail/);
        });

        it("secret mode with a private CA: privateCA on, agents keep strict verification against that CA", () => {
            const v: any = rancherValues({ ...BASE, tlsSource: "secret", privateCa: true });
            assert.equal(v.ingress.tls.source, "secret");
            assert.equal(v.privateCA, true);
            assert.equal(v.agentTLSMode, undefined);
            assert.equal(v.letsEncrypt, undefined);
        });

        it("secret mode with a publicly trusted certificate: no private CA, system-store agents", () => {
            const v: any = rancherValues({ ...BASE, tlsSource: "secret", privateCa: false });
            assert.equal(v.privateCA, false);
            assert.equal(v.agentTLSMode, "system-store");
        });

        it("privateCA outside secret mode is a programming error", () => {
            assert.throws(() => rancherValues({ ...BASE, privateCa: true }), /privateCA only applies to tls\.source secret/);
        });

        it("a private registry sets the Rancher image and systemDefaultRegistry; a pull secret goes to imagePullSecrets", () => {
            const v: any = rancherValues({ ...BASE, registry: "registry.example.com:5000", imagePullSecret: "rancher-ha-registry" });
            assert.equal(v.rancherImage, "registry.example.com:5000/rancher/rancher");
            assert.equal(v.systemDefaultRegistry, "registry.example.com:5000");
            assert.deepEqual(v.imagePullSecrets, [{ name: "rancher-ha-registry" }]);
            const plain: any = rancherValues(BASE);
            assert.ok(!("rancherImage" in plain) && !("systemDefaultRegistry" in plain) && !("imagePullSecrets" in plain));
        });

        it("rancherImage only before 2.12.3 (deprecated there: systemDefaultRegistry gives the image)", () => {
            const reg = { registry: "registry.example.com:5000" };
            assert.equal((rancherValues({ ...BASE, ...reg, version: "2.12.2" }) as any).rancherImage, "registry.example.com:5000/rancher/rancher");
            for (const version of ["2.12.3", "v2.13.0", "2.15.0"]) {
                const v: any = rancherValues({ ...BASE, ...reg, version });
                assert.ok(!("rancherImage" in v), version);
                assert.equal(v.systemDefaultRegistry, "registry.example.com:5000");
            }
        });

        it("the ingress class of the cluster's controller on the Ingress and the ACME solver, never left empty", () => {
            const v: any = rancherValues({ ...BASE, tlsSource: "letsEncrypt", letsEncryptEmail: "ops@example.com", ingressClass: "traefik" });
            assert.equal(v.ingress.ingressClassName, "traefik");
            assert.deepEqual(v.letsEncrypt.ingress, { class: "traefik" });
            assert.equal((rancherValues(BASE) as any).ingress.ingressClassName, "nginx", "RKE's ingress-nginx");
        });

        it("antiAffinity, includeDefaultExtraAnnotations and postDelete.ignoreTimeoutError follow the settings", () => {
            const v: any = rancherValues({
                ...BASE, version: "2.14.0", antiAffinity: "required", includeDefaultExtraAnnotations: false, postDeleteIgnoreTimeoutError: false,
            });
            assert.equal(v.antiAffinity, "required");
            assert.equal(v.ingress.includeDefaultExtraAnnotations, false);
            assert.deepEqual(v.postDelete, { ignoreTimeoutError: false });
            assert.equal((rancherValues({ ...BASE, version: "2.14.0" }) as any).ingress.includeDefaultExtraAnnotations, true,
                "2.14 turned the chart's default off: set explicitly");
        });

        it("systemRegistryInheritsPullSecrets only from 2.15 with a registry login", () => {
            const login = { registry: "registry.example.com:5000", imagePullSecret: "rancher-ha-registry" };
            assert.equal((rancherValues({ ...BASE, ...login, version: "2.15.0" }) as any).systemRegistryInheritsPullSecrets, true);
            assert.equal((rancherValues({ ...BASE, ...login, version: "2.15.0", systemRegistryInheritsPullSecrets: false }) as any)
                .systemRegistryInheritsPullSecrets, false);
            assert.ok(!("systemRegistryInheritsPullSecrets" in rancherValues({ ...BASE, ...login, version: "2.14.4" })), "unknown before 2.15");
            assert.ok(!("systemRegistryInheritsPullSecrets" in rancherValues({ ...BASE, registry: "r.example.com", version: "2.15.0" })), "no login");
        });

        it("auditLog: level alone before 2.12 (0 is off there), enabled + level from 2.12, nothing when unset", () => {
            assert.ok(!("auditLog" in rancherValues(BASE)));
            assert.deepEqual((rancherValues({ ...BASE, auditLogLevel: 2 }) as any).auditLog, { level: 2 });
            assert.ok(!("auditLog" in rancherValues({ ...BASE, auditLogLevel: 0 })));
            assert.deepEqual((rancherValues({ ...BASE, version: "2.12.0", auditLogLevel: 0 }) as any).auditLog, { enabled: true, level: 0 });
            assert.deepEqual((rancherValues({ ...BASE, version: "2.15.0", auditLogLevel: 3 }) as any).auditLog, { enabled: true, level: 3 });
        });

        it("additionalTrustedCAs when the tls-ca-additional secret is made", () => {
            assert.equal((rancherValues({ ...BASE, additionalTrustedCas: true }) as any).additionalTrustedCAs, true);
            assert.ok(!("additionalTrustedCAs" in rancherValues(BASE)));
        });
    });

    describe("private CA: cacerts.pem and CATTLE_CA_CHECKSUM", () => {
        it("cacerts.pem ends in exactly one newline, however the PEM was given", () => {
            assert.equal(cacertsPem(CA_PEM), `${CA_PEM}\n`);
            assert.equal(cacertsPem(`${CA_PEM}\n`), `${CA_PEM}\n`);
            assert.equal(cacertsPem(`${CA_PEM}\n\n  \n`), `${CA_PEM}\n`);
            assert.throws(() => cacertsPem("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"), /not a PEM certificate/);
        });

        it("cacerts.pem is TrimSpace'd at both ends, as Rancher stores the cacerts setting", () => {
            assert.equal(cacertsPem(`\n  \t${CA_PEM}`), `${CA_PEM}\n`);
            assert.equal(cacertsPem(`\r\n\n${CA_PEM}\r\n`), `${CA_PEM}\n`);
            // Go's unicode.IsSpace, not JS's trim(): NEL is space, a byte-order mark is not.
            assert.equal(goTrimSpace("\u0085\u00a0x\u3000"), "x");
            assert.equal(goTrimSpace("\ufeffx"), "\ufeffx");
        });

        it("a CA starting with a newline or spaces: checksum = sha256(TrimSpace(ca) + \"\\n\") (pkg/systemtemplate/import.go)", () => {
            const expected = crypto.createHash("sha256").update(`${CA_PEM}\n`).digest("hex");
            for (const given of [`\n${CA_PEM}`, `   ${CA_PEM}\n`, `\n\n  ${CA_PEM}  \n\n`]) {
                assert.equal(caChecksum(given), expected, JSON.stringify(given.slice(0, 4)));
            }
            assert.notEqual(crypto.createHash("sha256").update(`\n${CA_PEM}\n`).digest("hex"), expected,
                "the leading newline would change the hash if kept");
        });

        it("the restart patch carries the checksums of the subPath-mounted CAs on the pod template", () => {
            assert.equal(caRestartPatch({}), undefined);
            assert.deepEqual(caRestartPatch({ ca: "abc" }), {
                spec: { template: { metadata: { annotations: { "rancher-ha/cacerts-sha256": "abc" } } } },
            });
            assert.deepEqual(caRestartPatch({ ca: "abc", additional: "def" })!.spec, {
                template: { metadata: { annotations: { "rancher-ha/cacerts-sha256": "abc", "rancher-ha/ca-additional-sha256": "def" } } },
            });
        });

        it("ca-additional.pem: the bundle trimmed with one final newline; not PEM is refused", () => {
            assert.equal(additionalCasPem(`\n${CA_PEM}\n${CA_PEM}\n\n`), `${CA_PEM}\n${CA_PEM}\n`);
            assert.throws(() => additionalCasPem("nope"), /not a PEM certificate bundle/);
        });

        it("the checksum does not depend on trailing whitespace (Rancher appends a newline when there is none)", () => {
            assert.equal(caChecksum(CA_PEM), caChecksum(`${CA_PEM}\n`));
            assert.notEqual(caChecksum(CA_PEM), caChecksum(CA_PEM.replace("MIIBeT", "MIIBeS")), "another CA, another checksum");
            assert.match(caChecksum(CA_PEM), /^[0-9a-f]{64}$/);
        });

        it("equals sha256sum of the cacerts.pem file we write (what agents compare against)", function () {
            requireTool(this, toolMissing("sha256sum"));
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-ca-"));
            try {
                const file = path.join(dir, "cacerts.pem");
                fs.writeFileSync(file, cacertsPem(CA_PEM));
                const out = execFileSync("sha256sum", [file], { encoding: "utf8" }).split(/\s+/)[0];
                assert.equal(caChecksum(CA_PEM), out);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });

    describe("bootstrap password from stored key material", () => {
        const keyA = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ0aXq6s1m0a7cUe1c3m8bC1o0y5n4r3p2q1w0e9r8t7\n-----END PRIVATE KEY-----\n";
        const keyB = keyA.replace("J0a", "J0b");

        it("is stable for the same key (so it survives every later run) and differs between keys", () => {
            assert.equal(bootstrapPasswordFrom(keyA), bootstrapPasswordFrom(keyA));
            assert.notEqual(bootstrapPasswordFrom(keyA), bootstrapPasswordFrom(keyB));
        });

        it("is 24 URL-safe characters (over Rancher's 12-character minimum) and not the key itself", () => {
            const p = bootstrapPasswordFrom(keyA);
            assert.match(p, /^[A-Za-z0-9_-]{24}$/);
            assert.ok(!keyA.includes(p));
        });

        it("refuses material too short to be a key", () => {
            assert.throws(() => bootstrapPasswordFrom("short"), /too short/);
        });
    });
});
