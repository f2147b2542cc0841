import { strict as assert } from "assert";
import * as path from "path";
import * as yaml from "js-yaml";
import * as pulumi from "@pulumi/pulumi";
import { AgentHostAliases } from "../../../components/hostAliases/AgentHostAliases";
import { CertManager } from "../../../components/certManager/CertManager";
import { parseConfig, StackSettings } from "../../../components/config";
import { NginxLoadBalancer } from "../../../components/loadBalancer/NginxLoadBalancer";
import { Rancher } from "../../../components/rancher/Rancher";
import { RkeCluster } from "../../../components/rke/RkeCluster";
import { readStackFile, redacted, StackFile, toolSettings } from "../../../scripts/stackFile";
import {
    INDEX_FILE, ReviewArtifact, reviewArtifacts, ReviewInput, secretLeaks, STAGE_DIRS,
} from "../../../scripts/render/reviewArtifacts";
import { UPSTREAMS } from "../../../components/loadBalancer/nginxConf";
import { allRegistered, byType, recordResources, RecordedResource, settle } from "../../helpers/mocks";
import { ROOT } from "../../helpers/paths";
import { HOST_KEYS } from "../../fixtures/hostKeys";
import { shellQuote } from "../../../components/shared/shell";


const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;

/** Distinctive values for every secret key, as a careless user might put them in the stack file in plain text. */
const SECRETS = {
    sshPrivateKey: pem("OPENSSH PRIVATE KEY", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUSSHKEYMATERIAL0123456789"),
    bootstrapPassword: "Bootstrap-S3cret-4711",
    privateRegistryPassword: "Registry-S3cret-0815",
    etcdS3SecretKey: "wJalrXUtnFEMI-K7MDENG-S3SECRET",
    tlsCert: pem("CERTIFICATE", "MIIBtlsCERTIFICATEbodyOfTheUserServerCert0123456789"),
    tlsKey: pem("PRIVATE KEY", "MIGHtlsPRIVATEKEYbodyOfTheUserServerKey0123456789"),
    tlsCaCert: pem("CERTIFICATE", "MIIBtlsCAbodyOfTheUsersPrivateCA0123456789abcdef"),
};

/** A stack using every stage option that renders differently: system LB, bastion, registry, S3, secret TLS. */
function fullRaw(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        hostname: "rancher.example.com",
        ssh: { user: "rancher" },
        loadBalancer: { address: "192.0.2.10", mode: "system", httpsPort: 8443, hostKey: HOST_KEYS[0] },
        nodes: [
            ...[11, 12, 13].map(n => ({ address: `192.0.2.${n}`, roles: ["controlplane", "etcd", "worker"], hostKey: HOST_KEYS[n - 10] })),
            { address: "fd00::14", roles: ["worker"], dockerSocket: "/run/docker.sock", hostKey: HOST_KEYS[4] },
        ],
        admin: { workDir: "/opt/rancher-ha" },
        bastion: { address: "198.51.100.5", user: "jump", hostKey: HOST_KEYS[0] },
        privateRegistry: { url: "registry.example.com:5000", user: "puller", isDefault: true },
        etcdSnapshots: { creation: "6h", retention: "24h", s3: { bucketName: "etcd", endpoint: "s3.example.com", accessKey: "AKIAEXAMPLE" } },
        tls: { source: "secret" },
        hostAliases: { enabled: true, ip: "192.0.2.100" },
        ...SECRETS,
        ...extra,
    };
}

/** The in-memory equivalent of a stack file, as the render command sees it. */
function stackFile(raw: Record<string, unknown>, encryptedKeys: string[] = []): StackFile {
    return { project: "rancher-ha", stack: "review", raw, encryptedKeys };
}

function devInput(): ReviewInput {
    const file = readStackFile(ROOT, "dev");
    // No key file here, so the key is the placeholder: the same bytes on every machine.
    const { settings, warnings } = toolSettings(file, { homeDir: "/nonexistent" });
    return { stack: "dev", settings, warnings, encryptedKeys: file.encryptedKeys };
}

const byPath = (files: ReviewArtifact[]) => new Map(files.map(f => [f.path, f.content]));

/** Every fragment of a secret that must never be in a file: the value, and each PEM body line. */
function fragments(value: string): string[] {
    return [value.trim(), ...value.split("\n").filter(l => l.length > 0 && !l.startsWith("-----"))];
}

describe("scripts/render/reviewArtifacts", () => {
    it("renders the same bytes every time", () => {
        assert.deepEqual(reviewArtifacts(devInput()), reviewArtifacts(devInput()));
        const full = () => reviewArtifacts({ stack: "review", settings: parseConfig(fullRaw()).settings, encryptedKeys: [] });
        assert.deepEqual(full(), full());
    });

    it("has every artifact of the dev stack, index first, stages in apply order, paths plain and unique", () => {
        const files = reviewArtifacts(devInput());
        assert.deepEqual(files.map(f => f.path), [
            INDEX_FILE,
            "1-load-balancer/nginx.conf", "1-load-balancer/apply.sh", "1-load-balancer/delete.sh",
            "1-load-balancer/health-check/check.sh", "1-load-balancer/health-check/rancher-ha-lb-check.service",
            "1-load-balancer/health-check/apply.sh", "1-load-balancer/health-check/delete.sh",
            "2-rke/rancher-cluster.yml",
            "2-rke/preflight-192.0.2.11.sh", "2-rke/preflight-192.0.2.12.sh", "2-rke/preflight-192.0.2.13.sh",
            "2-rke/rke-up.sh", "2-rke/rke-up-command.sh", "2-rke/destroy.sh",
            "3-cert-manager/release.yaml", "3-cert-manager/values.yaml",
            "4-rancher/release.yaml", "4-rancher/values.yaml",
            "5-host-aliases/rancher-deployment-patch.yaml",
            "5-host-aliases/deployment-cattle-cluster-agent.yaml", "5-host-aliases/daemonset-cattle-node-agent.yaml",
            "5-host-aliases/agents-apply.sh", "5-host-aliases/agents-release.sh",
        ]);
        for (const f of files) {
            assert.ok(f.content.length > 0 && f.content.endsWith("\n"), `${f.path} is empty or unterminated`);
            assert.ok(f.about.length > 0, `${f.path} has no description`);
            if (f.path.endsWith(".sh")) {
                assert.ok(f.content.startsWith("set -eu\n"), `${f.path} is not a strict sh script`);
            }
        }
    });

    it("fills the artifacts from the stack: nodes, LB address in the SANs, chart versions, the alias IP", () => {
        const s = parseConfig(fullRaw({ versions: { rancher: "2.4.18", certManager: "v1.14.4" } })).settings;
        const files = byPath(reviewArtifacts({ stack: "review", settings: s, encryptedKeys: [] }));
        const conf = files.get("1-load-balancer/nginx.conf")!;
        assert.match(conf, /^include \/etc\/nginx\/modules-enabled\/\*\.conf;$/m, "system mode loads the distro's stream module");
        assert.match(conf, /listen 8443 backlog=4096 so_keepalive=60s:10s:6;\n\s+proxy_timeout 1h;\n\s+proxy_pass rancher_servers_https;/);
        assert.match(conf, /server \[fd00::14\]:443 /);
        const kubeApi = conf.slice(conf.indexOf(`upstream ${UPSTREAMS.kubeApi}`));
        assert.doesNotMatch(kubeApi.slice(0, kubeApi.indexOf("}")), /fd00::14/, "a worker-only node gets no API traffic");

        const yml = yaml.load(files.get("2-rke/rancher-cluster.yml")!) as any;
        assert.deepEqual(yml.nodes.map((n: any) => n.address), ["192.0.2.11", "192.0.2.12", "192.0.2.13", "fd00::14"]);
        assert.deepEqual(yml.authentication.sans, ["192.0.2.10", "rancher.example.com"]);
        assert.equal(yml.bastion_host.address, "198.51.100.5");
        assert.ok(files.has("2-rke/preflight-fd00__14.sh"), "an IPv6 node gets a plain file name");
        assert.match(files.get("2-rke/preflight-fd00__14.sh")!, /unix:\/\/\$SOCK/);
        assert.match(files.get("2-rke/preflight-fd00__14.sh")!, /SOCK=\/run\/docker\.sock/);

        assert.ok(!files.has("3-cert-manager/release.yaml"), "secret TLS mode installs no cert-manager");
        const release = yaml.load(files.get("4-rancher/release.yaml")!) as any;
        assert.deepEqual(release, {
            name: "rancher", namespace: "cattle-system", chart: "rancher",
            repo: "https://releases.rancher.com/server-charts/stable", version: "2.4.18",
        });
        const values = yaml.load(files.get("4-rancher/values.yaml")!) as any;
        assert.equal(values.hostname, "rancher.example.com");
        assert.equal(values.privateCA, true, "tlsCaCert given");
        assert.equal(values.systemDefaultRegistry, "registry.example.com:5000");
        assert.deepEqual(values.imagePullSecrets, [{ name: "rancher-ha-registry" }]);

        const patch = yaml.load(files.get("5-host-aliases/rancher-deployment-patch.yaml")!) as any;
        assert.deepEqual(patch.spec.template.spec.hostAliases, [{ ip: "192.0.2.100", hostnames: ["rancher.example.com"] }]);
        // Rancher < 2.5 creates the cluster agent itself in its own cluster: the script must wait for it.
        assert.match(files.get("5-host-aliases/agents-apply.sh")!, /timed out after 900s waiting for deployment\/cattle-cluster-agent/);
    });

    it("leaves out what a stack does not install, and says so in the index", () => {
        const s = parseConfig(fullRaw({ hostAliases: { enabled: false } })).settings;
        const files = reviewArtifacts({ stack: "review", settings: s, encryptedKeys: [] });
        assert.equal(files.filter(f => f.path.startsWith(`${STAGE_DIRS.hostAliases}/`) || f.path.startsWith(`${STAGE_DIRS.certManager}/`)).length, 0);
        const index = files[0].content;
        assert.match(index, /cert-manager is not installed: tls\.source is secret/);
        assert.match(index, /hostAliases are not added/);
        assert.match(index, /Secret `cattle-system\/tls-rancher-ingress` and `cattle-system\/tls-ca`/);
    });

    describe("secrets", () => {
        const cases: [string, () => StackSettings][] = [
            // The renderer never reads a secret Output, so even settings holding the real values render clean.
            ["settings holding the real secrets", () => parseConfig(fullRaw()).settings],
            ["settings the render command builds (placeholders)", () => toolSettings(stackFile(fullRaw())).settings],
            ["letsEncrypt with a registry login (cert-manager values)", () => parseConfig(fullRaw({
                tls: { source: "letsEncrypt", letsEncryptEmail: "ops@example.com" }, tlsCert: undefined, tlsKey: undefined, tlsCaCert: undefined,
            })).settings],
        ];
        for (const [name, settings] of cases) {
            it(`no file holds any secret: ${name}`, () => {
                const files = reviewArtifacts({ stack: "review", settings: settings(), encryptedKeys: [] });
                for (const f of files) {
                    for (const [key, value] of Object.entries(SECRETS)) {
                        for (const frag of fragments(value)) {
                            assert.ok(!f.content.includes(frag), `${f.path} contains ${key} (${frag})`);
                        }
                    }
                }
                assert.deepEqual(secretLeaks(files, SECRETS), []);
            });
        }

        it("puts a placeholder where a stage applies a secret, and lists where in the index", () => {
            const files = reviewArtifacts({ stack: "review", settings: parseConfig(fullRaw()).settings, encryptedKeys: [] });
            const got = byPath(files);
            const yml = yaml.load(got.get("2-rke/rancher-cluster.yml")!) as any;
            assert.equal(yml.private_registries[0].password, redacted("privateRegistryPassword"));
            assert.equal(yml.services.etcd.backup_config.s3backupconfig.secret_key, redacted("etcdS3SecretKey"));
            assert.equal((yaml.load(got.get("4-rancher/values.yaml")!) as any).bootstrapPassword, redacted("bootstrapPassword"));
            const index = got.get(INDEX_FILE)!;
            assert.match(index, /`<redacted:privateRegistryPassword>` in `2-rke\/rancher-cluster\.yml`/);
            assert.match(index, /`<redacted:etcdS3SecretKey>` in `2-rke\/rancher-cluster\.yml`/);
            assert.match(index, /`<redacted:bootstrapPassword>` in `4-rancher\/values\.yaml`/);
        });

        it("lists the keys encrypted in the stack file, and warns about plain-text ones", () => {
            const file = stackFile(fullRaw(), ["sshPrivateKey", "tlsKey"]);
            const index = reviewArtifacts({
                stack: "review", settings: toolSettings(file).settings, encryptedKeys: file.encryptedKeys,
                plainTextSecretKeys: ["bootstrapPassword", "etcdS3SecretKey"],
            })[0].content;
            assert.match(index, /Encrypted in Pulumi\.review\.yaml: `sshPrivateKey`, `tlsKey`\./);
            assert.match(index, /In plain text in Pulumi\.review\.yaml: `bootstrapPassword`, `etcdS3SecretKey`\.\*\* Encrypt each/);
            assert.match(devInputIndex(), /Encrypted in Pulumi\.dev\.yaml: none\./);
        });

        it("secretLeaks finds a secret, or a line of a PEM, that reached a file", () => {
            const files: ReviewArtifact[] = [
                { path: "a.yml", about: "", content: `password: ${SECRETS.privateRegistryPassword}\n` },
                { path: "b.txt", about: "", content: `key line: ${SECRETS.tlsKey.split("\n")[1]}\n` },
                { path: "c.txt", about: "", content: "clean\n" },
            ];
            assert.deepEqual(secretLeaks(files, SECRETS), ["a.yml: privateRegistryPassword", "b.txt: tlsKey"]);
        });
    });

    it("indexes every file it renders", () => {
        const files = reviewArtifacts(devInput());
        for (const f of files.slice(1)) {
            assert.ok(files[0].content.includes(`| \`${f.path}\` |`), `${f.path} missing from the index`);
        }
    });
});

function devInputIndex(): string {
    return reviewArtifacts(devInput())[0].content;
}

// ---------------------------------------------------------------- the same text the components apply

/** What the rke-up Command prints on success (kubeconfig and state), so the provider and outputs resolve. */
function upStdout(): string {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://192.0.2.11:6443\n  name: local\n";
    return ["-----BEGIN RANCHER-HA RKE OUTPUTS-----", "mode full", `kubeconfig ${b64(kubeconfig)}`,
        `rkestate ${b64("{}")}`, "-----END RANCHER-HA RKE OUTPUTS-----"].join("\n");
}

interface Deployed {
    recorded: RecordedResource[];
    nginxConf: string;
    clusterYaml: string;
}

/** The stages wired as index.ts wires them, under mocks that answer like the providers. */
async function deploy(s: StackSettings): Promise<Deployed> {
    const recorded = await recordResources({
        stack: "review",
        outputs: a => {
            if (a.type.startsWith("command:") && a.name === "rke-up") {
                return { stdout: upStdout() };
            }
            if (a.type === "tls:index/privateKey:PrivateKey") {
                return { privateKeyPem: pem("PRIVATE KEY", "generated-bootstrap-seed-material-0123456789") };
            }
            if (a.type === "kubernetes:helm.sh/v3:Release") {
                return { status: { revision: 1 } };
            }
            return undefined;
        },
    });
    const lb = new NginxLoadBalancer("lb", { loadBalancer: s.loadBalancer, nodes: s.nodes, bastion: s.bastion });
    const rke = new RkeCluster("rke", {
        settings: s, loadBalancerAddress: lb.address, kubeApiPort: s.loadBalancer.ports.kubeApi, previous: {},
    }, { dependsOn: [lb] });
    const certManager = new CertManager("cert-manager", {
        version: s.versions.certManager, tlsSource: s.tls.source, provider: rke.provider, registry: s.privateRegistry,
    }, { dependsOn: [rke] });
    const rancher = new Rancher("rancher", { settings: s, provider: rke.provider }, { dependsOn: [rke, certManager] });
    const aliases = s.hostAliases.enabled ? new AgentHostAliases("host-aliases", {
        hostname: s.hostname, ip: s.hostAliases.ip, provider: rke.provider, kubeconfig: rke.kubeconfig,
        rancherVersion: s.versions.rancher, rancherRelease: rancher.release,
    }, { dependsOn: [rancher] }) : undefined;
    const [conf, yml] = await Promise.all([settle(lb.nginxConf), settle(rke.clusterYaml)]);
    // The last resources of each chain are registered only once the rke-up outputs resolve: wait for them.
    await Promise.all([rancher.release.urn, certManager.release?.urn, aliases?.patchedAgents]
        .filter(o => o !== undefined).map(o => settle(o as pulumi.Output<unknown>)));
    await allRegistered(recorded);
    return { recorded, nginxConf: conf.value, clusterYaml: yml.value };
}

function bundleFiles(stdin: string): Record<string, string> {
    return Object.fromEntries(stdin.trim().split("\n").map(l => {
        const [name, , data] = l.split(" ");
        return [name, Buffer.from(data ?? "", "base64").toString("utf8")];
    }));
}

describe("scripts/render/reviewArtifacts: the text the components apply (Pulumi mocks)", function () {
    this.timeout(60000);

    const stacks: [string, () => StackSettings][] = [
        ["the dev stack", () => devInput().settings],
        // Placeholders in the settings, as the render command has them: the components then apply exactly the
        // placeholder where the render writes it, so whole files compare equal.
        ["system LB, bastion, registry login, S3, secret TLS, alias IP", () => toolSettings(stackFile(fullRaw())).settings],
        ["letsEncrypt, generated bootstrap password, local admin, hostAliases off", () => toolSettings(stackFile(fullRaw({
            tls: { source: "letsEncrypt", letsEncryptEmail: "ops@example.com", letsEncryptEnvironment: "staging" },
            tlsCert: undefined, tlsKey: undefined, tlsCaCert: undefined, bootstrapPassword: undefined,
            admin: { host: "local" }, hostAliases: { enabled: false }, loadBalancer: { address: "lb.example.com", hostKey: HOST_KEYS[0] },
        }))).settings],
    ];

    for (const [name, settings] of stacks) {
        it(name, async () => {
            const s = settings();
            const files = byPath(reviewArtifacts({ stack: "review", settings: s, encryptedKeys: [] }));
            const d = await deploy(s);
            const named = (n: string) => {
                const r = d.recorded.find(x => x.name === n);
                assert.ok(r, `the components registered no ${n}`);
                return r!;
            };
            const dir = STAGE_DIRS;

            assert.equal(files.get(`${dir.loadBalancer}/nginx.conf`), d.nginxConf);
            const lbCmd = named("lb-nginx");
            assert.equal(files.get(`${dir.loadBalancer}/apply.sh`), lbCmd.inputs.create);
            assert.equal(files.get(`${dir.loadBalancer}/apply.sh`), lbCmd.inputs.update);
            assert.equal(files.get(`${dir.loadBalancer}/delete.sh`), lbCmd.inputs.delete);
            const check = d.recorded.find(x => x.name === "lb-health-check");
            assert.equal(files.has(`${dir.loadBalancer}/health-check/apply.sh`), check !== undefined, "the checker: rendered iff installed");
            if (check) {
                assert.equal(files.get(`${dir.loadBalancer}/health-check/apply.sh`), check.inputs.create);
                assert.equal(files.get(`${dir.loadBalancer}/health-check/delete.sh`), check.inputs.delete);
                const [, , data] = (check.inputs.stdin as string).trim().split(" ");
                assert.equal(files.get(`${dir.loadBalancer}/health-check/check.sh`), Buffer.from(data, "base64").toString("utf8"));
            }

            assert.equal(files.get(`${dir.rke}/rancher-cluster.yml`), d.clusterYaml);
            for (const n of s.nodes) {
                const file = `${dir.rke}/preflight-${n.address.replace(/:/g, "_")}.sh`;
                assert.ok(files.has(file), `no ${file}`);
                assert.equal(files.get(file), named(`rke-preflight-${n.address}`).inputs.create, `preflight of ${n.address}`);
            }
            const up = named("rke-up");
            assert.equal(files.get(`${dir.rke}/rke-up-command.sh`), up.inputs.create);
            assert.ok(up.inputs.create.includes(shellQuote(files.get(`${dir.rke}/rke-up.sh`)!)), "rke-up.sh is what runs on the admin host");
            assert.equal(files.get(`${dir.rke}/destroy.sh`), up.inputs.delete);

            const releases = byType(d.recorded, "kubernetes:helm.sh/v3:Release");
            for (const [stageDir, release] of [[dir.certManager, "cert-manager"], [dir.rancher, "rancher"]] as const) {
                const rec = releases.find(r => r.name === release);
                assert.equal(files.has(`${stageDir}/release.yaml`), rec !== undefined, `${release}: rendered iff installed`);
                if (!rec) {
                    continue;
                }
                const coords = yaml.load(files.get(`${stageDir}/release.yaml`)!) as any;
                assert.deepEqual(coords, {
                    name: rec.inputs.name, namespace: rec.inputs.namespace, chart: rec.inputs.chart,
                    repo: rec.inputs.repositoryOpts.repo, version: rec.inputs.version,
                });
                const values = yaml.load(files.get(`${stageDir}/values.yaml`)!) as any;
                const applied = { ...rec.inputs.values };
                if (release === "rancher" && s.rancher.bootstrapPassword === undefined) {
                    // Generated at deploy time: the render can only name it.
                    assert.notEqual(applied.bootstrapPassword, values.bootstrapPassword);
                    applied.bootstrapPassword = redacted("bootstrapPassword");
                }
                assert.deepEqual(values, applied, `${release} values`);
            }

            // The CA-restart patch (a checksum of a CA the render never reads) is covered by the Rancher tests.
            const patches = byType(d.recorded, "kubernetes:apps/v1:DeploymentPatch").filter(p => !p.name.endsWith("-ca-restart"));
            assert.equal(patches.length, s.hostAliases.enabled ? 1 : 0);
            if (s.hostAliases.enabled) {
                const patch = yaml.load(files.get(`${dir.hostAliases}/rancher-deployment-patch.yaml`)!) as any;
                assert.deepEqual(patch.metadata, { name: patches[0].inputs.metadata.name, namespace: patches[0].inputs.metadata.namespace });
                assert.deepEqual(patch.spec, patches[0].inputs.spec);
                const agents = named("host-aliases-agents");
                assert.equal(files.get(`${dir.hostAliases}/agents-apply.sh`), agents.inputs.create);
                assert.equal(files.get(`${dir.hostAliases}/agents-release.sh`), agents.inputs.delete);
                // The bodies the script applies travel in its stdin bundle as JSON; the render has them as YAML.
                const bundle = bundleFiles(agents.inputs.stdin);
                for (const [p, content] of files) {
                    const m = /^5-host-aliases\/((?:deployment|daemonset)-cattle-[a-z-]+)\.yaml$/.exec(p);
                    if (m) {
                        assert.deepEqual(yaml.load(content), JSON.parse(bundle[`${m[1]}.json`]), p);
                    }
                }
            } else {
                assert.ok(![...files.keys()].some(p => p.startsWith(`${dir.hostAliases}/`)));
            }
        });
    }
});
