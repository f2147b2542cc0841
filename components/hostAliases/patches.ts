// hostAliases for Rancher and its agents (seed: rancher-ha-on-rke-with-nginx-lb §6): without internal DNS the
// pods cannot resolve the Rancher hostname, so `<ip> <hostname>` goes into their /etc/hosts.
//
// One body serves three appliers: Pulumi's DeploymentPatch (server-side apply), `kubectl apply --server-side`
// in the agent script, and `kubectl patch --local` in the tests. hostAliases is a list keyed by `ip` for both
// strategic merge and server-side apply, so our entry merges with any other alias instead of replacing them.
import * as net from "net";
import { RANCHER_NAMESPACE } from "../rancher/release";

export interface HostAlias {
    ip: string;
    hostnames: string[];
}

export type WorkloadKind = "Deployment" | "DaemonSet";

export interface Workload {
    kind: WorkloadKind;
    name: string;
    namespace: string;
}

/** The Rancher server deployment (created by the chart, so it exists once the release is ready). */
export const RANCHER_DEPLOYMENT: Workload = { kind: "Deployment", name: "rancher", namespace: RANCHER_NAMESPACE };
/** The agents Rancher itself deploys into a cluster it manages. */
export const CLUSTER_AGENT: Workload = { kind: "Deployment", name: "cattle-cluster-agent", namespace: RANCHER_NAMESPACE };
export const NODE_AGENT: Workload = { kind: "DaemonSet", name: "cattle-node-agent", namespace: RANCHER_NAMESPACE };

/** The alias entry; refuses what /etc/hosts cannot hold (a host name instead of an IP, an IP as hostname). */
export function hostAlias(ip: string, hostname: string): HostAlias {
    if (net.isIP(ip) === 0) {
        throw new Error(`hostAliases.ip: "${ip}" is not an IP address; set hostAliases.ip to the address ` +
            `${hostname || "the Rancher hostname"} should resolve to (the LB address is used only when it is an IP)`);
    }
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(hostname) || net.isIP(hostname) !== 0) {
        throw new Error(`hostAliases: "${hostname}" is not a host name`);
    }
    return { ip, hostnames: [hostname] };
}

/** The patch body: `{spec: {template: {spec: {hostAliases: [...]}}}}`, valid for a Deployment and a DaemonSet. */
export function hostAliasesPatch(ip: string, hostname: string) {
    return { spec: { template: { spec: { hostAliases: [hostAlias(ip, hostname)] } } } };
}

/**
 * A complete server-side apply configuration for `kubectl apply --server-side`: identity plus the patch body.
 * Only the fields listed here become owned by the field manager, so re-applying is a no-op and applying
 * `releaseConfiguration` later gives the alias back.
 */
export function hostAliasesApplyConfiguration(w: Workload, ip: string, hostname: string) {
    return {
        apiVersion: "apps/v1",
        kind: w.kind,
        metadata: { name: w.name, namespace: w.namespace },
        ...hostAliasesPatch(ip, hostname),
    };
}

/** The same identity with no fields: applied under the same field manager it removes the aliases we added. */
export function releaseConfiguration(w: Workload) {
    return { apiVersion: "apps/v1", kind: w.kind, metadata: { name: w.name, namespace: w.namespace } };
}
