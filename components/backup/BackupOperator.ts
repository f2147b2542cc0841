// The rancher-backup operator (charts rancher-backup-crd, then rancher-backup, of the Rancher line) in
// cattle-resources-system: what both the backup stage (RancherBackup) and the restore stage (RancherRestore) use. One
// top-level component whatever uses it, so adding or removing restoreFrom never moves the charts (a moved Helm release
// would be created again beside itself and fail, and deleting the CRD chart deletes every Backup and Restore).
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { PrivateRegistry, StackSettings } from "../config";
import { chartRegistry, helmReleaseArgs } from "../shared/helm";
import { registryPullSecret } from "../shared/RegistryPullSecret";
import { BACKUP_NAMESPACE, backupReleases } from "./resources";

export interface BackupOperatorArgs {
    /** Rancher's version: picks the chart line (chartVersion wins). Required. */
    rancherVersion: string;
    /** Both charts' version (backup.chartVersion or restoreFrom.chartVersion). Default: the Rancher line's. */
    chartVersion?: string;
    /** The cluster's kubernetes provider. Required. */
    provider: k8s.Provider;
    /** privateRegistry: images from it, with a pull secret when it has a login. Default: none. */
    registry?: PrivateRegistry;
    /** Seconds Helm waits for the operator. Default 600. */
    timeoutSeconds?: number;
}

/** The charts' version a stack sets: restoreFrom's, else backup's (both default to the Rancher line's). Pure. */
export function backupOperatorChartVersion(s: Pick<StackSettings, "backup" | "restoreFrom">): string | undefined {
    return s.restoreFrom?.chartVersion ?? s.backup?.chartVersion;
}

/** Before the restore stage existed, these were children of the backup stage: aliased so that they stay in place. */
export const LEGACY_PARENT = { name: "rancher-backup", type: "rancher-ha:backup:RancherBackup" } as const;

export class BackupOperator extends pulumi.ComponentResource {
    /** The operator's release: what a Backup or Restore waits for. */
    readonly release: k8s.helm.v3.Release;
    readonly namespace: k8s.core.v1.Namespace;

    constructor(name: string, args: BackupOperatorArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:backup:BackupOperator", name, {}, opts);
        const childOpts = {
            parent: this, provider: args.provider,
            aliases: [{ parent: pulumi.createUrn(LEGACY_PARENT.name, LEGACY_PARENT.type) }],
        };
        const registry = chartRegistry(args.registry);
        const [crdSpec, operatorSpec] = backupReleases(args.rancherVersion, registry).map(r => ({ ...r, version: args.chartVersion || r.version }));
        const timeout = args.timeoutSeconds ?? 600;

        this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: BACKUP_NAMESPACE } }, childOpts);
        const pullSecret = registryPullSecret(`${name}-registry`, BACKUP_NAMESPACE, registry, args.registry, childOpts, this.namespace);
        const crds = new k8s.helm.v3.Release(`${name}-crd`, {
            ...helmReleaseArgs(crdSpec, this.namespace.metadata.name), values: crdSpec.values, skipAwait: false, timeout,
        }, { ...childOpts, dependsOn: [this.namespace] });
        this.release = new k8s.helm.v3.Release(name, {
            ...helmReleaseArgs(operatorSpec, this.namespace.metadata.name), values: operatorSpec.values, skipAwait: false, timeout,
        }, { ...childOpts, dependsOn: pullSecret ? [crds, pullSecret] : [crds] });

        this.registerOutputs({});
    }
}
