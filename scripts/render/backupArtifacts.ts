// The restore stage (restoreFrom: 2b-restore) and the backup stage (backup: 6-backup) of a review render: the
// rancher-backup operator's two Helm releases (BackupOperator), the S3 credential and encryption config Secrets, the
// Restore with the script that applies it (RancherRestore), the scheduled Backup (RancherBackup). Pure: the same
// builders the components call (components/backup/), so the render and `pulumi up` can never differ.
//
// Secrets: the S3 secret key and the encryption key are shown as `<redacted:key>`. The encryption config is rendered
// by its own builder with a stand-in key that is then replaced by the placeholder, so the file shows everything the
// Secret holds (provider, key name, resources) but the key.
import type { StackSettings } from "../../components/config";
import { chartRegistry, HelmReleaseSpec } from "../../components/shared/helm";
import {
    BACKUP_NAMESPACE, backupReleases, backupResource, ENCRYPTION_CONFIG_SECRET, encryptionConfigSecretData, MANAGED_BY_LABEL,
    RESTORE_ENCRYPTION_CONFIG_SECRET, RESTORE_NAME, RESTORE_S3_CREDENTIAL_SECRET, S3_CREDENTIAL_SECRET, s3CredentialData, s3LocationOf,
    SCHEDULED_BACKUP_NAME,
} from "../../components/backup/resources";
import { restoreParts } from "../../components/backup/RancherRestore";
import { backupOperatorChartVersion } from "../../components/backup/BackupOperator";
import { restoreDeleteScript } from "../../components/backup/restoreScript";
import type { BackupS3Settings } from "../../components/config/types";
import { redacted } from "../redact";
import { dumpYaml, releaseArtifacts, ReviewArtifact } from "./artifact";

/** The secret config key of the encryption key (backup and restoreFrom share it). */
const ENCRYPTION_KEY = "backupEncryptionKey";

/**
 * The operator's two releases as BackupOperator installs them: the Rancher line's charts, both at restoreFrom's
 * chart version, else backup's (backupOperatorChartVersion), else the line's.
 */
export function backupOperatorReleases(s: StackSettings): HelmReleaseSpec[] {
    const chartVersion = backupOperatorChartVersion(s);
    return backupReleases(s.versions.rancher, chartRegistry(s.privateRegistry)).map(r => ({ ...r, version: chartVersion || r.version }));
}

/**
 * The secret config key that holds restoreFrom's S3 secret key: restoreS3SecretKey when restoreFrom names its own
 * bucket, backupS3SecretKey when it uses the backup section's (the config then hands it that very object).
 */
export function restoreS3SecretKeyName(s: StackSettings): "restoreS3SecretKey" | "backupS3SecretKey" {
    return s.backup !== undefined && s.restoreFrom?.s3 === s.backup.s3 ? "backupS3SecretKey" : "restoreS3SecretKey";
}

/** Every artifact of the restore stage under `dir` (none without restoreFrom); what the index should add goes into `notes`. */
export function restoreArtifacts(s: StackSettings, dir: string, notes: string[]): ReviewArtifact[] {
    const r = s.restoreFrom;
    if (!r) {
        notes.push("No restore: restoreFrom is not set (Rancher starts empty, not from a backup).");
        return [];
    }
    const { restore, script } = restoreParts(r, s.distribution);
    const s3Key = restoreS3SecretKeyName(s);
    const files: ReviewArtifact[] = [
        ...operatorArtifacts(s, dir, notes),
        secretArtifact(dir, RESTORE_S3_CREDENTIAL_SECRET,
            `the S3 credentials the Restore reads (accessKey ${r.s3.accessKey}; secretKey from ${s3Key}, redacted)`,
            s3CredentialData(r.s3.accessKey, redacted(s3Key))),
    ];
    if (r.encrypted) {
        files.push(secretArtifact(dir, RESTORE_ENCRYPTION_CONFIG_SECRET,
            `the encryption config the Restore decrypts ${r.backupFilename} with (the key from ${ENCRYPTION_KEY}, redacted)`,
            encryptionDataRedacted()));
    }
    files.push(
        {
            path: `${dir}/restore.yaml`,
            about: `the Restore ${RESTORE_NAME} of ${r.backupFilename} from ${where(r.s3)} (prune false), created once by restore.sh ` +
                "(it travels as JSON on the script's stdin)",
            content: dumpYaml(restore),
        },
        {
            path: `${dir}/restore.sh`,
            about: `the rancher-restore Command's create/update, after the operator and the Secrets and before cert-manager and Rancher: ` +
                "runs on the machine running pulumi (kubectl) with the kubeconfig and the Restore on stdin; creates the Restore once, " +
                `waits at most ${r.timeoutMinutes} min for it, then fits the local cluster object to ${s.distribution} ` +
                "and removes the old stack's backup-stage Secrets",
            content: script,
        },
        {
            path: `${dir}/restore-delete.sh`,
            about: "its delete (pulumi destroy, or restoreFrom removed): does nothing, a restore is not undone and the Restore stays",
            content: restoreDeleteScript(),
        },
    );
    notes.push(`Restore: ${r.backupFilename} from ${where(r.s3)}, onto a cluster without Rancher, before cert-manager and Rancher; ` +
        `the S3 secret key (${s3Key})` + (r.encrypted ? ` and the encryption key (${ENCRYPTION_KEY}, the old stack's)` : "") +
        " are shown as placeholders.");
    return files;
}

/**
 * Every artifact of the backup stage under `dir` (none without backup); the operator is in `restoreDir` when the
 * stack also restores (one operator, installed before the restore). What the index should add goes into `notes`.
 */
export function backupArtifacts(s: StackSettings, dir: string, restoreDir: string, notes: string[]): ReviewArtifact[] {
    const b = s.backup;
    if (!b) {
        notes.push("No scheduled backups of Rancher: backup is not set.");
        return [];
    }
    const files: ReviewArtifact[] = [];
    if (s.restoreFrom) {
        notes.push(`Backup: the rancher-backup operator the scheduled Backup runs on is in \`${restoreDir}/\` (installed once, before the restore).`);
    } else {
        files.push(...operatorArtifacts(s, dir, notes));
    }
    const backup = backupResource({
        name: SCHEDULED_BACKUP_NAME, schedule: b.schedule, retentionCount: b.retentionCount, resourceSetName: b.resourceSet,
        encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET,
        s3: s3LocationOf(b.s3),
    });
    files.push(
        secretArtifact(dir, S3_CREDENTIAL_SECRET,
            `the S3 credentials the Backup writes with (accessKey ${b.s3.accessKey}; secretKey from backupS3SecretKey, redacted)`,
            s3CredentialData(b.s3.accessKey, redacted("backupS3SecretKey"))),
        secretArtifact(dir, ENCRYPTION_CONFIG_SECRET,
            `the encryption config every backup file is encrypted with (the key from ${ENCRYPTION_KEY}, redacted)`,
            encryptionDataRedacted()),
        {
            path: `${dir}/scheduled-backup.yaml`,
            about: `the scheduled Backup ${SCHEDULED_BACKUP_NAME} (schedule "${b.schedule}", keeps ${b.retentionCount} files, ${b.resourceSet}, ` +
                `encrypted) to ${where(b.s3)}, applied after Rancher, the operator and the Secrets`,
            content: dumpYaml(backup),
        },
    );
    notes.push(b.encryptionKey !== undefined
        ? `${ENCRYPTION_KEY}: set in the stack (redacted in the encryption config Secret).`
        : `${ENCRYPTION_KEY}: not set, so pulumi up generates the key once, keeps it in state and exports it (stack output ` +
            `${ENCRYPTION_KEY}, secret; \`${redacted(ENCRYPTION_KEY)}\` in the Secret): a restore of these backups needs it.`);
    return files;
}

/** The operator's namespace and releases under `dir/<release>/`, in install order. */
function operatorArtifacts(s: StackSettings, dir: string, notes: string[]): ReviewArtifact[] {
    const registry = chartRegistry(s.privateRegistry);
    if (registry.pullSecret) {
        notes.push(`Secret \`${BACKUP_NAMESPACE}/${registry.pullSecret}\` (image pull login for ${registry.url}, for the rancher-backup operator).`);
    }
    const [crds, operator] = backupOperatorReleases(s);
    return [
        ...releaseArtifacts(`${dir}/${crds.name}`, `${crds.name} (first: the Backup, Restore and ResourceSet CRDs; ` +
            `in namespace ${BACKUP_NAMESPACE}, which pulumi up creates)`, crds),
        ...releaseArtifacts(`${dir}/${operator.name}`, `${operator.name} (the operator, after its CRDs)`, operator),
    ];
}

/** A Secret in BACKUP_NAMESPACE as the stage applies it (its values already placeholders where secret). */
function secretArtifact(dir: string, name: string, what: string, stringData: Record<string, string>): ReviewArtifact {
    return {
        path: `${dir}/secret-${name}.yaml`,
        about: `Secret ${BACKUP_NAMESPACE}/${name}: ${what}`,
        content: dumpYaml({
            apiVersion: "v1", kind: "Secret",
            metadata: { name, namespace: BACKUP_NAMESPACE, labels: { ...MANAGED_BY_LABEL } },
            stringData,
        }),
    };
}

/**
 * The encryption config Secret's data (encryptionConfigSecretData) with the key as its placeholder: built from a
 * stand-in key (the builder checks for 32 bytes of base64), then the stand-in replaced. No real key is ever read.
 */
export function encryptionDataRedacted(): Record<string, string> {
    const standIn = Buffer.alloc(32, 0x5a).toString("base64");
    return Object.fromEntries(Object.entries(encryptionConfigSecretData(standIn)).map(([k, v]) => {
        if (!v.includes(standIn)) {
            throw new Error(`the encryption config ${k} no longer holds its key: the render cannot redact it`);
        }
        return [k, v.split(standIn).join(redacted(ENCRYPTION_KEY))];
    }));
}

/** `s3://bucket/folder at endpoint`. */
function where(s3: BackupS3Settings): string {
    return `s3://${s3.bucketName}/${s3.folder ?? ""} at ${s3.endpoint}`;
}
