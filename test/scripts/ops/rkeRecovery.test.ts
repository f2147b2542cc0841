// Recovery of an RKE cluster from its state: the parser, the cluster.yml rebuild, the stack config entries, and the
// round trip renderer -> state -> recovery -> renderer.
//
// test/fixtures/rke/recovered.rkestate.json is written by hand after cluster/state.go FullState and types/rke_types.go
// (RKE v1.6.3): a 3-node Rancher HA cluster built with rke by hand (SSH user root, as states usually say), with RKE's
// defaults filled in the way setClusterDefaults does, a few customised settings (etcd quota, kubelet max-pods, an
// ingress option, a registry), and a desiredState left by an upgrade that did not finish. Every PEM in it is FAKE
// (base64 of "FAKE ... FOR TESTS ONLY - NOT A REAL PEM") and the registry password is a marked fake.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { rkeYamlArgs } from "../../../components/rke/clusterYml";
import { rkeClusterConfig, rkeClusterYaml } from "../../../components/rke/clusterYml";
import { rkeJsonToYaml, rkeYamlToJson, RKE_KEY_MAP_SOURCE } from "../../../components/rke/rkeKeys";
import keyMap from "../../../components/rke/rkeKeyMap.json";
import {
    comparable, compareNodes, differences, fullStateFromObject, parseRkeState, rebuildClusterYml, recoverStackConfig, StackRenderer,
} from "../../../scripts/ops/rkeRecovery";
import { parseConfig } from "../../../components/config";
import { withoutHostKeyCheck } from "../../../scripts/stackFile";
import { withEntries } from "../../../scripts/ops/stackRender";
import { CLUSTER_KEY, fullRaw, minimalRaw, settingsFrom } from "../../fixtures/rke/settings";
import { FIXTURES } from "../../helpers/paths";
import { nodeList, rkeNode } from "../../fixtures/rke/opsDoubles";

const FIXTURE = fs.readFileSync(path.join(FIXTURES, "rke/recovered.rkestate.json"), "utf8");
const FAKE_PASSWORD = "FAKE-registry-password-for-tests";
type Obj = Record<string, any>;

/** The stack a user adopting the cluster starts from: hostname, LB, SSH, the registry password they set. */
function baseStack(extra: Obj = {}): Obj {
    return {
        hostname: "rancher.example.com", loadBalancer: { address: "192.0.2.20" }, ssh: { user: "rancher", knownHostsFile: "/test/known_hosts" },
        sshPrivateKey: CLUSTER_KEY, ...extra,
    };
}

/** What `pulumi up` renders from the base stack plus recovered entries (the real parser and renderer). */
function renderer(base: Obj): StackRenderer {
    return (entries, pending) => {
        const raw: Obj = withEntries(base, entries);
        for (const k of pending) {
            raw[k] = raw[k] ?? `pending-${k}`;
        }
        return rkeClusterConfig(rkeYamlArgs(settingsFrom(withoutHostKeyCheck(raw)), raw.loadBalancer.address, { registryPassword: "secret", s3SecretKey: "secret" }));
    };
}

/** Key paths of a cluster.yml that RKE's yaml.v2 reading would not know (the independently extracted list). */
type YmlKey = true | "map" | "any" | { [k: string]: YmlKey };
const YML_KEYS = JSON.parse(fs.readFileSync(path.join(FIXTURES, "rke/clusterYmlKeys.json"), "utf8")).keys as Record<string, YmlKey>;
function unknownYmlKeys(doc: unknown, schema: YmlKey, at = ""): string[] {
    if (schema === true || schema === "any" || schema === "map" || doc === null || typeof doc !== "object") {
        return [];
    }
    if (Array.isArray(doc)) {
        const item = schema["[]"];
        return item === undefined ? [`${at} (not a list)`] : doc.flatMap((d, i) => unknownYmlKeys(d, item, `${at}[${i}]`));
    }
    return Object.entries(doc as Obj).flatMap(([k, v]) => {
        const s = schema["{}"] ?? schema[k];
        return s === undefined ? [`${at}.${k}`] : unknownYmlKeys(v, s, `${at}.${k}`);
    });
}

/** What RKE adds to a node of cluster.yml before it writes the state (cluster/defaults.go setClusterDefaults). */
function withRkeNodeDefaults(cfg: Obj): Obj {
    return {
        ...cfg,
        nodes: cfg.nodes.map((n: Obj) => ({
            internalAddress: n.address, hostnameOverride: n.address, port: "22", sshKeyPath: "~/.ssh/id_rsa", ...n,
        })),
    };
}

/** A state as RKE writes it after a successful rke up of `clusterYml` (config in both halves, a fake bundle). */
function stateFor(clusterYml: Obj, mutate: (json: Obj) => void = () => undefined): string {
    const { value, unknown } = rkeYamlToJson(clusterYml);
    assert.deepEqual(unknown, [], "every rendered key maps to a state key");
    const cfg = withRkeNodeDefaults(value);
    mutate(cfg);
    const bundle = { "kube-ca": { certificatePEM: "FAKE", keyPEM: "FAKE", name: "kube-ca" } };
    return JSON.stringify({ desiredState: { rkeConfig: cfg, certificatesBundle: bundle }, currentState: { rkeConfig: cfg, certificatesBundle: bundle } });
}

describe("scripts/ops/rkeRecovery", () => {
    describe("key map (rkestate JSON names <-> cluster.yml names)", () => {
        it("comes from RKE's types at a named commit and agrees with the independently extracted cluster.yml key list", () => {
            assert.match(RKE_KEY_MAP_SOURCE, /rancher\/rke 40c5dd465677305662bc0471bfb9cf6ccf966782/);
            // yaml names of the map, as a tree, equal the existing list except update_strategy (copied as is on purpose).
            const toYamlTree = (fields: Obj): Obj => Object.fromEntries(Object.values(fields).map((n: Obj) => [n.yaml,
                n.fields === undefined ? (n.type === "map" ? "map" : n.type === "any" ? "any" : true)
                    : n.type === "list" ? { "[]": toYamlTree(n.fields) } : n.type === "dict" ? { "{}": toYamlTree(n.fields) } : toYamlTree(n.fields)]));
            const strip = (t: any): any => (typeof t !== "object" ? t : Object.fromEntries(Object.entries(t)
                .map(([k, v]) => [k, k === "update_strategy" ? true : strip(v)])));
            // Leaf kinds aside ("any"/"map"/an empty struct are all copied as they are).
            const norm = (t: any): any => JSON.parse(JSON.stringify(strip(t)).replace(/"(any|map)"|\{"\[\]":\{\}\}/g, "true"));
            assert.deepEqual(norm(toYamlTree(keyMap.keys)), norm(YML_KEYS));
        });

        it("converts both ways: kubeApi <-> kube-api, s3BackupConfig <-> s3backupconfig, free maps and lists untouched", () => {
            const json = {
                services: { kubeApi: { serviceClusterIpRange: "10.43.0.0/16", extraArgs: { "audit-log-maxage": "30" } },
                    etcd: { backupConfig: { intervalHours: 6, s3BackupConfig: { bucketName: "b", secretKey: "s" } } } },
                nodes: [{ address: "a", role: ["etcd"], taints: [{ key: "k", effect: "NoSchedule" }], nodeName: "c-x:m-y" }],
                network: { canalNetworkProvider: { iface: "eth1" } },
                bogusKey: 1,
            };
            const y = rkeJsonToYaml(json);
            assert.deepEqual(y.unknown, ["bogusKey"]);
            assert.deepEqual(y.value, {
                services: { "kube-api": { service_cluster_ip_range: "10.43.0.0/16", extra_args: { "audit-log-maxage": "30" } },
                    etcd: { backup_config: { interval_hours: 6, s3backupconfig: { bucket_name: "b", secret_key: "s" } } } },
                nodes: [{ address: "a", role: ["etcd"], taints: [{ key: "k", effect: "NoSchedule" }], nodeName: "c-x:m-y" }],
                network: { canal_network_provider: { iface: "eth1" } },
            });
            const { bogusKey: _b, ...known } = json;
            assert.deepEqual(rkeYamlToJson(y.value).value, known);
        });
    });

    describe("reading the state", () => {
        it("takes the state out of the full-cluster-state Secret (base64) or the older ConfigMap (text)", () => {
            const secret = JSON.stringify({ kind: "Secret", data: { "full-cluster-state": Buffer.from(FIXTURE).toString("base64") } });
            const cm = JSON.stringify({ kind: "ConfigMap", data: { "full-cluster-state": FIXTURE } });
            assert.deepEqual(fullStateFromObject(secret), { kind: "Secret", state: FIXTURE });
            assert.deepEqual(fullStateFromObject(cm), { kind: "ConfigMap", state: FIXTURE });
            assert.throws(() => fullStateFromObject(JSON.stringify({ kind: "Pod" })), /expected a Secret or ConfigMap kube-system\/full-cluster-state, got "Pod"; .*--from is a controlplane node/);
            assert.throws(() => fullStateFromObject("Error from server"), /not JSON/);
        });

        it("says what is wrong with the object and what to do: a missing or empty data key, corrupt base64 (decoded strictly)", () => {
            const secret = (data: unknown) => JSON.stringify({ kind: "Secret", data });
            assert.throws(() => fullStateFromObject(secret({ other: "eA==" })),
                /^Error: the Secret kube-system\/full-cluster-state has no data\["full-cluster-state"\] \(its data keys: other\); the cluster's copy of the state is unusable: adopt it from a state file .*etcd snapshot/);
            assert.throws(() => fullStateFromObject(JSON.stringify({ kind: "ConfigMap" })), /the ConfigMap .* has no data\["full-cluster-state"\] \(its data keys: none\)/);
            assert.throws(() => fullStateFromObject(secret({ "full-cluster-state": "" })), /has an empty data\["full-cluster-state"\]/);
            const b64 = Buffer.from(FIXTURE).toString("base64");
            // A character base64 does not have (Node's lenient decoder would skip it and hand a broken JSON on).
            const corrupt = `${b64.slice(0, 3000)}*${b64.slice(3001)}`;
            assert.throws(() => fullStateFromObject(secret({ "full-cluster-state": corrupt })),
                /data\["full-cluster-state"\] of the Secret kube-system\/full-cluster-state is not valid base64: character "\*" at position 3000; the cluster's copy of the state is unusable/);
            assert.throws(() => fullStateFromObject(secret({ "full-cluster-state": b64.slice(0, -5) })), /is not valid base64 \(\d+ characters, not a multiple of 4; truncated or corrupted\)/);
            assert.throws(() => fullStateFromObject(secret({ "full-cluster-state": `QQ==${b64}` })), /is not valid base64 \(\d+ characters, padding at position 2/);
        });

        it("builds the admin kubeconfig from the kube-admin certificate, key and kube-ca when the state's is empty", () => {
            const st = JSON.parse(FIXTURE);
            st.currentState.certificatesBundle["kube-admin"].config = "";
            // The first controlplane node is not the first node.
            st.currentState.rkeConfig.nodes[0].role = ["worker"];
            const parsed = parseRkeState(JSON.stringify(st));
            assert.equal(parsed.kubeconfigBuilt, true);
            const kc = yaml.load(parsed.kubeconfig!) as Obj;
            const b64 = (t: string) => Buffer.from(t).toString("base64");
            const bundle = st.currentState.certificatesBundle;
            assert.equal(kc.clusters[0].cluster.server, "https://192.0.2.22:6443");
            assert.equal(kc.clusters[0].cluster["certificate-authority-data"], b64(bundle["kube-ca"].certificatePEM));
            assert.deepEqual(kc.users[0], { name: "kube-admin-local", user: {
                "client-certificate-data": b64(bundle["kube-admin"].certificatePEM), "client-key-data": b64(bundle["kube-admin"].keyPEM),
            } });
            assert.equal(kc["current-context"], "local");
            assert.match(parsed.warnings.join("\n"), /kube-admin kubeconfig is empty; built it from the kube-admin certificate and key and kube-ca/);
            // Same layout as RKE's own (the fixture's, for a cluster whose first node is a controlplane node).
            const same = JSON.parse(FIXTURE);
            const original = same.currentState.certificatesBundle["kube-admin"].config;
            same.currentState.certificatesBundle["kube-admin"].config = "";
            assert.equal(parseRkeState(JSON.stringify(same)).kubeconfig, original);
            delete same.currentState.certificatesBundle["kube-admin"].keyPEM;
            assert.equal(parseRkeState(JSON.stringify(same)).kubeconfig, undefined);
        });

        it("compares the state's nodes with kubectl get nodes: each node on one side only, with the fix", () => {
            const cfg = parseRkeState(FIXTURE).config;
            const list = nodeList([
                rkeNode("rancher-01", "192.0.2.21", ["controlplane", "etcd", "worker"], "10.0.0.21"),
                rkeNode("rancher-02", "192.0.2.22", ["controlplane", "etcd", "worker"]),
                rkeNode("192.0.2.23", "192.0.2.23", ["controlplane", "etcd", "worker"]),
            ]);
            assert.deepEqual(compareNodes(cfg, list, "prod"), []);
            const differ = nodeList([
                rkeNode("rancher-01", "192.0.2.21", ["controlplane", "etcd", "worker"]),
                rkeNode("rancher-02", "192.0.2.22", ["controlplane", "etcd", "worker"]),
                rkeNode("worker-04", "192.0.2.24", ["worker"]),
            ]);
            const m = compareNodes(cfg, differ, "prod");
            assert.deepEqual(m.map(x => [x.kind, x.name, x.address, x.roles.join(",")]), [
                ["missing-from-state", "worker-04", "192.0.2.24", "worker"],
                ["missing-from-cluster", "192.0.2.23", "192.0.2.23", "controlplane,etcd,worker"],
            ]);
            assert.match(m[0].text, /add it to the stack's nodes with its roles .*\{address: 192\.0\.2\.24, roles: \[worker\]\}.*kubectl drain worker-04 --ignore-daemonsets --delete-emptydir-data && kubectl delete node worker-04/);
            assert.match(m[1].text, /remove it from the stack's nodes in Pulumi\.prod\.yaml before pulumi up/);
        });

        it("parses the fixture: what runs (currentState), the admin kubeconfig, certificate names, the unfinished upgrade", () => {
            const st = parseRkeState(FIXTURE);
            assert.equal(st.text, FIXTURE, "kept byte for byte for rancher-cluster.rkestate");
            assert.equal(st.from, "currentState");
            assert.equal(st.config.kubernetesVersion, "v1.28.15-rancher1-1");
            assert.match(st.kubeconfig!, /^apiVersion: v1\nkind: Config\n[\s\S]*server: "https:\/\/192\.0\.2\.21:6443"[\s\S]*user: "kube-admin-local"/);
            assert.deepEqual(st.certificates.slice(0, 3), ["kube-admin", "kube-apiserver", "kube-ca"]);
            assert.equal(st.certificates.length, 8);
            assert.equal(st.warnings.length, 1);
            assert.match(st.warnings[0], /the last rke up did not finish: desiredState asks for v1\.29\.10-rancher1-1 .* currentState runs v1\.28\.15-rancher1-1/);
        });

        it("refuses what cannot be adopted, saying why", () => {
            assert.throws(() => parseRkeState("{oops"), /not an RKE state file/);
            assert.throws(() => parseRkeState("{}"), /neither currentState nor desiredState has an rkeConfig/);
            const noCerts = JSON.parse(FIXTURE);
            delete noCerts.currentState.certificatesBundle;
            delete noCerts.desiredState.certificatesBundle;
            assert.throws(() => parseRkeState(JSON.stringify(noCerts)), /no certificates .*would create a new CA and break the cluster/);
            const noNodes = JSON.parse(FIXTURE);
            noNodes.currentState.rkeConfig.nodes = [];
            assert.throws(() => parseRkeState(JSON.stringify(noNodes)), /currentState\.rkeConfig has no nodes/);
        });
    });

    describe("rebuilding cluster.yml", () => {
        it("gives RKE's snake_case keys with nodes, services, network, authentication and system images as they run", () => {
            const yml: Obj = rebuildClusterYml(parseRkeState(FIXTURE), { user: "rancher", sshKeyPath: "~/rancher-ha/keys/0123456789abcdef" });
            assert.deepEqual(unknownYmlKeys(yml, YML_KEYS), []);
            assert.equal(yml.kubernetes_version, "v1.28.15-rancher1-1", "kubernetes_version kept: rke would otherwise upgrade");
            assert.deepEqual(yml.nodes[0], {
                address: "192.0.2.21", port: "22", internal_address: "10.0.0.21", role: ["etcd", "controlplane", "worker"],
                hostname_override: "rancher-01", user: "rancher", ssh_key_path: "~/rancher-ha/keys/0123456789abcdef",
            });
            assert.deepEqual(yml.nodes[2].taints, [{ key: "dedicated", value: "rancher", effect: "PreferNoSchedule" }]);
            assert.equal(yml.nodes[2].docker_socket, "/run/docker.sock");
            assert.deepEqual(yml.services.kubelet.extra_args, { "max-pods": "250" });
            assert.equal(yml.services["kube-api"].service_cluster_ip_range, "10.43.0.0/16");
            assert.equal(yml.services["kube-api"].image, undefined, "per-service images are ignored by RKE v1.6 and left out");
            assert.deepEqual(yml.authentication, { strategy: "x509", sans: ["192.0.2.20"] });
            assert.equal(yml.network.plugin, "canal");
            assert.equal(Object.keys(yml.system_images).length, 33);
            assert.equal(yml.system_images.kubernetes, "rancher/hyperkube:v1.28.15-rancher1");
            assert.equal(yml.restore, undefined, "action flags are never carried");
            // and it is valid YAML for rke
            assert.deepEqual(yaml.load(yaml.dump(yml)), yml);
        });

        it("behind a bastion: its key path and user are rewritten like the nodes' (keys/<keyId> in the work dir)", () => {
            const st = JSON.parse(FIXTURE);
            st.currentState.rkeConfig.bastionHost = { address: "192.0.2.5", port: "22", user: "root", sshKeyPath: "~/.ssh/id_rsa" };
            const parsed = parseRkeState(JSON.stringify(st));
            const yml: Obj = rebuildClusterYml(parsed, {
                user: "rancher", sshKeyPath: "~/rancher-ha/keys/0123456789abcdef", bastionKeyPath: "~/rancher-ha/keys/fedcba9876543210", bastionUser: "jump",
            });
            assert.deepEqual(yml.bastion_host, { address: "192.0.2.5", port: "22", user: "jump", ssh_key_path: "~/rancher-ha/keys/fedcba9876543210" });
            assert.deepEqual(unknownYmlKeys(yml, YML_KEYS), []);
            assert.equal((rebuildClusterYml(parsed) as Obj).bastion_host.ssh_key_path, "~/.ssh/id_rsa", "kept without options");
        });
    });

    describe("stack config from the recovered state", () => {
        const recovered = () => recoverStackConfig(parseRkeState(FIXTURE), { sshUser: "rancher" }, renderer(baseStack()));

        it("maps nodes (roles, addresses, overrides, labels, taints, socket), the version and the modeled cluster settings", () => {
            const { entries } = recovered();
            assert.deepEqual(entries.nodes, [
                { address: "192.0.2.21", internalAddress: "10.0.0.21", roles: ["controlplane", "etcd", "worker"], hostnameOverride: "rancher-01" },
                { address: "192.0.2.22", internalAddress: "10.0.0.22", roles: ["controlplane", "etcd", "worker"], hostnameOverride: "rancher-02",
                    labels: { "topology.kubernetes.io/zone": "zone-b" } },
                { address: "192.0.2.23", internalAddress: "10.0.0.23", roles: ["controlplane", "etcd", "worker"],
                    taints: [{ key: "dedicated", value: "rancher", effect: "PreferNoSchedule" }], dockerSocket: "/run/docker.sock" },
            ], "root from the state is replaced by ssh.user (no per-node user); a hostname override equal to the address is RKE's default");
            assert.deepEqual(entries.versions, { kubernetes: "v1.28.15-rancher1-1" });
            assert.deepEqual(entries.cluster, {
                name: "local", networkPlugin: "canal", ingressProvider: "nginx",
                upgradeStrategy: { maxUnavailableWorker: "10%", maxUnavailableControlplane: "1", drain: false },
            });
            assert.deepEqual(entries.etcdSnapshots, { enabled: true, creation: "12h", retention: "72h" });
            assert.deepEqual(entries.privateRegistry, { url: "registry.example.com:5000", user: "puller", isDefault: true });
        });

        it("puts only what differs from RKE's defaults and the rendered config into rkeOverrides", () => {
            assert.deepEqual(recovered().entries.rkeOverrides, {
                services: {
                    etcd: { extra_args: { "quota-backend-bytes": "6442450944" }, backup_config: { interval_hours: 12, retention: 6, timeout: 300 } },
                    "kube-api": { extra_args: { "audit-log-maxage": "30" } },
                    kubelet: {
                        extra_args: { "max-pods": "250" },
                        extra_binds: ["/usr/libexec/kubernetes/kubelet-plugins:/usr/libexec/kubernetes/kubelet-plugins"],
                    },
                },
                ingress: { options: { "use-forwarded-headers": "true" } },
            });
        });

        it("never writes a secret: the registry password becomes a `pulumi config set --secret` step", () => {
            const r = recovered();
            assert.ok(!JSON.stringify(r.entries).includes(FAKE_PASSWORD));
            assert.deepEqual(r.secrets, [{ key: "privateRegistryPassword", statePath: ".currentState.rkeConfig.privateRegistries[0].password" }]);
            const texts = r.notes.map(n => `${n.kind}: ${n.text}`);
            assert.ok(texts.some(t => /^secret: privateRegistryPassword: set it before pulumi up: pulumi config set --secret privateRegistryPassword/.test(t)));
            assert.ok(texts.some(t => /^dropped: system_images: 33 images not carried/.test(t)));
            assert.ok(texts.some(t => /^info: nodes: the state says SSH user root; rancher-ha uses rancher \(ssh\.user\)/.test(t)));
        });

        it("what pulumi up then renders equals what runs, except the SANs the stack needs (said as a change)", () => {
            const base = baseStack({ privateRegistryPassword: "set-by-the-user" });
            const r = recoverStackConfig(parseRkeState(FIXTURE), { sshUser: "rancher" }, renderer(base));
            const changes = r.notes.filter(n => n.kind === "changed").map(n => n.text);
            assert.deepEqual(changes, [
                "authentication.sans: adds rancher.example.com (the load balancer and Rancher hostname); RKE regenerates the " +
                "kube-apiserver certificate and restarts kube-apiserver and kube-controller-manager on the first pulumi up",
            ]);
            // Independently: the merged stack passes validation and renders the recovered cluster, SANs aside.
            const raw = withEntries(base, r.entries);
            const { settings } = parseConfig(withoutHostKeyCheck(raw), { readFile: () => { throw new Error("no key files here"); } });
            assert.equal(settings.versions.kubernetes, "v1.28.15-rancher1-1");
            const rendered = rkeClusterConfig(rkeYamlArgs(settings, "192.0.2.20", { registryPassword: "x", s3SecretKey: "x" }));
            const running = rebuildClusterYml(parseRkeState(FIXTURE));
            assert.deepEqual(differences(comparable(running), comparable(rendered), "").map(d => d.path), ["authentication.sans"]);
        });

        it("--keep-system-images pins the recovered images through rkeOverrides", () => {
            const r = recoverStackConfig(parseRkeState(FIXTURE), { sshUser: "rancher", keepSystemImages: true }, renderer(baseStack()));
            assert.equal(Object.keys((r.entries.rkeOverrides as Obj).system_images).length, 33);
            assert.equal((r.entries.rkeOverrides as Obj).services.kubelet.infra_container_image, "rancher/mirrored-pause:3.7");
            assert.ok(!r.notes.some(n => n.text.startsWith("system_images")));
        });

        it("--user wins over ssh.user; a zero value where RKE defaults to true is kept (default_ingress_class: false)", () => {
            const state = JSON.parse(FIXTURE);
            state.currentState.rkeConfig.ingress.defaultIngressClass = false;
            const r = recoverStackConfig(parseRkeState(JSON.stringify(state)), { sshUser: "rancher", user: "ops" }, renderer(baseStack()));
            assert.ok((r.entries.nodes as Obj[]).every((n: Obj) => n.user === "ops"));
            assert.equal((r.entries.rkeOverrides as Obj).ingress.default_ingress_class, false);
        });
    });

    describe("round trip: rancher-ha's renderer -> the state RKE writes -> recovery -> renderer", () => {
        for (const [name, raw] of [["minimal", minimalRaw()], ["every setting", fullRaw()]] as const) {
            it(`${name}: same nodes, roles, versions and cluster; nothing left for rkeOverrides`, () => {
                const s = settingsFrom(withoutHostKeyCheck(raw));
                const original = rkeClusterConfig(rkeYamlArgs(s, "192.0.2.10", { registryPassword: "registry-s3cret", s3SecretKey: "s3-s3cret" }));
                // The renderer's text, read back the way rke reads it.
                const asRead = yaml.load(rkeClusterYaml(rkeYamlArgs(s, "192.0.2.10", { registryPassword: "registry-s3cret", s3SecretKey: "s3-s3cret" }))) as Obj;
                assert.deepEqual(asRead, original);
                // Plus defaults RKE adds before writing the state: recovery must not turn them into overrides.
                const state = stateFor(asRead, cfg => {
                    cfg.services.kubeApi = { ...cfg.services.kubeApi, serviceClusterIpRange: "10.43.0.0/16", podSecurityConfiguration: "privileged" };
                    cfg.services.etcd.extraArgs = { "election-timeout": "5000", "heartbeat-interval": "500" };
                    cfg.authorization = { mode: "rbac" };
                    cfg.enableCriDockerd = true;
                    cfg.dns = { provider: "coredns" };
                });
                const keep = ["hostname", "loadBalancer", "ssh", "sshPrivateKey", "privateRegistryPassword", "etcdS3SecretKey", "admin"];
                const base = Object.fromEntries(Object.entries(raw).filter(([k]) => keep.includes(k)));
                const r = recoverStackConfig(parseRkeState(state), { sshUser: "rancher" }, renderer(base));
                assert.equal(r.entries.rkeOverrides, undefined, JSON.stringify(r.entries.rkeOverrides));
                assert.deepEqual(r.notes.filter(n => n.kind === "changed"), []);

                const again = rkeClusterConfig(rkeYamlArgs(settingsFrom(withoutHostKeyCheck(withEntries(base, r.entries))), "192.0.2.10", { registryPassword: "registry-s3cret", s3SecretKey: "s3-s3cret" }));
                const pick = (c: Obj) => ({
                    version: c.kubernetes_version, name: c.cluster_name,
                    nodes: c.nodes.map((n: Obj) => [n.address, n.internal_address, n.hostname_override, n.port, n.role, n.labels, n.taints]),
                });
                assert.deepEqual(pick(again), pick(original));
                assert.deepEqual(differences(comparable(original), comparable(again), ""), []);
                if (name === "minimal") {
                    assert.deepEqual(again, original, "byte-for-byte the same cluster.yml when every node uses the cluster key");
                }
            });
        }
    });
});
