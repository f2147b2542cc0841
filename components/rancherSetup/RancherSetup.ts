// Stage 6 (rancherSetup / importedClusters): Rancher's first-run setup and the existing clusters it manages, through
// the rancher2 provider once the Rancher release is ready.
//
// Resource graph:
//   <name>-bootstrap-provider  rancher2 Provider in bootstrap mode (logs in with the bootstrap password)
//   <name>-admin               rancher2 Bootstrap: sets the admin password, server-url = https://<hostname> (the
//                              provider's apiUrl), and makes an admin API token kept secret in state
//   <name>-api-provider        rancher2 Provider with that token, for everything after
//   <name>-telemetry           rancher2 Setting telemetry-opt (in | out)
//   <name>-cluster-<cluster>   rancher2 Cluster per importedClusters entry (an imported cluster: no config)
//   <name>-register-<cluster>  local Command: fetch the registration manifest, apply it with the cluster's own
//                              kubeconfig, pin Rancher's CA, wait until Rancher reports it Ready
// Re-running changes nothing: every input is stable, and Bootstrap only acts when its inputs change.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as rancher2 from "@pulumi/rancher2";
import * as tls from "@pulumi/tls";
import { RancherSetupSettings } from "../config";
import { bootstrapPasswordFrom } from "../rancher/release";
import { importBundle, importClusterScript, releaseClusterScript } from "./registration";

export interface RancherSetupArgs {
    settings: RancherSetupSettings;
    /** https://<hostname>: the API URL and the server-url setting. */
    rancherUrl: pulumi.Input<string>;
    /** The bootstrap password the chart was installed with (secret). */
    bootstrapPassword: pulumi.Input<string>;
    /**
     * Rancher's CA when it is private (tls.source secret with a CA): the providers and curl trust it. With
     * tls.source rancher it is read from the cluster (the `tls-rancher` secret Rancher's CA lives in); with a
     * publicly trusted certificate, undefined.
     */
    caPem?: pulumi.Input<string | undefined>;
    /** Read Rancher's own CA from the cluster (tls.source rancher). Default false. */
    caFromCluster?: boolean;
    /** sha256 agents pin (Rancher's caChecksum), with a private CA. */
    caChecksum?: pulumi.Input<string | undefined>;
    /** Rancher's cluster: its kubeconfig (secret) and provider. */
    kubeconfig: pulumi.Input<string>;
    provider: k8s.Provider;
    /** What must be ready first (the Rancher release and its CA restart). */
    rancherReady: pulumi.Resource[];
}

export class RancherSetup extends pulumi.ComponentResource {
    /** The admin password after setup (secret). */
    readonly adminPassword: pulumi.Output<string>;
    /** Rancher's id of each imported cluster, by name. */
    readonly importedClusterIds: pulumi.Output<Record<string, string>>;
    /** The API token for later steps (secret). */
    readonly token: pulumi.Output<string>;

    constructor(name: string, args: RancherSetupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:rancherSetup:RancherSetup", name, {}, opts);
        const s = args.settings;
        const childOpts = { parent: this };

        let caPem: pulumi.Output<string | undefined> = pulumi.output(args.caPem);
        if (args.caFromCluster) {
            // The CA Rancher generated for itself, read through the cluster's API (authenticated, so trustworthy).
            const secret = k8s.core.v1.Secret.get(`${name}-rancher-ca`, "cattle-system/tls-rancher", {
                ...childOpts, provider: args.provider, dependsOn: args.rancherReady,
            });
            caPem = secret.data.apply(d => (d?.["tls.crt"] ? Buffer.from(d["tls.crt"], "base64").toString("utf8") : undefined));
        }

        this.adminPassword = pulumi.secret(s.adminPassword ?? new tls.PrivateKey(`${name}-admin-password-seed`, {
            algorithm: "ED25519",
        }, { ...childOpts, ignoreChanges: ["algorithm"] }).privateKeyOpenssh.apply(bootstrapPasswordFrom));

        const bootstrapProvider = new rancher2.Provider(`${name}-bootstrap-provider`, {
            apiUrl: args.rancherUrl, bootstrap: true, caCerts: caPem,
        }, childOpts);
        const admin = new rancher2.Bootstrap(`${name}-admin`, {
            initialPassword: pulumi.secret(args.bootstrapPassword),
            password: this.adminPassword,
            // A token that never expires: the later steps and the next runs use it; rotate with tokenUpdate.
            tokenTtl: 0,
        }, { ...childOpts, provider: bootstrapProvider, dependsOn: args.rancherReady, additionalSecretOutputs: ["token", "tempToken", "currentPassword"] });
        this.token = pulumi.secret(admin.token);

        const api = new rancher2.Provider(`${name}-api-provider`, {
            apiUrl: admin.url, tokenKey: this.token, caCerts: caPem,
        }, childOpts);
        const apiOpts = { ...childOpts, provider: api, dependsOn: [admin] };
        new rancher2.Setting(`${name}-telemetry`, { name: "telemetry-opt", value: s.telemetry ? "in" : "out" }, apiOpts);

        const ids: Record<string, pulumi.Output<string>> = {};
        for (const c of s.importedClusters) {
            const cluster = new rancher2.Cluster(`${name}-cluster-${c.name}`, {
                name: c.name,
                description: c.description,
                labels: c.labels,
            }, { ...apiOpts, additionalSecretOutputs: ["clusterRegistrationToken", "kubeConfig"] });
            const manifestUrl = pulumi.secret(cluster.clusterRegistrationToken.apply(t => t.manifestUrl));
            const stdin = pulumi.secret(pulumi.all([c.kubeconfig, args.kubeconfig, manifestUrl, caPem])
                .apply(([target, rancherKc, url, ca]) => importBundle({ targetKubeconfig: target, rancherKubeconfig: rancherKc, manifestUrl: url, caPem: ca })));
            const create = pulumi.all([cluster.id, pulumi.output(args.caChecksum)]).apply(([id, sum]) => importClusterScript({
                clusterName: c.name, clusterId: id, caChecksum: sum ?? undefined, timeoutSeconds: c.activeTimeoutSeconds,
            }));
            const register = new command.local.Command(`${name}-register-${c.name}`, {
                create,
                update: create,
                delete: releaseClusterScript({ clusterName: c.name, cleanupAgents: c.cleanupAgentsOnRemove }),
                stdin,
                logging: "stderr",
                addPreviousOutputInEnv: false,
            }, {
                ...childOpts, dependsOn: [cluster], additionalSecretOutputs: ["stdin"],
                customTimeouts: { create: `${Math.ceil(c.activeTimeoutSeconds / 60) + 10}m`, update: `${Math.ceil(c.activeTimeoutSeconds / 60) + 10}m` },
            });
            // Known once the registration finished: an output that says the cluster is really in Rancher.
            ids[c.name] = pulumi.all([register.stdout, cluster.id]).apply(([, id]) => id);
        }
        this.importedClusterIds = pulumi.all(ids) as pulumi.Output<Record<string, string>>;
        this.registerOutputs({ adminPassword: this.adminPassword, importedClusterIds: this.importedClusterIds, token: this.token });
    }
}
