// The kubeconfig RKE writes points at the first controlplane node (https://<address>:6443, pki/kubeconfig.go).
// Clients should go through the load balancer instead, so one node going down does not take the API with it.
import * as yaml from "js-yaml";
import * as net from "net";

/** https://host:port, with IPv6 addresses in brackets. */
export function kubeApiServerUrl(host: string, port = 6443): string {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error(`kubeApiServerUrl: bad port ${port}`);
    }
    return `https://${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

interface KubeconfigDoc {
    clusters?: { name?: string; cluster?: { server?: string } }[];
}

/**
 * Returns the kubeconfig with every cluster's server set to `server`; everything else (CA, client certificate,
 * contexts) is kept. Throws when the text is not a kubeconfig with at least one cluster.
 */
export function pointKubeconfigAt(kubeconfig: string, server: string): string {
    const doc = yaml.load(kubeconfig) as KubeconfigDoc | undefined;
    if (!doc || typeof doc !== "object" || !Array.isArray(doc.clusters) || doc.clusters.length === 0) {
        throw new Error("not a kubeconfig: no clusters[] entry to point at the load balancer");
    }
    for (const c of doc.clusters) {
        if (!c.cluster || typeof c.cluster !== "object") {
            throw new Error(`kubeconfig cluster "${c.name ?? "?"}" has no cluster section`);
        }
        c.cluster.server = server;
    }
    return yaml.dump(doc, { lineWidth: -1, noRefs: true, sortKeys: false });
}

/** The server of the current context's cluster (the first cluster when there is no current context). */
export function kubeconfigServer(kubeconfig: string): string | undefined {
    const doc = yaml.load(kubeconfig) as (KubeconfigDoc & {
        "current-context"?: string;
        contexts?: { name?: string; context?: { cluster?: string } }[];
    }) | undefined;
    const ctx = doc?.contexts?.find(c => c.name === doc["current-context"]);
    const cluster = doc?.clusters?.find(c => c.name === ctx?.context?.cluster) ?? doc?.clusters?.[0];
    return cluster?.cluster?.server;
}

/**
 * The kubernetes Provider's clusterIdentifier for a stack's cluster: it names the cluster, not how it is reached, so
 * a changed kubeconfig (LB address, port, rotated certificates) updates the provider instead of replacing it.
 */
export function clusterIdentifier(project: string, stack: string, distribution: string): string {
    return `rancher-ha/${project}/${stack}/${distribution}`;
}
