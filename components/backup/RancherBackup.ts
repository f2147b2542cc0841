// Backups of Rancher (the backup section): the rancher-backup charts, the S3 credentials and encryption config as
// Secrets, and a scheduled, encrypted Backup to S3 with retention. The encryption key is the stack's
// backupEncryptionKey, else generated once and kept in state: the stack exports it (secret), as a restore needs it.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as tls from "@pulumi/tls";
import { BackupSettings, PrivateRegistry } from "../config";
import { chartRegistry, helmReleaseArgs } from "../shared/helm";
import { registryPullSecret } from "../shared/RegistryPullSecret";
import {
    BACKUP_NAMESPACE, backupReleases, backupResource, ENCRYPTION_CONFIG_SECRET, encryptionConfigSecretData, MANAGED_BY_LABEL,
    S3_CREDENTIAL_SECRET, s3CredentialData, s3LocationOf, SCHEDULED_BACKUP_NAME,
} from "./resources";
import { backupKeyFrom } from "./key";

export interface RancherBackupArgs {
    /** The backup section. Required. */
    settings: BackupSettings;
    /** Rancher's version: picks the chart line (settings.chartVersion wins). Required. */
    rancherVersion: string;
    /** The cluster's kubernetes provider. Required. */
    provider: k8s.Provider;
    /** privateRegistry: images from it, with a pull secret when it has a login. Default: none. */
    registry?: PrivateRegistry;
    /** Seconds Helm waits for the operator. Default 600. */
    timeoutSeconds?: number;
}

export class RancherBackup extends pulumi.ComponentResource {
    /** The encryption key (base64 of 32 bytes), secret: what a stack restoring these backups sets as backupEncryptionKey. */
    readonly encryptionKey: pulumi.Output<string>;

    constructor(name: string, args: RancherBackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:backup:RancherBackup", name, {}, opts);
        const s = args.settings;
        const childOpts = { parent: this, provider: args.provider };
        const registry = chartRegistry(args.registry);
        const [crdSpec, operatorSpec] = backupReleases(args.rancherVersion, registry).map(r => ({ ...r, version: s.chartVersion || r.version }));

        const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: BACKUP_NAMESPACE } }, childOpts);
        const pullSecret = registryPullSecret(`${name}-registry`, BACKUP_NAMESPACE, registry, args.registry, childOpts, namespace);
        const crds = new k8s.helm.v3.Release(`${name}-crd`, {
            ...helmReleaseArgs(crdSpec, namespace.metadata.name), values: crdSpec.values, skipAwait: false, timeout: args.timeoutSeconds ?? 600,
        }, { ...childOpts, dependsOn: [namespace] });
        const operator = new k8s.helm.v3.Release(name, {
            ...helmReleaseArgs(operatorSpec, namespace.metadata.name), values: operatorSpec.values, skipAwait: false, timeout: args.timeoutSeconds ?? 600,
        }, { ...childOpts, dependsOn: pullSecret ? [crds, pullSecret] : [crds] });

        this.encryptionKey = pulumi.secret(s.encryptionKey ?? new tls.PrivateKey(`${name}-key-seed`, { algorithm: "ED25519" }, {
            parent: this,
            // The key of existing backups: never replaced by a change of this resource's inputs.
            ignoreChanges: ["algorithm"],
        }).privateKeyPem.apply(backupKeyFrom));

        const labels = { ...MANAGED_BY_LABEL };
        const credentials = new k8s.core.v1.Secret(`${name}-s3`, {
            metadata: { name: S3_CREDENTIAL_SECRET, namespace: BACKUP_NAMESPACE, labels },
            stringData: pulumi.secret(s.s3.secretKey.apply(sk => s3CredentialData(s.s3.accessKey, sk))),
        }, { ...childOpts, dependsOn: [namespace] });
        const encryption = new k8s.core.v1.Secret(`${name}-encryption`, {
            metadata: { name: ENCRYPTION_CONFIG_SECRET, namespace: BACKUP_NAMESPACE, labels },
            stringData: pulumi.secret(this.encryptionKey.apply(k => encryptionConfigSecretData(k))),
        }, { ...childOpts, dependsOn: [namespace] });

        const backup = backupResource({
            name: SCHEDULED_BACKUP_NAME, schedule: s.schedule, retentionCount: s.retentionCount, resourceSetName: s.resourceSet,
            encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET,
            s3: s3LocationOf(s.s3),
        }) as { apiVersion: string; kind: string; metadata: Record<string, unknown>; spec: Record<string, unknown> };
        new k8s.apiextensions.CustomResource(`${name}-scheduled`, backup, { ...childOpts, dependsOn: [operator, credentials, encryption] });

        this.registerOutputs({ encryptionKey: this.encryptionKey });
    }
}
