// loadBalancer.hosts + virtualIp (a keepalived pair) and loadBalancer.healthChecks.
import { strict as assert } from "assert";
import { DEFAULTS, lbClientAddress, lbHosts, parseConfig } from "../../../components/config";
import { assertProblem, fakeFileOpts, problemsOf, validStack } from "./problems";
import { KNOWN_HOSTS_ANY } from "../../fixtures/hostKeys";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n";
const files: Record<string, string> = { "/home/op/.ssh/id_rsa": KEY, "/home/op/.ssh/known_hosts": KNOWN_HOSTS_ANY };
const opts = fakeFileOpts(files);
const pair = (lb: Record<string, unknown> = {}) => ({
    ...validStack(),
    loadBalancer: { hosts: [{ address: "192.0.2.5" }, { address: "192.0.2.6", port: 2222 }], virtualIp: "192.0.2.4", ...lb },
});

describe("config: loadBalancer pair and health checks", () => {
    it("a pair: both hosts, the virtual IP for clients, the router id from its last octet", () => {
        const { settings: s } = parseConfig(pair(), opts);
        const lb = s.loadBalancer;
        assert.deepEqual(lbHosts(lb).map(h => `${h.address}:${h.port}`), ["192.0.2.5:22", "192.0.2.6:2222"]);
        assert.equal(lb.address, "192.0.2.5", "the SSH target fields are the first host's");
        assert.equal(lbClientAddress(lb), "192.0.2.4");
        assert.deepEqual(lb.virtualIp, { address: "192.0.2.4", routerId: 4 });
        assert.equal(s.hostAliases.ip, "192.0.2.4", "hostAliases default to the virtual IP");
        const own = parseConfig(pair({ virtualRouterId: 77, interface: "ens192" }), opts).settings.loadBalancer.virtualIp;
        assert.deepEqual(own, { address: "192.0.2.4", routerId: 77, interface: "ens192" });
    });

    it("takeOverFrom: a stack name or a list of them; a bad name names the key and the form", () => {
        assert.deepEqual(parseConfig(pair({ takeOverFrom: "old" }), opts).settings.loadBalancer.takeOverFrom, ["old"]);
        assert.deepEqual(parseConfig(pair({ takeOverFrom: ["old", "other/prod"] }), opts).settings.loadBalancer.takeOverFrom, ["old", "other/prod"]);
        assert.equal(parseConfig(pair(), opts).settings.loadBalancer.takeOverFrom, undefined);
        assertProblem(pair({ takeOverFrom: ["old", "a b"] }), opts, "rancher-ha:loadBalancer.takeOverFrom[1]", /is not a stack name/);
        assertProblem(pair({ takeOverFrom: 7 }), opts, "rancher-ha:loadBalancer.takeOverFrom", /is not a stack name/);
    });

    it("a single LB: one host, clients use its address", () => {
        const { settings: s } = parseConfig(validStack(), opts);
        assert.deepEqual(lbHosts(s.loadBalancer).map(h => h.address), ["192.0.2.10"]);
        assert.equal(lbClientAddress(s.loadBalancer), "192.0.2.10");
        assert.equal(s.loadBalancer.virtualIp, undefined);
    });

    it("refuses a pair that cannot work, naming the key and the fix", () => {
        assertProblem(pair({ virtualIp: undefined }), opts, "rancher-ha:loadBalancer.virtualIp", /required with loadBalancer.hosts: a free IPv4 address/);
        assertProblem(pair({ virtualIp: "fd00::4" }), opts, "rancher-ha:loadBalancer.virtualIp", /not an IPv4 address/);
        assertProblem(pair({ virtualIp: "192.0.2.11" }), opts, "rancher-ha:loadBalancer.virtualIp", /is the address of nodes\[0\]/);
        assertProblem(pair({ virtualIp: "192.0.2.6" }), opts, "rancher-ha:loadBalancer.virtualIp", /is the address of loadBalancer.hosts\[1\]/);
        assertProblem(pair({ hosts: [{ address: "192.0.2.5" }] }), opts, "rancher-ha:loadBalancer.hosts", /exactly two LB hosts/);
        assertProblem(pair({ hosts: [{ address: "192.0.2.5" }, { address: "192.0.2.5" }] }), opts, "rancher-ha:loadBalancer.hosts[1].address", /the pair needs two hosts/);
        assertProblem(pair({ address: "192.0.2.10" }), opts, "rancher-ha:loadBalancer.address", /either address \(one LB host\) or hosts \+ virtualIp/);
        assertProblem(pair({ interface: "eth0; reboot" }), opts, "rancher-ha:loadBalancer.interface", /not a network interface name/);
        assertProblem(pair({ virtualRouterId: 300 }), opts, "rancher-ha:loadBalancer.virtualRouterId", /255/);
        assertProblem({ ...validStack(), loadBalancer: { address: "192.0.2.10", virtualIp: "192.0.2.4" } }, opts,
            "rancher-ha:loadBalancer.virtualIp", /applies to a pair of LB hosts only/);
        // A pair host that is also a node that binds the LB's ports.
        assertProblem(pair({ hosts: [{ address: "192.0.2.11" }, { address: "192.0.2.6" }] }), opts, "rancher-ha:loadBalancer.hosts[0].address", /is also nodes\[0\]/);
    });

    it("health checks: on by default with the checker's defaults; tunable; every problem at once", () => {
        const { settings: s } = parseConfig(validStack(), opts);
        assert.deepEqual(s.loadBalancer.healthChecks, DEFAULTS.lbHealthChecks);
        assert.equal(DEFAULTS.lbHealthChecks.enabled, true);
        const tuned = parseConfig({ ...validStack(), loadBalancer: { address: "192.0.2.10", healthChecks: { fall: 5, rise: 3, intervalSeconds: 2 } } }, opts);
        assert.deepEqual(tuned.settings.loadBalancer.healthChecks, { enabled: true, intervalSeconds: 2, timeoutSeconds: 1, fall: 5, rise: 3 });
        const ps = problemsOf({ ...validStack(), loadBalancer: { address: "192.0.2.10", healthChecks: { fall: 0, rise: "x", timeout: 1 } } }, opts);
        assert.ok(ps.some(p => p.startsWith("rancher-ha:loadBalancer.healthChecks.fall: ")), ps.join("\n"));
        assert.ok(ps.some(p => p.startsWith("rancher-ha:loadBalancer.healthChecks.rise: ")), ps.join("\n"));
        assert.ok(ps.some(p => p.startsWith("rancher-ha:loadBalancer.healthChecks.timeout: unknown key") && /timeoutSeconds/.test(p)), ps.join("\n"));
    });

    it("nodes named by DNS: checks off with a warning by default, an error when asked for", () => {
        const named = { ...validStack(), nodes: [1, 2, 3].map(i => ({ address: `node${i}.example.com`, roles: ["controlplane", "etcd", "worker"] })) };
        const { settings: s, warnings } = parseConfig(named, opts);
        assert.equal(s.loadBalancer.healthChecks?.enabled, false);
        assert.ok(warnings.some(w => /^loadBalancer.healthChecks: off, because nodes\[0\].address, nodes\[1\].address, nodes\[2\].address is not an IPv4/.test(w)), warnings.join("\n"));
        assertProblem({ ...named, loadBalancer: { address: "192.0.2.10", healthChecks: { enabled: true } } }, opts,
            "rancher-ha:nodes[0].address", /health checker takes a sick node out by its IPv4 address/);
        const off = parseConfig({ ...named, loadBalancer: { address: "192.0.2.10", healthChecks: { enabled: false } } }, opts);
        assert.ok(!off.warnings.some(w => w.startsWith("loadBalancer.healthChecks")), "an explicit false is not warned about");
    });
});
