// Stage 5 (only with hostAliases.enabled): `<ip> <hostname>` in /etc/hosts of Rancher and its agents, for sites
// without internal DNS (seed §6).
//
// - The `rancher` deployment comes from the chart, so it exists once the release is ready: a DeploymentPatch
//   (server-side apply) that Pulumi shows in previews, keeps across runs and removes on destroy.
// - The agents are created by Rancher itself, and Rancher >= 2.5 no longer creates them in its own cluster at
//   all; whether they exist is only known at run time. A local Command runs the rendered agentWait script:
//   it waits (bounded) for the agents that version must create, then applies the same patch body with
//   `kubectl apply --server-side` under one field manager to those that exist.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import { AGENT_WAIT_SECONDS, agentBundle, agentHostAliasesScript, agentReleaseScript, agentTargets } from "./agentScripts";
import { hostAlias, hostAliasesPatch, RANCHER_DEPLOYMENT } from "./patches";

export interface AgentHostAliasesArgs {
    /** The Rancher hostname the alias resolves. */
    hostname: string;
    /** The IP it resolves to (hostAliases.ip, default the LB address); must be an IP. */
    ip: pulumi.Input<string>;
    /** The RKE cluster's kubernetes provider (server-side apply on, the @pulumi/kubernetes v4 default). */
    provider: k8s.Provider;
    /** The same cluster's kubeconfig (secret), for kubectl on the machine running Pulumi; travels on stdin only. */
    kubeconfig: pulumi.Input<string>;
    /** Rancher chart version (versions.rancher): decides which agents must appear (see hostAliases/agentScripts). */
    rancherVersion: string;
    /** The Rancher release: a new revision re-runs the agent patch (Rancher may have re-deployed its agents). */
    rancherRelease?: k8s.helm.v3.Release;
    /** Seconds to wait for the rancher rollout and for agents that must appear. Default 900. */
    waitTimeoutSeconds?: number;
}

export class AgentHostAliases extends pulumi.ComponentResource {
    /** Agents the last run found and patched, e.g. ["deployment/cattle-cluster-agent"] (empty on Rancher >= 2.5). */
    readonly patchedAgents: pulumi.Output<string[]>;

    constructor(name: string, args: AgentHostAliasesArgs, opts?: pulumi.ComponentResourceOptions) {
        if (typeof args.ip === "string") {
            hostAlias(args.ip, args.hostname); // a config mistake fails here, before anything is registered
        }
        super("rancher-ha:agentHostAliases:AgentHostAliases", name, {}, opts);
        const timeout = args.waitTimeoutSeconds ?? AGENT_WAIT_SECONDS;
        const ip = pulumi.output(args.ip);

        const rancherPatch = new k8s.apps.v1.DeploymentPatch(`${name}-rancher`, {
            metadata: {
                name: RANCHER_DEPLOYMENT.name,
                namespace: RANCHER_DEPLOYMENT.namespace,
                // Take the field over if a hand-run `kubectl patch` (seed §6) or another tool owns it.
                annotations: { "pulumi.com/patchForce": "true" },
            },
            spec: ip.apply(i => hostAliasesPatch(i, args.hostname).spec),
        }, {
            parent: this, provider: args.provider,
            // The patch rolls the Rancher pods; Pulumi waits for that rollout before the agents are looked at.
            customTimeouts: { create: `${Math.ceil(timeout / 60)}m`, update: `${Math.ceil(timeout / 60)}m` },
        });

        const targets = agentTargets(args.rancherVersion);
        const script = agentHostAliasesScript({ targets, timeoutSeconds: timeout });
        const agents = new command.local.Command(`${name}-agents`, {
            create: script,
            update: script,
            delete: agentReleaseScript(targets),
            stdin: pulumi.secret(pulumi.all([args.kubeconfig, ip]).apply(([kc, i]) => agentBundle(kc, targets, i, args.hostname))),
            environment: {
                RANCHER_HA_RANCHER_REVISION: args.rancherRelease
                    ? args.rancherRelease.status.apply(st => String(st?.revision ?? ""))
                    : "",
            },
            addPreviousOutputInEnv: false,
        }, {
            parent: this, dependsOn: [rancherPatch],
            // A replacement must take the aliases out before putting them back, never the other way round.
            deleteBeforeReplace: true,
        });

        this.patchedAgents = agents.stdout.apply(out => (out ?? "").split("\n")
            .filter(l => l.startsWith("patched ")).map(l => l.slice("patched ".length)));
        this.registerOutputs({ patchedAgents: this.patchedAgents });
    }
}
