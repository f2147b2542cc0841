import { strict as assert } from "assert";
import * as yaml from "js-yaml";
import { coreDnsServersWithHosts, RKE2_COREDNS_CHART, rke2CoreDnsHostsConfig } from "../../../components/hostAliases/coreDns";

describe("hostAliases/coreDns (RKE2's CoreDNS resolves the Rancher hostname)", () => {
    it("renders a HelmChartConfig for rke2-coredns whose values keep the chart's default server block and add hosts", () => {
        const m = rke2CoreDnsHostsConfig("192.0.2.10", "rancher.example.com");
        assert.equal(m.apiVersion, "helm.cattle.io/v1");
        assert.equal(m.kind, "HelmChartConfig");
        assert.deepEqual(m.metadata, { name: RKE2_COREDNS_CHART.name, namespace: "kube-system" });
        const values = yaml.load((m.spec as any).valuesContent) as any;
        assert.equal(values.servers.length, 1);
        const server = values.servers[0];
        assert.deepEqual(server.zones, [{ zone: "." }]);
        assert.equal(server.port, 53);
        // The chart's defaults (rke2-charts packages/rke2-coredns values.yaml), in order, plus hosts.
        assert.deepEqual(server.plugins.map((p: any) => p.name),
            ["errors", "health", "ready", "hosts", "kubernetes", "prometheus", "forward", "cache", "loop", "reload", "loadbalance"]);
        const hosts = server.plugins.find((p: any) => p.name === "hosts");
        assert.equal(hosts.configBlock, "192.0.2.10 rancher.example.com\nfallthrough");
        const k8s = server.plugins.find((p: any) => p.name === "kubernetes");
        assert.equal(k8s.parameters, "cluster.local in-addr.arpa ip6.arpa");
        assert.match(k8s.configBlock, /^pods insecure\nfallthrough in-addr\.arpa ip6\.arpa\nttl 30$/);
        assert.equal(server.plugins.find((p: any) => p.name === "forward").parameters, ". /etc/resolv.conf");
    });

    it("lists several names per address on one hosts line", () => {
        const s = coreDnsServersWithHosts([{ ip: "10.0.0.5", hostnames: ["a.example.com", "b.example.com"] }]) as any[];
        assert.equal(s[0].plugins.find((p: any) => p.name === "hosts").configBlock, "10.0.0.5 a.example.com b.example.com\nfallthrough");
    });

    it("refuses what would break the Corefile: a name for an IP, a host name with spaces or braces", () => {
        assert.throws(() => rke2CoreDnsHostsConfig("rancher.example.com", "rancher.example.com"), /hostAliases\.ip: .* is not an IP address/);
        assert.throws(() => rke2CoreDnsHostsConfig("192.0.2.10", "rancher.example.com }"), /is not a host name/);
    });
});
