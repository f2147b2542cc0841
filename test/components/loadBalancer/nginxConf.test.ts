import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    DISTRO_MODULE_INCLUDES, LbBackend, MANAGED_MARKER, NginxConfOptions, renderNginxConf, UPSTREAMS,
} from "../../../components/loadBalancer/nginxConf";
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
        } else if ((m = /^listen (\S+);$/.exec(l))) {
            listen = m[1];
        } else if ((m = /^proxy_pass (\S+);$/.exec(l)) && listen) {
            servers[listen] = m[1];
            listen = undefined;
        }
    }
    return { upstreams, servers, lines };
}

describe("loadBalancer/nginxConf", () => {
    it("renders the seed's stream LB: tuning, three least_conn upstreams with max_fails/fail_timeout", () => {
        const conf = renderNginxConf(BASE);
        const { upstreams, servers, lines } = parse(conf);
        assert.ok(conf.startsWith(MANAGED_MARKER));
        for (const l of ["worker_processes auto;", "worker_rlimit_nofile 40000;", "worker_connections 8192;"]) {
            assert.ok(lines.includes(l), `missing ${l}`);
        }
        assert.deepEqual(upstreams[UPSTREAMS.http], ["192.0.2.11:80", "192.0.2.12:80", "192.0.2.13:80"]);
        assert.deepEqual(upstreams[UPSTREAMS.https], ["192.0.2.11:443", "192.0.2.12:443", "192.0.2.13:443"]);
        assert.deepEqual(upstreams[UPSTREAMS.kubeApi], ["192.0.2.11:6443", "192.0.2.12:6443", "192.0.2.13:6443"]);
        assert.deepEqual(servers, { "80": UPSTREAMS.http, "443": UPSTREAMS.https, "6443": UPSTREAMS.kubeApi });
        assert.equal(lines.filter(l => l === "least_conn;").length, 3);
        // Shared state, so all workers see the same connection counts and failed nodes.
        for (const u of Object.values(UPSTREAMS)) {
            assert.ok(lines.includes(`zone ${u} 64k;`), `upstream ${u} has no shared zone`);
        }
        const serverLines = lines.filter(l => l.startsWith("server 192."));
        assert.equal(serverLines.length, 9);
        assert.ok(serverLines.every(l => / max_fails=3 fail_timeout=5s;$/.test(l)), serverLines.join("\n"));
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

        it("passes as system mode writes it (distro module includes, /run/nginx.pid, /var/log/nginx)", function () {
            // nginx -t opens the configured error log, which only root may write.
            requireTool(this, process.getuid?.() !== 0 ? "nginx -t of the real-path config needs root (/var/log/nginx)"
                : fs.existsSync("/var/log/nginx") ? undefined : "/var/log/nginx missing: Debian's nginx package creates it");
            const r = nginxT(renderNginxConf({ ...BASE, moduleIncludes: DISTRO_MODULE_INCLUDES }));
            assert.ok(r.ok, r.out);
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
