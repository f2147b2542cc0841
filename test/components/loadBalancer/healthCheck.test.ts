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
        assert.match(s, /at "\$1" ip rule add priority "\$2" to "\$3\/32" ipproto tcp dport "\$4" prohibit/);
        assert.throws(() => lbHealthCheckScript({ targets: [{ upstream: "http", address: "node-1.example.com", port: 80, probe: "http" }] }), /IPv4/);
        assert.throws(() => lbHealthCheckScript({ targets, fall: 0 }), /fall must be a whole number from 1 to 60/);
    });

    it("ends the connections to a node taken out unless told not to; rounds start every interval", () => {
        const targets = lbHealthTargets([{ address: "10.0.0.1", controlplane: false }], { http: 80, https: 443, kubeApi: 6443 });
        const s = lbHealthCheckScript({ targets });
        assert.match(s, /^END_CONNECTIONS=1$/m);
        assert.match(s, /ss -K -Htn dst "\$1" dport = ":\$2"/);
        assert.match(s, /^NGINX_CONTAINER=''$/m, "system mode: nginx shares the checker's namespace");
        assert.match(lbHealthCheckScript({ targets, endConnections: false }), /^END_CONNECTIONS=0$/m);
        assert.match(lbHealthCheckScript({ targets, endConnections: undefined }), /^END_CONNECTIONS=1$/m);
        assert.match(s, /sleep "\$INTERVAL" & tick=\$!/);
        assert.match(lbHealthCheckScript({ targets, intervalSeconds: 5 }), /^INTERVAL=5$/m);
    });

    it("docker mode: the container's namespace is found with docker inspect and entered with nsenter", () => {
        const targets = lbHealthTargets([{ address: "10.0.0.1", controlplane: false }], { http: 80, https: 443, kubeApi: 6443 });
        const s = lbHealthCheckScript({ targets, nginxContainer: "rancher-ha-lb" });
        assert.match(s, /^NGINX_CONTAINER=rancher-ha-lb$/m);
        assert.match(s, /docker inspect -f '\{\{\.State\.Pid\}\}' "\$NGINX_CONTAINER"/);
        assert.match(s, /nsenter -t "\$at_pid" -n "\$@"/);
        for (const bad of ["-rm", "a b", "x;reboot", "$(id)"]) {
            assert.throws(() => lbHealthCheckScript({ targets, nginxContainer: bad }), /is not a docker container name/, bad);
        }
        // Only the container's name differs: the same code is rendered (and shellchecked) in both modes.
        const strip = (t: string) => t.split("\n").filter(l => !l.startsWith("NGINX_CONTAINER=")).join("\n");
        assert.equal(strip(s), strip(lbHealthCheckScript({ targets })));
    });
});
