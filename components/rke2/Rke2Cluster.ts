// Rke2Cluster: the Kubernetes cluster Rancher runs on, built by RKE2, server by server (distribution: rke2).
//
// Resource graph:
//   <name>-cluster             the cluster's record (a local Command that runs nothing on any host); every node
//                              resource is `deletedWith` it, so a `pulumi destroy` never uninstalls a node
//   <name>-token-seed          a generated key the join token derives from (unless the stack sets rke2Token)
//   <name>-artifacts-<address> air-gapped installs: the release files copied over SSH (CopyToRemote)
//   <name>-server-<address>    one remote Command per server: install, config.yaml, start, wait until Ready.
//                              The first initialises the cluster; each next one joins after the previous is Ready
//                              (concurrent joins fail with "too many learner members")
//   <name>-agent-<address>     one per agent, after the last server, at most rke2.agentConcurrency at once
//   <name>-k8s                 a kubernetes Provider with a stable clusterIdentifier
//
// Removing a node from the stack runs its Command's delete: drain, `kubectl delete node`, rke2-uninstall.sh (the
// LB already stopped sending to it in the same run). `pulumi destroy` deletes the record too, so the engine skips
// every node's delete (deletedWith) and the cluster is kept, unless admin.removeClusterOnDestroy opts in: then the
// nodes carry no deletedWith and each uninstalls itself.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as tls from "@pulumi/tls";
import { NodeSettings, Rke2Settings, StackSettings } from "../config";
import { sshConnection } from "../shared/ssh";
import { clusterIdentifier, kubeApiServerUrl, pointKubeconfigAt } from "../shared/kubeconfig";
import { Rke2ClusterInput, rke2NodeConfigYaml } from "./configYaml";
import { parseRke2NodeOutput, rke2NodeBundle, rke2NodeScript } from "./scripts";
import { rke2TokenFrom } from "./token";
import { rke2ClusterRecordScripts } from "./record";
import {
    RKE2_ARTIFACTS_REMOTE_PATH, rke2ClusterInputFor, rke2NodeDeleteScript, rke2NodeInputFor, rke2NodeScriptArgsFor, rke2PlannedNodes,
    rke2RegistriesYamlFor,
} from "./nodeArgs";

export { RKE2_ARTIFACTS_REMOTE_PATH };

export interface Rke2ClusterArgs {
    /** The stack (distribution rke2): nodes, rke2, versions, cluster, etcdSnapshots, privateRegistry, bastion, hostname, admin. */
    settings: StackSettings;
    /** LB address: in tls-san, the join URL (https://<lb>:9345) and the kubeconfig's server (https://<lb>:<kubeApiPort>). */
    loadBalancerAddress: pulumi.Input<string>;
    /** Port the LB forwards to the API servers. Default 6443. */
    kubeApiPort?: number;
    /** The kubernetes Provider's clusterIdentifier. Default `rancher-ha/<project>/<stack>/rke2`. */
    clusterIdentifier?: string;
}

export class Rke2Cluster extends pulumi.ComponentResource {
    /** Admin kubeconfig (secret), server pointed at the LB. */
    readonly kubeconfig: pulumi.Output<string>;
    /** The cluster's join token (secret): with an etcd snapshot, what a restore on new hosts needs. */
    readonly token: pulumi.Output<string>;
    /** Kubernetes node names, in the stack's node order (as each node reported itself). */
    readonly nodeNames: pulumi.Output<string[]>;
    /** Kubernetes provider for the later stages. */
    readonly provider: k8s.Provider;

    constructor(name: string, args: Rke2ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:rke2:Rke2Cluster", name, {}, opts);
        const s = args.settings;
        const r2: Rke2Settings | undefined = s.rke2;
        if (s.distribution !== "rke2" || r2 === undefined) {
            throw new Error("Rke2Cluster: the stack's distribution is not rke2");
        }
        const port = args.kubeApiPort ?? 6443;
        const stack = pulumi.getStack();
        const optIn = s.admin.removeClusterOnDestroy;

        // The record every node is deleted with: `pulumi destroy` forgets the cluster (nothing on the hosts runs).
        const recordScripts = rke2ClusterRecordScripts({ stack, nodes: s.nodes.map(n => n.address), removeClusterOnDestroy: optIn });
        const record = new command.local.Command(`${name}-cluster`, {
            create: recordScripts.create,
            delete: recordScripts.delete,
            addPreviousOutputInEnv: false,
        }, { parent: this });

        this.token = pulumi.secret(r2.token ?? pulumi.secret(new tls.PrivateKey(`${name}-token-seed`, { algorithm: "ED25519" }, {
            parent: this,
            // The token of a running cluster: never replaced by a change of this resource's inputs.
            ignoreChanges: ["algorithm"],
        }).privateKeyPem).apply(rke2TokenFrom));

        const clusterInput: pulumi.Output<Rke2ClusterInput> = pulumi.all([args.loadBalancerAddress, s.etcdSnapshots.s3?.secretKey])
            .apply(([lbAddress, s3SecretKey]) => rke2ClusterInputFor(s, lbAddress, s3SecretKey));
        const registriesYaml = s.privateRegistry === undefined ? pulumi.output(undefined)
            : pulumi.secret(pulumi.output(s.privateRegistry.password).apply(password => rke2RegistriesYamlFor(s, password)));

        const planned = rke2PlannedNodes(s);
        const servers = planned.filter(p => p.kind === "server").map(p => p.node);
        const agents = planned.filter(p => p.kind === "agent").map(p => p.node);
        // A node's steps: delete runs only when the node leaves a cluster that stays (or with the opt-in).
        const nodeOpts = (dependsOn: pulumi.Resource[]): pulumi.CustomResourceOptions => ({
            parent: this,
            dependsOn: [record, ...dependsOn],
            ...(optIn ? {} : { deletedWith: record }),
            additionalSecretOutputs: ["stdout", "stdin"],
            customTimeouts: { create: "60m", update: "60m", delete: "30m" },
        });
        const artifactsFor = (node: NodeSettings): pulumi.Resource[] => {
            if (r2.install.method !== "artifacts") {
                return [];
            }
            return [new command.remote.CopyToRemote(`${name}-artifacts-${node.address}`, {
                connection: sshConnection(node, s.bastion),
                source: new pulumi.asset.FileArchive(path.resolve(r2.install.artifactsDir)),
                remotePath: RKE2_ARTIFACTS_REMOTE_PATH,
            }, { parent: this, dependsOn: [record], ...(optIn ? {} : { deletedWith: record }) })];
        };
        const nodeCommand = (node: NodeSettings, kind: "server" | "agent", first: boolean,
            kubeconfig: pulumi.Output<string> | undefined, dependsOn: pulumi.Resource[]) => {
            // The same arguments `npm run render` shows (admin.stateSync on the first server only: the kubeconfig comes from it).
            const a = rke2NodeScriptArgsFor(s, node, kind, first, stack);
            const stdin = pulumi.secret(pulumi.all([clusterInput, this.token, registriesYaml, s.etcdSnapshots.s3?.customCa, kubeconfig])
                .apply(([c, token, registries, s3Ca, kc]) => rke2NodeBundle({
                    configYaml: rke2NodeConfigYaml(c, rke2NodeInputFor(node), { first, token }),
                    registriesYaml: registries,
                    etcdS3Ca: s3Ca,
                    kubeconfig: kc,
                })));
            const script = rke2NodeScript(a);
            return new command.remote.Command(`${name}-${kind}-${node.address}`, {
                connection: sshConnection(node, s.bastion),
                create: script,
                update: script,
                // Without the opt-in the engine runs it only for a node leaving a cluster that stays (deletedWith).
                delete: rke2NodeDeleteScript(a),
                stdin,
                logging: "stderr",
                // The previous stdout holds the kubeconfig: never in an environment.
                addPreviousOutputInEnv: false,
            }, nodeOpts([...dependsOn, ...artifactsFor(node)]));
        };

        // Servers one at a time, in the stack's order: each joins after the previous one is Ready.
        const serverCommands: command.remote.Command[] = [];
        for (const [i, node] of servers.entries()) {
            serverCommands.push(nodeCommand(node, "server", i === 0, undefined, i === 0 ? [] : [serverCommands[i - 1]]));
        }
        const first = serverCommands[0];
        const firstOutput = first.stdout.apply(parseRke2NodeOutput);
        const server = pulumi.output(args.loadBalancerAddress).apply(lb => kubeApiServerUrl(lb, port));
        this.kubeconfig = pulumi.secret(pulumi.all([firstOutput, server]).apply(([o, srv]) => {
            if (o.kubeconfig === undefined) {
                throw new Error(`rke2: the first server (${servers[0].address}) reported no kubeconfig`);
            }
            return pointKubeconfigAt(o.kubeconfig, srv);
        }));

        // Agents after the last server, at most agentConcurrency at once: agent i waits for agent i - concurrency.
        const last = serverCommands[serverCommands.length - 1];
        const agentCommands: command.remote.Command[] = [];
        for (const [i, node] of agents.entries()) {
            const before = i >= r2.agentConcurrency ? [agentCommands[i - r2.agentConcurrency]] : [];
            agentCommands.push(nodeCommand(node, "agent", false, this.kubeconfig, [last, ...before]));
        }

        const byAddress = new Map<string, command.remote.Command>();
        servers.forEach((n, i) => byAddress.set(n.address, serverCommands[i]));
        agents.forEach((n, i) => byAddress.set(n.address, agentCommands[i]));
        this.nodeNames = pulumi.all(s.nodes.map(n => byAddress.get(n.address)!.stdout.apply(o => parseRke2NodeOutput(o).nodeName)));

        // A stable identity, not derived from the kubeconfig: a new LB address or rotated CA must not replace the
        // provider and, with it, every resource Rancher runs on.
        this.provider = new k8s.Provider(`${name}-k8s`, {
            kubeconfig: this.kubeconfig,
            clusterIdentifier: args.clusterIdentifier ?? clusterIdentifier(pulumi.getProject(), stack, "rke2"),
            // restoreFrom: the restore brings Rancher's namespaces and Secrets (cattle-system, tls-*) that the Rancher
            // stage then creates; with this the provider adopts them (server-side apply) instead of failing on
            // "already exists". Only for a restoring stack: elsewhere an existing object stays an error.
            ...(args.settings.restoreFrom ? { upsertExistingObjects: true } : {}),
        }, { parent: this, dependsOn: [...serverCommands, ...agentCommands] });

        this.registerOutputs({ kubeconfig: this.kubeconfig, token: this.token, nodeNames: this.nodeNames });
    }
}
