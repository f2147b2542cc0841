// RKE2's CoreDNS with a `hosts` block for the Rancher hostname: pods resolve it without internal DNS (the
// `rancher` deployment's hostAliases cover Rancher itself; this covers every other pod, e.g. a webhook or an
// app calling Rancher's API). Pure.
//
// RKE2 installs CoreDNS from its rke2-coredns chart and takes value overrides from a HelmChartConfig of the same
// name (helm.cattle.io/v1). Helm replaces lists whole, so `servers` is the chart's default server block
// (rke2-charts packages/rke2-coredns: the upstream coredns chart's defaults, unpatched by RKE2) with one plugin
// more. An RKE2 release whose chart changes that default block needs this list updated.
import * as yaml from "js-yaml";
import { hostAlias } from "./patches";

/** The HelmChartConfig's name and namespace: RKE2 matches it to its bundled chart by name. */
export const RKE2_COREDNS_CHART = { name: "rke2-coredns", namespace: "kube-system" } as const;

/** `servers` of the rke2-coredns values: the chart's default block plus `hosts` for the given names. */
export function coreDnsServersWithHosts(entries: { ip: string; hostnames: string[] }[]): unknown[] {
    const lines = entries.map(e => `${e.ip} ${e.hostnames.join(" ")}`);
    return [{
        zones: [{ zone: "." }],
        port: 53,
        plugins: [
            { name: "errors" },
            { name: "health", configBlock: "lameduck 5s" },
            { name: "ready" },
            // Before kubernetes and forward in the block; CoreDNS orders plugins itself, fallthrough hands every
            // other name on.
            { name: "hosts", configBlock: [...lines, "fallthrough"].join("\n") },
            { name: "kubernetes", parameters: "cluster.local in-addr.arpa ip6.arpa", configBlock: "pods insecure\nfallthrough in-addr.arpa ip6.arpa\nttl 30" },
            { name: "prometheus", parameters: "0.0.0.0:9153" },
            { name: "forward", parameters: ". /etc/resolv.conf" },
            { name: "cache", parameters: 30 },
            { name: "loop" },
            { name: "reload" },
            { name: "loadbalance" },
        ],
    }];
}

/** The HelmChartConfig manifest (apiVersion, kind, metadata, spec.valuesContent) resolving `hostname` to `ip`. */
export function rke2CoreDnsHostsConfig(ip: string, hostname: string): Record<string, unknown> {
    hostAlias(ip, hostname); // refuses a bad IP or name, as the deployment patch does
    return {
        apiVersion: "helm.cattle.io/v1",
        kind: "HelmChartConfig",
        metadata: { name: RKE2_COREDNS_CHART.name, namespace: RKE2_COREDNS_CHART.namespace },
        spec: {
            valuesContent: yaml.dump({ servers: coreDnsServersWithHosts([{ ip, hostnames: [hostname] }]) },
                { lineWidth: -1, noRefs: true, sortKeys: false }),
        },
    };
}
