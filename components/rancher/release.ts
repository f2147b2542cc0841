// The Rancher release: chart, version and values, plus Rancher's private-CA contract (the tls-ca `cacerts.pem`
// text and the checksum agents compare it with) and the bootstrap password rule. Pure.
import * as crypto from "crypto";
import type { RancherChannel, StackSettings, TlsSource } from "../config/types";
import { chartFrom, ChartRegistry, HelmReleaseSpec, versionAtLeast } from "../shared/helm";
import { sha256 } from "../shared/shell";

export const RANCHER_NAMESPACE = "cattle-system";
/** The Secrets Rancher's chart reads in secret TLS mode: the ingress certificate and the private CA. */
export const INGRESS_SECRET = "tls-rancher-ingress";
export const CA_SECRET = "tls-ca";
export const CA_SECRET_KEY = "cacerts.pem";
/** The Secret the chart mounts with `additionalTrustedCAs: true` (registry, S3, proxy CAs), and its key. */
export const ADDITIONAL_CA_SECRET = "tls-ca-additional";
export const ADDITIONAL_CA_SECRET_KEY = "ca-additional.pem";
/** The chart's deployment (the release name is its fullname). */
export const RANCHER_DEPLOYMENT_NAME = "rancher";

/** Rancher Prime's chart repository; its images are on PRIME_REGISTRY. */
export const PRIME_CHART_REPO = "https://charts.rancher.com/server-charts/prime";
/** Where Rancher Prime's images are (the community images stop at a line's last community patch, rancher#49334). */
export const PRIME_REGISTRY = "registry.rancher.com";

/** The Rancher chart repository of a channel (the seed uses `stable`). */
export function rancherChartRepo(channel: RancherChannel): string {
    return channel === "prime" ? PRIME_CHART_REPO : `https://releases.rancher.com/server-charts/${channel}`;
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
    /** Chart version (versions.rancher): decides which keys the chart knows. */
    version: string;
    /** IngressClass of the Rancher Ingress and of the ACME http-01 solver (RKE's ingress-nginx: `nginx`). Default nginx. */
    ingressClass?: string;
    /** `preferred` (the chart's default) or `required`. Default preferred. */
    antiAffinity?: "preferred" | "required";
    /** The ingress-nginx timeouts on the Ingress (chart default true until 2.13, false from 2.14). Default true. */
    includeDefaultExtraAnnotations?: boolean;
    /** 2.15+, with imagePullSecret: the pull secret also serves system images. Default true. */
    systemRegistryInheritsPullSecrets?: boolean;
    /** API audit log level 0-3; undefined: off. */
    auditLogLevel?: number;
    /** postDelete.ignoreTimeoutError. Default true. */
    postDeleteIgnoreTimeoutError?: boolean;
    /** The tls-ca-additional Secret exists: Rancher trusts those CAs too. Default false. */
    additionalTrustedCas?: boolean;
    /** Air-gapped: Rancher uses the system charts bundled in its image instead of fetching them. Default false. */
    useBundledSystemChart?: boolean;
}

export function rancherValues(input: RancherValuesInput): Record<string, unknown> {
    if (input.tlsSource === "letsEncrypt" && !input.letsEncryptEmail) {
        throw new Error("rancherValues: letsEncrypt needs an e-mail (tls.letsEncryptEmail)");
    }
    if (input.privateCa && input.tlsSource !== "secret") {
        throw new Error(`rancherValues: privateCA only applies to tls.source secret (it is ${input.tlsSource})`);
    }
    const ingressClass = input.ingressClass ?? "nginx";
    // Every key below is in the chart's values.yaml from 2.9.2 on unless gated by version (rancher/rancher
    // chart/values.yaml at v2.9.2 ... v2.15.0).
    const values: Record<string, unknown> = {
        hostname: input.hostname,
        replicas: input.replicas,
        bootstrapPassword: input.bootstrapPassword,
        antiAffinity: input.antiAffinity ?? "preferred",
        ingress: {
            // Empty in the chart: the Ingress would then rely on a default IngressClass the cluster may not have.
            ingressClassName: ingressClass,
            // The chart's default turned false in 2.14; true keeps ingress-nginx's 1800s read/send timeouts
            // that Rancher's websockets (kubectl shell, logs, watches) need.
            includeDefaultExtraAnnotations: input.includeDefaultExtraAnnotations ?? true,
            tls: { source: input.tlsSource },
        },
        privateCA: input.privateCa,
        // An app that outlives the hook's timeout must not fail `helm uninstall` half-way.
        postDelete: { ignoreTimeoutError: input.postDeleteIgnoreTimeoutError ?? true },
    };
    if (input.additionalTrustedCas) {
        values.additionalTrustedCAs = true;
    }
    if (input.useBundledSystemChart) {
        values.useBundledSystemChart = true;
    }
    if (input.auditLogLevel !== undefined) {
        if (versionAtLeast(input.version, "2.12.0")) {
            // 2.12 added auditLog.enabled; level 0 then means "metadata only".
            values.auditLog = { enabled: true, level: input.auditLogLevel };
        } else if (input.auditLogLevel > 0) {
            // Before 2.12 the level alone switches it on, and 0 is off.
            values.auditLog = { level: input.auditLogLevel };
        }
    }
    if (input.tlsSource === "letsEncrypt") {
        values.letsEncrypt = {
            email: input.letsEncryptEmail,
            environment: input.letsEncryptEnvironment ?? "production",
            ingress: { class: ingressClass },
        };
    }
    // Rancher 2.9 defaults agent-tls-mode to `strict`: agents then trust only the CA in the `cacerts` setting.
    // With a publicly trusted certificate there is none, so agents must use the system trust store instead.
    if (input.tlsSource === "letsEncrypt" || (input.tlsSource === "secret" && !input.privateCa)) {
        values.agentTLSMode = "system-store";
    }
    if (input.registry) {
        // 2.12.3 deprecated rancherImage: the image then comes from systemDefaultRegistry + image.repository.
        if (!versionAtLeast(input.version, "2.12.3")) {
            values.rancherImage = `${input.registry}/rancher/rancher`;
        }
        values.systemDefaultRegistry = input.registry;
    }
    if (input.imagePullSecret) {
        values.imagePullSecrets = [{ name: input.imagePullSecret }];
        if (input.registry && versionAtLeast(input.version, "2.15.0")) {
            // New in 2.15 (default false for upgrades): the local and downstream clusters pull system images
            // from systemDefaultRegistry with these pull secrets too.
            values.systemRegistryInheritsPullSecrets = input.systemRegistryInheritsPullSecrets ?? true;
        }
    }
    return values;
}

/** What Go's strings.TrimSpace removes: unicode.IsSpace (ASCII space, \t\n\v\f\r, U+0085, U+00A0, White_Space). */
const GO_SPACE = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const GO_TRIM = new RegExp(`^${GO_SPACE}+|${GO_SPACE}+$`, "g");

/** Go's strings.TrimSpace (JS's trim() differs: it also strips U+FEFF and keeps U+0085). */
export function goTrimSpace(s: string): string {
    return s.replace(GO_TRIM, "");
}

/**
 * The text stored as `cacerts.pem` in the tls-ca secret: the PEM trimmed at both ends as Rancher trims it
 * (pkg/tls/tls.go stores `strings.TrimSpace(ca)` as the `cacerts` setting), with one final newline.
 */
export function cacertsPem(caPem: string): string {
    const trimmed = goTrimSpace(caPem);
    if (!trimmed.includes("-----BEGIN CERTIFICATE-----")) {
        throw new Error("cacertsPem: not a PEM certificate (expected -----BEGIN CERTIFICATE-----)");
    }
    return `${trimmed}\n`;
}

/**
 * CATTLE_CA_CHECKSUM: sha256 hex of `TrimSpace(ca) + "\n"`, what agents compare (pkg/systemtemplate/import.go
 * CAChecksum hashes the `cacerts` setting, adding a newline when it lacks one, and the setting is TrimSpace'd).
 */
export function caChecksum(caPem: string): string {
    return sha256(cacertsPem(caPem));
}

/**
 * The text of `ca-additional.pem` in the tls-ca-additional secret: the bundle trimmed, one final newline.
 * Throws when it holds no PEM certificate.
 */
export function additionalCasPem(bundle: string): string {
    const trimmed = goTrimSpace(bundle);
    if (!trimmed.includes("-----BEGIN CERTIFICATE-----")) {
        throw new Error("additionalCasPem: not a PEM certificate bundle (expected -----BEGIN CERTIFICATE-----)");
    }
    return `${trimmed}\n`;
}

/** Pod-template annotations that hold the checksums of the CA files the rancher pods mount with subPath. */
export const CA_RESTART_ANNOTATIONS = {
    ca: "rancher-ha/cacerts-sha256",
    additional: "rancher-ha/ca-additional-sha256",
} as const;

/**
 * The patch of the `rancher` deployment that restarts its pods when a CA they trust changes. The chart mounts
 * `cacerts.pem` (tls-ca) and `ca-additional.pem` (tls-ca-additional) with subPath, and a subPath mount never
 * sees a Secret update: only a new pod does. The chart has no pod-template annotations value (deployment.yaml
 * v2.9.2 ... v2.15.0), so the checksums go on the template with a DeploymentPatch; a new checksum rolls the pods.
 * Undefined when there is no such CA.
 */
export function caRestartPatch(checksums: { ca?: string; additional?: string }): { spec: Record<string, unknown> } | undefined {
    const annotations: Record<string, string> = {};
    if (checksums.ca) {
        annotations[CA_RESTART_ANNOTATIONS.ca] = checksums.ca;
    }
    if (checksums.additional) {
        annotations[CA_RESTART_ANNOTATIONS.additional] = checksums.additional;
    }
    return Object.keys(annotations).length === 0 ? undefined
        : { spec: { template: { metadata: { annotations } } } };
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

export interface RancherReleaseInput {
    hostname: string;
    version: string;
    channel: RancherChannel;
    replicas: number;
    tls: { source: TlsSource; letsEncryptEmail?: string; letsEncryptEnvironment?: "production" | "staging"; privateCa: boolean };
    registry: ChartRegistry;
    /** The operator's repository for the chart (charts.rancher): wins over the channel's. */
    chartRepository?: string;
    /** The chart values from the rancher settings (see RancherValuesInput). */
    chart: Pick<RancherValuesInput, "ingressClass" | "antiAffinity" | "includeDefaultExtraAnnotations"
        | "systemRegistryInheritsPullSecrets" | "auditLogLevel" | "postDeleteIgnoreTimeoutError" | "additionalTrustedCas"
        | "useBundledSystemChart">;
}

/** The Rancher chart and release name, without the values (which hold the bootstrap password). */
export function rancherChart(input: RancherReleaseInput): Omit<HelmReleaseSpec, "values"> {
    return {
        name: "rancher", namespace: RANCHER_NAMESPACE,
        ...chartFrom(input.chartRepository ?? rancherChartRepo(input.channel), "rancher"),
        version: input.version,
    };
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
            // Prime images are on registry.rancher.com, unless the site mirrors them into its own registry.
            registry: input.registry.url ?? (input.channel === "prime" ? PRIME_REGISTRY : undefined),
            imagePullSecret: input.registry.pullSecret,
            version: input.version,
            ...input.chart,
        }),
    };
}

/** The Rancher release's inputs from the stack settings. */
export function rancherReleaseInput(
    s: Pick<StackSettings, "hostname" | "versions" | "tls" | "rancher"> & Partial<Pick<StackSettings, "charts" | "airGapped">>,
    registry: ChartRegistry,
): RancherReleaseInput {
    return {
        hostname: s.hostname, version: s.versions.rancher, channel: s.rancher.chartRepo, replicas: s.rancher.replicas,
        tls: {
            source: s.tls.source, letsEncryptEmail: s.tls.letsEncryptEmail,
            letsEncryptEnvironment: s.tls.letsEncryptEnvironment, privateCa: s.tls.privateCa,
        },
        registry,
        chartRepository: s.charts?.rancher,
        chart: {
            ingressClass: s.rancher.ingressClassName,
            antiAffinity: s.rancher.antiAffinity,
            includeDefaultExtraAnnotations: s.rancher.includeDefaultExtraAnnotations,
            systemRegistryInheritsPullSecrets: s.rancher.systemRegistryInheritsPullSecrets,
            auditLogLevel: s.rancher.auditLogLevel,
            postDeleteIgnoreTimeoutError: s.rancher.postDeleteIgnoreTimeoutError,
            additionalTrustedCas: s.rancher.additionalTrustedCas !== undefined,
            useBundledSystemChart: s.airGapped === true,
        },
    };
}
