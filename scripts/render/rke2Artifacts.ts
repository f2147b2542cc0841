// The RKE2 stage's part of a review render (distribution: rke2), in place of 2-rke: per node, in the stack's order,
// the config.yaml it gets (token and S3 secret key redacted) and the exact scripts its Command runs; the
// registries.yaml every node gets; the cluster record's delete. Pure: the same builders Rke2Cluster calls
// (components/rke2/nodeArgs.ts), so the render and `pulumi up` can never differ.
import type { StackSettings } from "../../components/config";
import { describeTarget } from "../../components/shared/ssh";
import { REDACTED, rke2NodeConfigYamlRedacted } from "../../components/rke2/configYaml";
import {
    RKE2_ARTIFACTS_REMOTE_PATH, rke2ClusterInputFor, rke2NodeDeleteScript, rke2NodeInputFor, rke2NodeScriptArgsFor, rke2PlannedNodes,
    rke2RegistriesYamlFor,
} from "../../components/rke2/nodeArgs";
import { RKE2_PATHS, RKE2_UNITS } from "../../components/rke2/paths";
import { rke2NodeScript } from "../../components/rke2/scripts";
import { rke2ClusterRecordScripts } from "../../components/rke2/record";
import { redacted } from "../redact";
import { fileSafe, ReviewArtifact } from "./artifact";

/** Every artifact of the RKE2 stage under `dir`; what the index should add goes into `notes`. */
export function rke2Artifacts(s: StackSettings, lbAddress: string, stack: string, dir: string, notes: string[]): ReviewArtifact[] {
    const r2 = s.rke2!;
    // The S3 secret key is shown as the same placeholder as the token (rke2NodeConfigYamlRedacted replaces both).
    const cluster = rke2ClusterInputFor(s, lbAddress, s.etcdSnapshots.s3?.secretKey !== undefined ? REDACTED : undefined);
    const optIn = s.admin.removeClusterOnDestroy;
    const secrets = s.etcdSnapshots.s3?.secretKey !== undefined ? "token and S3 secret key" : "token";
    const files: ReviewArtifact[] = [];
    for (const { node, kind, first } of rke2PlannedNodes(s)) {
        const where = `${kind} ${describeTarget(node)}`;
        const a = rke2NodeScriptArgsFor(s, node, kind, first, stack);
        const base = `${dir}/${fileSafe(node.address)}`;
        files.push(
            {
                path: `${base}/config.yaml`,
                about: `${RKE2_PATHS.config} of ${where}` + (first ? " (the first server: initialises the cluster, so no `server:`)" : "") +
                    `; 0600, sent on stdin; ${secrets} redacted`,
                content: rke2NodeConfigYamlRedacted(cluster, rke2NodeInputFor(node), first),
            },
            {
                path: `${base}/install.sh`,
                about: `the rke2-${kind}-${node.address} Command's create/update, over SSH on ${where}: installs RKE2 ${r2.version}, ` +
                    `writes config.yaml, (re)starts ${RKE2_UNITS[kind]} only when something changed, waits until the node is Ready` +
                    (first ? "; reports the kubeconfig" : ""),
                content: rke2NodeScript(a),
            },
            {
                path: `${base}/remove.sh`,
                about: optIn
                    ? "its delete: admin.removeClusterOnDestroy is true, so pulumi destroy runs it and uninstalls RKE2 from the node (no drain)"
                    : "its delete, run only when the node leaves a cluster that stays (pulumi destroy skips it): drain, delete the node, rke2-uninstall.sh",
                content: rke2NodeDeleteScript(a),
            },
        );
    }
    if (s.privateRegistry) {
        const password = s.privateRegistry.password !== undefined ? redacted("privateRegistryPassword") : undefined;
        files.push({
            path: `${dir}/registries.yaml`,
            about: `${RKE2_PATHS.registries} on every node: containerd's login for ${s.privateRegistry.url}; 0600, sent on stdin`,
            content: rke2RegistriesYamlFor(s, password)!,
        });
    }
    const record = rke2ClusterRecordScripts({ stack, nodes: s.nodes.map(n => n.address), removeClusterOnDestroy: optIn });
    files.push({
        path: `${dir}/destroy.sh`,
        about: optIn
            ? "the cluster record's delete (pulumi destroy, runs here): admin.removeClusterOnDestroy is true, so each node's remove.sh runs too and the cluster is WIPED"
            : "the cluster record's delete (pulumi destroy, runs here): forgets the cluster and keeps it; every node's remove.sh is skipped with it",
        content: record.delete,
    });

    notes.push(`RKE2: each node's config.yaml shows the ${secrets === "token" ? "cluster token" : "cluster token and the S3 secret key"} ` +
        `as \`${REDACTED}\`: the token is ` +
        (r2.token !== undefined ? "the secret rke2Token" : "generated once by pulumi up and kept in state (stack output rke2Token)") +
        "; each node gets its config.yaml on stdin, never in a command.");
    if (r2.install.method === "artifacts") {
        notes.push(`RKE2 is installed from rke2.artifactsDir (${r2.install.artifactsDir}), copied over SSH to ` +
            `~/${RKE2_ARTIFACTS_REMOTE_PATH}/ on every node before its install.sh runs.`);
    }
    if (s.etcdSnapshots.s3?.customCa !== undefined) {
        notes.push(`etcdSnapshots.s3.customCa is written to ${RKE2_PATHS.etcdS3Ca} on every node (sent on stdin).`);
    }
    return files;
}
