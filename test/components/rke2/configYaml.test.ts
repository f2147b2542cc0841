// RKE2's config.yaml and registries.yaml as rendered from the stack, and etcdSnapshots as RKE2 takes them.
import { strict as assert } from "assert";
import * as yaml from "js-yaml";
import {
    REDACTED, Rke2ClusterInput, Rke2NodeInput, rke2NodeConfig, rke2NodeConfigYaml, rke2NodeConfigYamlRedacted, rke2RegistriesYaml,
    rke2SnapshotProblems, rke2SnapshotSchedule,
} from "../../../components/rke2/configYaml";

const cluster = (over: Partial<Rke2ClusterInput> = {}): Rke2ClusterInput => ({
    hostname: "rancher.example.com",
    lbAddress: "192.0.2.20",
    supervisorPort: 9345,
    cni: "canal",
    ingressProvider: "traefik",
    etcdSnapshots: { enabled: true, creation: "6h", retention: "24h" },
    serverConfig: {},
    agentConfig: {},
    ...over,
});
const server = (i: number, over: Partial<Rke2NodeInput> = {}): Rke2NodeInput => ({
    address: `192.0.2.2${i}`, roles: ["controlplane", "etcd", "worker"], labels: {}, taints: [], ...over,
});
const agent: Rke2NodeInput = { address: "192.0.2.24", roles: ["worker"], labels: {}, taints: [] };
const TOKEN = "rh-0123456789abcdef0123456789abcdef0123456789abcdef";

describe("rke2 config.yaml", () => {
    it("first server: no server key, the token, tls-san with the LB and hostname, cni, ingress, snapshots", () => {
        assert.deepEqual(rke2NodeConfig(cluster(), server(1), { first: true, token: TOKEN }), {
            "token": TOKEN,
            "node-ip": "192.0.2.21",
            "tls-san": ["192.0.2.20", "rancher.example.com"],
            "cni": "canal",
            "ingress-controller": "traefik",
            "etcd-snapshot-schedule-cron": "0 */6 * * *",
            "etcd-snapshot-retention": 4,
        });
    });

    it("joining servers: join through the LB's supervisor port; the cluster-wide keys are identical on every server", () => {
        const c = cluster({ serverConfig: { "profile": "cis", "kube-apiserver-arg": ["audit-log-maxage=30"] } });
        const configs = [1, 2, 3].map(i => rke2NodeConfig(c, server(i), { first: i === 1, token: TOKEN }));
        assert.equal(configs[0].server, undefined);
        assert.equal(configs[1].server, "https://192.0.2.20:9345");
        const clusterWide = (o: Record<string, unknown>) =>
            Object.fromEntries(Object.entries(o).filter(([k]) => !k.startsWith("node-") && k !== "server"));
        assert.deepEqual(clusterWide(configs[1]), clusterWide(configs[0]));
        assert.deepEqual(clusterWide(configs[2]), clusterWide(configs[0]));
        assert.equal(configs[2]["profile"], "cis");
        assert.deepEqual(configs[2]["kube-apiserver-arg"], ["audit-log-maxage=30"]);
    });

    it("node settings: node-name, node-ip/node-external-ip, labels and taints in RKE2's k=v and k=v:Effect forms", () => {
        const c = rke2NodeConfig(cluster(), server(2, {
            internalAddress: "10.20.0.22", hostnameOverride: "cp-2",
            labels: { "zone": "b", "example.com/tier": "front" },
            taints: [{ key: "dedicated", value: "rancher", effect: "NoSchedule" }, { key: "spot", effect: "PreferNoSchedule" }],
        }), { first: false, token: TOKEN });
        assert.equal(c["node-name"], "cp-2");
        assert.equal(c["node-ip"], "10.20.0.22");
        assert.equal(c["node-external-ip"], "192.0.2.22");
        assert.deepEqual(c["node-label"], ["example.com/tier=front", "zone=b"]);
        assert.deepEqual(c["node-taint"], ["dedicated=rancher:NoSchedule", "spot:PreferNoSchedule"]);
    });

    it("a server without the worker role gets RKE2's CriticalAddonsOnly taint (no workloads on it)", () => {
        const c = rke2NodeConfig(cluster(), server(1, { roles: ["controlplane", "etcd"], taints: [{ key: "a", effect: "NoSchedule" }] }),
            { first: true, token: TOKEN });
        assert.deepEqual(c["node-taint"], ["a:NoSchedule", "CriticalAddonsOnly=true:NoExecute"]);
        assert.equal(rke2NodeConfig(cluster(), server(1), { first: true, token: TOKEN })["node-taint"], undefined);
    });

    it("agents get no cluster-wide server keys, only agentConfig", () => {
        const c = rke2NodeConfig(cluster({ agentConfig: { "kubelet-arg": ["max-pods=200"] }, serverConfig: { profile: "cis" } }),
            agent, { first: false, token: TOKEN });
        assert.deepEqual(c, {
            "server": "https://192.0.2.20:9345", "token": TOKEN, "node-ip": "192.0.2.24", "kubelet-arg": ["max-pods=200"],
        });
    });

    it("ingress nginx and none use RKE2's names; snapshots off; S3 with its CA file; a private default registry", () => {
        const nginx = rke2NodeConfig(cluster({ ingressProvider: "nginx" }), server(1), { first: true, token: TOKEN });
        assert.equal(nginx["ingress-controller"], "ingress-nginx");
        const none = rke2NodeConfig(cluster({ ingressProvider: "none", cni: "cilium" }), server(1), { first: true, token: TOKEN });
        assert.equal(none["ingress-controller"], "none");
        assert.equal(none["cni"], "cilium");
        const off = rke2NodeConfig(cluster({ etcdSnapshots: { enabled: false, creation: "6h", retention: "24h" } }), server(1), { first: true, token: TOKEN });
        assert.equal(off["etcd-disable-snapshots"], true);
        assert.equal(off["etcd-snapshot-schedule-cron"], undefined);
        const s3 = rke2NodeConfig(cluster({
            etcdSnapshots: {
                enabled: true, creation: "30m", retention: "12h",
                s3: { bucketName: "etcd", endpoint: "minio.example.com:9000", region: "eu", folder: "rancher", accessKey: "AK", secretKey: "SK", customCa: "PEM" },
            },
            privateRegistry: { url: "registry.example.com:5000", isDefault: true },
        }), agent, { first: false, token: TOKEN });
        assert.equal(s3["system-default-registry"], "registry.example.com:5000", "agents pull system images from it too");
        assert.equal(s3["etcd-s3"], undefined, "etcd keys are for servers only");
        const s3s = rke2NodeConfig(cluster({
            etcdSnapshots: {
                enabled: true, creation: "30m", retention: "12h",
                s3: { bucketName: "etcd", endpoint: "minio.example.com:9000", region: "eu", folder: "rancher", accessKey: "AK", secretKey: "SK", customCa: "PEM" },
            },
        }), server(1), { first: true, token: TOKEN });
        assert.deepEqual(Object.fromEntries(Object.entries(s3s).filter(([k]) => k.startsWith("etcd"))), {
            "etcd-snapshot-schedule-cron": "*/30 * * * *",
            "etcd-snapshot-retention": 24,
            "etcd-s3": true,
            "etcd-s3-endpoint": "minio.example.com:9000",
            "etcd-s3-bucket": "etcd",
            "etcd-s3-region": "eu",
            "etcd-s3-folder": "rancher",
            "etcd-s3-access-key": "AK",
            "etcd-s3-secret-key": "SK",
            "etcd-s3-endpoint-ca": "/etc/rancher/rke2/etcd-s3-ca.pem",
        });
    });

    it("renders YAML that reads back to the same data, byte-identical on every render; review redacts token and S3 key", () => {
        const c = cluster({ etcdSnapshots: { enabled: true, creation: "6h", retention: "24h", s3: { bucketName: "etcd", endpoint: "s3.example.com", accessKey: "AK", secretKey: "S3-SECRET" } } });
        const text = rke2NodeConfigYaml(c, server(2), { first: false, token: TOKEN });
        assert.equal(text, rke2NodeConfigYaml(c, server(2), { first: false, token: TOKEN }));
        assert.match(text, /^# Written by rancher-ha/);
        assert.deepEqual(yaml.load(text), rke2NodeConfig(c, server(2), { first: false, token: TOKEN }));
        const review = rke2NodeConfigYamlRedacted(c, server(2), false);
        assert.ok(!review.includes(TOKEN) && !review.includes("S3-SECRET"));
        const r = yaml.load(review) as Record<string, unknown>;
        assert.equal(r.token, REDACTED);
        assert.equal(r["etcd-s3-secret-key"], REDACTED);
        assert.equal(r["etcd-s3-access-key"], "AK");
    });

    it("registries.yaml carries the registry's login for containerd", () => {
        assert.deepEqual(yaml.load(rke2RegistriesYaml({ url: "registry.example.com:5000", user: "puller", password: "pw" })), {
            configs: { "registry.example.com:5000": { auth: { username: "puller", password: "pw" } } },
        });
        assert.deepEqual(yaml.load(rke2RegistriesYaml({ url: "registry.example.com" })), { configs: { "registry.example.com": {} } });
        assert.deepEqual(yaml.load(rke2RegistriesYaml({ url: "registry.example.com:5000", isDefault: true })), {
            mirrors: { "docker.io": { endpoint: ["https://registry.example.com:5000"] } },
            configs: { "registry.example.com:5000": {} },
        });
    });
});

describe("rke2 etcd snapshot schedule", () => {
    it("turns RKE's durations into a cron step and a count kept per server", () => {
        assert.deepEqual(rke2SnapshotSchedule("6h", "24h"), { cron: "0 */6 * * *", retention: 4 });
        assert.deepEqual(rke2SnapshotSchedule("12h", "72h"), { cron: "0 */12 * * *", retention: 6 });
        assert.deepEqual(rke2SnapshotSchedule("24h", "168h"), { cron: "0 0 * * *", retention: 7 });
        assert.deepEqual(rke2SnapshotSchedule("15m", "1h"), { cron: "*/15 * * * *", retention: 4 });
        assert.deepEqual(rke2SnapshotSchedule("1h", "90m"), { cron: "0 */1 * * *", retention: 2 });
    });

    it("refuses what cron cannot step evenly, seconds, and a retention shorter than one snapshot", () => {
        const keys = (c: string, r: string) => rke2SnapshotProblems(c, r).map(p => p.key);
        assert.deepEqual(keys("6h", "24h"), []);
        assert.deepEqual(keys("5h", "24h"), ["etcdSnapshots.creation"]);
        assert.deepEqual(keys("45m", "24h"), ["etcdSnapshots.creation"]);
        assert.deepEqual(keys("90m", "24h"), ["etcdSnapshots.creation"]);
        assert.deepEqual(keys("30s", "24h"), ["etcdSnapshots.creation"]);
        assert.deepEqual(keys("6h", "1h"), ["etcdSnapshots.retention"]);
        assert.deepEqual(keys("5m", "100h"), ["etcdSnapshots.retention"]);
        assert.match(rke2SnapshotProblems("5h", "24h")[0].message, /hours that divide a day \(1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h\)/);
        assert.throws(() => rke2SnapshotSchedule("5h", "24h"), /config check missed it/);
    });
});
