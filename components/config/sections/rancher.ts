// rancher (+ the secrets bootstrapPassword, additionalTrustedCas): replicas, chart channel, and the chart values a
// careful operator sets (anti-affinity, ingress class, audit log, post-delete hook, extra trusted CAs).
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS, NodeSettings, RancherChannel, RancherSettings } from "../types";
import { rancherChannelFor } from "../compatibility";
import { ConfigReader } from "../reader";
import { shown } from "../names";
import { versionAtLeast } from "../../shared/helm";

export function parseRancher(r: ConfigReader, raw: Record<string, unknown>, nodes: NodeSettings[],
    defaultIngressClass: string = DEFAULTS.rancher.nginxIngressClass, rancherVersion: string = DEFAULTS.versions.rancher): RancherSettings {
    const o = r.obj(raw, "rancher");
    const workers = nodes.filter(n => n.roles.includes("worker")).length;
    const replicas = r.int(o, "replicas", "rancher.replicas", 1, 50)
        ?? Math.max(1, Math.min(workers, DEFAULTS.maxReplicas));
    const antiAffinity = r.enumOf(o, "antiAffinity", ["preferred", "required"] as const, "rancher.antiAffinity")
        ?? DEFAULTS.rancher.antiAffinity;
    if (workers > 0 && replicas > workers) {
        if (antiAffinity === "required") {
            r.err("rancher.antiAffinity", `required allows one Rancher pod per node, but rancher.replicas is ${replicas} ` +
                `on ${workers} worker node(s), so ${replicas - workers} would stay Pending; set rancher.replicas to at most ` +
                `${workers}, add worker nodes, or set rancher.antiAffinity: preferred`);
        } else {
            r.warn(`rancher.replicas: ${replicas} replicas on ${workers} worker node(s); with rancher.antiAffinity ` +
                `preferred the scheduler puts the extra replicas on nodes that already run one, so losing one node takes ` +
                `down more than one replica; set rancher.replicas to ${workers} or add worker nodes`);
        }
    }
    const password = r.secretStr(raw, "bootstrapPassword");
    if (password !== undefined && password.length < 12) {
        r.err("bootstrapPassword", "must be at least 12 characters (Rancher's minimum); or unset it to have one generated");
    }

    // The cluster section owns ingressProvider and reports a bad value; here only "none" matters. Read untracked.
    const cluster = raw.cluster;
    const ingressProvider = typeof cluster === "object" && cluster !== null
        ? (cluster as Record<string, unknown>).ingressProvider : undefined;
    const givenClass = r.str(o, "ingressClassName", { key: "rancher.ingressClassName" });
    if (givenClass !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(givenClass)) {
        r.err("rancher.ingressClassName", `${shown(givenClass)} is not an IngressClass name (a lower-case DNS name, e.g. nginx)`);
    }
    if (ingressProvider === "none" && givenClass === undefined) {
        r.err("rancher.ingressClassName", "required when cluster.ingressProvider is none: the cluster then has no " +
            "ingress controller of its own, so name the IngressClass of the one you run (`kubectl get ingressclass`), " +
            "which serves Rancher's Ingress and the Let's Encrypt http-01 solver");
    }

    const auditLogLevel = r.int(o, "auditLogLevel", "rancher.auditLogLevel", 0, 3);
    if (auditLogLevel === 0 && !atLeast(rancherVersion, "2.12.0")) {
        r.warn("rancher.auditLogLevel: 0 turns the audit log off before Rancher 2.12 (level 0 only means " +
            "\"metadata\" once the chart has auditLog.enabled); set 1 to log request metadata and headers");
    }

    const additionalCas = r.secretStr(raw, "additionalTrustedCas");
    if (additionalCas !== undefined && !additionalCas.includes("-----BEGIN CERTIFICATE-----")) {
        r.err("additionalTrustedCas", "is not a PEM certificate bundle (expected -----BEGIN CERTIFICATE-----); set it with " +
            "`pulumi config set --secret additionalTrustedCas < private-cas.pem`");
    }
    return {
        replicas,
        chartRepo: chartChannel(r, o, rancherVersion),
        bootstrapPassword: password === undefined ? undefined : pulumi.secret(password),
        antiAffinity,
        ingressClassName: givenClass ?? defaultIngressClass,
        includeDefaultExtraAnnotations: r.bool(o, "includeDefaultExtraAnnotations", "rancher.includeDefaultExtraAnnotations")
            ?? DEFAULTS.rancher.includeDefaultExtraAnnotations,
        systemRegistryInheritsPullSecrets: r.bool(o, "systemRegistryInheritsPullSecrets", "rancher.systemRegistryInheritsPullSecrets")
            ?? DEFAULTS.rancher.systemRegistryInheritsPullSecrets,
        auditLogLevel,
        postDeleteIgnoreTimeoutError: r.bool(o, "postDeleteIgnoreTimeoutError", "rancher.postDeleteIgnoreTimeoutError")
            ?? DEFAULTS.rancher.postDeleteIgnoreTimeoutError,
        additionalTrustedCas: additionalCas === undefined ? undefined : pulumi.secret(additionalCas),
    };
}

/** rancher.chartRepo, or the channel that has versions.rancher (Prime-only patches come from Rancher Prime). */
function chartChannel(r: ConfigReader, o: Record<string, unknown>, rancherVersion: string): RancherChannel {
    const given = r.enumOf(o, "chartRepo", ["stable", "latest", "alpha", "prime"] as const, "rancher.chartRepo");
    const choice = rancherChannelFor(rancherVersion, given);
    if (choice.error !== undefined) {
        r.problem(choice.error);
    }
    if (choice.note !== undefined) {
        r.warn(choice.note);
    }
    return choice.channel;
}

/** versionAtLeast for a value the versions section validates (and reports) itself: a bad one counts as new. */
function atLeast(version: string, min: string): boolean {
    try {
        return versionAtLeast(version, min);
    } catch {
        return true;
    }
}
