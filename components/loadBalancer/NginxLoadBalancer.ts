// Stage 1: the nginx L4 (stream) load balancer in front of the server nodes, set up over SSH.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { LoadBalancerSettings, NodeSettings, SshTarget } from "../config";
import { sshConnection } from "../shared/ssh";
import { lbNginxConf } from "./nginxConf";
import { lbApplyScript, lbBundle, lbDeleteScript, lbScriptOptions } from "./scripts";
import { sha256 } from "../shared/shell";

export interface NginxLoadBalancerArgs {
    /** The LB host and nginx tuning (from StackSettings.loadBalancer). Required. */
    loadBalancer: LoadBalancerSettings;
    /** Server nodes: every node gets 80/443 upstream entries; controlplane nodes get 6443. Required, non-empty. */
    nodes: NodeSettings[];
    /** Jump host, when the LB is only reachable through one. Default: none (direct SSH). */
    bastion?: SshTarget;
}

/**
 * nginx as an L4 proxy on the LB host: HTTP and HTTPS to the ingress of every node, the Kubernetes API to the
 * controlplane nodes. `system` mode owns the host's main nginx.conf (the distro's is kept and restored on
 * delete); `docker` mode runs an nginx container with the config mounted read-only, as in the seed article.
 */
export class NginxLoadBalancer extends pulumi.ComponentResource {
    /** The LB address: what the kubeconfig, the API certificate SANs and hostAliases point at. */
    readonly address: pulumi.Output<string>;
    /** The rendered nginx.conf. */
    readonly nginxConf: pulumi.Output<string>;
    /** sha256 of nginxConf: changes exactly when the host's config changes. */
    readonly configHash: pulumi.Output<string>;

    constructor(name: string, args: NginxLoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:loadBalancer:NginxLoadBalancer", name, {}, opts);
        const lb = args.loadBalancer;
        const conf = lbNginxConf(lb, args.nodes);
        const hash = sha256(conf);
        const scripts = lbScriptOptions(lb, hash);
        const apply = lbApplyScript(scripts);

        new command.remote.Command(`${name}-nginx`, {
            connection: sshConnection(lb, args.bastion),
            // The same idempotent script creates and updates: a changed config (its hash is in the script)
            // reloads nginx in place instead of replacing the resource.
            create: apply,
            update: apply,
            delete: lbDeleteScript(scripts),
            // stdin is the channel for secrets, so always secret; the config itself is reviewed with npm run render.
            stdin: pulumi.secret(lbBundle(conf)),
            // A different host or run mode is a different installation: remove the old one (with the delete
            // script stored in state, on the old host) before the new one takes the ports.
            triggers: [lb.mode, lb.address],
            // The previous stdout is not needed, and an environment is no place for a command's output.
            addPreviousOutputInEnv: false,
        }, { parent: this, deleteBeforeReplace: true });

        this.address = pulumi.output(lb.address);
        this.nginxConf = pulumi.output(conf);
        this.configHash = pulumi.output(hash);
        this.registerOutputs({ address: this.address, nginxConf: this.nginxConf, configHash: this.configHash });
    }
}
