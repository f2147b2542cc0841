// Stage 5 on RKE2 (only with hostAliases.enabled): the Rancher hostname in the cluster's DNS, through a
// HelmChartConfig for RKE2's bundled CoreDNS chart (see coreDns.ts). RKE2's helm controller re-deploys CoreDNS
// with it; deleting it puts the chart's defaults back.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { rke2CoreDnsHostsConfig } from "./coreDns";

export interface ClusterDnsHostsArgs {
    /** The Rancher hostname. */
    hostname: string;
    /** The IP it resolves to (hostAliases.ip, default the LB address). */
    ip: pulumi.Input<string>;
    /** The RKE2 cluster's kubernetes provider. */
    provider: k8s.Provider;
}

export class ClusterDnsHosts extends pulumi.ComponentResource {
    readonly helmChartConfig: k8s.apiextensions.CustomResource;

    constructor(name: string, args: ClusterDnsHostsArgs, opts?: pulumi.ComponentResourceOptions) {
        if (typeof args.ip === "string") {
            rke2CoreDnsHostsConfig(args.ip, args.hostname); // a config mistake fails here, before anything is registered
        }
        super("rancher-ha:hostAliases:ClusterDnsHosts", name, {}, opts);
        const manifest = pulumi.output(args.ip).apply(ip => rke2CoreDnsHostsConfig(ip, args.hostname));
        this.helmChartConfig = new k8s.apiextensions.CustomResource(`${name}-coredns`, {
            apiVersion: "helm.cattle.io/v1",
            kind: "HelmChartConfig",
            metadata: { name: "rke2-coredns", namespace: "kube-system" },
            spec: manifest.apply(m => m.spec as Record<string, unknown>),
        }, { parent: this, provider: args.provider });
        this.registerOutputs({});
    }
}
