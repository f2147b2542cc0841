// Stage 4: the Rancher Helm chart into cattle-system (seed §5), with its TLS source, bootstrap password and
// private registry. The release is done when Rancher's deployment has rolled out.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as tls from "@pulumi/tls";
import { StackSettings } from "../config";
import { registryPullSecret } from "../shared/RegistryPullSecret";
import { RancherTls } from "./RancherTls";
import {
    ADDITIONAL_CA_SECRET, ADDITIONAL_CA_SECRET_KEY, additionalCasPem, bootstrapPasswordFrom, caRestartPatch, RANCHER_DEPLOYMENT_NAME,
    RANCHER_NAMESPACE, rancherChart, rancherRelease, rancherReleaseInput,
} from "./release";
import { chartAuth, chartRegistry, helmReleaseArgs } from "../shared/helm";
import { sha256 } from "../shared/shell";

export interface RancherArgs {
    /**
     * From the stack settings: hostname, versions.rancher, tls, rancher (replicas, chartRepo, bootstrapPassword, the
     * chart settings, additionalTrustedCas), privateRegistry.
     */
    settings: Pick<StackSettings, "hostname" | "versions" | "tls" | "rancher" | "privateRegistry"> & Partial<Pick<StackSettings, "charts" | "airGapped">>;
    /** The RKE cluster's kubernetes provider (server-side apply on, the @pulumi/kubernetes v4 default). */
    provider: k8s.Provider;
    /** Seconds Helm waits for Rancher's rollout (image pulls on fresh nodes take a while). Default 900. */
    timeoutSeconds?: number;
}

export class Rancher extends pulumi.ComponentResource {
    /** https://<hostname> */
    readonly url: pulumi.Output<string>;
    /** The first admin's password: the configured `bootstrapPassword`, else generated once and kept in state. */
    readonly bootstrapPassword: pulumi.Output<string>;
    /** CATTLE_CA_CHECKSUM for agents: set with a private CA (tls.source secret with tlsCaCert or generateCa). */
    readonly caChecksum: pulumi.Output<string | undefined>;
    readonly release: k8s.helm.v3.Release;
    /**
     * Restarts the rancher pods when a CA they mount with subPath changes (tls-ca, tls-ca-additional): undefined
     * without such a CA.
     */
    readonly caRestart?: k8s.apps.v1.DeploymentPatch;
    /** Rancher's CA when private (tls.source secret with a CA): what clients of Rancher's API must trust. */
    readonly caCertPem: pulumi.Output<string | undefined>;

    constructor(name: string, args: RancherArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:rancher:Rancher", name, {}, opts);
        const s = args.settings;
        const childOpts = { parent: this, provider: args.provider };

        const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
            metadata: { name: RANCHER_NAMESPACE },
        }, childOpts);

        this.bootstrapPassword = pulumi.secret(s.rancher.bootstrapPassword ?? this.generatedPassword(name));

        const prerequisites: pulumi.Resource[] = [namespace];
        let caChecksum: pulumi.Output<string | undefined> = pulumi.output(undefined);
        let caCertPem: pulumi.Output<string | undefined> = pulumi.output(undefined);
        if (s.tls.source === "secret") {
            const certs = new RancherTls(`${name}-tls`, {
                hostname: s.hostname, tls: s.tls, namespace, provider: args.provider,
            }, { parent: this });
            prerequisites.push(...certs.secrets);
            caChecksum = certs.caChecksum;
            caCertPem = certs.caCertPem;
        }
        this.caChecksum = caChecksum;
        this.caCertPem = caCertPem;

        let additionalChecksum: pulumi.Output<string | undefined> = pulumi.output(undefined);
        if (s.rancher.additionalTrustedCas !== undefined) {
            const bundle = s.rancher.additionalTrustedCas.apply(additionalCasPem);
            prerequisites.push(new k8s.core.v1.Secret(`${name}-additional-cas`, {
                metadata: { name: ADDITIONAL_CA_SECRET, namespace: namespace.metadata.name },
                type: "Opaque",
                stringData: { [ADDITIONAL_CA_SECRET_KEY]: bundle },
            }, { ...childOpts, dependsOn: [namespace], deleteBeforeReplace: true }));
            // Public CAs, read as a secret like every PEM setting; their hash says nothing about them.
            additionalChecksum = pulumi.unsecret(bundle.apply(sha256));
        }

        const registry = chartRegistry(s.privateRegistry);
        const pullSecret = registryPullSecret(`${name}-registry`, RANCHER_NAMESPACE, registry, s.privateRegistry, childOpts, namespace);
        if (pullSecret) {
            prerequisites.push(pullSecret);
        }

        const input = rancherReleaseInput(s, registry);
        const spec = rancherChart(input);
        this.release = new k8s.helm.v3.Release(name, {
            // The release name is the chart's fullname: it names the `rancher` deployment that hostAliases patch.
            ...helmReleaseArgs(spec, namespace.metadata.name, chartAuth(s.charts)),
            // Holds the bootstrap password.
            values: pulumi.secret(this.bootstrapPassword.apply(password => rancherRelease(input, password).values)),
            skipAwait: false,
            waitForJobs: true,
            timeout: args.timeoutSeconds ?? 900,
        }, { ...childOpts, dependsOn: prerequisites, additionalSecretOutputs: ["values"] });

        if (s.tls.privateCa || s.rancher.additionalTrustedCas !== undefined) {
            const timeout = args.timeoutSeconds ?? 900;
            this.caRestart = new k8s.apps.v1.DeploymentPatch(`${name}-ca-restart`, {
                metadata: { name: RANCHER_DEPLOYMENT_NAME, namespace: RANCHER_NAMESPACE },
                spec: pulumi.all([caChecksum, additionalChecksum]).apply(([ca, additional]) =>
                    caRestartPatch({ ca, additional })?.spec ?? {}),
            }, {
                ...childOpts, dependsOn: [this.release],
                // A new checksum rolls the pods; Pulumi waits for that rollout.
                customTimeouts: { create: `${Math.ceil(timeout / 60)}m`, update: `${Math.ceil(timeout / 60)}m` },
            });
        }

        this.url = pulumi.output(`https://${s.hostname}`);
        this.registerOutputs({
            url: this.url, bootstrapPassword: this.bootstrapPassword, caChecksum: this.caChecksum, release: this.release,
            caRestart: this.caRestart,
        });
    }

    /**
     * A password derived from an ED25519 key Pulumi generates once and keeps (encrypted) in state: the same on
     * every run, random across stacks, without another provider.
     */
    private generatedPassword(name: string): pulumi.Output<string> {
        const seed = new tls.PrivateKey(`${name}-bootstrap-seed`, { algorithm: "ED25519" }, {
            parent: this, additionalSecretOutputs: ["privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"],
        });
        return pulumi.secret(seed.privateKeyPem).apply(bootstrapPasswordFrom);
    }
}
