// The script that adds hostAliases to Rancher's agents, run by a local Command on the machine running Pulumi.
//
// Rancher creates its agents itself, after it starts, so they cannot be Pulumi patch resources (a patch on a
// missing object fails, and whether an agent exists is only known at run time):
// - Rancher < 2.5 deploys cattle-cluster-agent and cattle-node-agent into its own (local) cluster;
// - Rancher >= 2.5 deploys neither on a fresh install (rancher/rancher#29397), though clusters upgraded from
//   2.4 keep theirs. So on current versions both are optional: patched when present, skipped when absent.
// The script waits (bounded) for required agents, applies the hostAliases with server-side apply under one
// field manager (re-runs are no-ops, and a release script takes exactly our alias back out), and prints one
// line per agent: `patched <kind>/<name>` or `absent <kind>/<name>`.
//
// The kubeconfig and the apply configurations travel on stdin (fileBundle), never in the command string.
import { fileBundle, script, shellQuote, UNPACK_BUNDLE_SH } from "../shared/shell";
import { versionAtLeast } from "../shared/helm";
import { CLUSTER_AGENT, hostAliasesApplyConfiguration, NODE_AGENT, releaseConfiguration, Workload } from "./patches";

export const FIELD_MANAGER = "rancher-ha";

export interface AgentTarget {
    workload: Workload;
    /** Required: wait for it until the deadline, then fail. Optional: patch when present, else skip. */
    required: boolean;
}

/** Which agents to expect from a Rancher chart version in the cluster Rancher runs in. */
export function agentTargets(rancherVersion: string): AgentTarget[] {
    const legacy = !versionAtLeast(rancherVersion, "2.5.0");
    return [
        { workload: CLUSTER_AGENT, required: legacy },
        { workload: NODE_AGENT, required: false },
    ];
}

export interface AgentScriptOptions {
    targets: AgentTarget[];
    /** Seconds to wait for the required agents before failing. */
    timeoutSeconds: number;
    /** Seconds between polls. Default 5. */
    intervalSeconds?: number;
    /**
     * Seconds optional agents get to appear once the required ones exist (Rancher creates both agents from one
     * manifest, moments apart). Default 30 when a target is required, else 0 (checked once).
     */
    optionalGraceSeconds?: number;
}

// --validate=false: kubectl's own field check downloads the whole OpenAPI document on every call; the bodies are
// rendered and unit tested, and the API server still validates the object that results from the apply.
const APPLY = `kc apply --server-side --field-manager=${FIELD_MANAGER} --force-conflicts --validate=false`;

const label = (w: Workload) => `${w.kind.toLowerCase()}/${w.name}`;
const fileOf = (w: Workload) => `${w.kind.toLowerCase()}-${w.name}.json`;
const releaseFileOf = (w: Workload) => `${w.kind.toLowerCase()}-${w.name}.release.json`;
const apiPath = (w: Workload) =>
    `/apis/apps/v1/namespaces/${w.namespace}/${w.kind === "Deployment" ? "deployments" : "daemonsets"}/${w.name}`;

/**
 * stdin for both scripts (a Command hands its one stdin to create, update and delete alike): the kubeconfig
 * (secret: the caller keeps the bundle secret), and per target the apply configuration and the release one.
 */
export function agentBundle(kubeconfig: string, targets: AgentTarget[], ip: string, hostname: string): string {
    return fileBundle([
        { name: "kubeconfig", mode: "600", content: kubeconfig },
        ...targets.flatMap(t => [
            { name: fileOf(t.workload), mode: "600", content: JSON.stringify(hostAliasesApplyConfiguration(t.workload, ip, hostname)) + "\n" },
            { name: releaseFileOf(t.workload), mode: "600", content: JSON.stringify(releaseConfiguration(t.workload)) + "\n" },
        ]),
    ]);
}

/** Shared prologue: kubectl check, private work dir, bundle unpacked, `kc` and `present` helpers. */
function prologue(): string[] {
    return [
        UNPACK_BUNDLE_SH,
        `command -v kubectl >/dev/null 2>&1 || { echo "rancher-ha: kubectl is not on PATH on the machine running pulumi; ` +
        `install kubectl, or set hostAliases.enabled to false" >&2; exit 1; }`,
        `work=$(mktemp -d "\${TMPDIR:-/tmp}/rancher-ha-agents.XXXXXX")`,
        // The kubeconfig must not outlive the run: a signal (pulumi cancel) exits, and the exit removes it.
        `trap 'rm -rf "$work"' EXIT`,
        `trap 'exit 1' HUP INT TERM`,
        `unpack_bundle "$work"`,
        // A private discovery cache: nothing left in ~/.kube, nothing stale from another cluster of the same name.
        `kc() { kubectl --kubeconfig "$work/kubeconfig" --cache-dir "$work/cache" --request-timeout=15s "$@"; }`,
        `last_error=""`,
        `# present API_PATH: 0 when the object exists, 1 when not (yet). Only the API's own NotFound means absent;`,
        `# any other error (unreachable API, missing credential plugin) is kept in last_error and reported.`,
        `present() {`,
        `  if _err=$(kc get --raw "$1" 2>&1 >/dev/null); then last_error=""; return 0; fi`,
        `  case "$_err" in *"(NotFound)"*) last_error="" ;; *) last_error=$(printf '%s' "$_err" | tail -n 1) ;; esac`,
        `  return 1`,
        `}`,
    ];
}

/** The create/update script: wait for required agents, then patch every agent that exists. */
export function agentHostAliasesScript(o: AgentScriptOptions): string {
    const interval = o.intervalSeconds ?? 5;
    const anyRequired = o.targets.some(t => t.required);
    const grace = o.optionalGraceSeconds ?? (anyRequired ? 30 : 0);
    for (const [k, v] of [["timeoutSeconds", o.timeoutSeconds], ["intervalSeconds", interval], ["optionalGraceSeconds", grace]] as const) {
        if (!Number.isInteger(v) || v < 0 || (k !== "optionalGraceSeconds" && v === 0)) {
            throw new Error(`agentHostAliasesScript: ${k} must be a positive whole number of seconds (got ${v})`);
        }
    }
    const ns = o.targets[0]?.workload.namespace ?? "cattle-system";
    const lines = [
        ...prologue(),
        `patch_agent() {`,
        `  if ! _err=$(${APPLY} -f "$work/$1" 2>&1); then`,
        `    echo "rancher-ha: could not add hostAliases to $2 in namespace ${ns}: $_err" >&2; exit 1`,
        `  fi`,
        `  echo "patched $2"`,
        `}`,
    ];
    if (o.targets.some(x => x.required)) {
        lines.push(`deadline=$(( $(date +%s) + ${o.timeoutSeconds} ))`);
    }
    for (const t of o.targets.filter(x => x.required)) {
        const w = t.workload;
        lines.push(
            `while ! present ${shellQuote(apiPath(w))}; do`,
            `  if [ "$(date +%s)" -ge "$deadline" ]; then`,
            `    echo "rancher-ha: timed out after ${o.timeoutSeconds}s waiting for ${label(w)} in namespace ${w.namespace}` +
            `\${last_error:+ (last error: $last_error)}. Rancher creates it once it has initialised its local cluster: ` +
            `check 'kubectl -n ${w.namespace} get pods' and the logs of the rancher pods, then run 'pulumi up' again ` +
            `(the wait starts over)." >&2`,
            `    exit 1`,
            `  fi`,
            `  sleep ${interval}`,
            `done`,
            `patch_agent ${shellQuote(fileOf(w))} ${shellQuote(label(w))}`,
        );
    }
    const optional = o.targets.filter(x => !x.required);
    if (optional.length > 0) {
        lines.push(`grace_end=$(( $(date +%s) + ${grace} ))`);
    }
    for (const t of optional) {
        const w = t.workload;
        lines.push(
            `found=0`,
            `while :; do`,
            `  if present ${shellQuote(apiPath(w))}; then found=1; break; fi`,
            `  [ "$(date +%s)" -lt "$grace_end" ] || break`,
            `  sleep ${interval}`,
            `done`,
            `if [ "$found" = 1 ]; then`,
            `  patch_agent ${shellQuote(fileOf(w))} ${shellQuote(label(w))}`,
            `elif [ -n "$last_error" ]; then`,
            `  echo "rancher-ha: could not check for ${label(w)} in namespace ${w.namespace}: $last_error; ` +
            `check that the cluster API is reachable, then run 'pulumi up' again" >&2`,
            `  exit 1`,
            `else`,
            `  echo "absent ${label(w)}"`,
            `fi`,
        );
    }
    return script(...lines);
}

/**
 * The delete script: gives back the aliases (server-side apply of an empty configuration under the same field
 * manager removes the fields it owned). Best effort: an agent that is gone, or an unreachable cluster that is
 * being torn down, is reported on stderr and never blocks `pulumi destroy`.
 */
export function agentReleaseScript(targets: AgentTarget[]): string {
    const lines = [...prologue()];
    for (const t of targets) {
        const w = t.workload;
        lines.push(
            `if present ${shellQuote(apiPath(w))}; then`,
            `  if ${APPLY} -f "$work/${releaseFileOf(w)}" >/dev/null; then`,
            `    echo "released ${label(w)}"`,
            `  else`,
            `    echo "rancher-ha: could not remove hostAliases from ${label(w)}; remove them by hand if needed" >&2`,
            `  fi`,
            `elif [ -n "$last_error" ]; then`,
            `  echo "rancher-ha: could not reach the cluster to remove hostAliases from ${label(w)}: $last_error" >&2`,
            `fi`,
        );
    }
    return script(...lines);
}

/** How long the hostAliases stage waits, by default, for the rancher rollout and for agents that must appear. */
export const AGENT_WAIT_SECONDS = 900;
