// The RKE2 cluster's record: a local Command that touches no host. Every node resource is `deletedWith` it, so
// when it goes (pulumi destroy, or the stage removed from the program) the engine skips the nodes' deletes and the
// cluster keeps running; only a node removed while the record stays runs its delete (drain, delete, uninstall).
// Pure: the scripts as text.
import { script, shellQuote } from "../shared/shell";

/**
 * The first line of a node's delete without the opt-in: that delete uninstalls the one node leaving the cluster,
 * and the engine skips it when the record goes too. Defined once, by the policy that accepts it.
 */
export { NODE_REMOVAL_MARKER } from "../../policy/rules";

export interface Rke2RecordArgs {
    stack: string;
    /** Node addresses, for the messages. */
    nodes: string[];
    /** admin.removeClusterOnDestroy: the nodes then carry no deletedWith and uninstall themselves on destroy. */
    removeClusterOnDestroy: boolean;
}

export function rke2ClusterRecordScripts(a: Rke2RecordArgs): { create: string; delete: string } {
    const nodes = a.nodes.join(", ");
    const create = script(
        `echo ${shellQuote(`rancher-ha: RKE2 cluster of stack ${a.stack} on ${nodes}: recorded (nothing runs here; the nodes install themselves)`)} >&2`,
    );
    const del = a.removeClusterOnDestroy
        ? script(`echo ${shellQuote(`rancher-ha: stack ${a.stack}: admin.removeClusterOnDestroy is true, so each node's own delete ` +
            `uninstalls RKE2 from it (${nodes})`)} >&2`)
        : script(`echo ${shellQuote(`rancher-ha: stack ${a.stack}: the RKE2 cluster on ${nodes} is KEPT: Pulumi forgets it, ` +
            "nothing on the nodes was changed (their deletes are skipped with this record). To remove it: " +
            "npm run ops -- remove-cluster --stack " + a.stack + " --yes, or set admin.removeClusterOnDestroy: true before destroying")} >&2`);
    return { create, delete: del };
}
