// cluster: name, network plugin, ingress and upgrade strategy of the RKE cluster.
import { ClusterSettings, DEFAULTS } from "../types";
import { ConfigReader } from "../reader";
import { isHostname } from "../names";

export function parseCluster(r: ConfigReader, raw: Record<string, unknown>): ClusterSettings {
    const o = r.obj(raw, "cluster");
    const name = r.str(o, "name", { key: "cluster.name" }) ?? DEFAULTS.clusterName;
    if (!isHostname(name) || name.includes(".")) {
        r.err("cluster.name", `"${name}" must be a DNS label (lower-case letters, digits, -)`);
    }
    const us = r.obj(o, "upgradeStrategy", "cluster.upgradeStrategy");
    const unavailable = (k: "maxUnavailableWorker" | "maxUnavailableControlplane", def: string) => {
        const v = us[k] === undefined ? def : String(us[k]);
        if (!/^\d+%?$/.test(v)) {
            r.err(`cluster.upgradeStrategy.${k}`, `"${v}" must be a count or a percentage, e.g. 1 or 10%`);
        }
        return v;
    };
    return {
        name,
        networkPlugin: r.enumOf(o, "networkPlugin", ["canal", "calico", "flannel", "weave", "none"] as const,
            "cluster.networkPlugin") ?? DEFAULTS.networkPlugin,
        ignoreDockerVersion: r.bool(o, "ignoreDockerVersion", "cluster.ignoreDockerVersion") ?? false,
        ingressProvider: r.enumOf(o, "ingressProvider", ["nginx", "none"] as const, "cluster.ingressProvider") ?? "nginx",
        upgradeStrategy: {
            maxUnavailableWorker: unavailable("maxUnavailableWorker", "10%"),
            maxUnavailableControlplane: unavailable("maxUnavailableControlplane", "1"),
            drain: r.bool(us, "drain", "cluster.upgradeStrategy.drain") ?? false,
        },
    };
}
