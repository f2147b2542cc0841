// RkeCluster: the Kubernetes cluster Rancher runs on, built by `rke up` on the admin host.
//
// Resource graph: one preflight Command per node -> the rke-up Command (create/update run `rke up` on the admin
// host; delete forgets the cluster, or removes it only when admin.removeClusterOnDestroy says so) -> a kubernetes
// Provider built from the kubeconfig it reports.
//
// rke-up is one `command:local:Command` whatever the admin host: it reaches a node with the system ssh client
// (pinned host keys) or runs here for `admin.host: local`. Moving the admin host is then an update of the same
// resource (rke up on the new host with the state from the stack), never a create plus a delete of the old one.
//
// The rkestate lives in Pulumi state (it must survive a lost admin disk). It changes on every `rke up`, so it
// cannot simply be fed back as an input (the next `pulumi up` would see a new stdin and run rke again): the
// stack exports it with two bookkeeping outputs, and this component reads them from the previous deployment of
// the same stack (see rkeRestorePayload in rke/scripts.ts for the rule).
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import { SshTarget, StackSettings } from "../config";
import { describeTarget, sshConnection } from "../shared/ssh";
import { kubeApiServerUrl, pointKubeconfigAt } from "../shared/kubeconfig";
import { rkeClusterYaml, rkeUpPlan, rkeYamlArgs } from "./clusterYml";
import {
    adminHop, bastionHop, parseRkeUpOutput, PreviousRkeOutputs, rkeConfigBundle, rkeRestorePayload, rkeStageScripts,
} from "./scripts";
import { runOnHostStdin } from "../shared/sshCommand";
import { clusterIdentifier } from "../shared/kubeconfig";
import { certificateExpiryWarnings } from "./certificates";
import { sha256 } from "../shared/shell";

/** Stack output names index.ts must export (the next deployment reads them back). */
export const RKE_STACK_OUTPUTS = {
    rkeState: "rkeState",
    rkeConfigHash: "rkeConfigHash",
    rkeRestorePayload: "rkeRestorePayload",
} as const;

/** What the previous deployment of this stack exported; any of them may be missing (first run). */
export interface PreviousRkeRun {
    rkeState?: pulumi.Input<string | undefined>;
    rkeConfigHash?: pulumi.Input<string | undefined>;
    rkeRestorePayload?: pulumi.Input<string | undefined>;
}

export interface RkeClusterArgs {
    /** The stack: nodes, admin, versions, etcdSnapshots, cluster, privateRegistry, bastion, hostname. */
    settings: StackSettings;
    /** LB address: added to authentication.sans and used as the kubeconfig server (https://<lb>:<kubeApiPort>). */
    loadBalancerAddress: pulumi.Input<string>;
    /** Port the LB forwards to the API servers. Default 6443. */
    kubeApiPort?: number;
    /**
     * Where the exported kubeconfig points: "loadBalancer" (default) or "node" (as RKE wrote it: the first
     * controlplane node, for clusters reached without the LB).
     */
    kubeconfigServer?: "loadBalancer" | "node";
    /** What the previous deployment of this stack exported. Default: read via a StackReference to this stack. */
    previous?: PreviousRkeRun;
    /** Tries of `rke up` per deployment before failing (users rerun it by hand the same way). Default 3. */
    upAttempts?: number;
    /** Seconds between tries. Default 15. */
    retryDelaySeconds?: number;
    /** The kubernetes Provider's clusterIdentifier. Default `rancher-ha/<project>/<stack>/rke`. */
    clusterIdentifier?: string;
}

export class RkeCluster extends pulumi.ComponentResource {
    /** Admin kubeconfig (secret), server pointed at the LB unless kubeconfigServer is "node". */
    readonly kubeconfig: pulumi.Output<string>;
    /** rancher-cluster.rkestate (secret): the cluster's CA, certificates and applied config. */
    readonly rkeState: pulumi.Output<string>;
    /** rancher-cluster.yml as written on the admin host; secret when it holds the registry password or S3 key. */
    readonly clusterYaml: pulumi.Output<string>;
    /** Bookkeeping for the next run (secret): hash of everything the rke-up Command was given except the restore payload. */
    readonly rkeConfigHash: pulumi.Output<string>;
    /** Bookkeeping for the next run (secret): the restore payload the rke-up Command was given. */
    readonly rkeRestorePayload: pulumi.Output<string>;
    /** `rke up` mode of the last run that executed: full, update-only or unchanged. */
    readonly lastUpMode: pulumi.Output<string>;
    /** Kubernetes provider for the later stages. */
    readonly provider: k8s.Provider;

    constructor(name: string, args: RkeClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:rke:RkeCluster", name, {}, opts);
        const s = args.settings;
        const port = args.kubeApiPort ?? 6443;

        const renderArgs = pulumi.all([
            args.loadBalancerAddress, s.privateRegistry?.password, s.etcdSnapshots.s3?.secretKey,
        ]).apply(([lb, registryPassword, s3SecretKey]) =>
            rkeYamlArgs(s, lb, { registryPassword, s3SecretKey }));
        this.clusterYaml = renderArgs.apply(rkeClusterYaml);
        const plan = renderArgs.apply(rkeUpPlan);

        // Every distinct key (nodes, bastion) travels in the stdin bundle; the yml only names keys/<keyId>.
        const targets: SshTarget[] = [...s.nodes, ...(s.bastion ? [s.bastion] : [])];
        const keys = pulumi.all(targets.map(t => pulumi.all([t.keyId, t.privateKey])))
            .apply(ks => ks.map(([keyId, privateKey]) => ({ keyId, privateKey })));
        const configBundle = pulumi.secret(pulumi.all([this.clusterYaml, plan, keys])
            .apply(([yml, p, k]) => rkeConfigBundle(yml, p, k)));

        const admin = s.admin;
        const scripts = rkeStageScripts(s, { stack: pulumi.getStack(), attempts: args.upAttempts, retryDelaySeconds: args.retryDelaySeconds });
        const upScript = scripts.upCommand;
        const removeScript = scripts.deleteCommand;
        const target = adminHop(s);
        const bastion = target === "local" ? undefined : bastionHop(s);
        // Everything the rke-up Command gets except the restore payload: when this is unchanged, so is the payload.
        const where = admin.host === "local" ? "local"
            : `${describeTarget(admin.host)} key ${admin.host.keyId} host key ${admin.host.hostKey ?? "unchecked"}` +
              (s.bastion ? ` via ${describeTarget(s.bastion)} key ${s.bastion.keyId} host key ${s.bastion.hostKey ?? "unchecked"}` : "");
        const configHash = pulumi.secret(configBundle.apply(bundle =>
            sha256(JSON.stringify({ where, create: upScript, delete: removeScript, bundle }))));

        const previous = args.previous ?? this.previousFromStack(name);
        // RKE1's certificates expire after a year and a missed rotation stops the cluster: say so in every preview.
        pulumi.output(previous.rkeState).apply(state => {
            for (const w of typeof state === "string" ? certificateExpiryWarnings(state, new Date(), pulumi.getStack()) : []) {
                pulumi.log.warn(w, this);
            }
        });
        const restorePayload = pulumi.secret(pulumi.all([
            configHash, previous.rkeConfigHash, previous.rkeState, previous.rkeRestorePayload,
        ]).apply(([hash, prevHash, prevState, prevPayload]) => rkeRestorePayload(hash, {
            rkeConfigHash: stringOrUndefined(prevHash),
            rkeState: stringOrUndefined(prevState),
            rkeRestorePayload: stringOrUndefined(prevPayload),
        } satisfies PreviousRkeOutputs)));
        // The admin host's payload (config + restore), wrapped with the SSH keys and pinned host keys that reach it.
        const stdin = pulumi.secret(pulumi.all([configBundle, restorePayload, keys])
            .apply(([c, r, k]) => runOnHostStdin(target, c + r, k, bastion)));

        const preflights = s.nodes.map(node => {
            const check = scripts.preflight(node);
            // Same script on update (a changed check reruns); nothing to undo on delete.
            return new command.remote.Command(`${name}-preflight-${node.address}`, {
                connection: sshConnection(node, s.bastion),
                create: check,
                update: check,
                addPreviousOutputInEnv: false,
            }, { parent: this });
        });

        // stdout carries the kubeconfig and the state: secret, and kept out of the logs (stderr, the rke
        // progress, is logged). The error of a failed run has no stdout block, the script prints it last.
        const upOpts: pulumi.CustomResourceOptions = {
            parent: this,
            // Before rancher-ha moved rke-up to one local Command, a node as admin host made it a remote Command,
            // whose stored delete was `rke remove`. The alias makes that resource this one (an update), so upgrading
            // rancher-ha never runs the old delete.
            aliases: [{ type: "command:remote:Command" }],
            dependsOn: preflights,
            additionalSecretOutputs: ["stdout", "stdin"],
            customTimeouts: { create: "90m", update: "90m", delete: "30m" },
        };
        const commandArgs = {
            create: upScript,
            update: upScript,
            delete: removeScript,
            stdin,
            logging: "stderr" as const,
            // The previous stdout is the kubeconfig and the state: never in an environment (and over 128 KiB).
            addPreviousOutputInEnv: false,
        };
        const up = new command.local.Command(`${name}-up`, commandArgs, upOpts);

        const outputs = up.stdout.apply(parseRkeUpOutput);
        this.rkeState = pulumi.secret(outputs.apply(o => o.rkeState));
        this.lastUpMode = outputs.apply(o => o.mode);
        const server = args.kubeconfigServer === "node" ? pulumi.output(undefined)
            : pulumi.output(args.loadBalancerAddress).apply(lb => kubeApiServerUrl(lb, port));
        this.kubeconfig = pulumi.secret(pulumi.all([outputs, server])
            .apply(([o, srv]) => (srv === undefined ? o.kubeconfig : pointKubeconfigAt(o.kubeconfig, srv))));
        // Resolve only once rke up succeeded, so a failed run never records its hash as done.
        this.rkeConfigHash = pulumi.secret(pulumi.all([configHash, up.stdout]).apply(([h]) => h));
        this.rkeRestorePayload = pulumi.secret(pulumi.all([restorePayload, up.stdout]).apply(([p]) => p));

        // A stable identity, not derived from the kubeconfig: a new LB address, API port or rotated CA changes the
        // kubeconfig, and without it the provider (and every resource under it: Rancher) would be replaced.
        this.provider = new k8s.Provider(`${name}-k8s`, {
            kubeconfig: this.kubeconfig,
            clusterIdentifier: args.clusterIdentifier ?? clusterIdentifier(pulumi.getProject(), pulumi.getStack(), "rke"),
            // restoreFrom: the restore brings Rancher's namespaces and Secrets (cattle-system, tls-*) that the Rancher
            // stage then creates; with this the provider adopts them (server-side apply) instead of failing on
            // "already exists". Only for a restoring stack: elsewhere an existing object stays an error.
            ...(args.settings.restoreFrom ? { upsertExistingObjects: true } : {}),
        }, { parent: this });

        this.registerOutputs({
            kubeconfig: this.kubeconfig,
            rkeState: this.rkeState,
            clusterYaml: this.clusterYaml,
            rkeConfigHash: this.rkeConfigHash,
            rkeRestorePayload: this.rkeRestorePayload,
            lastUpMode: this.lastUpMode,
        });
    }

    /** The previous deployment's outputs of this same stack (none on the first run). */
    private previousFromStack(name: string): PreviousRkeRun {
        const self = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
        const ref = new pulumi.StackReference(`${name}-previous`, { name: self }, { parent: this });
        return {
            rkeState: ref.getOutput(RKE_STACK_OUTPUTS.rkeState),
            rkeConfigHash: ref.getOutput(RKE_STACK_OUTPUTS.rkeConfigHash),
            rkeRestorePayload: ref.getOutput(RKE_STACK_OUTPUTS.rkeRestorePayload),
        };
    }
}

function stringOrUndefined(v: unknown): string | undefined {
    return typeof v === "string" ? v : undefined;
}
