// Malformed stacks that used to be accepted ("Safe by construction", item 9) and the way a config error reaches
// the user under `pulumi up` (item 11): each is a config error naming the key and the fix, reported with every
// other problem at once, before any resource.
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, loadConfig, parseConfig } from "../../../components/config";
import { isImageReference, labelKeyProblem, labelValueProblem, shown, suggest } from "../../../components/config/names";
import { normaliseWorkDir } from "../../../components/config/sections/admin";
import { KNOWN_HOSTS_ANY } from "../../fixtures/hostKeys";
import { assertProblem, problemsOf, validStack } from "./problems";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n";
const readFile = (p: string) => {
    if (p === "/home/op/.ssh/known_hosts") {
        return KNOWN_HOSTS_ANY;
    }
    if (p !== "/home/op/.ssh/id_rsa") {
        throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
    }
    return KEY;
};
const opts = { readFile, homeDir: "/home/op" };

/** A valid stack: 1 LB + 3 all-role nodes (problems.ts validStack). */
const base = validStack;

function with_(change: (raw: Record<string, any>) => void): Record<string, any> {
    const raw = base();
    change(raw);
    return raw;
}

const problems = (raw: Record<string, any>) => problemsOf(raw, opts);

/** The config is refused with a problem for `key` (without the project prefix) matching `pattern`. */
const refused = (raw: Record<string, any>, key: string, pattern: RegExp) => assertProblem(raw, opts, `rancher-ha:${key}`, pattern);

function accepted(raw: Record<string, any>) {
    assert.doesNotThrow(() => parseConfig(raw, opts));
}

describe("config: malformed stacks are refused (safe by construction)", () => {
    describe("admin.workDir", () => {
        it("refuses shared system directories and the home directory, however they are spelt", () => {
            for (const dir of ["/", "/tmp", "/var/tmp", "/opt", "/usr", "/etc", "/var", "/home", "/root", "~", "~/",
                "/tmp/", "/opt/.", "//opt//", "/./tmp", "~/.", "/usr/local/"]) {
                refused(with_(r => { r.admin = { workDir: dir }; }), "admin.workDir",
                    /is (the shared system directory \/[a-z/]*|the home directory); rke's files .* \(chmod 700\); use a directory of its own, e\.g\. ~\/rancher-ha$/);
            }
        });

        it("refuses the login directory and ~user paths, which the scripts would not expand", () => {
            refused(with_(r => { r.admin = { workDir: "." }; }), "admin.workDir", /is the login directory itself; use a directory of its own, e\.g\. ~\/rancher-ha/);
            refused(with_(r => { r.admin = { workDir: "~root/rke" }; }), "admin.workDir", /"~" is only understood as the first character, followed by "\/"/);
            refused(with_(r => { r.admin = { workDir: "~/a/../.." }; }), "admin.workDir", /must be a plain path .*no "\.\."/);
        });

        it("accepts a directory of its own, under a system directory too", () => {
            for (const dir of ["~/rancher-ha", "/opt/rancher-ha", "/srv/rancher/prod/", "rancher-ha", "/tmp/rancher-ha"]) {
                accepted(with_(r => { r.admin = { workDir: dir }; }));
            }
            assert.equal(normaliseWorkDir("/opt/./x//"), "/opt/x");
            assert.equal(normaliseWorkDir("~/"), "~");
        });
    });

    describe("lower-case names", () => {
        it("hostname with upper-case letters, showing the lower-cased value", () => {
            refused(with_(r => { r.hostname = "Rancher.Example.COM"; }), "hostname",
                /^rancher-ha:hostname: "Rancher\.Example\.COM" has upper-case letters; Rancher's host name must be lower case: use "rancher\.example\.com"$/);
        });

        it("nodes[].hostnameOverride with upper-case letters, showing the lower-cased value", () => {
            refused(with_(r => { r.nodes[1].hostnameOverride = "Server-02"; }), "nodes[1].hostnameOverride",
                /"Server-02" has upper-case letters; Kubernetes node names must be lower case: use "server-02"$/);
            accepted(with_(r => { r.nodes[1].hostnameOverride = "server-02"; }));
        });

        it("cluster.name with upper-case letters", () => {
            refused(with_(r => { r.cluster = { name: "Rancher" }; }), "cluster.name", /"Rancher" must be a DNS label \(lower-case letters, digits, -\), e\.g\. rancher/);
        });
    });

    describe("loadBalancer", () => {
        it("an IPv6 address, since the rendered nginx listens on IPv4 only", () => {
            refused(with_(r => { r.loadBalancer.address = "2001:db8::10"; }), "loadBalancer.address",
                /"2001:db8::10" is an IPv6 address, but the load balancer's nginx listens on IPv4 only; use the host's IPv4 address, or a DNS name with an A record/);
        });

        it("a listen port that is the LB's SSH port (loadBalancer.port, else ssh.port, else 22)", () => {
            refused(with_(r => { r.loadBalancer.httpsPort = 22; }), "loadBalancer.httpsPort",
                /^rancher-ha:loadBalancer\.httpsPort: 22 is the load balancer's SSH port \(loadBalancer\.port, else ssh\.port\); nginx would take sshd's port .* use another port \(default 443\), or move sshd$/);
            refused(with_(r => { r.loadBalancer.port = 2222; r.loadBalancer.kubeApiPort = "2222"; }), "loadBalancer.kubeApiPort", /2222 is the load balancer's SSH port/);
            refused(with_(r => { r.ssh.port = 8080; r.loadBalancer.httpPort = 8080; }), "loadBalancer.httpPort", /8080 is the load balancer's SSH port/);
            // The nodes' SSH port is another host's business.
            accepted(with_(r => { r.loadBalancer.port = 2222; r.ssh.port = 80; }));
        });

        it("an address that is also a node's, when the ports collide with what the node binds", () => {
            refused(with_(r => { r.loadBalancer.address = "192.0.2.12"; }), "loadBalancer.address",
                /"192\.0\.2\.12" is also nodes\[1\], which binds 80 \(ingress-nginx\), 443 \(ingress-nginx\), 6443 \(kube-apiserver\) itself; .*Put the load balancer on a host of its own, or move loadBalancer\.httpPort\/httpsPort\/kubeApiPort to free ports/);
            refused(with_(r => { r.nodes[0].internalAddress = "10.0.0.5"; r.loadBalancer.address = "10.0.0.5"; }), "loadBalancer.address", /is also nodes\[0\]/);
            accepted(with_(r => { r.loadBalancer = { address: "192.0.2.12", httpPort: 8080, httpsPort: 8443, kubeApiPort: 7443 }; }));
        });

        it("an image that is not a Docker image reference (a config error, not a crash later)", () => {
            for (const image of ["nginx;id", "nginx:1.27 ; rm -rf /", "Nginx:1.27", "nginx:", "nginx@sha256:123", "-nginx", "nginx:1.27\nx", ""]) {
                const raw = with_(r => { r.loadBalancer.image = image; });
                if (image === "") {
                    accepted(raw); // empty is unset: the default image
                    continue;
                }
                refused(raw, "loadBalancer.image", /is not a Docker image reference; use registry\[:port\]\/path\[:tag\]\[@sha256:digest\] with a lower-case path, e\.g\. nginx:1\.27-alpine/);
            }
            for (const image of ["nginx", "nginx:1.27-alpine", "library/nginx:1.27", "registry.example.com:5000/library/nginx:1.27-alpine",
                `nginx@sha256:${"a".repeat(64)}`, `localhost/nginx:1.27@sha256:${"0".repeat(64)}`, "Registry.Example.com/my_team/nginx-lb:v1.2.3"]) {
                accepted(with_(r => { r.loadBalancer.image = image; }));
            }
        });
    });

    describe("labels and taints (Kubernetes rules)", () => {
        it("a label value that is a map or a list (was written as [object Object])", () => {
            refused(with_(r => { r.nodes[0].labels = { tier: { a: 1 } }; }), "nodes[0].labels.tier",
                /a label value must be text \(at most 63 characters\), got \{"a":1\}/);
            refused(with_(r => { r.nodes[0].labels = { tier: ["a"] }; }), "nodes[0].labels.tier", /must be text .*got \["a"\]/);
            refused(with_(r => { r.nodes[0].labels = { tier: null }; }), "nodes[0].labels.tier", /got null; write "" for an empty value/);
        });

        it("label values: at most 63 characters of letters, digits, - _ ., alphanumeric at both ends", () => {
            refused(with_(r => { r.nodes[0].labels = { tier: "x".repeat(64) }; }), "nodes[0].labels.tier", /is not a Kubernetes label value: at most 63 characters/);
            refused(with_(r => { r.nodes[0].labels = { tier: "front end" }; }), "nodes[0].labels.tier", /"front end" is not a Kubernetes label value/);
            refused(with_(r => { r.nodes[0].labels = { tier: "-front" }; }), "nodes[0].labels.tier", /is not a Kubernetes label value/);
            const ok = parseConfig(with_(r => { r.nodes[0].labels = { tier: "front_1.a-b", empty: "", on: true, pods: 250 }; }), opts);
            assert.deepEqual(ok.settings.nodes[0].labels, { tier: "front_1.a-b", empty: "", on: "true", pods: "250" });
        });

        it("label keys: optional lower-case DNS-subdomain prefix, a name of at most 63 characters", () => {
            refused(with_(r => { r.nodes[0].labels = { "Example.com/tier": "a" }; }), "nodes[0].labels.Example.com/tier",
                /is not a valid Kubernetes label name: its prefix "Example\.com" must be a lower-case DNS subdomain/);
            refused(with_(r => { r.nodes[0].labels = { "a/b/c": "x" }; }), "nodes[0].labels.a/b/c", /its name "b\/c" must be 1 to 63 characters/);
            refused(with_(r => { r.nodes[0].labels = { ["n".repeat(64)]: "x" }; }), `nodes[0].labels.${"n".repeat(64)}`, /must be 1 to 63 characters/);
            refused(with_(r => { r.nodes[0].labels = { "example.com/": "x" }; }), "nodes[0].labels.example.com/", /its name "" must be 1 to 63/);
            refused(with_(r => { r.nodes[0].labels = "tier=front"; }), "nodes[0].labels", /must be a map of label name to value/);
            accepted(with_(r => { r.nodes[0].labels = { "node-role.example.com/rancher": "true", "topology.kubernetes.io/zone": "zone-a", Tier_1: "A" }; }));
        });

        it("taints: key as a label key, value as a label value, one of the three effects, once per key and effect", () => {
            refused(with_(r => { r.nodes[0].taints = [{ key: "dedicated pool", effect: "NoSchedule" }]; }), "nodes[0].taints[0].key",
                /"dedicated pool" is not a valid taint key/);
            refused(with_(r => { r.nodes[0].taints = [{ key: "dedicated", value: { a: 1 }, effect: "NoSchedule" }]; }), "nodes[0].taints[0].value",
                /a taint value must be text .*got \{"a":1\}/);
            refused(with_(r => { r.nodes[0].taints = [{ key: "dedicated", value: "x y", effect: "NoSchedule" }]; }), "nodes[0].taints[0].value", /not a Kubernetes label value/);
            refused(with_(r => { r.nodes[0].taints = [{ key: "dedicated", effect: "NoSchedul" }]; }), "nodes[0].taints[0].effect",
                /unknown effect "NoSchedul" \(did you mean "NoSchedule"\?\); use one of NoSchedule, PreferNoSchedule, NoExecute/);
            refused(with_(r => { r.nodes[0].taints = [{ key: "dedicated" }]; }), "nodes[0].taints[0].effect", /missing; use one of NoSchedule/);
            refused(with_(r => { r.nodes[0].taints = [{ effect: "NoSchedule" }]; }), "nodes[0].taints[0].key", /missing or not text/);
            refused(with_(r => { r.nodes[0].taints = [{ key: "dedicated", effect: "NoSchedule", efect: "x" }]; }), "nodes[0].taints[0].efect",
                /unknown key \(did you mean "effect"\?\); known keys here: key, value, effect/);
            refused(with_(r => { r.nodes[0].taints = ["dedicated=x:NoSchedule"]; }), "nodes[0].taints[0]", /must be a \{key, value, effect\} map/);
            refused(with_(r => { r.nodes[0].taints = [{ key: "a", effect: "NoSchedule" }, { key: "a", value: "b", effect: "NoSchedule" }]; }),
                "nodes[0].taints[1]", /duplicate taint "a" with effect NoSchedule \(also nodes\[0\]\.taints\[0\]\)/);
            const ok = parseConfig(with_(r => {
                r.nodes[0].taints = [{ key: "example.com/dedicated", value: "rancher", effect: "NoSchedule" }, { key: "example.com/dedicated", effect: "NoExecute" }];
            }), opts);
            assert.deepEqual(ok.settings.nodes[0].taints, [
                { key: "example.com/dedicated", value: "rancher", effect: "NoSchedule" }, { key: "example.com/dedicated", value: undefined, effect: "NoExecute" }]);
        });
    });

    describe("other input that passed and would break later", () => {
        it("a node's internalAddress that is another node's address", () => {
            refused(with_(r => { r.nodes[2].internalAddress = "192.0.2.11"; }), "nodes[2].internalAddress",
                /"192\.0\.2\.11" is the address of nodes\[0\]; each node must be listed once/);
            accepted(with_(r => { r.nodes[2].internalAddress = "192.0.2.13"; }));
        });

        it("a dockerSocket that is not an absolute path", () => {
            for (const socket of ["docker.sock", "unix:///var/run/docker.sock", "/var/run/../docker.sock", "/run/docker sock"]) {
                refused(with_(r => { r.nodes[0].dockerSocket = socket; }), "nodes[0].dockerSocket", /must be the absolute path of the Docker socket on the node .* e\.g\. \/var\/run\/docker\.sock/);
            }
            accepted(with_(r => { r.nodes[0].dockerSocket = "/run/user/1000/docker.sock"; }));
        });

        it("a privateRegistry.url with a path", () => {
            refused(with_(r => { r.privateRegistry = { url: "registry.example.com/library" }; }), "privateRegistry.url",
                /must be a registry host\[:port\], without a scheme or path/);
            refused(with_(r => { r.privateRegistry = { url: "registry.example.com:99999" }; }), "privateRegistry.url", /host\[:port\]/);
            for (const url of ["registry.example.com", "registry.example.com:5000", "10.0.0.5:5000", "[fd00::5]:5000", "localhost:5000"]) {
                accepted(with_(r => { r.privateRegistry = { url }; }));
            }
        });

        it("etcdSnapshots: a zero duration, an S3 endpoint with a scheme, a bucket name S3 refuses", () => {
            refused(with_(r => { r.etcdSnapshots = { creation: "0h" }; }), "etcdSnapshots.creation", /"0h" is no time at all; use e\.g\. 6h/);
            refused(with_(r => { r.etcdSnapshots = { retention: "0m" }; }), "etcdSnapshots.retention", /"0m" is no time at all; use e\.g\. 24h/);
            refused(with_(r => { r.etcdSnapshots = { s3: { bucketName: "etcd", endpoint: "https://s3.example.com" } }; }), "etcdSnapshots.s3.endpoint",
                /must be the S3 host\[:port\], without a scheme or path \(RKE adds https:\/\/\)/);
            refused(with_(r => { r.etcdSnapshots = { s3: { bucketName: "My_Bucket", endpoint: "s3.example.com" } }; }), "etcdSnapshots.s3.bucketName",
                /"My_Bucket" is not an S3 bucket name/);
            accepted(with_(r => { r.etcdSnapshots = { s3: { bucketName: "rancher-etcd.prod", endpoint: "minio.example.com:9000" } }; }));
        });

        it("a maxUnavailable percentage over 100%, or a value that is not a count", () => {
            refused(with_(r => { r.cluster = { upgradeStrategy: { maxUnavailableWorker: "150%" } }; }), "cluster.upgradeStrategy.maxUnavailableWorker",
                /"150%" must be a count or a percentage up to 100%/);
            refused(with_(r => { r.cluster = { upgradeStrategy: { maxUnavailableControlplane: { a: 1 } } }; }), "cluster.upgradeStrategy.maxUnavailableControlplane",
                /\{"a":1\} must be a count/);
            accepted(with_(r => { r.cluster = { upgradeStrategy: { maxUnavailableWorker: "100%", maxUnavailableControlplane: 2 } }; }));
        });

        it("already refused: spaces in an address, out-of-range ports", () => {
            refused(with_(r => { r.nodes[0].address = "192.0.2.11 "; }), "nodes[0].address", /leading or trailing spaces/);
            refused(with_(r => { r.nodes[0].address = "node 1.example.com"; }), "nodes[0].address", /neither an IP address nor a valid host name/);
            refused(with_(r => { r.nodes[0].port = -1; }), "nodes[0].port", /must be a whole number from 1 to 65535/);
            refused(with_(r => { r.loadBalancer.httpPort = 70000; }), "loadBalancer.httpPort", /must be a whole number from 1 to 65535/);
        });

        it("reports the new problems together with the others, all at once", () => {
            const ps = problems(with_(r => {
                r.hostname = "Rancher.example.com";
                r.admin = { workDir: "/tmp" };
                r.loadBalancer = { address: "2001:db8::10", image: "nginx;id", httpPort: 22 };
                r.nodes[0].labels = { tier: { a: 1 } };
                r.nodes[1].hostnameOverride = "NODE-2";
            }));
            for (const key of ["hostname", "admin.workDir", "loadBalancer.address", "loadBalancer.image", "loadBalancer.httpPort",
                "nodes[0].labels.tier", "nodes[1].hostnameOverride"]) {
                assert.ok(ps.some(p => p.startsWith(`rancher-ha:${key}: `)), `${key} missing from:\n${ps.join("\n")}`);
            }
        });
    });

    describe("long values are not echoed in full", () => {
        it("shown() cuts a value to 80 characters and says how long it was", () => {
            assert.equal(shown("nginx"), `"nginx"`);
            assert.equal(shown("x".repeat(80)), `"${"x".repeat(80)}"`);
            assert.equal(shown("x".repeat(81)), `"${"x".repeat(80)}…" (81 characters)`);
            assert.equal(shown({ a: "y".repeat(100) }), `{"a":"${"y".repeat(74)}… (108 characters)`);
            assert.equal(shown(22), "22");
            assert.equal(shown(undefined), "undefined");
        });

        it("a 20 MB value in a section's message is cut", () => {
            const big = `;${"1".repeat(20 * 1024 * 1024)}`;
            for (const raw of [with_(r => { r.versions = { rancher: big }; }), with_(r => { r.loadBalancer.image = big; }),
                with_(r => { r.admin = { workDir: big }; }), with_(r => { r.nodes[0].labels = { tier: big }; })]) {
                const ps = problems(raw);
                assert.ok(ps.every(p => p.length < 1000), ps.map(p => p.slice(0, 200)).join("\n"));
                assert.ok(ps.some(p => p.includes(`…" (${big.length} characters)`)), ps.map(p => p.slice(0, 200)).join("\n"));
            }
        });

        it("suggest() does not compare a huge value letter by letter", () => {
            const t = Date.now();
            assert.equal(suggest("x".repeat(20 * 1024 * 1024), ["rancher", "letsEncrypt", "secret"]), "");
            assert.ok(Date.now() - t < 1000);
        });
    });

    describe("helpers", () => {
        it("label keys and values as Kubernetes validates them", () => {
            assert.equal(labelKeyProblem("app"), undefined);
            assert.equal(labelKeyProblem("kubernetes.io/hostname"), undefined);
            assert.equal(labelKeyProblem(`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}/x`), undefined, "253-character prefix");
            assert.match(labelKeyProblem(`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}/x`)!, /prefix/);
            assert.match(labelKeyProblem("_app")!, /name/);
            assert.equal(labelValueProblem(""), undefined);
            assert.equal(labelValueProblem("a".repeat(63)), undefined);
            assert.match(labelValueProblem("a".repeat(64))!, /at most 63/);
        });

        it("image references", () => {
            assert.ok(isImageReference("nginx:1.27-alpine"));
            assert.ok(isImageReference("registry-1.docker.io:443/library/nginx"));
            assert.ok(!isImageReference("nginx:1.27;id"));
            assert.ok(!isImageReference("NGINX"));
            assert.ok(!isImageReference(`nginx:${"t".repeat(129)}`), "tag of at most 128 characters");
            assert.ok(!isImageReference("https://registry.example.com/nginx"));
        });
    });
});

describe("loadConfig: a config error under pulumi up", () => {
    const setConfig = (raw: Record<string, any>) => {
        const config: Record<string, string> = { "rancher-ha:sshPrivateKey": KEY };
        for (const [k, v] of Object.entries(raw)) {
            config[`rancher-ha:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
        }
        pulumi.runtime.setAllConfig(config, ["rancher-ha:sshPrivateKey"]);
    };
    before(async () => {
        await pulumi.runtime.setMocks({ newResource: a => ({ id: a.name, state: a.inputs }), call: a => a.inputs }, "rancher-ha", "test");
    });
    afterEach(() => pulumi.runtime.setAllConfig({}));

    it("is a pulumi.RunError (printed without a stack trace) whose message lists every problem, as ConfigError words it", () => {
        const raw = with_(r => {
            r.hostname = "10.0.0.1";
            r.tls = { source: "letsEncrypt" };
            r.nodes[0].roles = ["boss"];
            r.admin = { workDir: "/tmp" };
            r.loadBalancer.image = "nginx;id";
        });
        setConfig(raw);
        let thrown: unknown;
        try {
            loadConfig(opts);
        } catch (e) {
            thrown = e;
        }
        assert.ok(thrown !== undefined, "loadConfig must throw");
        assert.ok(pulumi.RunError.isInstance(thrown), `expected a RunError, got ${thrown}`);
        assert.ok(!(thrown instanceof ConfigError));
        const expected = (() => {
            try {
                parseConfig({ ...raw, sshPrivateKey: KEY }, opts);
            } catch (e) {
                return (e as ConfigError);
            }
            assert.fail("parseConfig must refuse it too");
        })();
        const message = (thrown as Error).message;
        assert.equal(message, expected.message, "the same text as the ConfigError");
        assert.match(message, /^invalid stack configuration \(5 problems\):\n  - rancher-ha:/);
        for (const key of ["hostname", "tls.letsEncryptEmail", "nodes[0].roles", "admin.workDir", "loadBalancer.image"]) {
            assert.ok(message.includes(`\n  - rancher-ha:${key}: `), `${key} missing from:\n${message}`);
        }
    });

    it("still returns the settings of a valid stack", () => {
        setConfig(base());
        assert.equal(loadConfig(opts).nodes.length, 3);
    });
});

// Enable once reader.ts's getters echo values through names.ts's shown() (the change is in the report of item 12):
// today str/int/bool/enumOf and the unknown-key check print a value or key in full.
describe("config: the reader's getters cut long values too (needs the reader.ts change)", () => {
    it("a 20 MB value or key given where the reader checks it is cut to 80 characters and its length", () => {
        const big = `;${"1".repeat(20 * 1024 * 1024)}`;
        for (const raw of [with_(r => { r.tls = { source: big }; }), with_(r => { r.rancher = { replicas: big }; }),
            with_(r => { r.cluster = { ignoreDockerVersion: big }; }), with_(r => { r.versions = { rancher: { a: big } }; }),
            with_(r => { r.hostname = ` ${big}`; }), with_(r => { r[big] = 1; })]) {
            const ps = problems(raw);
            assert.ok(ps.every(p => p.length < 1000), ps.map(p => p.slice(0, 200)).join("\n"));
        }
    });
});
