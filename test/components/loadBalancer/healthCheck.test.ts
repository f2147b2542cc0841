// The health checker's targets and script, pure.
import { strict as assert } from "assert";
import { lbHealthCheckScript, lbHealthTargets } from "../../../components/loadBalancer/healthCheck";

describe("loadBalancer/healthCheck: targets and script", () => {
    it("probes each node as its traffic uses it: ingress on 80/443, /readyz and the supervisor on servers only", () => {
        const t = lbHealthTargets([{ address: "10.0.0.1", controlplane: true }, { address: "10.0.0.2", controlplane: false }],
            { http: 80, https: 443, kubeApi: 6443, supervisor: 9345 });
        assert.deepEqual(t.map(x => `${x.upstream} ${x.address}:${x.port} ${x.probe}`), [
            "http 10.0.0.1:80 http", "https 10.0.0.1:443 https", "kubeApi 10.0.0.1:6443 apiserver", "supervisor 10.0.0.1:9345 supervisor",
            "http 10.0.0.2:80 http", "https 10.0.0.2:443 https",
        ]);
        assert.equal(lbHealthTargets([{ address: "10.0.0.1", controlplane: true }], { http: 80, https: 443, kubeApi: 6443 }).length, 3, "no supervisor on RKE");
    });

    it("renders one rule priority per node:port, and refuses settings it cannot honour", () => {
        const targets = lbHealthTargets([{ address: "10.0.0.1", controlplane: true }], { http: 80, https: 443, kubeApi: 6443 });
        const s = lbHealthCheckScript({ targets, rulePriorityBase: 21000 });
        assert.match(s, /TARGETS='21000 http 10\.0\.0\.1 80 http\n21001 https 10\.0\.0\.1 443 https\n21002 kubeApi 10\.0\.0\.1 6443 apiserver'/);
        assert.match(s, /ip rule add priority "\$1" to "\$2\/32" ipproto tcp dport "\$3" prohibit/);
        assert.throws(() => lbHealthCheckScript({ targets: [{ upstream: "http", address: "node-1.example.com", port: 80, probe: "http" }] }), /IPv4/);
        assert.throws(() => lbHealthCheckScript({ targets, fall: 0 }), /fall must be a whole number from 1 to 60/);
    });
});
