// cluster: name, network plugin, ingress and upgrade strategy of the RKE cluster.
import { ClusterSettings, DEFAULTS } from "../types";
import { ConfigReader } from "../reader";
import { isHostname, shown } from "../names";

export function parseCluster(r: ConfigReader, raw: Record<string, unknown>): ClusterSettings {
    const o = r.obj(raw, "cluster");
    const name = r.str(o, "name", { key: "cluster.name" }) ?? DEFAULTS.clusterName;
    if (!isHostname(name) || name.includes(".") || name !== name.toLowerCase()) {
        r.err("cluster.name", `${shown(name)} must be a DNS label (lower-case letters, digits, -), e.g. ${DEFAULTS.clusterName}`);
    }
    const us = r.obj(o, "upgradeStrategy", "cluster.upgradeStrategy");
    const unavailable = (k: "maxUnavailableWorker" | "maxUnavailableControlplane", def: string) => {
        const given = us[k];
        const v = given === undefined ? def : typeof given === "string" || typeof given === "number" ? String(given) : "";
        if (!/^\d+%?$/.test(v) || (v.endsWith("%") && Number(v.slice(0, -1)) > 100)) {
            r.err(`cluster.upgradeStrategy.${k}`, `${shown(given)} must be a count or a percentage up to 100%, e.g. 1 or 10%`);
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
