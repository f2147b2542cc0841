// The Rancher release: chart, version and values, plus Rancher's private-CA contract (the tls-ca `cacerts.pem`
// text and the checksum agents compare it with) and the bootstrap password rule. Pure.
import * as crypto from "crypto";
import type { StackSettings, TlsSource } from "../config/types";
import { ChartRegistry, HelmReleaseSpec } from "../shared/helm";
import { sha256 } from "../shared/shell";

export const RANCHER_NAMESPACE = "cattle-system";
/** The Secrets Rancher's chart reads in secret TLS mode: the ingress certificate and the private CA. */
export const INGRESS_SECRET = "tls-rancher-ingress";
export const CA_SECRET = "tls-ca";
export const CA_SECRET_KEY = "cacerts.pem";

export type RancherChannel = "stable" | "latest" | "alpha";

/** The Rancher chart repository of a channel (the seed uses `stable`). */
export function rancherChartRepo(channel: RancherChannel): string {
    return `https://releases.rancher.com/server-charts/${channel}`;
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
