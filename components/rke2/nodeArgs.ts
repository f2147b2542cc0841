// What each RKE2 node gets, from the stack's settings: its kind and place (first server or not), the inputs of its
// config.yaml and the arguments of its scripts. One source for Rke2Cluster (what `pulumi up` applies), `npm run
// render` (what review shows) and `npm run ops` (what a remove-cluster runs), so the three can never differ.
import * as path from "path";
import type { NodeSettings, Rke2NodeKind, StackSettings } from "../config/types";
import { rke2NodeKind } from "../config/sections/rke2";
import { Rke2ClusterInput, Rke2NodeInput, rke2RegistriesYaml } from "./configYaml";
import { NODE_REMOVAL_MARKER } from "./record";
import { Rke2NodeScriptArgs, rke2RemoveNodeScript } from "./scripts";

/** Where CopyToRemote puts the artifacts, relative to the SSH user's home (the directory keeps its own name). */
export const RKE2_ARTIFACTS_REMOTE_PATH = "rancher-ha-rke2-artifacts";

/** A node of the stack as the RKE2 stage treats it. */
export interface Rke2PlannedNode {
    node: NodeSettings;
    kind: Rke2NodeKind;
    /** The first server in the stack's order: it initialises the cluster (no `server:`) and reports the kubeconfig. */
    first: boolean;
}

/** Every node in the stack's order, with its kind; the first server is the first node with etcd or controlplane. */
export function rke2PlannedNodes(s: StackSettings): Rke2PlannedNode[] {
    const firstServer = s.nodes.find(n => rke2NodeKind(n.roles) === "server");
    return s.nodes.map(node => ({ node, kind: rke2NodeKind(node.roles), first: node === firstServer }));
}

/**
 * The cluster-wide part of every node's config.yaml. `s3SecretKey`: the plain S3 secret key (inside an apply), a
 * placeholder (render), or undefined when the stack has none.
 */
export function rke2ClusterInputFor(s: StackSettings, lbAddress: string, s3SecretKey: string | undefined): Rke2ClusterInput {
    const r2 = requireRke2(s);
    return {
        hostname: s.hostname,
        lbAddress,
        supervisorPort: s.loadBalancer.ports.supervisor ?? 9345,
        cni: s.cluster.networkPlugin,
        ingressProvider: s.cluster.ingressProvider,
        etcdSnapshots: { ...s.etcdSnapshots, s3: s.etcdSnapshots.s3 && { ...s.etcdSnapshots.s3, secretKey: s3SecretKey } },
        privateRegistry: s.privateRegistry && { url: s.privateRegistry.url, isDefault: s.privateRegistry.isDefault },
        serverConfig: r2.serverConfig,
        agentConfig: r2.agentConfig,
    };
}

/**
 * /etc/rancher/rke2/registries.yaml of every node when the stack has a privateRegistry (else undefined). `password`:
 * privateRegistryPassword in plain text (inside an apply) or a placeholder (render).
 */
export function rke2RegistriesYamlFor(s: StackSettings, password: string | undefined): string | undefined {
    const r = s.privateRegistry;
    return r && rke2RegistriesYaml({ url: r.url, user: r.user, password, isDefault: r.isDefault });
}

/** One node's own part of its config.yaml. */
export function rke2NodeInputFor(n: NodeSettings): Rke2NodeInput {
    return {
        address: n.address, internalAddress: n.internalAddress, hostnameOverride: n.hostnameOverride,
        roles: n.roles, labels: n.labels, taints: n.taints,
    };
}

/**
 * The arguments of a node's scripts (rke2NodeScript, rke2RemoveNodeScript) as the stage builds them: the first
 * server also carries admin.stateSync (a new value re-runs it, and it reports its kubeconfig again).
 */
export function rke2NodeScriptArgsFor(s: StackSettings, node: NodeSettings, kind: Rke2NodeKind, first: boolean, stack: string): Rke2NodeScriptArgs {
    const r2 = requireRke2(s);
    return {
        kind,
        version: r2.version,
        install: r2.install.method === "artifacts"
            ? { method: "artifacts", remoteDir: `${RKE2_ARTIFACTS_REMOTE_PATH}/${path.basename(path.resolve(r2.install.artifactsDir))}` }
            : { method: "script", scriptUrl: r2.install.scriptUrl },
        nodeReadyTimeoutSeconds: r2.nodeReadyTimeoutSeconds,
        hostLabel: `${kind} ${node.address}`,
        stack,
        removeClusterOnDestroy: s.admin.removeClusterOnDestroy,
        ...(first ? { stateSync: s.admin.stateSync } : {}),
    };
}

/**
 * A node Command's delete: without the opt-in it starts with NODE_REMOVAL_MARKER (it removes this node only, and the
 * engine skips it when the cluster record goes too); with admin.removeClusterOnDestroy it carries the opt-in marker.
 */
export function rke2NodeDeleteScript(a: Rke2NodeScriptArgs): string {
    return a.removeClusterOnDestroy ? rke2RemoveNodeScript(a) : `${NODE_REMOVAL_MARKER}\n${rke2RemoveNodeScript(a)}`;
}

function requireRke2(s: StackSettings): NonNullable<StackSettings["rke2"]> {
    if (s.distribution !== "rke2" || s.rke2 === undefined) {
        throw new Error("rke2: the stack's distribution is not rke2");
    }
    return s.rke2;
}
