// etcdSnapshots (+ the secret etcdS3SecretKey): recurring snapshots, optionally to S3.
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS, EtcdSnapshotSettings } from "../types";
import { ConfigReader } from "../reader";
import { isS3Endpoint, shown } from "../names";

export function parseSnapshots(r: ConfigReader, raw: Record<string, unknown>): EtcdSnapshotSettings {
    const o = r.obj(raw, "etcdSnapshots");
    const duration = (k: "creation" | "retention", def: string) => {
        const v = r.str(o, k, { key: `etcdSnapshots.${k}` }) ?? def;
        if (!/^\d+[smh]$/.test(v)) {
            r.err(`etcdSnapshots.${k}`, `${shown(v)} is not a duration; use e.g. 6h, 30m`);
        } else if (/^0+[smh]$/.test(v)) {
            r.err(`etcdSnapshots.${k}`, `${shown(v)} is no time at all; use e.g. ${def}`);
        }
        return v;
    };
    const s: EtcdSnapshotSettings = {
        enabled: r.bool(o, "enabled", "etcdSnapshots.enabled") ?? DEFAULTS.etcdSnapshots.enabled,
        creation: duration("creation", DEFAULTS.etcdSnapshots.creation),
        retention: duration("retention", DEFAULTS.etcdSnapshots.retention),
    };
    if (o.s3 !== undefined) {
        const s3 = r.obj(o, "s3", "etcdSnapshots.s3");
        const bucketName = r.str(s3, "bucketName", { key: "etcdSnapshots.s3.bucketName", required: true });
        const endpoint = r.str(s3, "endpoint", { key: "etcdSnapshots.s3.endpoint", required: true });
        const accessKey = r.str(s3, "accessKey", { key: "etcdSnapshots.s3.accessKey" });
        const secretKey = r.secretStr(raw, "etcdS3SecretKey");
        if ((accessKey === undefined) !== (secretKey === undefined)) {
            r.err("etcdSnapshots.s3.accessKey", "etcdSnapshots.s3.accessKey and the secret etcdS3SecretKey go together; " +
                "set both, or neither to use an IAM instance profile");
        }
        if (bucketName !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName)) {
            r.err("etcdSnapshots.s3.bucketName", `${shown(bucketName)} is not an S3 bucket name (3 to 63 lower-case letters, ` +
                "digits, . and -, starting and ending with a letter or digit), e.g. rancher-etcd");
        }
        if (endpoint !== undefined && !isS3Endpoint(endpoint)) {
            r.err("etcdSnapshots.s3.endpoint", `${shown(endpoint)} must be the S3 host[:port], without a scheme or path ` +
                "(RKE adds https://), e.g. s3.amazonaws.com or minio.example.com:9000");
        }
        // Read before the check below: every key read here is a known key (reader.ts), bucket or not.
        const region = r.str(s3, "region", { key: "etcdSnapshots.s3.region" });
        const folder = r.str(s3, "folder", { key: "etcdSnapshots.s3.folder" });
        const customCa = r.str(s3, "customCa", { key: "etcdSnapshots.s3.customCa" });
        if (bucketName !== undefined && endpoint !== undefined) {
            s.s3 = {
                bucketName, endpoint, accessKey, region, folder, customCa,
                secretKey: secretKey === undefined ? undefined : pulumi.secret(secretKey),
            };
        }
    } else if (raw.etcdS3SecretKey !== undefined) {
        r.err("etcdS3SecretKey", "set, but etcdSnapshots.s3 is not; configure the bucket or remove the key");
    }
    return s;
}

