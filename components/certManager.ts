// Stage 3: cert-manager (seed §4), which issues Rancher's certificate in the `rancher` and `letsEncrypt` TLS modes.
// In `secret` mode the certificate is brought in as a Secret, so this stage installs nothing.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { PrivateRegistry, TlsSource } from "./config";
import {
    CERT_MANAGER_CHART_REPO, CERT_MANAGER_NAMESPACE, certManagerValues, dockerConfigJson, needsCertManager,
} from "./render/helmValues";

/** Name of the image pull secret created in each namespace when the private registry needs a login. */
export const REGISTRY_PULL_SECRET = "rancher-ha-registry";

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
        this.installed = needsCertManager(args.tlsSource);
        if (this.installed) {
            const childOpts = { parent: this, provider: args.provider };
            const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
                metadata: { name: CERT_MANAGER_NAMESPACE },
            }, childOpts);
            const registry = args.registry?.isDefault ? args.registry : undefined;
            const pullSecret = registryPullSecret(`${name}-registry`, CERT_MANAGER_NAMESPACE, registry, childOpts, namespace);
            this.release = new k8s.helm.v3.Release(name, {
                name: "cert-manager",
                chart: "cert-manager",
                version: args.version,
                repositoryOpts: { repo: CERT_MANAGER_CHART_REPO },
                namespace: namespace.metadata.name,
                createNamespace: false,
                values: certManagerValues({
                    version: args.version,
                    registry: registry?.url,
                    imagePullSecret: pullSecret ? REGISTRY_PULL_SECRET : undefined,
                }),
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

/**
 * A `kubernetes.io/dockerconfigjson` Secret for a private registry that needs a login, or undefined when the
 * registry is not used for this namespace or needs none. Shared with the Rancher stage.
 */
export function registryPullSecret(
    name: string, namespace: string, registry: PrivateRegistry | undefined,
    opts: pulumi.CustomResourceOptions, namespaceResource: pulumi.Resource,
): k8s.core.v1.Secret | undefined {
    if (!registry || registry.user === undefined || registry.password === undefined) {
        return undefined;
    }
    const user = registry.user;
    return new k8s.core.v1.Secret(name, {
        metadata: { name: REGISTRY_PULL_SECRET, namespace },
        type: "kubernetes.io/dockerconfigjson",
        stringData: {
            ".dockerconfigjson": pulumi.secret(registry.password.apply(p => dockerConfigJson(registry.url, user, p))),
        },
    }, { ...opts, dependsOn: [namespaceResource], deleteBeforeReplace: true });
}
