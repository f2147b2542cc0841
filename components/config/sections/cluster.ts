// cluster: name, network plugin, ingress and upgrade strategy of the RKE cluster.
import { ClusterSettings, DEFAULTS, Distribution } from "../types";
import { versionParts } from "../compatibility";
import { ConfigReader } from "../reader";
import { isHostname, shown } from "../names";

/** Network plugins each distribution ships (RKE: cluster.yml network.plugin; RKE2: pkg/cli/types.go CNIItems). */
export const NETWORK_PLUGINS = {
    rke: ["canal", "calico", "flannel", "weave", "none"] as const,
    rke2: ["canal", "calico", "cilium", "flannel", "none"] as const,
};

/** Ingress controllers each distribution ships (RKE2: IngressItems, traefik the default from v1.36). */
export const INGRESS_PROVIDERS = {
    rke: ["nginx", "none"] as const,
    rke2: ["nginx", "traefik", "none"] as const,
};

/** RKE2's own default ingress controller for a release: Traefik from v1.36 (rke2#9786), ingress-nginx before. */
export function rke2DefaultIngress(version: string): "nginx" | "traefik" {
    const p = versionParts(version);
    return p && (p[0] > 1 || p[1] >= 36) ? "traefik" : "nginx";
}

export function parseCluster(r: ConfigReader, raw: Record<string, unknown>, distribution: Distribution = "rke",
    kubernetesVersion = ""): ClusterSettings {
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
        networkPlugin: r.enumOf(o, "networkPlugin", NETWORK_PLUGINS[distribution], "cluster.networkPlugin") ?? DEFAULTS.networkPlugin,
        ignoreDockerVersion: r.bool(o, "ignoreDockerVersion", "cluster.ignoreDockerVersion") ?? false,
        ingressProvider: ingress(r, o, distribution, kubernetesVersion),
        upgradeStrategy: {
            maxUnavailableWorker: unavailable("maxUnavailableWorker", "10%"),
            maxUnavailableControlplane: unavailable("maxUnavailableControlplane", "1"),
            drain: r.bool(us, "drain", "cluster.upgradeStrategy.drain") ?? false,
        },
    };
}

function ingress(r: ConfigReader, o: Record<string, unknown>, distribution: Distribution, version: string): ClusterSettings["ingressProvider"] {
    const given = r.enumOf(o, "ingressProvider", INGRESS_PROVIDERS[distribution], "cluster.ingressProvider");
    if (given !== undefined || distribution === "rke") {
        return given ?? "nginx";
    }
    const d = rke2DefaultIngress(version);
    if (d === "traefik") {
        // Written explicitly into config.yaml: an upgrade from 1.35 must not switch a running cluster's controller.
        r.warn("cluster.ingressProvider: not set, so traefik (RKE2's default from v1.36) serves Rancher's Ingress; a " +
            "cluster created before v1.36 runs ingress-nginx: set cluster.ingressProvider: nginx for it before upgrading, " +
            "or set traefik to silence this");
    }
    return d;
}
