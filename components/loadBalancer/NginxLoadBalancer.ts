// Stage 1: the nginx L4 (stream) load balancer in front of the server nodes, set up over SSH on each LB host,
// with its active health checker and, for a pair of LB hosts, keepalived holding the virtual IP.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { DEFAULTS, lbClientAddress, lbHosts, LoadBalancerSettings, NodeSettings, SshTarget } from "../config";
import { describeTarget, sshConnection } from "../shared/ssh";
import { lbNginxConf } from "./nginxConf";
import { lbApplyScript, lbBundle, lbDeleteScript, lbScriptOptions } from "./scripts";
import { sha256 } from "../shared/shell";
import { lbHealthCheckService } from "./healthCheckService";
import { LbServiceSpec, lbServiceApplyScript, lbServiceDeleteScript } from "./serviceScripts";
import { lbKeepalivedServices } from "./keepalivedService";
import { lbOwnership } from "./owner";

export interface NginxLoadBalancerArgs {
    /** The LB host(s), nginx tuning, health checks and virtual IP (from StackSettings.loadBalancer). Required. */
    loadBalancer: LoadBalancerSettings;
    /** Server nodes: every node gets 80/443 upstream entries; controlplane nodes get 6443. Required, non-empty. */
    nodes: NodeSettings[];
    /** Jump host, when the LB is only reachable through one. Default: none (direct SSH). */
    bastion?: SshTarget;
}

/**
 * nginx as an L4 proxy on each LB host: HTTP and HTTPS to the ingress of every node, the Kubernetes API to the
 * controlplane nodes. `system` mode owns the host's main nginx.conf (the distro's is kept and restored on
 * delete); `docker` mode runs an nginx container with the config mounted read-only, as in the seed article.
 * Beside nginx on each host: the active health checker (loadBalancer.healthChecks) and, with two hosts,
 * keepalived (loadBalancer.virtualIp). Every host runs the same nginx config.
 */
export class NginxLoadBalancer extends pulumi.ComponentResource {
    /** The address clients use (the virtual IP of a pair): what the kubeconfig, the SANs and hostAliases point at. */
    readonly address: pulumi.Output<string>;
    /** The rendered nginx.conf (the same on every LB host). */
    readonly nginxConf: pulumi.Output<string>;
    /** sha256 of nginxConf: changes exactly when the hosts' config changes. */
    readonly configHash: pulumi.Output<string>;

    constructor(name: string, args: NginxLoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:loadBalancer:NginxLoadBalancer", name, {}, opts);
        const lb = args.loadBalancer;
        const conf = lbNginxConf(lb, args.nodes);
        const hash = sha256(conf);
        const hosts = lbHosts(lb);
        const checks = lb.healthChecks ?? DEFAULTS.lbHealthChecks;
        const vips = lbKeepalivedServices(lb);
        // Which stack these LB hosts serve (owner.ts): another stack's host is refused unless taken over.
        const owner = lbOwnership(pulumi.getProject(), pulumi.getStack(), lb.takeOverFrom);

        hosts.forEach((host, i) => {
            // The first host keeps the names a single-LB stack has always had: adding a second host changes nothing there.
            const suffix = i === 0 ? "" : `-${i + 1}`;
            const scripts = lbScriptOptions({ ...lb, ...host }, hash, owner);
            const apply = lbApplyScript(scripts);
            const connection = sshConnection(host, args.bastion);
            const nginx = new command.remote.Command(`${name}-nginx${suffix}`, {
                connection,
                // The same idempotent script creates and updates: a changed config (its hash is in the script)
                // reloads nginx in place instead of replacing the resource.
                create: apply,
                update: apply,
                delete: lbDeleteScript(scripts),
                // stdin is the channel for secrets, so always secret; the config itself is reviewed with npm run render.
                stdin: pulumi.secret(lbBundle(conf)),
                // A different host or run mode is a different installation: remove the old one (with the delete
                // script stored in state, on the old host) before the new one takes the ports.
                triggers: [lb.mode, host.address],
                // The previous stdout is not needed, and an environment is no place for a command's output.
                addPreviousOutputInEnv: false,
            }, { parent: this, deleteBeforeReplace: true });

            const services: [string, LbServiceSpec][] = [];
            if (checks.enabled) {
                services.push([`${name}-health-check${suffix}`, lbHealthCheckService(lb, args.nodes, describeTarget(host))]);
            }
            if (vips) {
                services.push([`${name}-keepalived${suffix}`, vips(i, describeTarget(host))]);
            }
            for (const [resourceName, svc] of services) {
                new command.remote.Command(resourceName, {
                    connection,
                    create: lbServiceApplyScript({ ...svc.options, owner }),
                    update: lbServiceApplyScript({ ...svc.options, owner }),
                    delete: lbServiceDeleteScript({ ...svc.options, owner }),
                    stdin: pulumi.secret(svc.bundle),
                    // A new host is a new installation; the old host's is removed first (delete from state).
                    triggers: [host.address],
                    addPreviousOutputInEnv: false,
                }, { parent: this, dependsOn: [nginx], deleteBeforeReplace: true });
            }
        });

        this.address = pulumi.output(lbClientAddress(lb));
        this.nginxConf = pulumi.output(conf);
        this.configHash = pulumi.output(hash);
        this.registerOutputs({ address: this.address, nginxConf: this.nginxConf, configHash: this.configHash });
    }
}
