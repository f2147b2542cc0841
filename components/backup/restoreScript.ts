// The restore script: run by a local Command on the machine running Pulumi (kubectl, kubeconfig on stdin), after the
// rancher-backup operator is installed on the new cluster and before cert-manager and Rancher. Pure renderers.
//
// What it does, each step idempotent (a re-run after success changes nothing):
// 1. The Restore of restoreFrom.backupFilename, applied once. Refused when Rancher or its webhook is already on the
//    cluster (backup-restore-operator#428: the restore then loops on webhook denials) and when this cluster was already
//    restored from another file (two backups mixed). An unfinished Restore of another file (a typo fixed) is replaced.
// 2. A bounded wait for status.restoreCompletionTs. The operator retries a failing Restore forever, so the script
//    reports the operator's error with the known fix (OPERATOR_PROBLEMS) as it changes, and at the deadline fails with
//    it and the tail of the operator's log. The Restore stays: the next `pulumi up` waits again.
// 3. Only while Rancher is not installed yet (once it runs, the objects are Rancher's):
//    - the local cluster object reset when it describes another distribution (Rancher docs "Migrating Rancher to a
//      New Cluster", 2.12 note for rancher#41260/#42158): status.driver imported; status.provider, status.version, the
//      label provider.cattle.io, the annotation management.cattle.io/current-cluster-controllers-version and
//      spec.rke2Config/k3sConfig removed; the label on clusters.provisioning.cattle.io local too;
//    - the old stack's backup-stage Secrets that came with the restore removed (the new stack's backup stage makes its
//      own; Pulumi would otherwise find them in its way).
// stdout: `restored <file> at <time>` and `local cluster: ...`; progress and errors on stderr.
import { fileBundle, script, shellQuote, UNPACK_BUNDLE_SH } from "../shared/shell";
import {
    BACKUP_NAMESPACE, BACKUP_OPERATOR_POD_SELECTOR, ENCRYPTION_CONFIG_SECRET, MANAGED_BY_LABEL, RESTORE_NAME, S3_CREDENTIAL_SECRET,
} from "./resources";
import { OPERATOR_PROBLEMS } from "./status";

/** Which distribution the new cluster runs: the local cluster object's values that already fit it. */
export type Distribution = "rke" | "rke2";

/**
 * status.driver, status.provider and the label provider.cattle.io values that describe `d` (or say nothing yet); any
 * other value came from the old cluster and makes the script reset the object.
 */
export const LOCAL_CLUSTER_VALUES: Record<Distribution, readonly string[]> = {
    rke2: ["", "imported", "rke2"],
    rke: ["", "imported", "rke", "rancherKubernetesEngine"],
};

/** Whether the local cluster object describes another distribution than `d`. Pure; the script does the same in sh. */
export function localClusterNeedsReset(d: Distribution, values: { driver?: string; provider?: string; label?: string }): boolean {
    return [values.driver, values.provider, values.label].some(v => !LOCAL_CLUSTER_VALUES[d].includes(v ?? ""));
}

/** Merge patches of the reset (metadata/spec of the object, then its status). */
export const LOCAL_CLUSTER_PATCH = {
    object: {
        metadata: {
            labels: { "provider.cattle.io": null },
            annotations: { "management.cattle.io/current-cluster-controllers-version": null },
        },
        spec: { rke2Config: null, k3sConfig: null },
    },
    status: { status: { driver: "imported", provider: null, version: null } },
    provisioning: { metadata: { labels: { "provider.cattle.io": null } } },
} as const;

export interface RestoreScriptOptions {
    /** restoreFrom.backupFilename. Required. */
    backupFilename: string;
    /** The new cluster's distribution. Required. */
    distribution: Distribution;
    /** restoreFrom.timeoutMinutes: the bound on the wait. Required. */
    timeoutMinutes: number;
    /** Seconds between polls. Default 10. */
    intervalSeconds?: number;
    /** The Restore's name. Default RESTORE_NAME. */
    name?: string;
}

/** stdin of the script: the kubeconfig (secret: the caller keeps the bundle secret) and the Restore (restoreResource). */
export function restoreBundle(kubeconfig: string, restore: Record<string, unknown>): string {
    return fileBundle([
        { name: "kubeconfig", mode: "600", content: kubeconfig },
        { name: "restore.json", mode: "600", content: JSON.stringify(restore) + "\n" },
    ]);
}

/** sh: `hint_for MESSAGE` prints what to do about a known operator error (OPERATOR_PROBLEMS), else nothing. */
export function hintForSh(): string {
    return [
        "hint_for() {",
        ...OPERATOR_PROBLEMS.map((p, i) =>
            `  ${i === 0 ? "if" : "elif"} printf '%s' "$1" | grep -Eq ${shellQuote(p.pattern)}; then printf '%s' ${shellQuote(p.hint)}`),
        "  fi",
        "}",
    ].join("\n");
}

const RESTORE = "restores.resources.cattle.io";
const LOCAL = "clusters.management.cattle.io";
const PROVISIONING = "clusters.provisioning.cattle.io";
const LOGS = `kubectl logs -n ${BACKUP_NAMESPACE} -l ${BACKUP_OPERATOR_POD_SELECTOR} --tail 200`;
const [MANAGED_BY_KEY, MANAGED_BY_VALUE] = Object.entries(MANAGED_BY_LABEL)[0];
const MANAGED_BY_PATH = `{.metadata.labels.${MANAGED_BY_KEY.replace(/\./g, "\\.")}}`;

/** The create/update script (the delete is restoreDeleteScript). */
export function restoreScript(o: RestoreScriptOptions): string {
    const interval = o.intervalSeconds ?? 10;
    for (const [k, v] of [["timeoutMinutes", o.timeoutMinutes], ["intervalSeconds", interval]] as const) {
        if (!Number.isInteger(v) || v <= 0) {
            throw new Error(`restoreScript: ${k} must be a positive whole number (got ${v})`);
        }
    }
    if (!/\.tar\.gz(\.enc)?$/.test(o.backupFilename) || /[\s'"\\]/.test(o.backupFilename)) {
        throw new Error(`restoreScript: "${o.backupFilename}" is not a backup file name`);
    }
    const name = o.name ?? RESTORE_NAME;
    const fits = LOCAL_CLUSTER_VALUES[o.distribution].map(v => (v === "" ? "''" : v)).join("|");
    const json = (v: unknown) => shellQuote(JSON.stringify(v));
    return script(
        UNPACK_BUNDLE_SH,
        hintForSh(),
        `say() { echo "rancher-ha: $*" >&2; }`,
        `fail() { say "$*"; exit 1; }`,
        `command -v kubectl >/dev/null 2>&1 || fail "kubectl is not on PATH on the machine running pulumi; install it (the restore stage runs it)"`,
        `work=$(mktemp -d "\${TMPDIR:-/tmp}/rancher-ha-restore.XXXXXX")`,
        // The kubeconfig must not outlive the run: a signal (pulumi cancel) exits, and the exit removes it.
        `trap 'rm -rf "$work"' EXIT`,
        `trap 'exit 1' HUP INT TERM`,
        `unpack_bundle "$work"`,
        // --validate=false: kubectl's own check downloads the whole OpenAPI document; the body is rendered, checked
        // against the vendored CRD schemas in the tests, and the API server validates it again.
        `kc() { kubectl --kubeconfig "$work/kubeconfig" --cache-dir "$work/cache" --request-timeout=15s "$@"; }`,
        `NAME=${shellQuote(name)}`,
        `FILE=${shellQuote(o.backupFilename)}`,
        `# read_field JSONPATH KIND NAME [ARGS..]: the value, empty when the object does not exist; an API error ends the run`,
        `# (callers add || exit 1: a failure inside $(...) or an if condition would not end it by itself).`,
        `read_field() {`,
        `  _path=$1; shift`,
        `  kc get "$@" --ignore-not-found -o "jsonpath=$_path" || fail "cannot read $1 $2 (see kubectl's error above); is the API reachable?"`,
        `}`,
        `exists() { _v=$(read_field '{.metadata.name}' "$@") || exit 1; [ -n "$_v" ]; }`,
        `rancher_installed() {`,
        `  exists deployment rancher -n cattle-system || exists validatingwebhookconfigurations rancher.cattle.io || exists mutatingwebhookconfigurations rancher.cattle.io`,
        `}`,
        "",
        "# 1. The Restore, once.",
        `current=$(read_field '{.spec.backupFilename}' ${RESTORE} "$NAME") || exit 1`,
        `if [ -n "$current" ] && [ "$current" != "$FILE" ]; then`,
        `  finished=$(read_field '{.status.restoreCompletionTs}' ${RESTORE} "$NAME") || exit 1`,
        `  if [ -n "$finished" ]; then`,
        `    fail "this cluster was restored from $current (completed $finished); restoreFrom.backupFilename now names $FILE. ` +
        `A second restore over a restored Rancher mixes two backups: to restore $FILE, build a new cluster (a new stack), ` +
        `or set restoreFrom.backupFilename back to $current"`,
        `  fi`,
        `  say "replacing the unfinished Restore $NAME of $current with one of $FILE"`,
        `  kc delete ${RESTORE} "$NAME" --wait=true --timeout=60s >/dev/null || fail "could not delete the unfinished Restore $NAME"`,
        `  current=""`,
        `fi`,
        `if [ -z "$current" ]; then`,
        `  if rancher_installed; then`,
        `    fail "Rancher (deployment cattle-system/rancher or its webhook rancher.cattle.io) is already on this cluster: a restore ` +
        `onto it loops on the webhook's denials (backup-restore-operator#428, rancher#49354). Restore onto a cluster without ` +
        `Rancher: a new cluster, or remove Rancher with rancher-cleanup first (Rancher docs, back-up-restore-usage-guide). ` +
        `If this stack restored this cluster before and the Restore $NAME was deleted since, the migration is done: remove restoreFrom from the stack"`,
        `  fi`,
        `  kc create --validate=false -f "$work/restore.json" >/dev/null || fail "could not create the Restore $NAME (see kubectl's error above)"`,
        `  say "Restore $NAME of $FILE created; waiting for the operator (at most ${o.timeoutMinutes} min)"`,
        `fi`,
        "",
        "# 2. Bounded wait: the operator retries a failing Restore forever.",
        `deadline=$(( $(date +%s) + ${o.timeoutMinutes * 60} ))`,
        `reported=""`,
        `while :; do`,
        `  if state=$(kc get ${RESTORE} "$NAME" -o 'jsonpath={.status.restoreCompletionTs}{"\\n"}{.status.conditions[?(@.type=="Ready")].message}{"\\n"}{.status.conditions[?(@.reason=="Error")].message}' 2>"$work/get.err"); then`,
        `    finished=$(printf '%s\\n' "$state" | sed -n 1p)`,
        `    ready=$(printf '%s\\n' "$state" | sed -n 2p)`,
        `    error=$(printf '%s\\n' "$state" | sed -n '3,$p')`,
        `  else`,
        // A busy API server (the restore writes thousands of objects) is not a failure of the restore.
        `    finished=""; ready=""; error="cannot read the Restore: $(tail -n 1 "$work/get.err")"`,
        `  fi`,
        `  if [ -n "$finished" ] && [ -z "$error" ]; then break; fi`,
        `  now_state="\${error:-\${ready:-in progress}}"`,
        `  if [ "$now_state" != "$reported" ]; then`,
        `    hint=$(hint_for "$error")`,
        `    say "Restore $NAME: $now_state\${hint:+ ($hint)}"`,
        `    reported=$now_state`,
        `  fi`,
        `  if [ "$(date +%s)" -ge "$deadline" ]; then`,
        `    say "the operator's log (last 30 lines):"`,
        `    kc logs -n ${BACKUP_NAMESPACE} -l ${BACKUP_OPERATOR_POD_SELECTOR} --tail 30 >&2 || true`,
        `    fail "timed out after ${o.timeoutMinutes} min waiting for the Restore $NAME of $FILE: $now_state\${hint:+ ($hint)}. ` +
        `The Restore stays and the operator keeps retrying: fix the cause (${LOGS}; kubectl get ${RESTORE} $NAME -o yaml), ` +
        `then run pulumi up again, which waits again (raise restoreFrom.timeoutMinutes for a large backup)"`,
        `  fi`,
        `  sleep ${interval}`,
        `done`,
        `echo "restored $FILE at $finished"`,
        "",
        "# 3. Before Rancher only: the local cluster object, and the old stack's backup-stage Secrets.",
        `if rancher_installed; then`,
        `  echo "local cluster: left to Rancher (Rancher is installed)"`,
        `  exit 0`,
        `fi`,
        `driver=$(read_field '{.status.driver}' ${LOCAL} local) || exit 1`,
        `provider=$(read_field '{.status.provider}' ${LOCAL} local) || exit 1`,
        `label=$(read_field '{.metadata.labels.provider\\.cattle\\.io}' ${LOCAL} local) || exit 1`,
        `if ! exists ${LOCAL} local; then`,
        `  echo "local cluster: none in the backup"`,
        `else`,
        `  reset=""`,
        `  for v in "$driver" "$provider" "$label"; do`,
        `    case "$v" in ${fits}) ;; *) reset=yes ;; esac`,
        `  done`,
        `  if [ -z "$reset" ]; then`,
        `    echo "local cluster: fits ${o.distribution} (driver \${driver:--}, provider \${provider:--}, label \${label:--})"`,
        `  else`,
        `    kc patch ${LOCAL} local --type merge -p ${json(LOCAL_CLUSTER_PATCH.object)} >/dev/null || fail "could not patch ${LOCAL} local"`,
        // Rancher's CRD has a status subresource in newer versions (then only /status changes status), not in older ones.
        `    if ! kc patch ${LOCAL} local --subresource=status --type merge -p ${json(LOCAL_CLUSTER_PATCH.status)} >/dev/null 2>"$work/patch.err"; then`,
        `      kc patch ${LOCAL} local --type merge -p ${json(LOCAL_CLUSTER_PATCH.status)} >/dev/null || fail "could not patch the status of ${LOCAL} local"`,
        `    fi`,
        `    if exists ${PROVISIONING} local -n fleet-local; then`,
        `      kc patch ${PROVISIONING} local -n fleet-local --type merge -p ${json(LOCAL_CLUSTER_PATCH.provisioning)} >/dev/null || fail "could not patch ${PROVISIONING} fleet-local/local"`,
        `    fi`,
        `    now=$(read_field '{.status.driver}' ${LOCAL} local) || exit 1`,
        `    [ "$now" = imported ] || fail "${LOCAL} local still has status.driver '$now' after the patch; edit it by hand before Rancher starts ` +
        `(kubectl edit ${LOCAL} local: status.driver imported, no status.provider/status.version/label provider.cattle.io), then run pulumi up again"`,
        `    echo "local cluster: reset to imported (was driver \${driver:--}, provider \${provider:--}, label \${label:--}; rancher#41260)"`,
        `  fi`,
        `fi`,
        `for s in ${S3_CREDENTIAL_SECRET} ${ENCRYPTION_CONFIG_SECRET}; do`,
        `  owner=$(read_field '${MANAGED_BY_PATH}' secret "$s" -n ${BACKUP_NAMESPACE}) || exit 1`,
        `  if [ "$owner" = ${MANAGED_BY_VALUE} ]; then`,
        `    kc delete secret "$s" -n ${BACKUP_NAMESPACE} >/dev/null || fail "could not delete the old stack's Secret ${BACKUP_NAMESPACE}/$s"`,
        `    say "removed ${BACKUP_NAMESPACE}/$s, which came from the old cluster (the backup stage of this stack makes its own)"`,
        `  fi`,
        `done`,
    );
}

/**
 * The delete: nothing to undo (a Restore cannot be taken back, and removing the stage must not touch the Rancher it
 * restored). The Restore object stays as the record of where this Rancher came from.
 */
export function restoreDeleteScript(name: string = RESTORE_NAME): string {
    return script(`echo "rancher-ha: the Restore ${name} stays on the cluster (a restore is not undone); nothing to do" >&2`);
}
