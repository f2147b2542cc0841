// rancher (+ the secret bootstrapPassword): replicas and chart channel.
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS, NodeSettings, RancherSettings } from "../types";
import { ConfigReader } from "../reader";

export function parseRancher(r: ConfigReader, raw: Record<string, unknown>, nodes: NodeSettings[]): RancherSettings {
    const o = r.obj(raw, "rancher");
    const workers = nodes.filter(n => n.roles.includes("worker")).length;
    const replicas = r.int(o, "replicas", "rancher.replicas", 1, 50)
        ?? Math.max(1, Math.min(workers, DEFAULTS.maxReplicas));
    if (workers > 0 && replicas > workers) {
        r.warn(`rancher.replicas: ${replicas} replicas on ${workers} worker node(s); Rancher spreads ` +
            `replicas one per node, so some will stay Pending`);
    }
    const password = r.secretStr(raw, "bootstrapPassword");
    if (password !== undefined && password.length < 12) {
        r.err("bootstrapPassword", "must be at least 12 characters (Rancher's minimum); or unset it to have one generated");
    }
    return {
        replicas,
        chartRepo: r.enumOf(o, "chartRepo", ["stable", "latest", "alpha"] as const, "rancher.chartRepo") ?? "stable",
        bootstrapPassword: password === undefined ? undefined : pulumi.secret(password),
    };
}
