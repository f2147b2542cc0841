// The rancher-backup operator (rancher/backup-restore-operator, "BRO"): its two charts per Rancher line, its values,
// and the custom resources this program applies (Backup, Restore) plus the Secrets they read, as plain objects. Pure.
//
// Sources are named where a fact is used; docs/backup-research.md has them all, with commits. "BRO vX" means the
// operator's repository at that tag; "rancher/charts" the published charts (https://charts.rancher.io).
import type { BackupS3Settings } from "../config/types";
import { chartFrom, ChartRegistry, HelmReleaseSpec } from "../shared/helm";

/** The operator's namespace; it reads the encryption config Secret only from here (BRO pkg/util/encryptionconfig). */
export const BACKUP_NAMESPACE = "cattle-resources-system";
/** Where both charts are published (BRO README "Quickstart"; Rancher docs "Migrating Rancher to a New Cluster"). */
export const BACKUP_CHART_REPO = "https://charts.rancher.io";
/** Installed first: the Backup, Restore and ResourceSet CRDs (no values). Release name = chart name, as in the docs. */
export const BACKUP_CRD_CHART = "rancher-backup-crd";
/** Installed second: the operator and the ResourceSets it backs up with. */
export const BACKUP_CHART = "rancher-backup";
/** The label the docs select the operator's pods with, for its log (`kubectl logs -n <ns> -l ...`). */
export const BACKUP_OPERATOR_POD_SELECTOR = "app.kubernetes.io/instance=rancher-backup";

/** Group/version of Backup, Restore and ResourceSet (all cluster-scoped). */
export const BACKUP_API_VERSION = "resources.cattle.io/v1";

/**
 * The ResourceSets the chart ships. `basic` and `full` exist from BRO v7.0.0 (Rancher 2.11) on; `full` = `basic` plus
 * the Secrets Rancher needs. Before v7 the chart ships only `rancher-resource-set`, which includes those Secrets; v7
 * keeps it (deprecated, `helm.sh/resource-policy: keep`) and v8 (Rancher 2.12) no longer ships it.
 * (charts/rancher-backup/templates/rancher-resourceset*.yaml at BRO v6.0.3, v7.0.0, v7.0.9, v8.0.0.)
 */
export const RESOURCE_SET_FULL = "rancher-resource-set-full";
export const RESOURCE_SET_BASIC = "rancher-resource-set-basic";
export const RESOURCE_SET_LEGACY = "rancher-resource-set";
/** The resource set a migration needs (Rancher docs, backup-configuration "ResourceSet"), on lines that ship it. */
export const DEFAULT_RESOURCE_SET = RESOURCE_SET_FULL;
/** Resource sets whose backups hold Secrets in plain text unless the Backup is encrypted. */
export const RESOURCE_SETS_WITH_SECRETS: readonly string[] = [RESOURCE_SET_FULL, RESOURCE_SET_LEGACY];

/** The key the operator reads in the encryption config Secret (BRO EncryptionProviderConfigKey). */
export const ENCRYPTION_CONFIG_KEY = "encryption-provider-config.yaml";
/** This program's encryption config Secret, in BACKUP_NAMESPACE. */
export const ENCRYPTION_CONFIG_SECRET = "rancher-ha-backup-encryption";
/**
 * The key's name in the EncryptionConfiguration. Every encrypted object carries it (`k8s:enc:aescbc:v1:<name>:`), and
 * decryption looks the key up by it, so a restore must use the same name as the backup: keep the default on both sides.
 */
export const ENCRYPTION_KEY_NAME = "rancher-ha";
/** This program's S3 credential Secret (keys accessKey, secretKey), in BACKUP_NAMESPACE. */
export const S3_CREDENTIAL_SECRET = "rancher-ha-backup-s3";
/** The scheduled Backup's name (it prefixes every file it writes). */
export const SCHEDULED_BACKUP_NAME = "rancher-ha-scheduled";
/** The Restore's name on a new stack. */
export const RESTORE_NAME = "rancher-ha-restore";
/**
 * The restore stage's own S3 credential and encryption config Secrets. Not the backup stage's names: the full
 * resource set holds every Secret of the cattle-* namespaces, so a restore brings the old cluster's backup-stage
 * Secrets along (the restore script removes those, and the new stack's backup stage makes its own).
 */
export const RESTORE_S3_CREDENTIAL_SECRET = "rancher-ha-restore-s3";
export const RESTORE_ENCRYPTION_CONFIG_SECRET = "rancher-ha-restore-encryption";
/** Label on every Backup/Restore this program renders, so ops commands can list them. */
export const MANAGED_BY_LABEL = { "app.kubernetes.io/managed-by": "rancher-ha" } as const;

/** Files a scheduled Backup keeps when retentionCount is unset (BRO DefaultRetentionCount(Recurring) = 10; docs). */
export const DEFAULT_RETENTION_COUNT = 10;
/**
 * The endpoint when none is given. The operator defaults it only for IAM-role credentials (BRO pkg/objectstore
 * s3minio.go, s3Endpoint); with an access key an empty endpoint fails, and the BRO v10.0.8+ CRD requires the field.
 */
export const DEFAULT_S3_ENDPOINT = "s3.amazonaws.com";
/** Restore.spec.deleteTimeoutSeconds bounds (CRD: `maximum: 10`). */
export const MAX_DELETE_TIMEOUT_SECONDS = 10;

// ---------------------------------------------------------------------------------------------------------------
// Chart version per Rancher line

export interface RancherBackupLine {
    /** Rancher minor line, e.g. "2.11". */
    rancher: string;
    /** rancher-backup and rancher-backup-crd chart version (both charts are released together at one version). */
    chartVersion: string;
    /** The operator release inside (the chart version's `+up` part). */
    operatorVersion: string;
    /** The chart's `catalog.cattle.io/kube-version` annotation: the Kubernetes versions it is built for. */
    kubeVersion: string;
    /** The ResourceSets this chart creates. */
    resourceSets: readonly string[];
    /** Where the version and its line come from. */
    source: string;
}

/**
 * One row per Rancher line. The chart version's major part is 95 + the Rancher minor (103 = 2.8 ... 109 = 2.14);
 * the BRO README's "Branches and Releases" maps v6.x..v10.x to Rancher 2.10..2.14, and each BRO tag's Chart.yaml
 * carries `catalog.cattle.io/rancher-version` for its line. Each pin is the newest release whose chart folder exists
 * in rancher/charts and whose CRDs are vendored (or blob-identical to a vendored set) in
 * test/fixtures/rancherBackup/crds/ (README there). Bump a row together with those fixtures.
 */
export const RANCHER_BACKUP_LINES: readonly RancherBackupLine[] = [
    // rancher/charts release-v2.8 @ae5877ca charts/rancher-backup{,-crd}/103.0.4+up4.0.4 (newest 103.x there);
    // BRO v4.0.4 Chart.yaml: rancher-version '>= 2.8.0-0 < 2.9.0-0'. Only the legacy resource set.
    { rancher: "2.8", chartVersion: "103.0.4+up4.0.4", operatorVersion: "v4.0.4", kubeVersion: ">= 1.23.0-0 < 1.29.0-0",
        resourceSets: [RESOURCE_SET_LEGACY], source: "rancher/charts release-v2.8 @ae5877ca; BRO v4.0.4 Chart.yaml" },
    // rancher/charts index.yaml @0003030f: rancher-backup-crd 104.1.0+up5.0.4 (newest 104.x there);
    // BRO v5.0.4 Chart.yaml: '>= 2.9.0-0 < 2.10.0-0'.
    { rancher: "2.9", chartVersion: "104.1.0+up5.0.4", operatorVersion: "v5.0.4", kubeVersion: ">= 1.23.0-0 < 1.31.0-0",
        resourceSets: [RESOURCE_SET_LEGACY], source: "rancher/charts index.yaml @0003030f; BRO v5.0.4 Chart.yaml" },
    // index.yaml @0003030f: 105.0.6+up6.0.3 (newest 105.x); BRO v6.0.3 Chart.yaml: '>= 2.10.0-0 < 2.11.0-0'.
    // The v2.10 docs name rancher-resource-set-full, but no v6 chart ships it (release/v6.x head included).
    { rancher: "2.10", chartVersion: "105.0.6+up6.0.3", operatorVersion: "v6.0.3", kubeVersion: ">= 1.28.0-0 < 1.32.0-0",
        resourceSets: [RESOURCE_SET_LEGACY], source: "rancher/charts index.yaml @0003030f; BRO v6.0.3 Chart.yaml" },
    // rancher/charts charts/rancher-backup/106.0.10+up7.0.9 @a1672603 (106.0.11+up7.0.10 and 106.0.12+up7.0.11 exist
    // too; their CRDs add s3.clientConfig.bucketLookup and are not vendored yet). BRO v7.0.9: '>= 2.11.0-0 < 2.12.0-0'.
    { rancher: "2.11", chartVersion: "106.0.10+up7.0.9", operatorVersion: "v7.0.9", kubeVersion: ">= 1.30.0-0 < 1.33.0-0",
        resourceSets: [RESOURCE_SET_BASIC, RESOURCE_SET_FULL, RESOURCE_SET_LEGACY],
        source: "rancher/charts charts/rancher-backup/106.0.10+up7.0.9 @a1672603; BRO v7.0.9 Chart.yaml" },
    // charts/rancher-backup/107.1.7+up8.1.7 @d2f125b2; BRO v8.1.7: '>= 2.12.0-0 < 2.13.0-0'.
    { rancher: "2.12", chartVersion: "107.1.7+up8.1.7", operatorVersion: "v8.1.7", kubeVersion: ">= 1.31.0-0 < 1.34.0-0",
        resourceSets: [RESOURCE_SET_BASIC, RESOURCE_SET_FULL],
        source: "rancher/charts charts/rancher-backup/107.1.7+up8.1.7 @d2f125b2; BRO v8.1.7 Chart.yaml" },
    // charts/rancher-backup/108.0.6+up9.0.6 @5cb8e6f0; BRO v9.0.6: '>= 2.13.0-0 < 2.14.0-0'.
    { rancher: "2.13", chartVersion: "108.0.6+up9.0.6", operatorVersion: "v9.0.6", kubeVersion: ">= 1.32.0-0 < 1.35.0-0",
        resourceSets: [RESOURCE_SET_BASIC, RESOURCE_SET_FULL],
        source: "rancher/charts charts/rancher-backup/108.0.6+up9.0.6 @5cb8e6f0; BRO v9.0.6 Chart.yaml" },
    // charts/rancher-backup/109.0.5+up10.0.5 @1a18b99a (Chart.yaml of 109.0.0+up10.0.0: '>= 2.14.0-0 < 2.15.0-0').
    // BRO v10.0.8 regenerated the CRDs (controller-gen): s3.bucketName and s3.endpoint become required.
    { rancher: "2.14", chartVersion: "109.0.5+up10.0.5", operatorVersion: "v10.0.5", kubeVersion: ">= 1.33.0-0 < 1.36.0-0",
        resourceSets: [RESOURCE_SET_BASIC, RESOURCE_SET_FULL],
        source: "rancher/charts charts/rancher-backup/109.0.5+up10.0.5 @1a18b99a; BRO v10.0.5 Chart.yaml" },
];

/** "2.11" of `v2.11.16`, `2.11.3`, `2.11`; undefined when it is not a version. */
export function rancherLineOf(rancherVersion: string): string | undefined {
    const m = /^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$/.exec(rancherVersion.trim());
    return m ? `${Number(m[1])}.${Number(m[2])}` : undefined;
}

/** The row of a Rancher version's line, or undefined for a line without one. */
export function rancherBackupLine(rancherVersion: string): RancherBackupLine | undefined {
    const line = rancherLineOf(rancherVersion);
    return RANCHER_BACKUP_LINES.find(r => r.rancher === line);
}

/** The rancher-backup (and rancher-backup-crd) chart version for a Rancher version, or undefined for a line without a row. */
export function rancherBackupChartVersion(rancherVersion: string): string | undefined {
    return rancherBackupLine(rancherVersion)?.chartVersion;
}

/**
 * The ResourceSet to back a Rancher version up with: `rancher-resource-set-full` (with Secrets) or `-basic` where the
 * chart ships them (2.11+), else `rancher-resource-set`, the only one before 2.11, which includes Secrets (so
 * `withSecrets: false` has no counterpart there and throws). Undefined for a line without a row.
 */
export function resourceSetFor(rancherVersion: string, withSecrets = true): string | undefined {
    const row = rancherBackupLine(rancherVersion);
    if (row === undefined) {
        return undefined;
    }
    if (row.resourceSets.includes(RESOURCE_SET_FULL)) {
        return withSecrets ? RESOURCE_SET_FULL : RESOURCE_SET_BASIC;
    }
    if (!withSecrets) {
        throw new Error(`rancher-backup ${row.chartVersion} (Rancher ${row.rancher}) ships only ${RESOURCE_SET_LEGACY}, `
            + `which includes Secrets; a backup without Secrets needs Rancher 2.11 or later`);
    }
    return RESOURCE_SET_LEGACY;
}

// ---------------------------------------------------------------------------------------------------------------
// Chart releases and values

export interface BackupChartValuesInput {
    /**
     * Pull the operator's images from this registry host[:port]. Rendered as `global.cattle.systemDefaultRegistry`,
     * which the chart prefixes to both its images (the operator, and the kubectl image of its post-install job) in
     * every version pinned above (templates/deployment.yaml, hardened.yaml), as Rancher does for its cluster tools.
     * The registry must mirror them at the same paths (rancher/backup-restore-operator, rancher/kuberlr-kubectl;
     * rancher/kubectl on 2.8). Default: Docker Hub.
     */
    registry?: string;
    /** Name of a dockerconfigjson Secret in BACKUP_NAMESPACE (the chart's top-level `imagePullSecrets`). Default none. */
    imagePullSecret?: string;
}

/**
 * Values of the rancher-backup chart. Nothing else is set: no operator-level default storage (`s3.enabled`,
 * `persistence.enabled` stay false), since every Backup and Restore names its own S3 location.
 */
export function backupChartValues(input: BackupChartValuesInput = {}): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    if (input.registry) {
        values.global = { cattle: { systemDefaultRegistry: input.registry } };
    }
    if (input.imagePullSecret) {
        values.imagePullSecrets = [{ name: input.imagePullSecret }];
    }
    return values;
}

/**
 * The two releases, in install order: rancher-backup-crd, then rancher-backup (the operator validates that the CRDs
 * exist: templates/validate-install-crd.yaml). Throws for a Rancher line without a row.
 */
export function backupReleases(rancherVersion: string, registry: ChartRegistry,
    chartRepository: string = BACKUP_CHART_REPO): [crds: HelmReleaseSpec, operator: HelmReleaseSpec] {
    const version = rancherBackupChartVersion(rancherVersion);
    if (version === undefined) {
        throw new Error(`no rancher-backup chart is known for Rancher ${rancherVersion}; known lines: `
            + RANCHER_BACKUP_LINES.map(r => r.rancher).join(", "));
    }
    return [
        { name: BACKUP_CRD_CHART, namespace: BACKUP_NAMESPACE, ...chartFrom(chartRepository, BACKUP_CRD_CHART), version, values: {} },
        {
            name: BACKUP_CHART, namespace: BACKUP_NAMESPACE, ...chartFrom(chartRepository, BACKUP_CHART), version,
            values: backupChartValues({ registry: registry.url, imagePullSecret: registry.pullSecret }),
        },
    ];
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets

const KEY_BYTES = 32;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Providers the operator accepts: it loads the file with the Kubernetes API server's own loader
 * (k8s.io/apiserver encryptionconfig.LoadEncryptionConfig), so aescbc, aesgcm and secretbox all work; kms and identity
 * make no sense for a file. This renders aescbc (the default: FIPS-compatible, RKE2's own default) or secretbox;
 * aesgcm is left out because its random nonces want a key rotation every 200k writes (Kubernetes docs), and every
 * object of every scheduled backup is one write.
 */
export type BackupEncryptionProvider = "aescbc" | "secretbox";

export interface BackupEncryptionOptions {
    /** Default aescbc. */
    provider?: BackupEncryptionProvider;
    /** The key's name (ENCRYPTION_KEY_NAME). It must be the same at restore time: see the constant. */
    keyName?: string;
    /**
     * Resources to encrypt, as in an EncryptionConfiguration (`secrets`, `*.management.cattle.io`, `*.*`; wildcards
     * need the operator's Kubernetes libraries at 1.27+, true of every pinned line). Default ["secrets"], the
     * documented use; other objects (tokens, users, settings) stay plain JSON in the archive.
     */
    resources?: string[];
}

/** Throws unless `keyBase64` is standard base64 of exactly 32 bytes (e.g. `head -c 32 /dev/urandom | base64`). */
export function validateBackupKey(keyBase64: string): void {
    if (typeof keyBase64 !== "string" || !BASE64.test(keyBase64) || keyBase64.length === 0) {
        throw new Error("the backup encryption key must be standard base64 (e.g. `head -c 32 /dev/urandom | base64`)");
    }
    const bytes = Buffer.from(keyBase64, "base64").length;
    if (bytes !== KEY_BYTES) {
        throw new Error(`the backup encryption key must be ${KEY_BYTES} bytes, base64-encoded; this one is ${bytes} bytes`);
    }
}

/**
 * The content of `encryption-provider-config.yaml`: an apiserver.config.k8s.io/v1 EncryptionConfiguration with one
 * provider and one key. The key is a secret: the caller keeps the result secret. Save the key: the operator does not
 * back it up, and a restore needs exactly this file (Rancher docs, backup-configuration "Encryption").
 */
export function backupEncryptionConfig(keyBase64: string, options: BackupEncryptionOptions = {}): string {
    validateBackupKey(keyBase64);
    const provider = options.provider ?? "aescbc";
    if (provider !== "aescbc" && provider !== "secretbox") {
        throw new Error(`encryption provider "${provider}": use aescbc or secretbox`);
    }
    const keyName = options.keyName ?? ENCRYPTION_KEY_NAME;
    if (!/^[A-Za-z0-9._-]+$/.test(keyName)) {
        throw new Error(`encryption key name "${keyName}": letters, digits, '.', '_' and '-' only`);
    }
    const resources = options.resources ?? ["secrets"];
    if (resources.length === 0 || resources.some(r => !/^(\*|[a-z0-9-]+)(\.(\*|[a-z0-9.-]+))?$/.test(r))) {
        throw new Error(`encryption resources ${JSON.stringify(resources)}: resource names such as secrets, *.example.io or *.*`);
    }
    return [
        "apiVersion: apiserver.config.k8s.io/v1",
        "kind: EncryptionConfiguration",
        "resources:",
        "  - resources:",
        ...resources.map(r => `      - ${JSON.stringify(r)}`),
        "    providers:",
        `      - ${provider}:`,
        "          keys:",
        `            - name: ${keyName}`,
        `              secret: ${keyBase64}`,
        "",
    ].join("\n");
}

/** The encryption config Secret's data (stringData): its one key, ENCRYPTION_CONFIG_KEY. Secret: keep it secret. */
export function encryptionConfigSecretData(keyBase64: string, options: BackupEncryptionOptions = {}): Record<string, string> {
    return { [ENCRYPTION_CONFIG_KEY]: backupEncryptionConfig(keyBase64, options) };
}

/**
 * The S3 credential Secret's data (stringData). The operator reads exactly `accessKey` and `secretKey` and fails with
 * "malformed secret" when one is missing (BRO objectstore.GetS3Client). Secret: keep it secret.
 */
export function s3CredentialData(accessKey: string, secretKey: string): Record<string, string> {
    for (const [name, v] of [["accessKey", accessKey], ["secretKey", secretKey]] as const) {
        if (typeof v !== "string" || v.length === 0) {
            throw new Error(`the S3 ${name} is empty`);
        }
        if (v !== v.trim()) {
            // A key read from a file with its newline signs every request wrong, and S3 only says "SignatureDoesNotMatch".
            throw new Error(`the S3 ${name} has leading or trailing whitespace (a newline from a file?)`);
        }
    }
    return { accessKey, secretKey };
}

// ---------------------------------------------------------------------------------------------------------------
// Backup and Restore

/** Where backups are, as Backup/Restore `spec.storageLocation.s3` take it (BRO S3ObjectStore). */
export interface S3Location {
    /** Bucket name. Required. */
    bucketName: string;
    /**
     * One folder in the bucket, without slashes: the docs say nested folders are not supported, and retention lists the
     * folder as a prefix. Default: the bucket's root. Give each cluster its own folder (docs, storage "S3" caution).
     */
    folder?: string;
    /** Region, e.g. us-west-2. Default none: fine for MinIO and most S3-compatible stores; AWS wants it. */
    region?: string;
    /**
     * The S3 API as host[:port], no scheme and no path (the operator's minio client takes a host). The operator always
     * speaks TLS (it disables TLS only with CATTLE_DEV_MODE), so an http-only endpoint does not work. Default
     * DEFAULT_S3_ENDPOINT.
     */
    endpoint?: string;
    /**
     * PEM of the CA that signed the endpoint's certificate. Rendered base64-encoded, as the CRD field wants it: the
     * operator base64-decodes endpointCA (and reads it as a file path when that fails), then parses the first PEM
     * block as a certificate (objectstore setTransport). Default none: the system roots.
     */
    endpointCA?: string;
    /** Skip verifying the endpoint's certificate (TLS is still used). Default false, rendered only when true. */
    insecureTLSSkipVerify?: boolean;
    /** Name of the Secret with accessKey/secretKey (s3CredentialData). Required: IAM instance roles are not used here. */
    credentialSecretName: string;
    /** Its namespace (any namespace works; this program uses BACKUP_NAMESPACE). Required. */
    credentialSecretNamespace: string;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Throws unless `name` is a Kubernetes object name (DNS-1123 subdomain, at most 253 characters). */
export function validateObjectName(what: string, name: string): void {
    if (typeof name !== "string" || name.length === 0 || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
        throw new Error(`${what} "${name}" is not a Kubernetes object name (lower-case letters, digits, '-' and '.')`);
    }
}

const ENDPOINT = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/;

/** `spec.storageLocation` of a Backup or Restore. Throws on a malformed location. */
export function storageLocation(s3: S3Location): { s3: Record<string, unknown> } {
    if (typeof s3.bucketName !== "string" || s3.bucketName.length === 0 || s3.bucketName.length > 255
        || /[\s/]/.test(s3.bucketName)) {
        throw new Error(`S3 bucketName "${s3.bucketName}" is not a bucket name`);
    }
    if (s3.folder !== undefined && (s3.folder.length === 0 || /[\s/]/.test(s3.folder))) {
        throw new Error(`S3 folder "${s3.folder}": one folder name, no slashes (nested folders are not supported)`);
    }
    const endpoint = s3.endpoint ?? DEFAULT_S3_ENDPOINT;
    if (endpoint.includes("://")) {
        throw new Error(`S3 endpoint "${endpoint}": give host[:port] without the scheme (the operator always uses TLS)`);
    }
    if (!ENDPOINT.test(endpoint)) {
        throw new Error(`S3 endpoint "${endpoint}" is not host[:port]`);
    }
    if (s3.region !== undefined && !/^[a-z0-9-]+$/.test(s3.region)) {
        throw new Error(`S3 region "${s3.region}" is not a region name`);
    }
    validateObjectName("S3 credentialSecretName", s3.credentialSecretName);
    validateObjectName("S3 credentialSecretNamespace", s3.credentialSecretNamespace);
    const location: Record<string, unknown> = { bucketName: s3.bucketName };
    if (s3.folder !== undefined) {
        location.folder = s3.folder;
    }
    if (s3.region !== undefined) {
        location.region = s3.region;
    }
    location.endpoint = endpoint;
    if (s3.endpointCA !== undefined) {
        if (!PEM_CERT.test(s3.endpointCA)) {
            throw new Error("S3 endpointCA must be a PEM certificate (-----BEGIN CERTIFICATE----- ...)");
        }
        const pem = s3.endpointCA.trim() + "\n";
        location.endpointCA = Buffer.from(pem, "utf8").toString("base64");
    }
    if (s3.insecureTLSSkipVerify === true) {
        location.insecureTLSSkipVerify = true;
    }
    location.credentialSecretName = s3.credentialSecretName;
    location.credentialSecretNamespace = s3.credentialSecretNamespace;
    return { s3: location };
}

/**
 * Throws unless `schedule` is one the operator's cron parser takes (robfig/cron v3 ParseStandard): five fields
 * (minute hour day-of-month month day-of-week; names JAN-DEC, SUN-SAT), a descriptor (@yearly, @annually, @monthly,
 * @weekly, @daily, @midnight, @hourly), or `@every <Go duration>`, optionally after `CRON_TZ=<zone> `/`TZ=<zone> `.
 * An unparsable schedule is not refused by the API server: the Backup would only report a Reconciling error.
 */
export function validateSchedule(schedule: string): void {
    const fail = (why: string) => new Error(`backup schedule "${schedule}": ${why}`);
    let s = schedule.trim();
    const tz = /^(?:CRON_TZ|TZ)=([A-Za-z0-9_+\-/]+)\s+(.*)$/.exec(s);
    if (tz) {
        s = tz[2];
    }
    if (s.startsWith("@")) {
        if (["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"].includes(s)) {
            return;
        }
        const every = /^@every\s+(.+)$/.exec(s);
        if (every && /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(every[1]) && /[1-9]/.test(every[1])) {
            return;
        }
        throw fail("unknown descriptor (use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @every 6h)");
    }
    const fields = s.split(/\s+/);
    if (fields.length !== 5) {
        throw fail(`${fields.length} fields; standard cron has 5 (minute hour day-of-month month day-of-week)`);
    }
    const months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    const days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    const specs: [string, number, number, string[]][] = [
        ["minute", 0, 59, []], ["hour", 0, 23, []], ["day of month", 1, 31, []], ["month", 1, 12, months], ["day of week", 0, 6, days],
    ];
    fields.forEach((field, i) => {
        const [what, min, max, names] = specs[i];
        const value = (t: string): number => {
            const n = names.indexOf(t.toUpperCase());
            if (n >= 0) {
                return what === "month" ? n + 1 : n;
            }
            if (!/^\d+$/.test(t)) {
                throw fail(`${what} "${t}" is not a number`);
            }
            const v = Number(t);
            if (v < min || v > max) {
                throw fail(`${what} ${v} is outside ${min}-${max}`);
            }
            return v;
        };
        for (const part of field.split(",")) {
            const m = /^([^/]+)(?:\/(\d+))?$/.exec(part);
            if (!m || (m[2] !== undefined && Number(m[2]) === 0)) {
                throw fail(`${what} "${part}" is not a cron field`);
            }
            if (m[1] === "*" || m[1] === "?") {
                continue;
            }
            const range = m[1].split("-");
            if (range.length > 2) {
                throw fail(`${what} "${part}" is not a cron field`);
            }
            const lo = value(range[0]);
            const hi = range.length === 2 ? value(range[1]) : lo;
            if (hi < lo) {
                throw fail(`${what} range "${m[1]}" runs backwards`);
            }
        }
    });
}

export interface BackupResourceInput {
    /** metadata.name; it prefixes every file: `<name>-<kube-system UID>-<time>.tar.gz[.enc]`. */
    name: string;
    /** Cron schedule for recurring backups (validateSchedule). Default: a one-time backup. */
    schedule?: string;
    /**
     * Files a scheduled Backup keeps (CRD minimum 1). Only scheduled backups prune (BRO backup controller: retention
     * runs only with a schedule), so it is refused without one. Default DEFAULT_RETENTION_COUNT, rendered explicitly.
     */
    retentionCount?: number;
    /** ResourceSet (resourceSetFor(rancherVersion) picks it per line). Default DEFAULT_RESOURCE_SET. */
    resourceSetName?: string;
    /** Name of the encryption config Secret in BACKUP_NAMESPACE; the file then ends in `.enc`. Default: unencrypted. */
    encryptionConfigSecretName?: string;
    /**
     * Allow a resource set with Secrets (RESOURCE_SETS_WITH_SECRETS) without encryption: its Secrets would lie in the
     * bucket in plain text (the docs "strongly advise" encryption). Default false: such a Backup is refused.
     */
    allowUnencryptedSecrets?: boolean;
    s3: S3Location;
}

/** The Backup custom resource (cluster-scoped) as a plain object. Throws on invalid input. */
export function backupResource(o: BackupResourceInput): Record<string, unknown> {
    validateObjectName("Backup name", o.name);
    const resourceSetName = o.resourceSetName ?? DEFAULT_RESOURCE_SET;
    validateObjectName("resourceSetName", resourceSetName);
    if (o.encryptionConfigSecretName !== undefined) {
        validateObjectName("encryptionConfigSecretName", o.encryptionConfigSecretName);
    } else if (RESOURCE_SETS_WITH_SECRETS.includes(resourceSetName) && !o.allowUnencryptedSecrets) {
        throw new Error(`Backup ${o.name}: ${resourceSetName} includes Secrets; set encryptionConfigSecretName `
            + "(or allowUnencryptedSecrets to store them in plain text)");
    }
    const spec: Record<string, unknown> = { resourceSetName };
    if (o.encryptionConfigSecretName !== undefined) {
        spec.encryptionConfigSecretName = o.encryptionConfigSecretName;
    }
    if (o.schedule !== undefined) {
        validateSchedule(o.schedule);
        const retention = o.retentionCount ?? DEFAULT_RETENTION_COUNT;
        if (!Number.isInteger(retention) || retention < 1) {
            throw new Error(`Backup ${o.name}: retentionCount ${retention} must be a whole number of at least 1`);
        }
        spec.schedule = o.schedule.trim();
        spec.retentionCount = retention;
    } else if (o.retentionCount !== undefined) {
        throw new Error(`Backup ${o.name}: retentionCount applies only to scheduled backups (set schedule)`);
    }
    spec.storageLocation = storageLocation(o.s3);
    return {
        apiVersion: BACKUP_API_VERSION, kind: "Backup",
        metadata: { name: o.name, labels: { ...MANAGED_BY_LABEL } },
        spec,
    };
}

export interface RestoreResourceInput {
    /** metadata.name. Default RESTORE_NAME. */
    name?: string;
    /**
     * The file as the Backup's status.filename names it: relative to the S3 folder (Rancher docs, restore
     * configuration "Getting the Backup Filename from S3"), ending in .tar.gz, or .tar.gz.enc when encrypted.
     */
    backupFilename: string;
    /**
     * The encryption config Secret in BACKUP_NAMESPACE, with the same content as at backup time. Required for a `.enc`
     * file and refused for a plain one (docs: set it only for an encrypted backup).
     */
    encryptionConfigSecretName?: string;
    s3: S3Location;
    /**
     * Delete Rancher objects absent from the backup. Default false: a migration must not prune (Rancher docs,
     * "Migrating Rancher to a New Cluster"); true is for an in-place restore to the cluster the backup came from. The
     * operator prunes when the field is absent, so false is always rendered.
     */
    prune?: boolean;
    /** With prune: seconds to wait for a deletion before removing finalizers (CRD maximum 10). Default: unset. */
    deleteTimeoutSeconds?: number;
}

/** The Restore custom resource (cluster-scoped) as a plain object. Throws on invalid input. */
export function restoreResource(o: RestoreResourceInput): Record<string, unknown> {
    const name = o.name ?? RESTORE_NAME;
    validateObjectName("Restore name", name);
    const file = o.backupFilename;
    if (typeof file !== "string" || !/\.tar\.gz(\.enc)?$/.test(file) || file.startsWith("/") || /\s/.test(file)) {
        throw new Error(`Restore ${name}: backupFilename "${file}" is not a backup file name (*.tar.gz or *.tar.gz.enc, relative to the folder)`);
    }
    const encrypted = file.endsWith(".enc");
    if (encrypted && o.encryptionConfigSecretName === undefined) {
        throw new Error(`Restore ${name}: ${file} is encrypted; set encryptionConfigSecretName to the Secret with its encryption config`);
    }
    if (!encrypted && o.encryptionConfigSecretName !== undefined) {
        throw new Error(`Restore ${name}: ${file} is not encrypted (no .enc); leave encryptionConfigSecretName unset`);
    }
    if (o.encryptionConfigSecretName !== undefined) {
        validateObjectName("encryptionConfigSecretName", o.encryptionConfigSecretName);
    }
    const prune = o.prune ?? false;
    if (o.deleteTimeoutSeconds !== undefined) {
        if (!prune) {
            throw new Error(`Restore ${name}: deleteTimeoutSeconds applies only with prune`);
        }
        if (!Number.isInteger(o.deleteTimeoutSeconds) || o.deleteTimeoutSeconds < 0 || o.deleteTimeoutSeconds > MAX_DELETE_TIMEOUT_SECONDS) {
            throw new Error(`Restore ${name}: deleteTimeoutSeconds must be a whole number from 0 to ${MAX_DELETE_TIMEOUT_SECONDS}`);
        }
    }
    const spec: Record<string, unknown> = { backupFilename: file, prune };
    if (o.deleteTimeoutSeconds !== undefined) {
        spec.deleteTimeoutSeconds = o.deleteTimeoutSeconds;
    }
    if (o.encryptionConfigSecretName !== undefined) {
        spec.encryptionConfigSecretName = o.encryptionConfigSecretName;
    }
    spec.storageLocation = storageLocation(o.s3);
    return {
        apiVersion: BACKUP_API_VERSION, kind: "Restore",
        metadata: { name, labels: { ...MANAGED_BY_LABEL } },
        spec,
    };
}

// ---------------------------------------------------------------------------------------------------------------
// Backup file names

/** A backup file name taken apart (BRO backup controller generateBackupFilename). */
export interface BackupFileName {
    /** The Backup's metadata.name. */
    backupName: string;
    /** UID of the backed-up cluster's kube-system namespace: it names the cluster a file came from. */
    clusterUid: string;
    /** When the backup started (the operator's RFC3339 time with ':' replaced by '-'). */
    time: Date;
    encrypted: boolean;
}

// Time separators are '-' (current) or '#' (early releases; the retention regex still accepts both).
const FILE = /^(?:.*\/)?(.+)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-(\d{4}-\d{2}-\d{2})T(\d{2})[-#](\d{2})[-#](\d{2})(Z|[+-]\d{2}[-#]\d{2})\.tar\.gz(\.enc)?$/;

/**
 * Parses `<backup name>-<kube-system UID>-<YYYY-MM-DDTHH-MM-SS><Z|±HH-MM>.tar.gz[.enc]` (a folder prefix is ignored;
 * the time is the operator pod's local time, so usually Z),
 * e.g. `rancher-ha-scheduled-3f0e5c1a-8d2b-4c7e-9a61-0b5d2e7f4c19-2026-08-07T02-00-00Z.tar.gz.enc`. Undefined when the
 * name has another shape.
 */
export function parseBackupFilename(filename: string): BackupFileName | undefined {
    const m = FILE.exec(filename);
    if (!m) {
        return undefined;
    }
    const offset = m[7] === "Z" ? "Z" : `${m[7].slice(0, 3)}:${m[7].slice(4, 6)}`;
    const time = new Date(`${m[3]}T${m[4]}:${m[5]}:${m[6]}${offset}`);
    if (Number.isNaN(time.getTime())) {
        return undefined;
    }
    return { backupName: m[1], clusterUid: m[2], time, encrypted: m[8] !== undefined };
}

/** A one-time Backup's name for `backup-now` at `at` (UTC), e.g. `rancher-ha-now-20260807-120000`. */
export function onDemandBackupName(at: Date): string {
    const iso = at.toISOString(); // 2026-08-07T12:00:00.000Z
    return `rancher-ha-now-${iso.slice(0, 10).replace(/-/g, "")}-${iso.slice(11, 19).replace(/:/g, "")}`;
}

/** The S3 location of the stack's bucket (backup.s3, restoreFrom.s3) with the stage's credential Secret. */
export function s3LocationOf(s3: BackupS3Settings, credentialSecretName: string = S3_CREDENTIAL_SECRET): S3Location {
    return {
        bucketName: s3.bucketName, folder: s3.folder, region: s3.region, endpoint: s3.endpoint, endpointCA: s3.endpointCA,
        insecureTLSSkipVerify: s3.insecureTLSSkipVerify,
        credentialSecretName, credentialSecretNamespace: BACKUP_NAMESPACE,
    };
}
