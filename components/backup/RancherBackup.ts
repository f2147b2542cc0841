// Backups of Rancher (the backup section): the S3 credentials and encryption config as Secrets, and a scheduled,
// encrypted Backup to S3 with retention, on the rancher-backup operator (BackupOperator). The encryption key is the
// stack's backupEncryptionKey, else generated once and kept in state: the stack exports it (secret), as a restore needs it.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as tls from "@pulumi/tls";
import { BackupSettings } from "../config";
import { backupResource, ENCRYPTION_CONFIG_SECRET, S3_CREDENTIAL_SECRET, s3LocationOf, SCHEDULED_BACKUP_NAME } from "./resources";
import { encryptionConfigSecret, s3CredentialSecret } from "./BackupSecrets";
import { backupKeyFrom } from "./key";
import { BackupOperator } from "./BackupOperator";

export interface RancherBackupArgs {
    /** The backup section. Required. */
    settings: BackupSettings;
    /** The rancher-backup operator on the cluster. Required. */
    operator: BackupOperator;
    /** The cluster's kubernetes provider. Required. */
    provider: k8s.Provider;
}

export class RancherBackup extends pulumi.ComponentResource {
    /** The encryption key (base64 of 32 bytes), secret: what a stack restoring these backups sets as backupEncryptionKey. */
    readonly encryptionKey: pulumi.Output<string>;

    constructor(name: string, args: RancherBackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:backup:RancherBackup", name, {}, opts);
        const s = args.settings;
        const childOpts = { parent: this, provider: args.provider };
        const namespace = args.operator.namespace;
        this.encryptionKey = pulumi.secret(s.encryptionKey ?? new tls.PrivateKey(`${name}-key-seed`, { algorithm: "ED25519" }, {
            parent: this,
            // The key of existing backups: never replaced by a change of this resource's inputs.
            ignoreChanges: ["algorithm"],
        }).privateKeyPem.apply(backupKeyFrom));

        const credentials = s3CredentialSecret(`${name}-s3`, S3_CREDENTIAL_SECRET, s.s3, { ...childOpts, dependsOn: [namespace] });
        const encryption = encryptionConfigSecret(`${name}-encryption`, ENCRYPTION_CONFIG_SECRET, this.encryptionKey,
            { ...childOpts, dependsOn: [namespace] });

        const backup = backupResource({
            name: SCHEDULED_BACKUP_NAME, schedule: s.schedule, retentionCount: s.retentionCount, resourceSetName: s.resourceSet,
            encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET,
            s3: s3LocationOf(s.s3),
        }) as { apiVersion: string; kind: string; metadata: Record<string, unknown>; spec: Record<string, unknown> };
        new k8s.apiextensions.CustomResource(`${name}-scheduled`, backup, { ...childOpts, dependsOn: [args.operator, credentials, encryption] });

        this.registerOutputs({ encryptionKey: this.encryptionKey });
    }
}
