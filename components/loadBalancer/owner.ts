// Which stack an LB host serves: one line, `<project>/<stack>`, in LB_OWNER_FILE, written by the nginx apply.
//
// Two stacks configured with the same LB host would overwrite each other's nginx config and services, and one's
// destroy would take down what the other serves. So every LB script checks the owner first:
// - apply refuses a host another stack serves, unless this stack takes it over (loadBalancer.takeOverFrom: the
//   switch of a migration, or its rollback, is that one config change and one `pulumi up`);
// - delete leaves a host another stack serves now exactly as it is (the old stack's destroy after a switch).
// A host without the file (before this existed, or never set up) belongs to whoever applies first.
import { shellQuote } from "../shared/shell";

export const LB_OWNER_FILE = "/etc/rancher-ha/lb-owner";

export interface LbOwnership {
    /** This stack, `<project>/<stack>`. */
    owner: string;
    /** Stacks (`<project>/<stack>`) whose LB hosts this stack may take over. Default none. */
    takeOverFrom?: string[];
    /** Where the owner is kept on the host. Default LB_OWNER_FILE (tests use their own). */
    file?: string;
}

const OWNER_ID = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** `<project>/<stack>` of a stack name from the config: `stack` means this project's, `project/stack` as given. */
export function lbOwnerId(project: string, stack: string): string {
    const id = stack.includes("/") ? stack : `${project}/${stack}`;
    if (!OWNER_ID.test(id)) {
        throw new Error(`lbOwnerId: "${id}" is not <project>/<stack>`);
    }
    return id;
}

/**
 * sh for every LB script (after `fail` and SUDO are defined): OWNER, owner_now, check_owner (apply), claim_owner
 * (the nginx apply, once it succeeded), other_owner (delete: true when another stack serves the host now).
 */
export function lbOwnerSh(o: LbOwnership): string {
    if (o.file !== undefined && !/^\/[A-Za-z0-9_./-]+$/.test(o.file)) {
        throw new Error(`lbOwnerSh: file must be an absolute path, got ${JSON.stringify(o.file)}`);
    }
    for (const id of [o.owner, ...(o.takeOverFrom ?? [])]) {
        if (!OWNER_ID.test(id)) {
            throw new Error(`lbOwnerSh: "${id}" is not <project>/<stack>`);
        }
    }
    const takeOver = (o.takeOverFrom ?? []).filter(t => t !== o.owner);
    return [
        `OWNER_FILE=${shellQuote(o.file ?? LB_OWNER_FILE)}`,
        `OWNER=${shellQuote(o.owner)}`,
        `TAKE_OVER=${shellQuote(` ${takeOver.join(" ")} `)}`,
        `owner_now() { $SUDO cat "$OWNER_FILE" 2>/dev/null | head -n 1 || true; }`,
        `check_owner() {`,
        `  _cur=$(owner_now)`,
        `  if [ -z "$_cur" ] || [ "$_cur" = "$OWNER" ]; then return 0; fi`,
        `  case "$TAKE_OVER" in *" $_cur "*) echo "rancher-ha: taking this LB host over from the stack $_cur (loadBalancer.takeOverFrom)" >&2; return 0 ;; esac`,
        `  fail "this LB host serves the stack $_cur ($OWNER_FILE): two stacks on one LB host overwrite each other. ` +
        `To move it to this stack (a migration's switch, or its rollback), set loadBalancer.takeOverFrom to \${_cur#*/}; ` +
        `otherwise give this stack LB hosts of its own"`,
        `}`,
        `claim_owner() {`,
        `  [ "$(owner_now)" = "$OWNER" ] && return 0`,
        `  $SUDO mkdir -p "$(dirname "$OWNER_FILE")"`,
        `  printf '%s\\n' "$OWNER" | $SUDO tee "$OWNER_FILE.tmp" >/dev/null && $SUDO mv -f "$OWNER_FILE.tmp" "$OWNER_FILE"`,
        `}`,
        `other_owner() { _cur=$(owner_now); [ -n "$_cur" ] && [ "$_cur" != "$OWNER" ]; }`,
    ].join("\n");
}

/** The ownership of a stack's LB hosts: this stack, and loadBalancer.takeOverFrom resolved to `<project>/<stack>`. */
export function lbOwnership(project: string, stack: string, takeOverFrom: string[] = []): LbOwnership {
    return { owner: lbOwnerId(project, stack), takeOverFrom: takeOverFrom.map(t => lbOwnerId(project, t)) };
}

/**
 * The steps every LB script takes with lbOwnerSh's functions (":" each without an owner): `check` before an apply
 * changes anything, `claim` at the end of the nginx apply, `leaveOthers` first in a delete (a host another stack serves
 * now is left exactly as it is; needs say()), `release` at the end of the nginx delete.
 */
export function lbOwnerSteps(o: LbOwnership | undefined): { check: string; claim: string; leaveOthers: string; release: string } {
    if (!o) {
        return { check: ":", claim: ":", leaveOthers: ":", release: ":" };
    }
    return {
        check: "check_owner",
        claim: "claim_owner",
        leaveOthers: `if other_owner; then say "left alone: this LB host serves the stack $(owner_now) now"; exit 0; fi`,
        release: `if [ "$(owner_now)" = "$OWNER" ]; then $SUDO rm -f "$OWNER_FILE"; fi`,
    };
}
