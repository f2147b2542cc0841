import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    DISTRO_MODULE_INCLUDES, LbBackend, lbNginxConf, MANAGED_MARKER, NginxConfOptions, nginxTimeMs, proxyTimeoutProblem,
    renderNginxConf, UPSTREAMS, workerLimitsFor,
} from "../../../components/loadBalancer/nginxConf";
import type { LoadBalancerSettings, NodeSettings } from "../../../components/config/types";
import { NGINX, nginxUnavailable, requireTool, STREAM_MODULE } from "../../helpers/tools";



/** `n` nodes on 192.0.2.0/24 (TEST-NET-1); the first min(n, 3) are controlplane, as a typical HA layout. */
function nodes(n: number): LbBackend[] {
    return Array.from({ length: n }, (_, i) => ({ address: `192.0.2.${11 + i}`, controlplane: i < 3 }));
}

const BASE: NginxConfOptions = { backends: nodes(3), listenPorts: { http: 80, https: 443, kubeApi: 6443 } };

/** upstream name -> its `server` lines' first argument; listen -> proxy_pass. A tiny parser for this config's shape. */
function parse(conf: string): { upstreams: Record<string, string[]>; servers: Record<string, string>; lines: string[] } {
    const upstreams: Record<string, string[]> = {};
    const servers: Record<string, string> = {};
    let current: string | undefined;
    let listen: string | undefined;
    const lines = conf.split("\n").map(l => l.trim());
    for (const l of lines) {
        let m: RegExpExecArray | null;
        if ((m = /^upstream (\S+) \{$/.exec(l))) {
            current = m[1];
            upstreams[current] = [];
        } else if (current && (m = /^server (\S+)/.exec(l))) {
            upstreams[current].push(m[1]);
        } else if (l === "}") {
            current = undefined;
        } else if ((m = /^listen (\S+)[ ;]/.exec(l))) {
            listen = m[1];
        } else if ((m = /^proxy_pass (\S+);$/.exec(l)) && listen) {
            servers[listen] = m[1];
            listen = undefined;
        }
    }
    return { upstreams, servers, lines };
}

describe("loadBalancer/nginxConf", () => {
    it("renders the seed's stream LB: tuning, three round-robin upstreams with max_fails/fail_timeout", () => {
        const conf = renderNginxConf(BASE);
        const { upstreams, servers, lines } = parse(conf);
        assert.ok(conf.startsWith(MANAGED_MARKER));
        // Sized for the default 50000 proxied connections, one worker holding them all (auto: see workerLimitsFor).
        for (const l of ["worker_processes auto;", "worker_rlimit_nofile 200064;", "worker_connections 100032;"]) {
            assert.ok(lines.includes(l), `missing ${l}`);
        }
        assert.deepEqual(upstreams[UPSTREAMS.http], ["192.0.2.11:80", "192.0.2.12:80", "192.0.2.13:80"]);
        assert.deepEqual(upstreams[UPSTREAMS.https], ["192.0.2.11:443", "192.0.2.12:443", "192.0.2.13:443"]);
        assert.deepEqual(upstreams[UPSTREAMS.kubeApi], ["192.0.2.11:6443", "192.0.2.12:6443", "192.0.2.13:6443"]);
        assert.deepEqual(servers, { "80": UPSTREAMS.http, "443": UPSTREAMS.https, "6443": UPSTREAMS.kubeApi });
        // Round robin (no balancing directive) on every port: least_conn feeds a fast-failing node (nginxConf.ts).
        assert.equal(lines.filter(l => /^(least_conn|hash|random|ip_hash)\b/.test(l)).length, 0, conf);
        // Shared state, so all workers see the same connection counts and failed nodes.
        for (const u of [UPSTREAMS.http, UPSTREAMS.https, UPSTREAMS.kubeApi]) {
            assert.ok(lines.includes(`zone ${u} 64k;`), `upstream ${u} has no shared zone`);
        }
        assert.ok(!conf.includes(UPSTREAMS.supervisor), "no RKE2 supervisor block unless its port is given");
        const serverLines = lines.filter(l => l.startsWith("server 192."));
        assert.equal(serverLines.length, 9);
        assert.ok(serverLines.every(l => / max_fails=3 fail_timeout=5s;$/.test(l)), serverLines.join("\n"));
    });

    it("forwards RKE2's supervisor port (9345) to the servers only, when it is given", () => {
        const backends = [
            { address: "192.0.2.11", controlplane: true }, { address: "192.0.2.12", controlplane: true },
            { address: "192.0.2.14", controlplane: false },
        ];
        const conf = renderNginxConf({ ...BASE, backends, listenPorts: { ...BASE.listenPorts, supervisor: 9345 } });
        const block = conf.slice(conf.indexOf(`upstream ${UPSTREAMS.supervisor} {`));
        assert.ok(block.includes("zone rke2_supervisor 64k;"));
        assert.deepEqual(block.split("\n").filter(l => /^\s*server 192\./.test(l)).map(l => l.trim()),
            ["server 192.0.2.11:9345 max_fails=3 fail_timeout=5s;", "server 192.0.2.12:9345 max_fails=3 fail_timeout=5s;"]);
        assert.match(block, /listen 9345 backlog=4096 so_keepalive=60s:10s:6;\n\s*proxy_timeout 1h;\n\s*proxy_pass rke2_supervisor;/);
        assert.throws(() => renderNginxConf({ ...BASE, listenPorts: { ...BASE.listenPorts, supervisor: 6443 } }), /listen ports must differ/);
    });

    it("fails over fast: 2s connect timeout, next upstream on, at most 3 nodes or 5s per client connection", () => {
        const { lines } = parse(renderNginxConf(BASE));
        const stream = lines.slice(lines.indexOf("stream {"));
        for (const l of ["proxy_connect_timeout 2s;", "proxy_next_upstream on;", "proxy_next_upstream_tries 3;",
            "proxy_next_upstream_timeout 5s;", "proxy_socket_keepalive on;"]) {
            assert.ok(stream.includes(l), `missing ${l} in the stream block`);
        }
        const tuned = parse(renderNginxConf({ ...BASE, proxyConnectTimeout: "500ms", proxyNextUpstreamTries: 2, proxyNextUpstreamTimeout: "3s" })).lines;
        for (const l of ["proxy_connect_timeout 500ms;", "proxy_next_upstream_tries 2;", "proxy_next_upstream_timeout 3s;"]) {
            assert.ok(tuned.includes(l), `missing ${l}`);
        }
        assert.throws(() => renderNginxConf({ ...BASE, proxyNextUpstreamTimeout: "5 s" }), /proxyNextUpstreamTimeout .* not an nginx time/);
    });

    it("keeps idle watches and exec sessions: proxy_timeout 1h on 443 and 6443 (configurable), 1m on 80", () => {
        const timeouts = (conf: string) => {
            const out: Record<string, string> = {};
            let listen = "";
            for (const l of conf.split("\n").map(x => x.trim())) {
                const m = /^listen (\S+) /.exec(l) ?? undefined;
                const t = /^proxy_timeout (\S+);$/.exec(l) ?? undefined;
                listen = m ? m[1] : listen;
                if (t) {
                    out[listen] = t[1];
                }
            }
            return out;
        };
        assert.deepEqual(timeouts(renderNginxConf(BASE)), { "80": "1m", "443": "1h", "6443": "1h" });
        assert.deepEqual(timeouts(renderNginxConf({ ...BASE, proxyTimeout: "1h30m", httpProxyTimeout: "30s" })),
            { "80": "30s", "443": "1h30m", "6443": "1h30m" });
        assert.throws(() => renderNginxConf({ ...BASE, proxyTimeout: "1h; x" }), /proxyTimeout "1h; x" is not an nginx time/);
        assert.throws(() => renderNginxConf({ ...BASE, proxyTimeout: "0s" }), /must be from 1s to 24h/);
    });

    it("reads nginx times as nginx does (ngx_parse_time: d h m s ms, largest first; a bare number is seconds)", () => {
        for (const [t, ms] of [["1h", 3600000], ["90s", 90000], ["1h30m", 5400000], ["3600", 3600000], ["1500ms", 1500],
            ["1d", 86400000], ["2m30s", 150000], ["10m", 600000]] as const) {
            assert.equal(nginxTimeMs(t), ms, t);
        }
        for (const t of ["", "h", "1 h", "1H", "1h 30m", "30m1h", "1.5h", "-1s", "1h;", "1x"]) {
            assert.equal(nginxTimeMs(t), undefined, t);
        }
        assert.equal(proxyTimeoutProblem("1h"), undefined);
        assert.match(proxyTimeoutProblem("25h")!, /from 1s to 24h/);
        assert.match(proxyTimeoutProblem("999ms")!, /from 1s to 24h/);
        assert.match(proxyTimeoutProblem("forever")!, /not an nginx time; use e\.g\. 1h/);
    });

    it("keeps TCP alive on both sides and queues reconnect storms: so_keepalive and backlog on every listen", () => {
        const { lines } = parse(renderNginxConf({ ...BASE, listenAddress: "127.0.0.1" }));
        const listens = lines.filter(l => l.startsWith("listen "));
        assert.deepEqual(listens, ["127.0.0.1:80", "127.0.0.1:443", "127.0.0.1:6443"]
            .map(a => `listen ${a} backlog=4096 so_keepalive=60s:10s:6;`));
        assert.ok(lines.includes("proxy_socket_keepalive on;"));
        const tuned = parse(renderNginxConf({ ...BASE, listenBacklog: 511, clientKeepalive: "30s::3" })).lines;
        assert.equal(tuned.filter(l => l.endsWith(" backlog=511 so_keepalive=30s::3;")).length, 3);
        assert.throws(() => renderNginxConf({ ...BASE, clientKeepalive: "on; x" }), /so_keepalive/);
        assert.throws(() => renderNginxConf({ ...BASE, clientKeepalive: "::" }), /so_keepalive/, "nginx -t refuses it");
        assert.throws(() => renderNginxConf({ ...BASE, listenBacklog: 0 }), /listenBacklog/);
    });

    it("sizes worker_connections and worker_rlimit_nofile from maxConnections (2 per proxied connection)", () => {
        // auto: the CPU count is unknown until run time, so one worker must be able to hold everything.
        assert.deepEqual(workerLimitsFor(50000, "auto"), { workerConnections: 100032, workerRlimitNofile: 200064 });
        // A number: each worker's share of the 2 * maxConnections connections.
        assert.deepEqual(workerLimitsFor(50000, 4), { workerConnections: 25032, workerRlimitNofile: 50064 });
        assert.deepEqual(workerLimitsFor(1000, 3), { workerConnections: 699, workerRlimitNofile: 1398 });
        assert.deepEqual(workerLimitsFor(250000, "auto"), { workerConnections: 500032, workerRlimitNofile: 1000064 });
        assert.throws(() => workerLimitsFor(250001, "auto"), /maxConnections must be a whole number from 16 to 250000/);
        const lines = (o: Partial<NginxConfOptions>) => parse(renderNginxConf({ ...BASE, ...o })).lines;
        const sized = lines({ maxConnections: 10000, workerProcesses: 2 });
        assert.ok(sized.includes("worker_connections 10032;") && sized.includes("worker_rlimit_nofile 20064;"), sized.join("\n"));
        // Explicit values win.
        const fixed = lines({ maxConnections: 10000, workerConnections: 4096, workerRlimitNofile: 9000 });
        assert.ok(fixed.includes("worker_connections 4096;") && fixed.includes("worker_rlimit_nofile 9000;"), fixed.join("\n"));
    });

    it("lbNginxConf passes the stack's maxConnections, worker limits and proxyTimeout through", () => {
        const lb = {
            address: "192.0.2.10", port: 22, user: "ops", keyId: "k", mode: "docker", image: "nginx:1.27-alpine",
            ports: { http: 80, https: 443, kubeApi: 6443 }, workerProcesses: 2, maxConnections: 20000,
            workerConnections: 20032, workerRlimitNofile: 40064, proxyTimeout: "2h",
        } as unknown as LoadBalancerSettings;
        const node = { address: "192.0.2.11", roles: ["controlplane", "etcd", "worker"] } as unknown as NodeSettings;
        const { lines } = parse(lbNginxConf(lb, [node]));
        for (const l of ["worker_processes 2;", "worker_connections 20032;", "worker_rlimit_nofile 40064;"]) {
            assert.ok(lines.includes(l), `missing ${l}`);
        }
        assert.equal(lines.filter(l => l === "proxy_timeout 2h;").length, 2);
        // Settings made before maxConnections/proxyTimeout existed render the defaults.
        const old = parse(lbNginxConf({ ...lb, maxConnections: undefined, proxyTimeout: undefined }, [node])).lines;
        assert.equal(old.filter(l => l === "proxy_timeout 1h;").length, 2);
    });

    it("sends the Kubernetes API only to controlplane nodes", () => {
        const backends = [
            { address: "10.0.0.1", controlplane: true },
            { address: "10.0.0.2", controlplane: false },
            { address: "10.0.0.3", controlplane: true },
        ];
        const { upstreams } = parse(renderNginxConf({ ...BASE, backends }));
        assert.deepEqual(upstreams[UPSTREAMS.kubeApi], ["10.0.0.1:6443", "10.0.0.3:6443"]);
        assert.deepEqual(upstreams[UPSTREAMS.https], ["10.0.0.1:443", "10.0.0.2:443", "10.0.0.3:443"]);
    });

    it("is deterministic: same bytes for the same nodes in any order, IPv4 sorted numerically", () => {
        const backends = ["10.0.0.10", "10.0.0.9", "10.0.1.1", "node-b.example.com", "10.0.0.100", "node-a.example.com"]
            .map(address => ({ address, controlplane: true }));
        const a = renderNginxConf({ ...BASE, backends });
        const b = renderNginxConf({ ...BASE, backends: [...backends].reverse() });
        assert.equal(a, b);
        assert.equal(a, renderNginxConf({ ...BASE, backends: backends.map(x => ({ ...x })) }));
        assert.deepEqual(parse(a).upstreams[UPSTREAMS.http],
            ["10.0.0.9:80", "10.0.0.10:80", "10.0.0.100:80", "10.0.1.1:80", "node-a.example.com:80", "node-b.example.com:80"]);
    });

    it("merges a node listed twice instead of proxying to it twice", () => {
        const { upstreams } = parse(renderNginxConf({
            ...BASE,
            backends: [{ address: "10.0.0.1", controlplane: false }, { address: "10.0.0.1", controlplane: true }],
        }));
        assert.deepEqual(upstreams[UPSTREAMS.http], ["10.0.0.1:80"]);
        assert.deepEqual(upstreams[UPSTREAMS.kubeApi], ["10.0.0.1:6443"]);
    });

    it("makes ports, listen address, tuning and paths configurable; brackets IPv6", () => {
        const conf = renderNginxConf({
            backends: [{ address: "fd00::2", controlplane: true }, { address: "10.1.1.1", controlplane: false }],
            listenPorts: { http: 18080, https: 18443, kubeApi: 16443 },
            backendPorts: { http: 8080, https: 8443, kubeApi: 9443 },
            listenAddress: "127.0.0.1",
            workerProcesses: 4, workerConnections: 1024, workerRlimitNofile: 4096,
            maxFails: 2, failTimeout: "10s", proxyConnectTimeout: "1500ms",
            pidPath: "/tmp/x/nginx.pid", errorLog: "/tmp/x/error.log",
            moduleIncludes: ["/etc/nginx/modules-enabled/*.conf"], loadModules: [STREAM_MODULE],
        });
        const { upstreams, servers, lines } = parse(conf);
        for (const l of ["worker_processes 4;", "worker_rlimit_nofile 4096;", "worker_connections 1024;",
            "pid /tmp/x/nginx.pid;", "error_log /tmp/x/error.log warn;", "proxy_connect_timeout 1500ms;",
            "include /etc/nginx/modules-enabled/*.conf;", `load_module ${STREAM_MODULE};`]) {
            assert.ok(lines.includes(l), `missing ${l}`);
        }
        assert.deepEqual(servers, {
            "127.0.0.1:18080": UPSTREAMS.http, "127.0.0.1:18443": UPSTREAMS.https, "127.0.0.1:16443": UPSTREAMS.kubeApi,
        });
        assert.deepEqual(upstreams[UPSTREAMS.http], ["10.1.1.1:8080", "[fd00::2]:8080"]);
        assert.deepEqual(upstreams[UPSTREAMS.kubeApi], ["[fd00::2]:9443"]);
        assert.ok(lines.filter(l => l.startsWith("server ") && l !== "server {").every(l => l.endsWith("max_fails=2 fail_timeout=10s;")));
    });

    it("refuses input that would make an invalid or injectable config", () => {
        assert.throws(() => renderNginxConf({ ...BASE, backends: [] }), /no backend nodes/);
        assert.throws(() => renderNginxConf({ ...BASE, backends: [{ address: "10.0.0.1", controlplane: false }] }),
            /no controlplane node/);
        assert.throws(() => renderNginxConf({ ...BASE, backends: [{ address: "10.0.0.1; include /etc/shadow", controlplane: true }] }),
            /not an IP address or host name/);
        assert.throws(() => renderNginxConf({ ...BASE, listenPorts: { http: 80, https: 80, kubeApi: 6443 } }), /must differ/);
        assert.throws(() => renderNginxConf({ ...BASE, listenPorts: { http: 0, https: 443, kubeApi: 6443 } }), /listen port http/);
        assert.throws(() => renderNginxConf({ ...BASE, failTimeout: "5s; x" }), /not an nginx time/);
        assert.throws(() => renderNginxConf({ ...BASE, pidPath: "/run/x.pid;\nuser root" }), /plain path/);
        assert.throws(() => renderNginxConf({ ...BASE, workerProcesses: 0 }), /workerProcesses/);
    });

    describe("accepted by the real nginx (nginx -t, Debian nginx + libnginx-mod-stream)", function () {
        this.timeout(30000);
        let dir: string;
        before(function () {
            requireTool(this, nginxUnavailable());
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-nginx-t-"));
        });
        after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

        function nginxT(conf: string, extra: string[] = []): { ok: boolean; out: string } {
            const file = path.join(dir, `nginx-${Math.random().toString(36).slice(2)}.conf`);
            fs.writeFileSync(file, conf);
            const r = spawnSync(NGINX, ["-t", "-c", file, ...extra], { encoding: "utf8", timeout: 15000 });
            return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
        }

        for (const n of [1, 3, 7]) {
            it(`passes for ${n} node${n === 1 ? "" : "s"}`, () => {
                const conf = renderNginxConf({
                    backends: nodes(n),
                    listenPorts: { http: 80, https: 443, kubeApi: 6443 },
                    pidPath: path.join(dir, "nginx.pid"),
                    errorLog: path.join(dir, "error.log"),
                    loadModules: [STREAM_MODULE],
                });
                assert.equal(parse(conf).upstreams[UPSTREAMS.http].length, n);
                const r = nginxT(conf);
                assert.ok(r.ok, r.out);
                assert.match(r.out, /test is successful/);
            });
        }

        it("passes with RKE2's supervisor port (9345 to the servers)", () => {
            const conf = renderNginxConf({
                backends: [...nodes(3), { address: "192.0.2.14", controlplane: false }],
                listenPorts: { http: 80, https: 443, kubeApi: 6443, supervisor: 9345 },
                pidPath: path.join(dir, "nginx.pid"),
                errorLog: path.join(dir, "error.log"),
                loadModules: [STREAM_MODULE],
            });
            assert.equal(parse(conf).upstreams[UPSTREAMS.supervisor].length, 3);
            const r = nginxT(conf);
            assert.ok(r.ok, r.out);
        });

        it("passes as system mode writes it (distro module includes, /run/nginx.pid, /var/log/nginx)", function () {
            // nginx -t opens the configured error log, which only root may write.
            requireTool(this, process.getuid?.() !== 0 ? "nginx -t of the real-path config needs root (/var/log/nginx)"
                : fs.existsSync("/var/log/nginx") ? undefined : "/var/log/nginx missing: Debian's nginx package creates it");
            const r = nginxT(renderNginxConf({ ...BASE, moduleIncludes: DISTRO_MODULE_INCLUDES }));
            assert.ok(r.ok, r.out);
        });

        it("passes with every tuning value set (timeouts in nginx's compound form, keepalive, backlog, limits)", () => {
            for (const o of [
                { proxyTimeout: "1h30m", httpProxyTimeout: "90s", proxyConnectTimeout: "1500ms", proxyNextUpstreamTimeout: "10s",
                    proxyNextUpstreamTries: 1, clientKeepalive: "30s::3", listenBacklog: 511, maxConnections: 16, workerProcesses: 3 },
                { proxyTimeout: "3600", clientKeepalive: ":10s:", maxConnections: 250000 },
                { proxyTimeout: "1d", workerConnections: 1024, workerRlimitNofile: 2048 },
            ] as Partial<NginxConfOptions>[]) {
                const r = nginxT(renderNginxConf({ ...BASE, ...o, pidPath: path.join(dir, "t.pid"), errorLog: path.join(dir, "t.log"),
                    loadModules: [STREAM_MODULE] }));
                assert.ok(r.ok, `${JSON.stringify(o)}: ${r.out}`);
            }
        });

        it("passes as docker mode writes it, once the stream module is present (built into the official image)", () => {
            const conf = renderNginxConf({ ...BASE, pidPath: path.join(dir, "d.pid"), errorLog: path.join(dir, "d.log") });
            // Without the module Debian's nginx does not know `stream`: the check is real, not a rubber stamp.
            const bare = nginxT(conf);
            assert.ok(!bare.ok);
            assert.match(bare.out, /unknown directive "stream"/);
            const r = nginxT(conf, ["-g", `load_module ${STREAM_MODULE};`]);
            assert.ok(r.ok, r.out);
        });
    });
});
