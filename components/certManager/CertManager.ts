// Stage 3: cert-manager (seed §4), which issues Rancher's certificate in the `rancher` and `letsEncrypt` TLS modes.
// In `secret` mode the certificate is brought in as a Secret, so this stage installs nothing.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ChartSources, PrivateRegistry, TlsSource } from "../config";
import { certManagerRelease } from "./release";
import { chartAuth, chartRegistry, helmReleaseArgs } from "../shared/helm";
import { registryPullSecret } from "../shared/RegistryPullSecret";

export interface CertManagerArgs {
    /** jetstack/cert-manager chart version (`versions.certManager`, e.g. v1.15.3); also decides the CRD value. */
    version: string;
    /** tls.source: nothing is installed for `secret`. */
    tlsSource: TlsSource;
    /** The RKE cluster's kubernetes provider (server-side apply on, the @pulumi/kubernetes v4 default). */
    provider: k8s.Provider;
    /** privateRegistry; with `isDefault` every image comes from it, with a login a pull secret is made. Default: none. */
    registry?: PrivateRegistry;
    /** Seconds Helm waits for the deployments and the startup API check job. Default 600. */
    timeoutSeconds?: number;
    /** The operator's chart repositories (charts.certManager and its login). Default: https://charts.jetstack.io. */
    charts?: ChartSources;
}

/**
 * Wire the next stage with `dependsOn: [rke, certManager]`: in secret mode this component has no children, and
 * Pulumi resolves a dependency on a component to its children, so it alone would order nothing.
 */
export class CertManager extends pulumi.ComponentResource {
    /** False in `secret` TLS mode: then there is no namespace and no release. */
    readonly installed: boolean;
    /** The Helm release; done only once the webhook answers (startupapicheck). Undefined when not installed. */
    readonly release?: k8s.helm.v3.Release;

    constructor(name: string, args: CertManagerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:certManager:CertManager", name, {}, opts);
        const registry = chartRegistry(args.registry);
        const spec = certManagerRelease(args.version, args.tlsSource, registry, args.charts?.certManager);
        this.installed = spec !== undefined;
        if (spec) {
            const childOpts = { parent: this, provider: args.provider };
            const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
                metadata: { name: spec.namespace },
            }, childOpts);
            const pullSecret = registryPullSecret(`${name}-registry`, spec.namespace, registry, args.registry, childOpts, namespace);
            this.release = new k8s.helm.v3.Release(name, {
                ...helmReleaseArgs(spec, namespace.metadata.name, chartAuth(args.charts)),
                values: spec.values,
                // Wait for the deployments and the post-install startupapicheck job, which succeeds only when the
                // webhook admits cert-manager resources: Rancher's chart creates an Issuer right after.
                skipAwait: false,
                waitForJobs: true,
                timeout: args.timeoutSeconds ?? 600,
            }, { ...childOpts, dependsOn: pullSecret ? [namespace, pullSecret] : [namespace] });
        }
        this.registerOutputs({ installed: this.installed, release: this.release });
    }
}
