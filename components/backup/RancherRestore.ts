// The restore stage (the restoreFrom section): on a new cluster, after the rancher-backup operator and before
// cert-manager and Rancher, the Restore of a backup file from S3 (prune false), waited for with a bound, then the local
// cluster object made to fit the new distribution (restoreScript.ts). The S3 credentials and the encryption config
// are Secrets of their own (RESTORE_*), so that the old cluster's backup-stage Secrets the restore brings along
// collide with nothing.
//
// The Restore runs from a local Command (kubectl on the machine running Pulumi, the kubeconfig on stdin): the operator
// retries a failing Restore forever, so only a script can bound the wait and say why. Its delete does nothing: a
// restore is not undone, and removing restoreFrom after the migration must leave Rancher as it is. No trigger: a
// changed input runs the same idempotent script as an update (a completed Restore is never applied again).
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as command from "@pulumi/command";
import { RestoreFromSettings } from "../config";
import { RESTORE_ENCRYPTION_CONFIG_SECRET, RESTORE_NAME, RESTORE_S3_CREDENTIAL_SECRET, restoreResource, s3LocationOf } from "./resources";
import { encryptionConfigSecret, s3CredentialSecret } from "./BackupSecrets";
import { Distribution, restoreBundle, restoreDeleteScript, restoreScript } from "./restoreScript";
import { BackupOperator } from "./BackupOperator";

export interface RancherRestoreArgs {
    /** The restoreFrom section. Required. */
    settings: RestoreFromSettings;
    /** The new cluster's distribution. Required. */
    distribution: Distribution;
    /** The rancher-backup operator on the cluster. Required. */
    operator: BackupOperator;
    /** The cluster's kubernetes provider. Required. */
    provider: k8s.Provider;
    /** The same cluster's kubeconfig (secret), for kubectl on the machine running Pulumi; travels on stdin only. */
    kubeconfig: pulumi.Input<string>;
}

/** The Restore object and the script's options, from the settings (also what `npm run render` shows). Pure. */
export function restoreParts(s: RestoreFromSettings, distribution: Distribution): { restore: Record<string, unknown>; script: string } {
    return {
        restore: restoreResource({
            name: RESTORE_NAME, backupFilename: s.backupFilename, prune: false,
            ...(s.encrypted ? { encryptionConfigSecretName: RESTORE_ENCRYPTION_CONFIG_SECRET } : {}),
            s3: s3LocationOf(s.s3, RESTORE_S3_CREDENTIAL_SECRET),
        }),
        script: restoreScript({ backupFilename: s.backupFilename, distribution, timeoutMinutes: s.timeoutMinutes }),
    };
}

export class RancherRestore extends pulumi.ComponentResource {
    /** The script's report: `restored <file> at <time>` and what it did to the local cluster object. */
    readonly report: pulumi.Output<string>;

    constructor(name: string, args: RancherRestoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:backup:RancherRestore", name, {}, opts);
        const s = args.settings;
        const childOpts = { parent: this, provider: args.provider };
        const { restore, script } = restoreParts(s, args.distribution);

        const secretOpts = { ...childOpts, dependsOn: [args.operator.namespace] };
        const secrets: pulumi.Resource[] = [s3CredentialSecret(`${name}-s3`, RESTORE_S3_CREDENTIAL_SECRET, s.s3, secretOpts)];
        if (s.encrypted) {
            if (s.encryptionKey === undefined) {
                throw new Error(`RancherRestore: ${s.backupFilename} is encrypted and restoreFrom has no encryption key`);
            }
            secrets.push(encryptionConfigSecret(`${name}-encryption`, RESTORE_ENCRYPTION_CONFIG_SECRET, s.encryptionKey, secretOpts));
        }

        const run = new command.local.Command(name, {
            create: script,
            update: script,
            delete: restoreDeleteScript(),
            stdin: pulumi.secret(pulumi.output(args.kubeconfig).apply(kc => restoreBundle(kc, restore))),
            addPreviousOutputInEnv: false,
        }, {
            parent: this, dependsOn: [args.operator, ...secrets],
            // The wait is bounded by the script (timeoutMinutes); this only keeps the engine from giving up first.
            customTimeouts: { create: `${s.timeoutMinutes + 10}m`, update: `${s.timeoutMinutes + 10}m` },
        });

        this.report = run.stdout;
        this.registerOutputs({ report: this.report });
    }
}
