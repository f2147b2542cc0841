// The cert-manager release: chart, version and values (CRDs, images from the private registry). Pure.
import type { TlsSource } from "../config/types";
import { chartFrom, ChartRegistry, HelmReleaseSpec, versionAtLeast } from "../shared/helm";

export const CERT_MANAGER_CHART_REPO = "https://charts.jetstack.io";
export const CERT_MANAGER_NAMESPACE = "cert-manager";

/**
 * How the cert-manager chart is told to install its CRDs. v1.15.0 introduced `crds.enabled`/`crds.keep` and
 * deprecated `installCRDs` (still honoured there, but older charts know only `installCRDs`). `keep` adds
 * `helm.sh/resource-policy: keep`, so uninstalling the release never garbage-collects every Certificate.
 */
export function certManagerCrdValues(version: string): Record<string, unknown> {
    return versionAtLeast(version, "v1.15.0")
        ? { crds: { enabled: true, keep: true } }
        : { installCRDs: true };
}

/**
 * cert-manager's images, as Rancher's air-gap guide mirrors them (`<registry>/quay.io/jetstack/...`). The startup
 * API check job ran the `cert-manager-ctl` image up to v1.13.x; v1.14.0 gave it its own `cert-manager-startupapicheck`
 * image (the charts' values.yaml `startupapicheck.image.repository` at v1.13.6 and v1.14.0).
 */
export function certManagerImages(version: string): [path: string[], image: string][] {
    return [
        [["image"], "cert-manager-controller"],
        [["webhook", "image"], "cert-manager-webhook"],
        [["cainjector", "image"], "cert-manager-cainjector"],
        [["acmesolver", "image"], "cert-manager-acmesolver"],
        [["startupapicheck", "image"], versionAtLeast(version, "v1.14.0") ? "cert-manager-startupapicheck" : "cert-manager-ctl"],
    ];
}

export interface CertManagerValuesInput {
    /** Chart version, e.g. v1.15.3: decides the CRD value and the startup API check's image. */
    version: string;
    /** Pull every image from this registry host[:port] (privateRegistry with isDefault). */
    registry?: string;
    /** Name of a dockerconfigjson Secret in the namespace, for a registry that needs a login. */
    imagePullSecret?: string;
}

export function certManagerValues(input: CertManagerValuesInput): Record<string, unknown> {
    const values: Record<string, any> = {
        ...certManagerCrdValues(input.version),
        // The post-install job that only succeeds once the webhook answers: Helm's wait then means
        // "cert-manager can admit Issuers", which is what Rancher's chart needs next.
        startupapicheck: { enabled: true },
    };
    if (input.registry) {
        for (const [path, image] of certManagerImages(input.version)) {
            let node = values;
            for (const key of path) {
                node = node[key] = node[key] ?? {};
            }
            node.repository = `${input.registry}/quay.io/jetstack/${image}`;
        }
    }
    if (input.imagePullSecret) {
        values.global = { imagePullSecrets: [{ name: input.imagePullSecret }] };
    }
    return values;
}

/** cert-manager issues Rancher's certificate in `rancher` and `letsEncrypt` modes; `secret` brings its own. */
export function needsCertManager(source: TlsSource): boolean {
    return source !== "secret";
}

/** The cert-manager release, or undefined when the TLS source needs none. */
export function certManagerRelease(version: string, tlsSource: TlsSource, registry: ChartRegistry,
    chartRepository: string = CERT_MANAGER_CHART_REPO): HelmReleaseSpec | undefined {
    if (!needsCertManager(tlsSource)) {
        return undefined;
    }
    return {
        name: "cert-manager", namespace: CERT_MANAGER_NAMESPACE, ...chartFrom(chartRepository, "cert-manager"),
        version, values: certManagerValues({ version, registry: registry.url, imagePullSecret: registry.pullSecret }),
    };
}
