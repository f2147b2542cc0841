// Helm values for the cert-manager and Rancher charts, plus the pieces of Rancher's private-CA contract
// (the tls-ca `cacerts.pem` text and the checksum agents compare it with). Pure: settings in, plain objects out.
import type { StackSettings } from "../config";
import * as crypto from "crypto";
import { sha256 } from "./shell";

export const CERT_MANAGER_CHART_REPO = "https://charts.jetstack.io";
export const CERT_MANAGER_NAMESPACE = "cert-manager";
export const RANCHER_NAMESPACE = "cattle-system";
/** The Secrets Rancher's chart reads in secret TLS mode: the ingress certificate and the private CA. */
export const INGRESS_SECRET = "tls-rancher-ingress";
export const CA_SECRET = "tls-ca";
export const CA_SECRET_KEY = "cacerts.pem";

export type RancherChannel = "stable" | "latest" | "alpha";
export type TlsSource = "rancher" | "letsEncrypt" | "secret";

/** The Rancher chart repository of a channel (the seed uses `stable`). */
export function rancherChartRepo(channel: RancherChannel): string {
    return `https://releases.rancher.com/server-charts/${channel}`;
}

/** [major, minor, patch] of a chart version such as `v1.15.3`, `2.9.2` or `v1.16.0-alpha.1` (pre-release ignored). */
export function parseVersion(version: string): [number, number, number] {
    const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$/.exec(version.trim());
    if (!m) {
        throw new Error(`"${version}" is not a chart version (expected e.g. v1.15.3 or 2.9.2)`);
    }
    return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** True when `version` >= `min` (both chart versions). */
export function versionAtLeast(version: string, min: string): boolean {
    const a = parseVersion(version);
    const b = parseVersion(min);
    for (let i = 0; i < 3; i++) {
        if (a[i] !== b[i]) {
            return a[i] > b[i];
        }
    }
    return true;
}

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

/** cert-manager's images, as Rancher's air-gap guide mirrors them (`<registry>/quay.io/jetstack/...`). */
const CERT_MANAGER_IMAGES: [path: string[], image: string][] = [
    [["image"], "cert-manager-controller"],
    [["webhook", "image"], "cert-manager-webhook"],
    [["cainjector", "image"], "cert-manager-cainjector"],
    [["acmesolver", "image"], "cert-manager-acmesolver"],
    [["startupapicheck", "image"], "cert-manager-startupapicheck"],
];

export interface CertManagerValuesInput {
    /** Chart version, e.g. v1.15.3: decides the CRD value. */
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
        for (const [path, image] of CERT_MANAGER_IMAGES) {
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

export interface RancherValuesInput {
    hostname: string;
    replicas: number;
    tlsSource: TlsSource;
    letsEncryptEmail?: string;
    letsEncryptEnvironment?: "production" | "staging";
    /** secret mode with a private CA: Rancher reads it from the tls-ca secret and agents pin it. */
    privateCa: boolean;
    /** The first admin password (a secret: the caller keeps the result secret). */
    bootstrapPassword: string;
    /** Pull Rancher and every system image from this registry host[:port]. */
    registry?: string;
    /** Name of a dockerconfigjson Secret in cattle-system, for a registry that needs a login. */
    imagePullSecret?: string;
    /** Ingress class of the cluster's ingress controller, for the ACME http-01 solver (RKE's is `nginx`). */
    ingressClass?: string;
}

export function rancherValues(input: RancherValuesInput): Record<string, unknown> {
    if (input.tlsSource === "letsEncrypt" && !input.letsEncryptEmail) {
        throw new Error("rancherValues: letsEncrypt needs an e-mail (tls.letsEncryptEmail)");
    }
    if (input.privateCa && input.tlsSource !== "secret") {
        throw new Error(`rancherValues: privateCA only applies to tls.source secret (it is ${input.tlsSource})`);
    }
    const values: Record<string, unknown> = {
        hostname: input.hostname,
        replicas: input.replicas,
        bootstrapPassword: input.bootstrapPassword,
        ingress: { tls: { source: input.tlsSource } },
        privateCA: input.privateCa,
    };
    if (input.tlsSource === "letsEncrypt") {
        values.letsEncrypt = {
            email: input.letsEncryptEmail,
            environment: input.letsEncryptEnvironment ?? "production",
            ingress: { class: input.ingressClass ?? "nginx" },
        };
    }
    // Rancher 2.9 defaults agent-tls-mode to `strict`: agents then trust only the CA in the `cacerts` setting.
    // With a publicly trusted certificate there is none, so agents must use the system trust store instead.
    if (input.tlsSource === "letsEncrypt" || (input.tlsSource === "secret" && !input.privateCa)) {
        values.agentTLSMode = "system-store";
    }
    if (input.registry) {
        values.rancherImage = `${input.registry}/rancher/rancher`;
        values.systemDefaultRegistry = input.registry;
    }
    if (input.imagePullSecret) {
        values.imagePullSecrets = [{ name: input.imagePullSecret }];
    }
    return values;
}

/**
 * The text stored as `cacerts.pem` in the tls-ca secret: the PEM with trailing whitespace trimmed and exactly
 * one final newline. Rancher appends a newline before hashing when there is none, so normalising here keeps
 * what Rancher serves and what we export byte-identical.
 */
export function cacertsPem(caPem: string): string {
    const trimmed = caPem.replace(/\s+$/, "");
    if (!trimmed.includes("-----BEGIN CERTIFICATE-----")) {
        throw new Error("cacertsPem: not a PEM certificate (expected -----BEGIN CERTIFICATE-----)");
    }
    return `${trimmed}\n`;
}

/** CATTLE_CA_CHECKSUM: sha256 hex of the CA text exactly as Rancher holds it (see cacertsPem). */
export function caChecksum(caPem: string): string {
    return sha256(cacertsPem(caPem));
}

/**
 * A bootstrap password derived from random key material that Pulumi generated once and keeps in state (a
 * @pulumi/tls PrivateKey): stable across runs, unguessable, 24 characters of base64url (144 bits).
 * The prefix separates this use of the key from any other.
 */
export function bootstrapPasswordFrom(keyMaterial: string): string {
    if (keyMaterial.length < 32) {
        throw new Error("bootstrapPasswordFrom: key material too short");
    }
    return crypto.createHash("sha256").update(`rancher-ha bootstrap password\n${keyMaterial}`, "utf8")
        .digest("base64url").slice(0, 24);
}

/** cert-manager issues Rancher's certificate in `rancher` and `letsEncrypt` modes; `secret` brings its own. */
export function needsCertManager(source: TlsSource): boolean {
    return source !== "secret";
}

/** `.dockerconfigjson` of an image pull secret for a registry login (secret: the caller keeps it secret). */
export function dockerConfigJson(registry: string, user: string, password: string): string {
    const auth = Buffer.from(`${user}:${password}`, "utf8").toString("base64");
    return JSON.stringify({ auths: { [registry]: { username: user, password, auth } } });
}

/** Name of the image pull secret created in each namespace when the private registry needs a login. */
export const REGISTRY_PULL_SECRET = "rancher-ha-registry";

/** What the charts pull images from: only a default private registry is used, and a login gets a pull secret. */
export interface ChartRegistry {
    /** Registry host[:port], when privateRegistry.isDefault. */
    url?: string;
    /** The pull secret's name, when that registry needs a login. */
    pullSecret?: string;
}

export function chartRegistry(registry?: { url: string; user?: string; password?: unknown; isDefault: boolean }): ChartRegistry {
    const r = registry?.isDefault ? registry : undefined;
    const login = r !== undefined && r.user !== undefined && r.password !== undefined;
    return { url: r?.url, pullSecret: login ? REGISTRY_PULL_SECRET : undefined };
}

/** One Helm release as a stage installs it (the components and the review render share these). */
export interface HelmReleaseSpec {
    /** Release name; also the chart's fullname, which names its workloads. */
    name: string;
    namespace: string;
    chart: string;
    repo: string;
    version: string;
    values: Record<string, unknown>;
}

/** The fields of a helm.v3.Release that install `chart` into an existing namespace (values are added by the caller). */
export function helmReleaseArgs<Namespace>(chart: Omit<HelmReleaseSpec, "values">, namespace: Namespace) {
    return {
        name: chart.name, chart: chart.chart, version: chart.version, repositoryOpts: { repo: chart.repo },
        namespace, createNamespace: false,
    };
}

/** The cert-manager release, or undefined when the TLS source needs none. */
export function certManagerRelease(version: string, tlsSource: TlsSource, registry: ChartRegistry): HelmReleaseSpec | undefined {
    if (!needsCertManager(tlsSource)) {
        return undefined;
    }
    return {
        name: "cert-manager", namespace: CERT_MANAGER_NAMESPACE, chart: "cert-manager", repo: CERT_MANAGER_CHART_REPO,
        version, values: certManagerValues({ version, registry: registry.url, imagePullSecret: registry.pullSecret }),
    };
}

export interface RancherReleaseInput {
    hostname: string;
    version: string;
    channel: RancherChannel;
    replicas: number;
    tls: { source: TlsSource; letsEncryptEmail?: string; letsEncryptEnvironment?: "production" | "staging"; privateCa: boolean };
    registry: ChartRegistry;
}

/** The Rancher chart and release name, without the values (which hold the bootstrap password). */
export function rancherChart(input: RancherReleaseInput): Omit<HelmReleaseSpec, "values"> {
    return { name: "rancher", namespace: RANCHER_NAMESPACE, chart: "rancher", repo: rancherChartRepo(input.channel), version: input.version };
}

/** The Rancher release; the values hold the bootstrap password, so the caller keeps them secret. */
export function rancherRelease(input: RancherReleaseInput, bootstrapPassword: string): HelmReleaseSpec {
    return {
        ...rancherChart(input),
        values: rancherValues({
            hostname: input.hostname,
            replicas: input.replicas,
            tlsSource: input.tls.source,
            letsEncryptEmail: input.tls.letsEncryptEmail,
            letsEncryptEnvironment: input.tls.letsEncryptEnvironment,
            privateCa: input.tls.privateCa,
            bootstrapPassword,
            registry: input.registry.url,
            imagePullSecret: input.registry.pullSecret,
        }),
    };
}

/** The Rancher release's inputs from the stack settings. */
export function rancherReleaseInput(
    s: Pick<StackSettings, "hostname" | "versions" | "tls" | "rancher">, registry: ChartRegistry,
): RancherReleaseInput {
    return {
        hostname: s.hostname, version: s.versions.rancher, channel: s.rancher.chartRepo, replicas: s.rancher.replicas,
        tls: {
            source: s.tls.source, letsEncryptEmail: s.tls.letsEncryptEmail,
            letsEncryptEnvironment: s.tls.letsEncryptEnvironment, privateCa: s.tls.privateCa,
        },
        registry,
    };
}
