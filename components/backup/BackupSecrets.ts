// The two Secrets the rancher-backup operator reads, in its namespace (BACKUP_NAMESPACE), labelled as ours: S3
// credentials (accessKey/secretKey) and the encryption config. The backup stage and the restore stage each make
// their own pair, under their own names (resources.ts).
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BackupS3Settings } from "../config";
import { BACKUP_NAMESPACE, encryptionConfigSecretData, MANAGED_BY_LABEL, s3CredentialData } from "./resources";

/** The S3 credentials of `s3` as the Secret `secretName` (values secret). */
export function s3CredentialSecret(resourceName: string, secretName: string, s3: BackupS3Settings,
    opts: pulumi.CustomResourceOptions): k8s.core.v1.Secret {
    return new k8s.core.v1.Secret(resourceName, {
        metadata: { name: secretName, namespace: BACKUP_NAMESPACE, labels: { ...MANAGED_BY_LABEL } },
        stringData: pulumi.secret(s3.secretKey.apply(sk => s3CredentialData(s3.accessKey, sk))),
    }, opts);
}

/** The encryption config of `key` (base64 of 32 bytes) as the Secret `secretName` (values secret). */
export function encryptionConfigSecret(resourceName: string, secretName: string, key: pulumi.Output<string>,
    opts: pulumi.CustomResourceOptions): k8s.core.v1.Secret {
    return new k8s.core.v1.Secret(resourceName, {
        metadata: { name: secretName, namespace: BACKUP_NAMESPACE, labels: { ...MANAGED_BY_LABEL } },
        stringData: pulumi.secret(key.apply(k => encryptionConfigSecretData(k))),
    }, opts);
}
