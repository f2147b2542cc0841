// backup and restoreFrom (+ the secrets backupS3SecretKey, restoreS3SecretKey, backupEncryptionKey): Rancher's own
// backups with the rancher-backup operator, and a new stack restored from one (the RKE1 -> RKE2 migration).
import * as pulumi from "@pulumi/pulumi";
import { BackupS3Settings, BackupSettings, DEFAULTS, RancherSetupSettings, RestoreFromSettings, TlsSettings } from "../types";
import { ConfigReader } from "../reader";
import { isS3Endpoint, shown } from "../names";
import {
    parseBackupFilename, rancherBackupChartVersion, RANCHER_BACKUP_LINES, resourceSetFor, validateBackupKey, validateSchedule,
} from "../../backup/resources";

type Raw = Record<string, unknown>;


/** An S3 location with its credentials: `<key>.s3` and the secret `<secretKey>`. */
function parseS3(r: ConfigReader, o: Raw, key: string, raw: Raw, secretKey: string): BackupS3Settings | undefined {
    const s3 = r.obj(o, "s3", `${key}.s3`);
    const bucketName = r.str(s3, "bucketName", { key: `${key}.s3.bucketName`, required: true });
    const accessKey = r.str(s3, "accessKey", { key: `${key}.s3.accessKey`, required: true });
    const endpoint = r.str(s3, "endpoint", { key: `${key}.s3.endpoint` }) ?? DEFAULTS.backupS3Endpoint;
    const region = r.str(s3, "region", { key: `${key}.s3.region` });
    const folder = r.str(s3, "folder", { key: `${key}.s3.folder` });
    const caFile = r.str(s3, "caFile", { key: `${key}.s3.caFile` });
    const insecureTLSSkipVerify = r.bool(s3, "insecureTLSSkipVerify", `${key}.s3.insecureTLSSkipVerify`) ?? false;
    const secret = r.secretStr(raw, secretKey);
    if (secret === undefined) {
        r.err(secretKey, `required with ${key}.s3: the S3 secret key of ${key}.s3.accessKey; ` +
            `pulumi config set --secret ${secretKey} <secret key> (the operator reads it from a Secret, never from a node's role)`);
    }
    if (bucketName !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName)) {
        r.err(`${key}.s3.bucketName`, `${shown(bucketName)} is not an S3 bucket name (3 to 63 lower-case letters, digits, . and -)`);
    }
    if (!isS3Endpoint(endpoint)) {
        r.err(`${key}.s3.endpoint`, `${shown(endpoint)} must be the S3 host[:port] without a scheme or path (the operator always ` +
            `uses TLS), e.g. ${DEFAULTS.backupS3Endpoint} or minio.example.com:9000`);
    }
    if (folder !== undefined && !/^[A-Za-z0-9._-]+$/.test(folder)) {
        r.err(`${key}.s3.folder`, `${shown(folder)}: one folder name without slashes (the operator does not support nested folders); ` +
            "give each cluster its own, e.g. rancher-prod");
    }
    let endpointCA: string | undefined;
    if (caFile !== undefined) {
        try {
            endpointCA = r.readFile(caFile);
            if (!endpointCA.includes("-----BEGIN CERTIFICATE-----")) {
                r.err(`${key}.s3.caFile`, `${shown(caFile)} holds no PEM certificate; give the CA that signed the S3 endpoint's certificate`);
            }
        } catch (e) {
            r.err(`${key}.s3.caFile`, `${shown(caFile)} cannot be read on the machine running Pulumi (${(e as NodeJS.ErrnoException).code ?? e})`);
        }
    }
    if (bucketName === undefined || accessKey === undefined || secret === undefined) {
        return undefined;
    }
    return {
        bucketName, endpoint, insecureTLSSkipVerify, accessKey, secretKey: pulumi.secret(secret),
        ...(region !== undefined ? { region } : {}), ...(folder !== undefined ? { folder } : {}), ...(endpointCA !== undefined ? { endpointCA } : {}),
    };
}

/** The encryption key (secret backupEncryptionKey), checked: 32 random bytes, base64. */
function encryptionKey(r: ConfigReader, raw: Raw): pulumi.Output<string> | undefined {
    const k = r.secretStr(raw, "backupEncryptionKey");
    if (k === undefined) {
        return undefined;
    }
    try {
        validateBackupKey(k);
    } catch (e) {
        r.err("backupEncryptionKey", `${(e as Error).message}; make one with: head -c 32 /dev/urandom | base64, or take the ` +
            "backupEncryptionKey output of the stack whose backups this stack restores");
    }
    return pulumi.secret(k);
}

function chartVersionFor(r: ConfigReader, o: Raw, key: string, rancherVersion: string): string {
    const given = r.str(o, "chartVersion", { key: `${key}.chartVersion` });
    const known = rancherBackupChartVersion(rancherVersion);
    if (given === undefined && known === undefined) {
        r.err(`${key}.chartVersion`, `no rancher-backup chart is known for Rancher ${rancherVersion} (known lines: ` +
            `${RANCHER_BACKUP_LINES.map(l => l.rancher).join(", ")}); set ${key}.chartVersion to the chart version that ` +
            "Rancher's Apps page offers for it");
    }
    return given ?? known ?? "";
}

export function parseBackup(r: ConfigReader, raw: Raw, rancherVersion: string): { backup?: BackupSettings; restoreFrom?: RestoreFromSettings } {
    const key = encryptionKey(r, raw);
    const out: { backup?: BackupSettings; restoreFrom?: RestoreFromSettings } = {};
    if (raw.backup !== undefined) {
        const o = r.obj(raw, "backup");
        const schedule = r.str(o, "schedule", { key: "backup.schedule" }) ?? DEFAULTS.backupSchedule;
        try {
            validateSchedule(schedule);
        } catch (e) {
            r.err("backup.schedule", `${(e as Error).message}; e.g. "0 */6 * * *" (every 6 hours) or @daily`);
        }
        const retentionCount = r.int(o, "retentionCount", "backup.retentionCount", 1, 10000) ?? DEFAULTS.backupRetentionCount;
        const resourceSet = r.str(o, "resourceSet", { key: "backup.resourceSet" }) ?? resourceSetFor(rancherVersion) ?? "";
        const s3 = parseS3(r, o, "backup", raw, "backupS3SecretKey");
        const chartVersion = chartVersionFor(r, o, "backup", rancherVersion);
        if (s3) {
            out.backup = { schedule, retentionCount, resourceSet, chartVersion, s3, ...(key ? { encryptionKey: key } : {}) };
        }
    } else if (raw.backupS3SecretKey !== undefined) {
        r.err("backupS3SecretKey", "set, but backup is not; configure backup.s3 or remove the key");
    }
    if (raw.restoreFrom !== undefined) {
        const o = r.obj(raw, "restoreFrom");
        const file = r.str(o, "backupFilename", { key: "restoreFrom.backupFilename", required: true });
        const parsed = file === undefined ? undefined : parseBackupFilename(file);
        if (file !== undefined && parsed === undefined) {
            r.err("restoreFrom.backupFilename", `${shown(file)} is not a rancher-backup file name (<name>-<uid>-<time>.tar.gz[.enc], ` +
                "as the old stack's `npm run ops -- backup-now` prints it or the bucket lists it)");
        }
        if (parsed?.encrypted && key === undefined) {
            r.err("backupEncryptionKey", `required: restoreFrom.backupFilename ${shown(file)} is encrypted; set the old stack's key: ` +
                "pulumi stack output backupEncryptionKey --show-secrets --stack <old> | pulumi config set --stack <this stack> --secret backupEncryptionKey");
        }
        const timeoutMinutes = r.int(o, "timeoutMinutes", "restoreFrom.timeoutMinutes", 1, 720) ?? DEFAULTS.restoreTimeoutMinutes;
        // The bucket of `backup` unless restoreFrom names its own.
        const s3 = o.s3 !== undefined ? parseS3(r, o, "restoreFrom", raw, "restoreS3SecretKey") : out.backup?.s3;
        if (o.s3 === undefined && raw.backup === undefined) {
            r.err("restoreFrom.s3", "required (or a backup section, whose bucket it then uses): where the backup file is");
        }
        const chartVersion = chartVersionFor(r, o, "restoreFrom", rancherVersion);
        if (file !== undefined && parsed !== undefined && s3 !== undefined) {
            out.restoreFrom = { backupFilename: file, s3, timeoutMinutes, chartVersion, encrypted: parsed.encrypted, ...(key ? { encryptionKey: key } : {}) };
        }
    } else if (raw.restoreS3SecretKey !== undefined) {
        r.err("restoreS3SecretKey", "set, but restoreFrom.s3 is not; configure it or remove the key");
    }
    return out;
}

/**
 * What a restored Rancher already has, so a restoring stack must not make it anew: the server's certificate chain
 * (downstream agents check its CA checksum) and the first-run setup and imported clusters (they are in the backup).
 */
export function restoreConflicts(r: ConfigReader, tls: TlsSettings, setup: RancherSetupSettings): void {
    if (tls.generateCa) {
        r.err("tls.generateCa", "not with restoreFrom: a new CA breaks every downstream cluster's agent, which checks the old " +
            "server's CA (CATTLE_CA_CHECKSUM); set tlsCert, tlsKey and tlsCaCert to the old server's instead (on the old cluster: " +
            "kubectl -n cattle-system get secret tls-rancher-ingress tls-ca -o yaml)");
    }
    if (setup.enabled) {
        r.err(setup.importedClusters.length > 0 ? "importedClusters" : "rancherSetup.enabled",
            "not with restoreFrom: the restored Rancher's admin, settings and clusters come from the backup (and before the switch " +
            "the hostname still reaches the old Rancher); remove rancherSetup and importedClusters from this stack");
    }
}
