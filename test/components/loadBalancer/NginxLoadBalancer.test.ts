import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { LoadBalancerSettings, NodeSettings, SshTarget } from "../../../components/config";
import { NginxLoadBalancer } from "../../../components/loadBalancer/NginxLoadBalancer";
import { lbNginxConf } from "../../../components/loadBalancer/nginxConf";
import { lbDeleteScript } from "../../../components/loadBalancer/scripts";
import { UPSTREAMS } from "../../../components/loadBalancer/nginxConf";
import { sha256 } from "../../../components/shared/shell";
import { allRegistered, byType, RecordedResource, recordResources, settle } from "../../helpers/mocks";

const LB_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nlb-key-material\n-----END OPENSSH PRIVATE KEY-----\n";
const NODE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnode-key-material\n-----END OPENSSH PRIVATE KEY-----\n";
const BASTION_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nbastion-key-material\n-----END OPENSSH PRIVATE KEY-----\n";

function lbSettings(over: Partial<LoadBalancerSettings> = {}): LoadBalancerSettings {
    return {
        address: "192.0.2.10", port: 22, user: "ops", privateKey: pulumi.secret(LB_KEY), keyId: "lbkeyid000000000",
        mode: "system", image: "nginx:1.27-alpine", ports: { http: 80, https: 443, kubeApi: 6443 },
        workerProcesses: "auto", workerConnections: 8192, workerRlimitNofile: 40000,
        ...over,
    };
}

function node(address: string, roles: NodeSettings["roles"]): NodeSettings {
    return {
        address, port: 22, user: "rancher", privateKey: pulumi.secret(NODE_KEY), keyId: "nodekeyid0000000",
        roles, labels: {}, taints: [],
    };
}

const NODES = [
    node("192.0.2.13", ["controlplane", "etcd", "worker"]),
    node("192.0.2.11", ["controlplane", "etcd", "worker"]),
    node("192.0.2.12", ["controlplane", "etcd", "worker"]),
    node("192.0.2.21", ["worker"]),
];

/** The nginx.conf a recorded Command sends on stdin (bundle line `nginx.conf 644 <base64>`). */
function confFromStdin(cmd: RecordedResource): string {
    const [name, mode, data] = (cmd.inputs.stdin as string).trim().split(" ");
    assert.equal(name, "nginx.conf");
    assert.equal(mode, "644");
    return Buffer.from(data, "base64").toString("utf8");
}

function upstream(conf: string, name: string): string[] {
    const block = new RegExp(`upstream ${name} \\{([^}]*)\\}`).exec(conf);
    assert.ok(block, `no upstream ${name}`);
    return [...block[1].matchAll(/server (\S+) /g)].map(m => m[1]);
}

describe("NginxLoadBalancer (mocks)", () => {
    let recorded: RecordedResource[];
    beforeEach(async () => {
        recorded = await recordResources();
    });

    async function build(name: string, args: ConstructorParameters<typeof NginxLoadBalancer>[1]) {
        const lb = new NginxLoadBalancer(name, args);
        const out = {
            address: await settle(lb.address),
            nginxConf: await settle(lb.nginxConf),
            configHash: await settle(lb.configHash),
        };
        await allRegistered(recorded);
        const component = recorded.find(r => r.type === "rancher-ha:loadBalancer:NginxLoadBalancer" && r.name === name)!;
        const all = byType(recorded, "command:remote:Command").filter(r => r.parent === component.urn);
        const cmds = all.filter(r => r.name.startsWith(`${name}-nginx`));
        return { lb, out, component, cmds, all };
    }

    it("is one component with a remote Command for nginx and one for the health checker on the LB host, parented to it", async () => {
        const { out, component, cmds, all } = await build("lb", { loadBalancer: lbSettings(), nodes: NODES });
        assert.ok(component, "component registered with its type token");
        assert.deepEqual(all.map(c => c.name).sort(), ["lb-health-check", "lb-nginx"]);
        assert.equal(cmds.length, 1);
        const [cmd] = cmds;
        assert.equal(cmd.name, "lb-nginx");
        assert.equal(cmd.inputs.connection.host, "192.0.2.10");
        assert.equal(cmd.inputs.connection.port, 22);
        assert.equal(cmd.inputs.connection.user, "ops");
        assert.equal(cmd.inputs.connection.proxy, undefined);
        assert.equal(out.address.value, "192.0.2.10");
    });

    it("ships the rendered config on stdin; its hash (not its text) is in the commands", async () => {
        const { out, cmds: [cmd] } = await build("lb", { loadBalancer: lbSettings(), nodes: NODES });
        const conf = out.nginxConf.value;
        assert.equal(confFromStdin(cmd), conf);
        assert.equal(out.configHash.value, sha256(conf));
        assert.equal(cmd.inputs.update, cmd.inputs.create, "update re-runs the idempotent apply script in place");
        assert.ok(cmd.inputs.create.includes(out.configHash.value));
        assert.ok(!/upstream|proxy_pass/.test(cmd.inputs.create));
        // Every node serves 80/443; only controlplane nodes get 6443; sorted, whatever the stack's order.
        assert.deepEqual(upstream(conf, UPSTREAMS.https), ["192.0.2.11:443", "192.0.2.12:443", "192.0.2.13:443", "192.0.2.21:443"]);
        assert.deepEqual(upstream(conf, UPSTREAMS.kubeApi), ["192.0.2.11:6443", "192.0.2.12:6443", "192.0.2.13:6443"]);
        // system mode: the distro's stream module is included; the delete script restores the distro config.
        assert.match(conf, /^include \/etc\/nginx\/modules-enabled\/\*\.conf;$/m);
        assert.equal(cmd.inputs.delete, lbDeleteScript({ mode: "system", configHash: out.configHash.value, hostLabel: "ops@192.0.2.10:22",
            owner: { owner: "rancher-ha/test", takeOverFrom: [] } }));
    });

    it("every LB script knows the stack it serves and the stacks it may take the host over from (loadBalancer.takeOverFrom)", async () => {
        const { cmds, all } = await build("lb", { loadBalancer: { ...lbSettings(), takeOverFrom: ["old", "other/prod"] }, nodes: NODES });
        assert.ok(all.length > cmds.length, "the checker's Command too");
        for (const c of all) {
            for (const text of [c.inputs.create, c.inputs.delete]) {
                assert.match(text, /^OWNER=rancher-ha\/test$/m, c.name);
                assert.match(text, /^TAKE_OVER=' rancher-ha\/old other\/prod '$/m, c.name);
            }
            assert.match(c.inputs.create, /^check_owner$/m, `${c.name}: apply checks`);
            assert.match(c.inputs.delete, /^if other_owner; then say "left alone/m, `${c.name}: delete leaves another stack's host`);
        }
        assert.match(cmds[0].inputs.create, /^claim_owner$/m, "the nginx apply records the owner");
    });

    it("keeps the SSH key secret and out of every command, stdin and output", async () => {
        const bastion: SshTarget = { address: "198.51.100.1", port: 2222, user: "jump", privateKey: pulumi.secret(BASTION_KEY), keyId: "b" };
        const { lb, out, cmds: [cmd] } = await build("lb", { loadBalancer: lbSettings(), nodes: NODES, bastion });
        assert.ok(cmd.secretInputs.includes("connection"), "the connection (with the keys) reaches the engine as a secret");
        assert.ok(cmd.additionalSecretOutputs.includes("connection"));
        assert.equal(cmd.inputs.connection.privateKey, LB_KEY);
        assert.equal(cmd.inputs.connection.proxy.host, "198.51.100.1");
        assert.equal(cmd.inputs.connection.proxy.port, 2222);
        assert.equal(cmd.inputs.connection.proxy.privateKey, BASTION_KEY);
        for (const text of [cmd.inputs.create, cmd.inputs.update, cmd.inputs.delete, cmd.inputs.stdin, out.nginxConf.value]) {
            for (const k of ["lb-key-material", "node-key-material", "bastion-key-material"]) {
                assert.ok(!text.includes(k));
            }
        }
        // Nothing the LB outputs is secret, so nothing needs wrapping; the outputs stay readable in `pulumi stack output`.
        assert.equal(out.nginxConf.secret, false);
        assert.equal((await settle(lb.configHash)).secret, false);
    });

    it("replaces (delete first) only when the host or run mode changes; a config change updates in place", async () => {
        const a = await build("a", { loadBalancer: lbSettings(), nodes: NODES });
        const b = await build("b", { loadBalancer: lbSettings(), nodes: [...NODES, node("192.0.2.22", ["worker"])] });
        const c = await build("c", { loadBalancer: lbSettings({ workerConnections: 4096 }), nodes: [...NODES].reverse() });
        const [ca, cb, cc] = [a.cmds[0], b.cmds[0], c.cmds[0]];
        assert.deepEqual(ca.inputs.triggers, ["system", "192.0.2.10"]);
        assert.ok(ca.deleteBeforeReplace, "the old install frees the ports before the new one takes them");
        assert.ok(ca.replaceOnChanges.includes("triggers[*]"));
        // New node: new config, new hash, new create/update, same triggers and delete -> an in-place update.
        assert.notEqual(b.out.configHash.value, a.out.configHash.value);
        assert.notEqual(cb.inputs.create, ca.inputs.create);
        assert.deepEqual(cb.inputs.triggers, ca.inputs.triggers);
        assert.equal(cb.inputs.delete, ca.inputs.delete);
        // Tuning changes the config; node order alone would not.
        assert.match(c.out.nginxConf.value, /worker_connections 4096;/);
        assert.equal(c.out.nginxConf.value.replace("4096", "8192"), a.out.nginxConf.value);
        assert.deepEqual(cc.inputs.triggers, ca.inputs.triggers);
    });

    it("docker mode: the image and published ports are in the commands; no distro module include", async () => {
        const { out, cmds: [cmd] } = await build("lb", {
            loadBalancer: lbSettings({ mode: "docker", image: "registry.local/nginx:1.27", ports: { http: 8080, https: 8443, kubeApi: 16443 } }),
            nodes: NODES,
        });
        assert.deepEqual(cmd.inputs.triggers, ["docker", "192.0.2.10"]);
        assert.match(cmd.inputs.create, /IMAGE=registry\.local\/nginx:1\.27/);
        assert.match(cmd.inputs.create, /-p 8080:8080 -p 8443:8443 -p 16443:16443/);
        assert.match(cmd.inputs.create, /--restart=unless-stopped/);
        assert.match(cmd.inputs.delete, /for c in "\$NAME" "\$PREV"; do[\s\S]*\$D rm -f "\$c"/);
        assert.doesNotMatch(out.nginxConf.value, /^include /m);
        assert.match(out.nginxConf.value, /^\s+listen 16443 backlog=4096 so_keepalive=60s:10s:6;$/m);
        assert.deepEqual(upstream(out.nginxConf.value, UPSTREAMS.kubeApi), ["192.0.2.11:6443", "192.0.2.12:6443", "192.0.2.13:6443"]);
    });

    it("the health checker: after nginx on the same host, its script on stdin (secret), removed by its delete", async () => {
        const { all } = await build("lb", { loadBalancer: lbSettings(), nodes: NODES });
        const nginx = all.find(c => c.name === "lb-nginx")!;
        const check = all.find(c => c.name === "lb-health-check")!;
        assert.ok(check.dependencies.includes(nginx.urn), "installed after nginx");
        assert.equal(check.inputs.connection.host, "192.0.2.10");
        assert.equal(check.inputs.addPreviousOutputInEnv, false);
        assert.ok(check.secretInputs.includes("stdin"));
        assert.deepEqual(check.inputs.triggers, ["192.0.2.10"]);
        assert.equal(check.inputs.update, check.inputs.create);
        assert.match(check.inputs.delete, /systemctl disable --now "\$NAME"/);
        const [name, mode, data] = (check.inputs.stdin as string).trim().split(" ");
        assert.deepEqual([name, mode], ["check.sh", "755"]);
        const checker = Buffer.from(data, "base64").toString("utf8");
        // Every node's ingress ports, the API on controlplane nodes: what nginx forwards to.
        // Sorted as nginx's upstreams are, whatever the stack's node order.
        for (const t of ["20000 http 192.0.2.11 80 http", "20002 kubeApi 192.0.2.11 6443 apiserver", "20010 https 192.0.2.21 443 https"]) {
            assert.ok(checker.includes(t), `${t} in\n${checker}`);
        }
        assert.ok(!checker.includes("192.0.2.21 6443"), "a worker gets no API probe");
        assert.ok(check.inputs.create.includes(sha256(check.inputs.stdin as string)), "the command carries the bundle's hash");
    });

    it("loadBalancer.healthChecks.enabled false: no checker", async () => {
        const { all } = await build("lb", { loadBalancer: lbSettings({ healthChecks: { enabled: false, intervalSeconds: 1, timeoutSeconds: 1, fall: 3, rise: 2 } }), nodes: NODES });
        assert.deepEqual(all.map(c => c.name), ["lb-nginx"]);
    });

    it("a pair: nginx, the checker and keepalived on each host (the first keeps a single LB's names); clients use the virtual IP", async () => {
        const second: SshTarget = { address: "192.0.2.9", port: 22, user: "ops", privateKey: pulumi.secret(LB_KEY), keyId: "lbkeyid000000000", hostKey: "ssh-ed25519 AAAA" };
        const first = lbSettings();
        const { out, all } = await build("lb", {
            loadBalancer: { ...first, hosts: [first, second], clientAddress: "192.0.2.8", virtualIp: { address: "192.0.2.8", routerId: 8 } },
            nodes: NODES,
        });
        assert.equal(out.address.value, "192.0.2.8");
        assert.deepEqual(all.map(c => c.name).sort(),
            ["lb-health-check", "lb-health-check-2", "lb-keepalived", "lb-keepalived-2", "lb-nginx", "lb-nginx-2"]);
        const on = (n: string) => all.find(c => c.name === n)!;
        assert.equal(on("lb-nginx-2").inputs.connection.host, "192.0.2.9");
        assert.equal(on("lb-nginx-2").inputs.stdin, on("lb-nginx").inputs.stdin, "the same nginx.conf on both");
        assert.equal(on("lb-keepalived-2").inputs.connection.host, "192.0.2.9");
        assert.ok(on("lb-keepalived-2").dependencies.includes(on("lb-nginx-2").urn));
        const conf = (n: string) => Buffer.from((on(n).inputs.stdin as string).split("\n")[0].split(" ")[2], "base64").toString("utf8");
        assert.match(conf("lb-keepalived"), /priority 200/);
        assert.match(conf("lb-keepalived-2"), /priority 190/);
        assert.match(conf("lb-keepalived-2"), /unicast_peer \{\s+192\.0\.2\.10\s+\}/);
        for (const c of all) {
            assert.equal(c.inputs.addPreviousOutputInEnv, false, c.name);
        }
    });
});
