import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, DEFAULTS, keyId, loadConfig, parseConfig, parseConfigValue, suggest } from "../../../components/config";
import { settle } from "../../helpers/mocks";
import { assertProblem, problemsOf, validStack } from "./problems";
import { HOST_KEYS, KNOWN_HOSTS_ANY } from "../../fixtures/hostKeys";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n";
const OTHER_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n";
const files: Record<string, string> = { "/home/op/.ssh/id_rsa": KEY, "/keys/lb": OTHER_KEY, "/home/op/.ssh/known_hosts": KNOWN_HOSTS_ANY };
const readFile = (p: string) => {
    if (files[p] === undefined) {
        throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
    }
    return files[p];
};
const opts = { readFile, homeDir: "/home/op" };

/** A valid stack: 1 LB + 3 all-role nodes (problems.ts validStack). */
const base = validStack;

const problems = (raw: Record<string, any>) => problemsOf(raw, opts);
const oneProblem = (raw: Record<string, any>, key: string, pattern: RegExp) => assertProblem(raw, opts, key, pattern);

describe("config", () => {
    describe("a valid stack", () => {
        it("parses with the defaults a user expects", () => {
            const { settings: s, warnings } = parseConfig(base(), opts);
            // Only the end-of-life notes of the compatibility table (test/components/config/compatibility.test.ts).
            assert.deepEqual(warnings.filter(w => !/^distribution: RKE1 reached end of life|past its end of life|^versions\.rancher: 2\.11\.16 is a Rancher Prime release/.test(w)), []);
            assert.equal(s.rancher.chartRepo, "prime", "2.11.16 is a Prime release: its chart is in Rancher Prime's repository");
            assert.ok(warnings.some(w => /^distribution: RKE1 reached end of life/.test(w)), "every run says RKE1 is end of life");
            assert.equal(s.nodes.length, 3);
            assert.deepEqual(s.nodes.map(n => [n.address, n.user, n.port, n.keyId]),
                [1, 2, 3].map(i => [`192.0.2.1${i}`, "rancher", 22, keyId(KEY)]));
            assert.equal(s.rancher.replicas, 3, "replicas default to the worker count, max 3");
            assert.deepEqual(s.etcdSnapshots, { enabled: true, creation: "6h", retention: "24h" });
            assert.equal(s.tls.source, "rancher");
            assert.equal(s.hostAliases.enabled, false);
            assert.equal(s.hostAliases.ip, "192.0.2.10", "hostAliases point at the LB by default");
            assert.notEqual(s.admin.host, "local");
            assert.equal((s.admin.host as any).address, "192.0.2.11", "rke runs on the first etcd node by default");
            assert.deepEqual(s.versions, DEFAULTS.versions);
            assert.deepEqual(s.loadBalancer.ports, { http: 80, https: 443, kubeApi: 6443 });
            // Sized for 50000 proxied connections with workerProcesses auto (one worker may hold them all).
            assert.equal(s.loadBalancer.maxConnections, 50000);
            assert.equal(s.loadBalancer.workerConnections, 100032);
            assert.equal(s.loadBalancer.workerRlimitNofile, 200064);
            assert.equal(s.loadBalancer.proxyTimeout, "1h");
            assert.equal(s.loadBalancer.mode, "docker");
        });

        it("caps default replicas at 3 and follows the worker count below it", () => {
            const raw = base();
            raw.nodes = [
                { address: "192.0.2.11", roles: ["controlplane", "etcd"] },
                { address: "192.0.2.12", roles: ["worker"] },
            ];
            assert.equal(parseConfig(raw, opts).settings.rancher.replicas, 1);
            raw.nodes = [1, 2, 3, 4, 5].map(i => ({ address: `192.0.2.2${i}`, roles: ["controlplane", "etcd", "worker"] }));
            assert.equal(parseConfig(raw, opts).settings.rancher.replicas, 3);
        });

        it("marks every secret as a pulumi secret", async () => {
            const raw = {
                ...base(),
                tls: { source: "secret" },
                tlsCert: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
                tlsKey: "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
                bootstrapPassword: "a-long-bootstrap-pw",
                privateRegistry: { url: "registry.example.com:5000", user: "pull" },
                privateRegistryPassword: "pw",
            };
            const { settings: s } = parseConfig(raw, opts);
            for (const [what, o] of Object.entries({
                nodeKey: s.nodes[0].privateKey, lbKey: s.loadBalancer.privateKey, cert: s.tls.cert!, key: s.tls.key!,
                bootstrap: s.rancher.bootstrapPassword!, registry: s.privateRegistry!.password!,
            })) {
                assert.equal((await settle(o)).secret, true, `${what} must be secret`);
            }
            assert.equal((await settle(s.nodes[0].privateKey)).value, KEY);
        });

        it("uses per-host key files and the secret sshPrivateKey over ssh.keyPath", async () => {
            const raw = base();
            raw.loadBalancer.sshKeyPath = "/keys/lb";
            raw.sshPrivateKey = OTHER_KEY.trimEnd();
            const { settings: s } = parseConfig(raw, opts);
            assert.equal(s.loadBalancer.keyId, keyId(OTHER_KEY));
            assert.equal((await settle(s.nodes[0].privateKey)).value, OTHER_KEY, "secret key, newline restored");
        });

        it("admin.host can be a node address or local", () => {
            assert.equal((parseConfig({ ...base(), admin: { host: "192.0.2.13" } }, opts).settings.admin.host as any).address, "192.0.2.13");
            assert.equal(parseConfig({ ...base(), admin: { host: "local" } }, opts).settings.admin.host, "local");
        });
    });

    describe("rejects bad input with the key and the fix", () => {
        it("no nodes", () => {
            oneProblem({ ...base(), nodes: [] }, "rancher-ha:nodes", /no nodes given; list the server nodes/);
            oneProblem({ ...base(), nodes: undefined }, "rancher-ha:nodes", /no nodes given/);
        });

        it("duplicate address and hostname", () => {
            const raw = base();
            raw.nodes[2].address = "192.0.2.11";
            oneProblem(raw, "rancher-ha:nodes[].address", /duplicate address "192\.0\.2\.11" \(nodes\[0\] and nodes\[2\]\); each node must be listed once/);
            const raw2 = base();
            raw2.nodes[0].hostnameOverride = "server-01";
            raw2.nodes[1].hostnameOverride = "SERVER-01";
            oneProblem(raw2, "rancher-ha:nodes[].hostnameOverride", /duplicate hostnameOverride "SERVER-01"/);
        });

        it("a role with no node", () => {
            for (const role of ["etcd", "controlplane", "worker"]) {
                const raw = base();
                raw.nodes.forEach((n: any) => { n.roles = n.roles.filter((r: string) => r !== role); });
                oneProblem(raw, "rancher-ha:nodes", new RegExp(`no node has the ${role} role; add "${role}" to the roles`));
            }
        });

        it("roles outside controlplane, etcd, worker", () => {
            const raw = base();
            raw.nodes[0].roles = ["master", "etcd"];
            raw.nodes[1].roles = ["workr"];
            oneProblem(raw, "rancher-ha:nodes[0].roles", /unknown role "master" \(did you mean "controlplane"\?\)/);
            oneProblem(raw, "rancher-ha:nodes[1].roles", /unknown role "workr" \(did you mean "worker"\?\)/);
        });

        it("bad IP or host name", () => {
            const raw = base();
            raw.nodes[0].address = "300.1.1.1";
            raw.nodes[1].address = "bad_host!";
            raw.nodes[2].internalAddress = "10.0.0";
            oneProblem(raw, "rancher-ha:nodes[0].address", /"300\.1\.1\.1" is neither an IP address nor a valid host name/);
            oneProblem(raw, "rancher-ha:nodes[1].address", /"bad_host!" is neither/);
            oneProblem(raw, "rancher-ha:nodes[2].internalAddress", /"10\.0\.0" is not an IP address/);
        });

        it("a Rancher hostname that is an IP or not qualified", () => {
            oneProblem({ ...base(), hostname: "192.0.2.10" }, "rancher-ha:hostname", /is an IP address; Rancher needs a DNS name/);
            oneProblem({ ...base(), hostname: "rancher" }, "rancher-ha:hostname", /not a fully qualified host name/);
        });

        it("missing SSH key, with the command that fixes it", () => {
            const raw = base();
            raw.ssh.keyPath = "~/.ssh/nope";
            oneProblem(raw, "rancher-ha:ssh.keyPath", /\/home\/op\/\.ssh\/nope cannot be read \(ENOENT\).*pulumi config set --secret sshPrivateKey/);
            const raw2 = base();
            raw2.nodes[1].sshKeyPath = "/keys/missing";
            oneProblem(raw2, "rancher-ha:nodes[1].sshKeyPath", /\/keys\/missing cannot be read/);
        });

        it("a key that is not a private key, or has a passphrase", () => {
            oneProblem({ ...base(), sshPrivateKey: "ssh-ed25519 AAAA… me@host" }, "rancher-ha:sshPrivateKey", /does not hold a PEM\/OpenSSH private key/);
            const enc = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nx\n-----END RSA PRIVATE KEY-----\n";
            oneProblem({ ...base(), sshPrivateKey: enc }, "rancher-ha:sshPrivateKey", /passphrase-protected/);
        });

        it("no SSH user anywhere", () => {
            const raw = base();
            delete raw.ssh;
            oneProblem(raw, "rancher-ha:nodes[0].user", /no SSH user; set it here or set ssh.user/);
        });

        it("unknown TLS mode", () => {
            oneProblem({ ...base(), tls: { source: "letsencrypt" } }, "rancher-ha:tls.source",
                /unknown value "letsencrypt" \(did you mean "letsEncrypt"\?\); use one of rancher, letsEncrypt, secret/);
            oneProblem({ ...base(), tls: { source: "acme" } }, "rancher-ha:tls.source", /unknown value "acme"; use one of/);
        });

        it("letsEncrypt without an e-mail", () => {
            oneProblem({ ...base(), tls: { source: "letsEncrypt" } }, "rancher-ha:tls.letsEncryptEmail", /required when tls.source is letsEncrypt/);
            oneProblem({ ...base(), tls: { source: "letsEncrypt", letsEncryptEmail: "ops" } }, "rancher-ha:tls.letsEncryptEmail", /not an e-mail/);
        });

        it("secret TLS without cert material, or with something that is not PEM", () => {
            oneProblem({ ...base(), tls: { source: "secret" } }, "rancher-ha:tlsCert",
                /no certificate is given; set tlsCert and tlsKey .* or set tls.generateCa: true/);
            oneProblem({ ...base(), tls: { source: "secret" }, tlsCert: "hello", tlsKey: "-----BEGIN PRIVATE KEY-----\n" },
                "rancher-ha:tlsCert", /is not a PEM certificate/);
            assert.equal(parseConfig({ ...base(), tls: { source: "secret", generateCa: true } }, opts).settings.tls.privateCa, true);
        });

        it("unknown keys, with did-you-mean, at any depth", () => {
            oneProblem({ ...base(), hostnme: "x" }, "rancher-ha:hostnme", /unknown key \(did you mean "hostname"\?\)/);
            const raw = base();
            raw.nodes[1].internal_address = "10.0.0.1";
            oneProblem(raw, "rancher-ha:nodes[1].internal_address", /unknown key \(did you mean "internalAddress"\?\)/);
            oneProblem({ ...base(), etcdSnapshots: { retension: "24h" } }, "rancher-ha:etcdSnapshots.retension", /did you mean "retention"/);
        });

        it("SSH host keys: every host pins one, from its hostKey or ssh.knownHostsFile; none is an error naming the command", () => {
            const pinned = parseConfig({ ...base(), ssh: { user: "rancher" }, loadBalancer: { address: "192.0.2.10", hostKey: `${HOST_KEYS[1]} root@lb` },
                nodes: [1, 2, 3].map(i => ({ address: `192.0.2.1${i}`, roles: ["controlplane", "etcd", "worker"], hostKey: HOST_KEYS[i + 1] })) }, opts).settings;
            assert.equal(pinned.loadBalancer.hostKey, HOST_KEYS[1], "the comment is dropped");
            assert.deepEqual(pinned.nodes.map(n => n.hostKey), [HOST_KEYS[2], HOST_KEYS[3], HOST_KEYS[4]]);
            assert.equal((pinned.admin.host as any).hostKey, HOST_KEYS[2], "the admin host is pinned like its node");
            // Missing: one problem per host, naming the host, the command that prints the keys, and the file setting.
            const missing = problems({ ...base(), ssh: { user: "rancher" } });
            for (const key of ["loadBalancer", "nodes[0]", "nodes[1]", "nodes[2]"]) {
                assert.ok(missing.some(p => p.startsWith(`rancher-ha:${key}.hostKey: no pinned SSH host key for rancher@`) &&
                    /npm run ops -- host-keys --stack <stack>.*or set ssh\.knownHostsFile/.test(p)), `${key}:\n${missing.join("\n")}`);
            }
            oneProblem({ ...base(), bastion: { address: "198.51.100.5", hostKey: "ssh-ed25519 not-base64!" } }, "rancher-ha:bastion.hostKey",
                /is not an SSH host key; give it as known_hosts or ssh-keyscan print it/);
            // A key whose blob names another type is refused too (a pasted fragment, a swapped field).
            oneProblem({ ...base(), bastion: { address: "198.51.100.5", hostKey: HOST_KEYS[0].replace("ssh-ed25519", "ssh-rsa") } },
                "rancher-ha:bastion.hostKey", /is not an SSH host key/);
            oneProblem({ ...base(), ssh: { user: "rancher", knownHostsFile: "/nope" } }, "rancher-ha:ssh.knownHostsFile", /\/nope cannot be read \(ENOENT\)/);
            // The opt-out: accepted, with a loud warning.
            const lab = parseConfig({ ...base(), ssh: { user: "rancher", insecureIgnoreHostKeys: true } }, opts);
            assert.equal(lab.settings.nodes[0].hostKey, undefined);
            assert.ok(lab.warnings.some(w => /^ssh\.insecureIgnoreHostKeys: true, so no SSH host key is checked/.test(w)));
        });

        it("knows every key the section parsers read, and no other (there is no separate schema to keep in step)", () => {
            // The known keys are what the parsers asked for, listed in full.
            oneProblem({ ...base(), loadBalancer: { address: "192.0.2.10", workers: 2 } }, "rancher-ha:loadBalancer.workers",
                /known keys here: hosts, virtualIp, virtualRouterId, interface, address, user, port, sshKeyPath, hostKey, mode, httpPort, httpsPort, kubeApiPort, workerProcesses, image, maxConnections, workerConnections, workerRlimitNofile, proxyTimeout, healthChecks, takeOverFrom$/);
            // A section given as something else than a map names the keys it takes.
            oneProblem({ ...base(), ssh: "rancher" }, "rancher-ha:ssh", /must be an object with keys user, port, keyPath, knownHostsFile, insecureIgnoreHostKeys$/);
            // Keys read only on some paths are still known on the others: S3 settings without a bucket are reported
            // as a missing bucket, not as unknown keys.
            const s3 = problems({ ...base(), etcdSnapshots: { s3: { endpoint: "s3.example.com", region: "eu-1", folder: "f", customCa: "x" } } });
            assert.deepEqual(s3.filter(p => /unknown key/.test(p)), []);
            assert.ok(s3.some(p => p.startsWith("rancher-ha:etcdSnapshots.s3.bucketName: missing")), s3.join("\n"));
            // Every key of the full fixture stack is known (it sets nearly all of them).
            assert.doesNotThrow(() => parseConfig({
                ...base(), bastion: { address: "198.51.100.5", user: "jump" }, nodeSize: "M",
                admin: { host: "local", workDir: "~/x", rkePath: "rke", stateSync: "1" },
                hostAliases: { enabled: true, ip: "192.0.2.10" }, rancher: { replicas: 2, chartRepo: "prime" },
                cluster: { name: "c", networkPlugin: "calico", ignoreDockerVersion: true, ingressProvider: "nginx",
                    upgradeStrategy: { maxUnavailableWorker: "1", maxUnavailableControlplane: "1", drain: true } },
            }, opts));
        });

        it("what RKE would reject half-way through rke up", () => {
            oneProblem({ ...base(), cluster: { networkPlugin: "weave" } }, "rancher-ha:cluster.networkPlugin",
                /weave is not available for Kubernetes v1\.30\.14-rancher1-1 .*use canal/);
            oneProblem({ ...base(), etcdSnapshots: { creation: "30m", s3: { bucketName: "b", endpoint: "s3.example.com" } } },
                "rancher-ha:etcdSnapshots.creation", /"30m" must be whole hours/);
        });

        it("rkeOverrides: RKE's own keys only, no keys the stack renders, no secrets", () => {
            const ok = parseConfig({ ...base(), rkeOverrides: { services: { kubelet: { extra_args: { "max-pods": "250" } } }, dns: { provider: "coredns" } } }, opts);
            assert.deepEqual(ok.settings.rkeOverrides, { services: { kubelet: { extra_args: { "max-pods": "250" } } }, dns: { provider: "coredns" } });
            assert.equal(parseConfig(base(), opts).settings.rkeOverrides, undefined);
            oneProblem({ ...base(), rkeOverrides: { services: { kubelet: { extra_argz: {} } } } }, "rancher-ha:rkeOverrides.services.kubelet.extra_argz",
                /not a key RKE reads here \(did you mean "extra_args"\?\); known keys: image, extra_args,/);
            oneProblem({ ...base(), rkeOverrides: { nodes: [] } }, "rancher-ha:rkeOverrides.nodes", /not allowed here: use nodes/);
            oneProblem({ ...base(), rkeOverrides: { restore: { restore: true } } }, "rancher-ha:rkeOverrides.restore", /npm run ops -- snapshot-restore/);
            oneProblem({ ...base(), rkeOverrides: { network: { weave_network_provider: { password: "pw-in-plain-text" } } } },
                "rancher-ha:rkeOverrides.network.weave_network_provider.password", /holds a secret/);
            oneProblem({ ...base(), rkeOverrides: "services: {}" }, "rancher-ha:rkeOverrides", /must be a map of cluster\.yml keys/);
            assert.ok(!problems({ ...base(), rkeOverrides: { network: { weave_network_provider: { password: "pw-in-plain-text" } } } })
                .join("\n").includes("pw-in-plain-text"));
        });

        it("hostAliases without an IP to point at", () => {
            const raw = { ...base(), loadBalancer: { address: "lb.example.com" }, hostAliases: { enabled: true } };
            oneProblem(raw, "rancher-ha:hostAliases.ip", /required when hostAliases.enabled is true and loadBalancer.address \("lb\.example\.com"\) is a host name/);
            assert.equal(parseConfig({ ...raw, hostAliases: { enabled: true, ip: "192.0.2.10" } }, opts).settings.hostAliases.ip, "192.0.2.10");
            assert.equal(parseConfig({ ...raw, hostAliases: { enabled: false } }, opts).settings.hostAliases.enabled, false);
        });

        it("admin.stateSync that could not sit in a script comment", () => {
            oneProblem({ ...base(), admin: { stateSync: "a b" } }, "rancher-ha:admin.stateSync", /must be a plain token .*pulumi config set --path rancher-ha:admin\.stateSync/);
            assert.equal(parseConfig({ ...base(), admin: { stateSync: "2026-11-23T20:00" } }, opts).settings.admin.stateSync, "2026-11-23T20:00");
        });

        it("admin.host that is not a node", () => {
            oneProblem({ ...base(), admin: { host: "192.0.2.14" } }, "rancher-ha:admin.host",
                /"192\.0\.2\.14" is not one of the nodes' addresses; use a node address \(did you mean "192\.0\.2\.1[1-3]"\?\) or "local"/);
        });

        it("reports every problem at once", () => {
            const raw = base();
            raw.hostname = "10.0.0.1";
            raw.tls = { source: "letsEncrypt" };
            raw.nodes[0].roles = ["boss"];
            const ps = problems(raw);
            assert.ok(ps.length >= 3, ps.join("\n"));
            try {
                parseConfig(raw, opts);
            } catch (e) {
                assert.match((e as Error).message, /^invalid stack configuration \(\d+ problems\):\n  - rancher-ha:/);
            }
        });

        it("never echoes a secret value in a message", () => {
            const ps = problems({ ...base(), bootstrapPassword: "s3cr3t" });
            assert.ok(ps.some(p => p.startsWith("rancher-ha:bootstrapPassword: must be at least 12")));
            assert.ok(ps.every(p => !p.includes("s3cr3t")));
        });
    });

    describe("loadBalancer tuning", () => {
        const lbWith = (extra: Record<string, unknown>) => ({ ...base(), loadBalancer: { address: "192.0.2.10", ...extra } });
        const lbWarnings = (extra: Record<string, unknown>) =>
            parseConfig(lbWith(extra), opts).warnings.filter(w => w.startsWith("loadBalancer."));

        it("sizes worker_connections/worker_rlimit_nofile from maxConnections: all of it per worker when auto, a share otherwise", () => {
            const auto = parseConfig(lbWith({ maxConnections: 20000 }), opts).settings.loadBalancer;
            assert.deepEqual([auto.maxConnections, auto.workerConnections, auto.workerRlimitNofile], [20000, 40032, 80064]);
            const four = parseConfig(lbWith({ maxConnections: "20000", workerProcesses: 4 }), opts).settings.loadBalancer;
            assert.deepEqual([four.workerConnections, four.workerRlimitNofile], [10032, 20064]);
            assert.deepEqual(lbWarnings({ maxConnections: 20000, workerProcesses: 4 }), []);
            oneProblem(lbWith({ maxConnections: 10 }), "rancher-ha:loadBalancer.maxConnections", /10 must be a whole number from 16 to 250000/);
            oneProblem(lbWith({ maxConnections: "lots" }), "rancher-ha:loadBalancer.maxConnections", /must be a whole number/);
        });

        it("explicit workerConnections/workerRlimitNofile win, with a warning when under what maxConnections needs", () => {
            const lb = parseConfig(lbWith({ workerConnections: 16384, workerRlimitNofile: 65536 }), opts).settings.loadBalancer;
            assert.deepEqual([lb.workerConnections, lb.workerRlimitNofile], [16384, 65536]);
            const warnings = lbWarnings({ workerConnections: 16384, workerRlimitNofile: 65536 });
            assert.equal(warnings.length, 1, warnings.join("\n"));
            assert.match(warnings[0], /^loadBalancer\.workerConnections \(16384\) is under the 100032 per worker \(workerProcesses auto: sized for one CPU\) that maxConnections \(50000\) needs: each proxied connection uses two/);
            // Enough for the configured maxConnections: no warning.
            assert.deepEqual(lbWarnings({ maxConnections: 8000, workerConnections: 16384, workerRlimitNofile: 65536 }), []);
            assert.match(lbWarnings({ workerProcesses: 8, workerConnections: 12000, workerRlimitNofile: 24000 })[0],
                /^loadBalancer\.workerConnections \(12000\) is under the 12532 per worker of 8 that maxConnections \(50000\)/);
            // Only the limit given is explicit; the other is sized.
            const onlyConns = parseConfig(lbWith({ workerConnections: 200000 }), opts).settings.loadBalancer;
            assert.deepEqual([onlyConns.workerConnections, onlyConns.workerRlimitNofile], [200000, 200064]);
            assert.match(lbWarnings({ workerConnections: 200000 })[0], /workerRlimitNofile \(200064\) is under twice workerConnections \(200000\)/);
        });

        it("proxyTimeout: an nginx time from 1s to 24h, default 1h", () => {
            for (const t of ["1h", "90m", "1h30m", "45s", 3600]) {
                const lb = parseConfig(lbWith({ proxyTimeout: t }), opts).settings.loadBalancer;
                assert.equal(lb.proxyTimeout, String(t));
            }
            oneProblem(lbWith({ proxyTimeout: "1 hour" }), "rancher-ha:loadBalancer.proxyTimeout",
                /"1 hour" is not an nginx time; use e\.g\. 1h, 30m, 90s or 1h30m \(idle time before nginx closes a connection on the HTTPS and Kubernetes API ports; default 1h\)$/);
            oneProblem(lbWith({ proxyTimeout: "2d" }), "rancher-ha:loadBalancer.proxyTimeout", /"2d" must be from 1s to 24h/);
            oneProblem(lbWith({ proxyTimeout: "1h;" }), "rancher-ha:loadBalancer.proxyTimeout", /not an nginx time/);
        });
    });

    describe("warnings", () => {
        it("an even etcd count (quorum)", () => {
            const raw = base();
            raw.nodes.push({ address: "192.0.2.14", roles: ["etcd", "worker"] });
            const { warnings } = parseConfig(raw, opts);
            assert.ok(warnings.some(w => /4 etcd nodes is an even count: etcd keeps quorum with 3 .* use an odd count/.test(w)), warnings.join("\n"));
        });

        it("more nodes than the declared size is sized for", () => {
            const raw = base();
            raw.nodeSize = "S";
            assert.deepEqual(parseConfig(raw, opts).warnings.filter(w => w.startsWith("nodeSize")), []);
            raw.nodes = Array.from({ length: 51 }, (_, i) => ({ address: `10.1.${Math.floor(i / 200)}.${i + 1}`, roles: ["controlplane", "etcd", "worker"] }));
            raw.nodes.pop(); // 50 nodes, 50 etcd (even): only look at the sizing warning
            raw.nodes.push({ address: "10.1.9.9", roles: ["worker"] }, { address: "10.1.9.10", roles: ["worker"] });
            const { warnings } = parseConfig(raw, opts);
            assert.ok(warnings.some(w => /^nodeSize: 52 nodes exceed what size S \(2 vCPU, 8 GB\) is sized for \(50 nodes\)/.test(w)), warnings.join("\n"));
        });
    });

    describe("rancher chart settings", () => {
        it("defaults: preferred anti-affinity, RKE's nginx class, the careful operator's values, no audit log", () => {
            const r = parseConfig(base(), opts).settings.rancher;
            assert.equal(r.antiAffinity, "preferred");
            assert.equal(r.ingressClassName, "nginx");
            assert.equal(r.includeDefaultExtraAnnotations, true);
            assert.equal(r.systemRegistryInheritsPullSecrets, true);
            assert.equal(r.postDeleteIgnoreTimeoutError, true);
            assert.equal(r.auditLogLevel, undefined);
            assert.equal(r.additionalTrustedCas, undefined);
        });

        it("reads every rancher setting", async () => {
            const raw = base();
            raw.rancher = {
                antiAffinity: "required", ingressClassName: "nginx-internal", includeDefaultExtraAnnotations: false,
                systemRegistryInheritsPullSecrets: false, auditLogLevel: 2, postDeleteIgnoreTimeoutError: false,
            };
            raw.additionalTrustedCas = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
            const r = parseConfig(raw, opts).settings.rancher;
            assert.deepEqual({ ...r, additionalTrustedCas: undefined, bootstrapPassword: undefined }, {
                replicas: 3, chartRepo: "prime", antiAffinity: "required", ingressClassName: "nginx-internal",
                includeDefaultExtraAnnotations: false, systemRegistryInheritsPullSecrets: false, auditLogLevel: 2,
                postDeleteIgnoreTimeoutError: false, additionalTrustedCas: undefined, bootstrapPassword: undefined,
            });
            assert.deepEqual(await settle(r.additionalTrustedCas!), { value: raw.additionalTrustedCas, secret: true });
        });

        it("more replicas than workers: preferred shares nodes (a warning that says so), required is an error naming the fix", () => {
            const raw = base();
            raw.rancher = { replicas: 5 };
            const { warnings } = parseConfig(raw, opts);
            assert.ok(warnings.some(w => /^rancher\.replicas: 5 replicas on 3 worker node\(s\); with rancher\.antiAffinity preferred the scheduler puts the extra replicas on nodes that already run one/.test(w)), warnings.join("\n"));
            assert.ok(!warnings.some(w => /Pending/.test(w)));
            raw.rancher = { replicas: 5, antiAffinity: "required" };
            oneProblem(raw, "rancher-ha:rancher.antiAffinity", /one Rancher pod per node.*5 on 3 worker node\(s\), so 2 would stay Pending; set rancher\.replicas to at most 3, add worker nodes, or set rancher\.antiAffinity: preferred/);
            raw.rancher = { replicas: 3, antiAffinity: "required" };
            assert.deepEqual(parseConfig(raw, opts).warnings.filter(w => w.startsWith("rancher.")), []);
            raw.rancher = { antiAffinity: "sometimes" };
            oneProblem(raw, "rancher-ha:rancher.antiAffinity", /use one of preferred, required/);
        });

        it("ingressProvider none needs rancher.ingressClassName; with nginx it defaults to nginx", () => {
            const raw = base();
            raw.cluster = { ingressProvider: "none" };
            oneProblem(raw, "rancher-ha:rancher.ingressClassName", /required when cluster\.ingressProvider is none.*kubectl get ingressclass/);
            raw.rancher = { ingressClassName: "traefik" };
            assert.equal(parseConfig(raw, opts).settings.rancher.ingressClassName, "traefik");
            raw.rancher = { ingressClassName: "Not_A_Class" };
            oneProblem(raw, "rancher-ha:rancher.ingressClassName", /not an IngressClass name/);
        });

        it("auditLogLevel is 0-3; 0 before Rancher 2.12 is off, with a warning", () => {
            const raw = base();
            raw.rancher = { auditLogLevel: 4 };
            oneProblem(raw, "rancher-ha:rancher.auditLogLevel", /whole number from 0 to 3/);
            raw.rancher = { auditLogLevel: 0 };
            assert.ok(parseConfig(raw, opts).warnings.some(w => /^rancher\.auditLogLevel: 0 turns the audit log off before Rancher 2\.12/.test(w)));
            raw.rancher = { auditLogLevel: 1 };
            assert.deepEqual(parseConfig(raw, opts).warnings.filter(w => w.startsWith("rancher.")), []);
        });

        it("additionalTrustedCas must be a PEM bundle", () => {
            const raw = base();
            raw.additionalTrustedCas = "not a pem";
            oneProblem(raw, "rancher-ha:additionalTrustedCas", /not a PEM certificate bundle/);
        });
    });

    describe("cert-manager before v1.15", () => {
        it("warns that its CRDs go with the release (no crds.keep), unless cert-manager is not installed", () => {
            const raw = base();
            raw.versions = { certManager: "v1.14.5" };
            const { warnings } = parseConfig(raw, opts);
            assert.ok(warnings.some(w => /^versions\.certManager: v1\.14\.5 installs its CRDs with installCRDs.*every Certificate, Issuer and ClusterIssuer.*use v1\.15\.0 or later/.test(w)), warnings.join("\n"));
            raw.tls = { source: "secret", generateCa: true };
            assert.ok(!parseConfig(raw, opts).warnings.some(w => /installCRDs/.test(w)), "secret TLS: no cert-manager installed");
            raw.tls = {};
            raw.versions = { certManager: "v1.15.0" };
            assert.ok(!parseConfig(raw, opts).warnings.some(w => /installCRDs/.test(w)));
        });
    });

    describe("helpers", () => {
        it("suggest finds close names only", () => {
            assert.equal(suggest("hostnme", ["hostname", "nodes"]), ` (did you mean "hostname"?)`);
            assert.equal(suggest("zzzzzz", ["hostname", "nodes"]), "");
        });

        it("parseConfigValue reads Pulumi's JSON for objects and keeps plain strings", () => {
            assert.deepEqual(parseConfigValue(`{"a":[1,2]}`), { a: [1, 2] });
            assert.equal(parseConfigValue("3"), 3);
            assert.equal(parseConfigValue("true"), true);
            assert.equal(parseConfigValue("rancher.example.com"), "rancher.example.com");
            assert.equal(parseConfigValue("{not json"), "{not json");
        });
    });

    describe("loadConfig", () => {
        it("reads the project's keys from the Pulumi config, and only those", async () => {
            await pulumi.runtime.setMocks({ newResource: a => ({ id: a.name, state: a.inputs }), call: a => a.inputs }, "rancher-ha", "test");
            const raw = base();
            const config: Record<string, string> = { "kubernetes:context": "ignored", "rancher-ha:sshPrivateKey": KEY };
            for (const [k, v] of Object.entries(raw)) {
                config[`rancher-ha:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
            }
            pulumi.runtime.setAllConfig(config, ["rancher-ha:sshPrivateKey"]);
            try {
                const s = loadConfig(opts);
                assert.equal(s.hostname, "rancher.example.com");
                assert.equal(s.nodes[2].address, "192.0.2.13");
                assert.equal(s.nodes[0].keyId, keyId(KEY));
            } finally {
                pulumi.runtime.setAllConfig({});
            }
        });
    });
});
