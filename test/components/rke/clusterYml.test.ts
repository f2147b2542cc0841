import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { rkeYamlArgs } from "../../../components/rke/clusterYml";
import {
    durationSeconds, rkeClusterYaml, rkeConfigProblems, rkeKeyPath, rkeUpPlan,
} from "../../../components/rke/clusterYml";
import { fullRaw, minimalRaw, nodesRaw, settingsFrom } from "../../fixtures/rke/settings";
import { FIXTURES } from "../../helpers/paths";

type KeyNode = true | "map" | "any" | { [k: string]: KeyNode };
const KEYS = JSON.parse(fs.readFileSync(path.join(FIXTURES, "rke/clusterYmlKeys.json"), "utf8")) as {
    source: string;
    keys: { [k: string]: KeyNode };
};

/** Every key path in `doc` that RKE's cluster.yml does not have. */
function unknownKeys(doc: unknown, schema: KeyNode, at = ""): string[] {
    if (schema === true || schema === "any" || schema === "map" || doc === null || typeof doc !== "object") {
        return [];
    }
    if (Array.isArray(doc)) {
        const item = schema["[]"];
        return item === undefined ? [`${at} (not a list in RKE)`] : doc.flatMap((d, i) => unknownKeys(d, item, `${at}[${i}]`));
    }
    return Object.entries(doc as Record<string, unknown>).flatMap(([k, v]) => {
        const s = schema["{}"] ?? schema[k];
        return s === undefined ? [`${at}.${k}`] : unknownKeys(v, s, `${at}.${k}`);
    });
}

function render(raw: Record<string, unknown>, secrets: { registry?: string; s3?: string } = {}) {
    const s = settingsFrom(raw);
    const args = rkeYamlArgs(s, "192.0.2.10", { registryPassword: secrets.registry, s3SecretKey: secrets.s3 });
    const text = rkeClusterYaml(args);
    return { s, args, text, doc: yaml.load(text) as any };
}

describe("render: rancher-cluster.yml", () => {
    it("the key list fixture comes from RKE's types at a named commit", () => {
        assert.match(KEYS.source, /rancher\/rke v1\.6\.3 \([0-9a-f]{40}\)/);
        // Spot checks against types/rke_types.go as read by yaml.v2.
        assert.ok(typeof KEYS.keys.nodes === "object" && (KEYS.keys.nodes as any)["[]"].hostname_override === true);
        assert.ok((KEYS.keys.services as any).etcd.backup_config.s3backupconfig.secret_key === true);
        // The checker catches what yaml.v2 would silently ignore.
        assert.deepEqual(unknownKeys({ nodes: [{ adress: "x", labels: { any: "thing" } }], servces: {} }, KEYS.keys),
            [".nodes[0].adress", ".servces"]);
    });

    it("minimal: three all-role nodes, version pinned, keys by path, LB and hostname in the SANs", () => {
        const { s, text, doc } = render(minimalRaw());
        assert.deepEqual(unknownKeys(doc, KEYS.keys), []);
        assert.equal(doc.kubernetes_version, "v1.30.14-rancher1-1", "the default pair: rke v1.8.14 ships v1.30.14-rancher1-1 as its default");
        assert.equal(doc.cluster_name, "rancher");
        assert.equal(doc.nodes.length, 3);
        const keyPath = `~/rancher-ha/keys/${s.nodes[0].keyId}`;
        assert.deepEqual(doc.nodes[0], {
            address: "192.0.2.11", port: "22", user: "rancher", role: ["controlplane", "etcd", "worker"], ssh_key_path: keyPath,
        });
        assert.deepEqual(doc.authentication, { strategy: "x509", sans: ["192.0.2.10", "rancher.example.com"] });
        assert.deepEqual(doc.services.etcd, { snapshot: true, creation: "6h", retention: "24h" });
        assert.deepEqual(doc.network, { plugin: "canal" });
        assert.deepEqual(doc.ingress, { provider: "nginx" });
        assert.equal(doc.ignore_docker_version, false);
        assert.deepEqual(doc.upgrade_strategy, { max_unavailable_worker: "10%", max_unavailable_controlplane: "1", drain: false });
        assert.equal(doc.private_registries, undefined);
        assert.equal(doc.bastion_host, undefined);
        assert.ok(!/PRIVATE KEY|ssh_key:/.test(text), "no key material in the yml");
        assert.ok(text.startsWith("# Managed by rancher-ha"));
    });

    it("full: every supported setting lands under RKE's key, secrets included only where RKE reads them", () => {
        const { s, text, doc } = render(fullRaw(), { registry: "registry-s3cret", s3: "s3-s3cret" });
        assert.deepEqual(unknownKeys(doc, KEYS.keys), []);
        assert.equal(doc.kubernetes_version, "v1.29.9-rancher1-1");
        assert.equal(doc.cluster_name, "rancher-local");
        assert.deepEqual(doc.nodes[0], {
            address: "192.0.2.11", port: "2222", internal_address: "10.0.0.11", user: "rancher",
            role: ["controlplane", "etcd"], hostname_override: "cp-1", ssh_key_path: `/opt/rancher-ha/keys/${s.nodes[0].keyId}`,
        });
        assert.deepEqual(doc.nodes[3], {
            address: "192.0.2.14", port: "22", user: "rancher", role: ["worker"],
            ssh_key_path: `/opt/rancher-ha/keys/${s.nodes[3].keyId}`, docker_socket: "/run/docker.sock",
            labels: { app: "ingress", "example.com/tier": "front" },
            taints: [{ key: "dedicated", value: "ingress", effect: "NoSchedule" }, { key: "spot", effect: "PreferNoSchedule" }],
        });
        assert.notEqual(s.nodes[3].keyId, s.nodes[0].keyId, "the worker has its own key");
        assert.deepEqual(doc.services.etcd, {
            snapshot: true, creation: "6h", retention: "24h",
            backup_config: {
                // backup_config overrides creation/retention in RKE: the same schedule in its units.
                enabled: true, interval_hours: 6, retention: 4,
                s3backupconfig: {
                    bucket_name: "etcd-backups", endpoint: "s3.example.com", region: "eu-west-1", folder: "rancher",
                    access_key: "AKIAEXAMPLE", secret_key: "s3-s3cret",
                },
            },
        });
        assert.deepEqual(doc.private_registries, [{ url: "registry.example.com:5000", user: "puller", password: "registry-s3cret", is_default: true }]);
        assert.deepEqual(doc.bastion_host, {
            address: "198.51.100.5", port: "2200", user: "jump", ssh_key_path: `/opt/rancher-ha/keys/${s.bastion!.keyId}`,
        });
        assert.deepEqual(doc.network, { plugin: "calico" });
        assert.equal(doc.ignore_docker_version, true);
        assert.deepEqual(doc.upgrade_strategy, { max_unavailable_worker: "20%", max_unavailable_controlplane: "1", drain: true });
        assert.ok(!/PRIVATE KEY/.test(text));
    });

    it("is deterministic and YAML-safe for values that look like other types", () => {
        const raw = fullRaw();
        (raw.cluster as any).upgradeStrategy.maxUnavailableControlplane = "1";
        const a = render(raw, { registry: "yes", s3: "0123" });
        const b = render(raw, { registry: "yes", s3: "0123" });
        assert.equal(a.text, b.text);
        // js-yaml quotes strings that YAML 1.1 (yaml.v2) would read as bool/number.
        assert.equal(a.doc.private_registries[0].password, "yes");
        assert.equal(a.doc.services.etcd.backup_config.s3backupconfig.secret_key, "0123");
        assert.match(a.text, /password: "yes"/);
        assert.match(a.text, /max_unavailable_controlplane: "1"/);
    });

    it("scaling 3 -> 5 -> 4 nodes: only worker lines of the --update-only plan change", () => {
        const at = (n: number) => render(minimalRaw(nodesRaw(n)));
        const [three, five, four] = [at(3), at(5), at(4)];
        assert.deepEqual([three, five, four].map(r => r.doc.nodes.length), [3, 5, 4]);
        assert.deepEqual(five.doc.nodes.slice(0, 3), three.doc.nodes);
        assert.deepEqual(five.doc.nodes[4], { ...three.doc.nodes[0], address: "192.0.2.15", role: ["worker"], ssh_key_path: three.doc.nodes[0].ssh_key_path });
        const plans = [three, five, four].map(r => rkeUpPlan(r.args).trim().split("\n"));
        assert.equal(plans[0].length, 1, "no worker-only nodes at 3");
        assert.equal(plans[1][0], plans[0][0], "base unchanged when workers are added");
        assert.equal(plans[2][0], plans[0][0], "base unchanged when a worker is removed");
        assert.deepEqual(plans[1].slice(1).map(l => l.split(" ")[1]), ["192.0.2.14", "192.0.2.15"]);
        assert.deepEqual(plans[2].slice(1), plans[1].slice(1, 2), "the kept worker's line is the same");
    });

    it("the plan's base changes with anything that is not a worker-only node", () => {
        const base = (raw: Record<string, unknown>) => rkeUpPlan(render(raw).args).split("\n")[0];
        const ref = base(minimalRaw(nodesRaw(4)));
        const cp = nodesRaw(4);
        cp[3].roles = ["controlplane", "worker"];
        assert.notEqual(base(minimalRaw(cp)), ref, "a worker that becomes controlplane");
        const v = minimalRaw(nodesRaw(4));
        v.versions = { kubernetes: "v1.30.6-rancher1-1" };
        assert.notEqual(base(v), ref, "an upgrade");
        const labelled = nodesRaw(4);
        labelled[3].labels = { a: "b" };
        const plan = rkeUpPlan(render(minimalRaw(labelled)).args).split("\n");
        assert.equal(plan[0], ref, "a worker's labels are not in the base...");
        assert.notEqual(plan[1], rkeUpPlan(render(minimalRaw(nodesRaw(4))).args).split("\n")[1], "...but in its own line");
    });

    it("reports settings RKE would reject, naming the key and the fix", () => {
        const weave = render(minimalRaw()).args;
        weave.networkPlugin = "weave";
        assert.match(rkeConfigProblems(weave).join("\n"), /cluster\.networkPlugin: weave is not available for Kubernetes v1\.30\.14-rancher1-1.*use canal/);
        assert.throws(() => rkeClusterYaml(weave), /cannot be rendered/);
        const old = { ...weave, kubernetesVersion: "v1.29.9-rancher1-1" };
        assert.deepEqual(rkeConfigProblems(old), []);
        const s3 = render(fullRaw(), { s3: "x" }).args;
        s3.etcdSnapshots = { ...s3.etcdSnapshots, creation: "30m" };
        assert.match(rkeConfigProblems(s3).join("\n"), /etcdSnapshots\.creation: "30m" must be whole hours/);
    });

    it("rkeOverrides are deep-merged last: maps merge, lists and scalars replace, null removes", () => {
        const withOverrides = (overrides: Record<string, unknown>) =>
            render({ ...minimalRaw(), rkeOverrides: overrides }).doc;
        const plain = render(minimalRaw()).doc;
        const doc = withOverrides({
            services: { kubelet: { extra_args: { "max-pods": "250" }, fail_swap_on: null }, etcd: { retention: "72h" } },
            authentication: { sans: ["192.0.2.10", "rancher.example.com", "10.0.0.5"] },
            dns: { provider: "coredns" },
        });
        assert.deepEqual(unknownKeys(doc, KEYS.keys), []);
        assert.deepEqual(doc.services.kubelet, { extra_args: { "max-pods": "250" } }, "fail_swap_on removed by null");
        assert.deepEqual(doc.services.etcd, { ...plain.services.etcd, retention: "72h" }, "other etcd keys kept");
        assert.deepEqual(doc.authentication, { strategy: "x509", sans: ["192.0.2.10", "rancher.example.com", "10.0.0.5"] });
        assert.deepEqual(doc.dns, { provider: "coredns" });
        assert.deepEqual({ ...doc, services: plain.services, authentication: plain.authentication, dns: undefined }, { ...plain, dns: undefined });
        // An override is part of what decides whether rke up runs.
        const plan = (o?: Record<string, unknown>) => rkeUpPlan(rkeYamlArgs(settingsFrom({ ...minimalRaw(), ...(o ? { rkeOverrides: o } : {}) }), "192.0.2.10"));
        assert.notEqual(plan({ dns: { provider: "coredns" } }), plan());
    });

    it("helpers: key paths and durations", () => {
        assert.equal(rkeKeyPath("~/rancher-ha/", "0123456789abcdef"), "~/rancher-ha/keys/0123456789abcdef");
        assert.equal(rkeKeyPath("~", "0123456789abcdef"), "~/keys/0123456789abcdef");
        assert.equal(durationSeconds("90m"), 5400);
        assert.throws(() => durationSeconds("6 hours"), /not a duration/);
    });
});
