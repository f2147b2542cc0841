// Which distribution a stack runs (distribution: rke | rke2), as the ops commands need it before anything else: each
// command has an implementation per distribution (or says why it has none), and each implementation refuses a stack of
// the other one with a message naming the right command. Pure.
import { Distribution, DISTRIBUTIONS } from "../../components/config/types";

/** The distribution a stack file names (raw config, before validation); rke when unset or not one of them. */
export function stackDistribution(raw: Record<string, unknown>): Distribution {
    const d = raw.distribution;
    return typeof d === "string" && (DISTRIBUTIONS as readonly string[]).includes(d) ? d as Distribution : "rke";
}

const NAMES: Record<Distribution, string> = { rke: "rke (RKE1, rke on the admin host)", rke2: "rke2 (RKE2, node by node)" };

/**
 * Why `command`'s implementation for `runsOn` cannot work on a stack of distribution `has` (undefined when it can):
 * names both distributions and the right way for the stack (`instead`).
 */
export function distributionMismatch(stack: string, has: Distribution, command: string, runsOn: Distribution, instead: string): string | undefined {
    if (has === runsOn) {
        return undefined;
    }
    return `stack ${stack} is distribution ${NAMES[has]} (Pulumi.${stack}.yaml), but this ${command} is the one for ` +
        `distribution ${NAMES[runsOn]}; ${instead}`;
}

/** The refusal of an option given on a stack whose distribution's command does not take it. */
export function foreignOptionMessage(command: string, option: string, stack: string, has: Distribution, why: string): string {
    const other: Distribution = has === "rke" ? "rke2" : "rke";
    return `--${option} is an option of ${command} on distribution ${other} stacks; stack ${stack} is ${has}: ${why}`;
}
