// What a Backup's or a Restore's status says (the object as `kubectl get -o json` prints it). Pure.
//
// What the operator writes (BRO pkg/controllers/{backup,restore}/controller.go, the same from v4.0.4 to v11.0.1;
// conditions through wrangler's condition package):
// - on success it replaces all conditions with Ready=True (message "Completed"), plus Uploaded=True for a Backup;
//   a Backup then has status.filename (newest file, relative to the folder) and lastSnapshotTs, a Restore has
//   restoreCompletionTs (once set, the operator never processes that Restore again);
// - on an error (setReconcilingCondition) it sets Reconciling to status "False", reason "Error", message = the error,
//   and Ready's message to "Retrying" (Ready is created with status "Unknown" when it did not exist). The error is
//   returned to the controller, which requeues with backoff: a failing Backup or Restore retries forever, so "failed"
//   below means "failing now", and a caller decides when to give up (a timeout);
// - a recurring Backup keeps its last filename and Ready=True while a later run fails (Reconciling=Error appears);
// - status.backupType is "One-time" or "Recurring" (set before the run from BRO v8, at the end before that).
// `kubectl get backups|restores` prints Ready's message in its STATUS column ("Completed", "Retrying").
import { BACKUP_NAMESPACE, BACKUP_OPERATOR_POD_SELECTOR } from "./resources";

/** One status condition (wrangler genericcondition.GenericCondition). */
export interface Condition {
    type: string;
    status?: string;
    reason?: string;
    message?: string;
    lastUpdateTime?: string;
    lastTransitionTime?: string;
}

export interface BackupState {
    /** The latest run wrote a file and no error is pending: status.filename set, Ready=True, no Reconciling error,
     * and the operator has seen the current spec (status.observedGeneration >= metadata.generation). */
    done: boolean;
    /** The operator reports an error (Reconciling, reason Error); it keeps retrying. */
    failed: boolean;
    /** status.filename: the newest file written, relative to the S3 folder (kept while a later run fails). */
    filename?: string;
    /** The error when failed, else Ready's message ("Completed", "Retrying"). */
    message?: string;
    /** status.lastSnapshotTs (RFC3339): when the newest file was written. */
    lastSnapshotTs?: string;
    /** status.nextSnapshotAt (RFC3339), recurring backups. */
    nextSnapshotAt?: string;
    /** status.backupType: "One-time" or "Recurring". */
    backupType?: string;
    /** status.storageLocation: "S3" or "PV". */
    storageLocation?: string;
    /** What to do about a known error message (see knownOperatorProblem). */
    hint?: string;
}

export interface RestoreState {
    /** status.restoreCompletionTs is set: every resource was restored (the operator sets it last, with Ready=True). */
    done: boolean;
    /** The operator reports an error (Reconciling, reason Error); it keeps retrying. */
    failed: boolean;
    /** The error when failed, else Ready's message. */
    message?: string;
    /** status.restoreCompletionTs (RFC3339). */
    completedAt?: string;
    /** status.backupSource: "S3" or "PV". */
    backupSource?: string;
    /** What to do about a known error message (see knownOperatorProblem). */
    hint?: string;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const rec = (v: unknown): Record<string, unknown> => (v !== null && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : {});

/** status.conditions of an object (missing, null or malformed entries give []). */
export function conditionsOf(obj: unknown): Condition[] {
    const list = rec(rec(obj).status).conditions;
    if (!Array.isArray(list)) {
        return [];
    }
    return list.flatMap((c): Condition[] => {
        const r = rec(c);
        const type = str(r.type);
        return type === undefined ? [] : [{
            type, status: str(r.status), reason: str(r.reason), message: str(r.message),
            lastUpdateTime: str(r.lastUpdateTime), lastTransitionTime: str(r.lastTransitionTime),
        }];
    });
}

function condition(obj: unknown, type: string): Condition | undefined {
    return conditionsOf(obj).find(c => c.type === type);
}

/** The pending error: Reconciling with reason Error (its status is "False": SetError runs after SetStatusBool(true)). */
function reconcileError(obj: unknown): string | undefined {
    const c = condition(obj, "Reconciling");
    if (c === undefined || c.reason !== "Error") {
        return undefined;
    }
    return c.message ?? "error (no message)";
}

/** True when the operator has not yet acted on the current spec. */
function specNotSeen(obj: unknown): boolean {
    const generation = num(rec(rec(obj).metadata).generation);
    const observed = num(rec(rec(obj).status).observedGeneration);
    return generation !== undefined && observed !== undefined && observed < generation;
}

export function backupState(obj: unknown): BackupState {
    const status = rec(rec(obj).status);
    const error = reconcileError(obj);
    const ready = condition(obj, "Ready");
    const filename = str(status.filename);
    return {
        done: error === undefined && ready?.status === "True" && filename !== undefined && !specNotSeen(obj),
        failed: error !== undefined,
        filename,
        message: error ?? ready?.message,
        lastSnapshotTs: str(status.lastSnapshotTs),
        nextSnapshotAt: str(status.nextSnapshotAt),
        backupType: str(status.backupType),
        storageLocation: str(status.storageLocation),
        hint: error === undefined ? undefined : knownOperatorProblem(error),
    };
}

export function restoreState(obj: unknown): RestoreState {
    const status = rec(rec(obj).status);
    const error = reconcileError(obj);
    const completedAt = str(status.restoreCompletionTs);
    const ready = condition(obj, "Ready");
    const message = error ?? ready?.message;
    return {
        done: completedAt !== undefined && error === undefined,
        failed: error !== undefined,
        message,
        completedAt,
        backupSource: str(status.backupSource),
        hint: error === undefined ? undefined : knownOperatorProblem(error),
    };
}

const LOGS = `kubectl logs -n ${BACKUP_NAMESPACE} -l ${BACKUP_OPERATOR_POD_SELECTOR} --tail 200`;

/**
 * What to do about an operator error message, for the messages the operator writes (BRO v7.0.9 controllers,
 * objectstore, encryptionconfig) and the pitfalls of docs/backup-research.md: the first pattern that matches wins.
 * The patterns are POSIX extended regular expressions as well, so the restore script (restoreScript.ts) gives the
 * same hints with grep -E.
 */
export const OPERATOR_PROBLEMS: readonly { pattern: string; hint: string }[] = [
    // The per-object errors are only in the log (the condition keeps a fixed text so it does not churn).
    {
        pattern: "check logs for exact error",
        hint: `the per-object errors are in the operator's log (${LOGS}). "admission webhook ... denied the request" `
            + "there means Rancher (or its webhook) was already installed on this cluster before the restore "
            + "(backup-restore-operator#428, rancher#49354): restore onto a cluster without Rancher",
    },
    {
        pattern: "error decrypting encrypted resource|no encryption config provided",
        hint: "the encryption config does not match the backup's: the restore needs the same file (same key and key name) "
            + "as the backup, in a Secret of " + BACKUP_NAMESPACE,
    },
    { pattern: "no encryptionConfig provided", hint: "the encryption config Secret has no key encryption-provider-config.yaml" },
    {
        pattern: "no backup files found with prefix",
        hint: "no such file in the bucket: backupFilename is relative to the folder, exactly as the Backup's status.filename",
    },
    {
        pattern: "s3 bucket \\[.*\\] not found|failed to check if s3 bucket",
        hint: "the bucket is unreachable or missing: check endpoint, region, endpointCA and the credentials",
    },
    {
        pattern: 'resourcesets\\.resources\\.cattle\\.io "[^"]*" not found',
        hint: "the chart has no such ResourceSet: before Rancher 2.11 it ships only rancher-resource-set, "
            + "from 2.12 only rancher-resource-set-basic and -full (resourceSetFor)",
    },
    { pattern: "malformed secret", hint: "the S3 credential Secret needs the keys accessKey and secretKey" },
    {
        pattern: 'secrets? "[^"]*" not found',
        hint: "a Secret the Backup or Restore names is missing (S3 credentials in credentialSecretNamespace, encryption config in "
            + BACKUP_NAMESPACE + ")",
    },
];

/** What to do about an operator error message (OPERATOR_PROBLEMS), or undefined for an unknown message. */
export function knownOperatorProblem(message: string): string | undefined {
    return OPERATOR_PROBLEMS.find(p => new RegExp(p.pattern).test(message))?.hint;
}

/** One line for an error or a progress report, e.g. `Restore rancher-ha-restore: failing: <message> (<hint>)`. */
export function describeState(kind: "Backup" | "Restore", name: string, state: BackupState | RestoreState): string {
    const what = state.done ? "done" : state.failed ? "failing (the operator retries)" : "in progress";
    const file = "filename" in state && state.filename ? `, file ${state.filename}` : "";
    const message = state.message ? `: ${state.message}` : "";
    const hint = "hint" in state && state.hint ? ` (${state.hint})` : "";
    return `${kind} ${name}: ${what}${file}${message}${hint}`;
}
