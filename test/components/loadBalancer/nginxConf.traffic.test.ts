// Real traffic through the rendered config: Debian's nginx with the stream module on 127.0.0.1 high ports, in
// front of three small HTTP backends on 127.0.0.2/.3/.4 that answer with their own id.
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { NginxConfOptions, renderNginxConf } from "../../../components/loadBalancer/nginxConf";
import { NGINX, nginxUnavailable, requireTool, STREAM_MODULE } from "../../helpers/tools";
import { portFreeOn, waitForListen } from "../../helpers/net";

const REQUEST_TIMEOUT_MS = 3000;



/** An HTTP server on host:port answering every request with `body`. */
class Backend {
    private server?: http.Server;
    constructor(readonly host: string, readonly port: number, readonly body: string) {}

    start(): Promise<void> {
        const server = http.createServer((_req, res) => {
            res.writeHead(200, { "content-type": "text/plain", connection: "close" });
            res.end(this.body);
        });
        this.server = server;
        return new Promise((resolve, reject) => {
            server.once("error", reject);
            server.listen(this.port, this.host, () => resolve());
        });
    }

    stop(): Promise<void> {
        const server = this.server;
        this.server = undefined;
        if (!server) {
            return Promise.resolve();
        }
        server.closeAllConnections();
        return new Promise(resolve => server.close(() => resolve()));
    }
}

/** One request on a fresh connection (so every request is a new L4 session for nginx to place). */
function get(port: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false, timeout: REQUEST_TIMEOUT_MS }, res => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", d => { body += d; });
            res.on("end", () => res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`)));
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
        req.on("error", reject);
    });
}

/** `n` requests, `concurrency` at a time; every one must succeed. Returns how many each backend answered. */
async function load(port: number, n: number, concurrency = 1): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    let next = 0;
    const worker = async () => {
        while (next < n) {
            next++;
            const id = await get(port);
            counts[id] = (counts[id] ?? 0) + 1;
        }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return counts;
}


describe("loadBalancer/nginxConf: traffic through real nginx", function () {
    this.timeout(60000);
    const ids = ["b2", "b3", "b4"];
    const hosts = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
    let dir: string;
    let nginx: ChildProcess | undefined;
    let nginxLog = "";
    let httpBackends: Backend[] = [];
    let apiBackends: Backend[] = [];
    const lbPorts = { http: 0, https: 0, kubeApi: 0 };

    before(async function () {
        requireTool(this, nginxUnavailable());
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-lb-traffic-"));
        const backendPorts = { http: await portFreeOn(hosts), https: await portFreeOn(hosts), kubeApi: await portFreeOn(hosts) };
        lbPorts.http = await portFreeOn(["127.0.0.1"]);
        lbPorts.https = await portFreeOn(["127.0.0.1"]);
        lbPorts.kubeApi = await portFreeOn(["127.0.0.1"]);
        httpBackends = hosts.map((h, i) => new Backend(h, backendPorts.http, ids[i]));
        // Every node answers on the API port, so a request wrongly sent to the worker (b4) would show.
        apiBackends = hosts.map((h, i) => new Backend(h, backendPorts.kubeApi, `api-${ids[i]}`));
        await Promise.all([...httpBackends, ...apiBackends].map(b => b.start()));

        const conf = renderNginxConf({
            backends: hosts.map((address, i) => ({ address, controlplane: i < 2 })),
            listenAddress: "127.0.0.1",
            listenPorts: lbPorts,
            backendPorts,
            pidPath: path.join(dir, "nginx.pid"),
            errorLog: path.join(dir, "error.log"),
            loadModules: [STREAM_MODULE],
        });
        const confPath = path.join(dir, "nginx.conf");
        fs.writeFileSync(confPath, conf);
        nginx = spawn(NGINX, ["-c", confPath, "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"] });
        nginx.stderr!.on("data", d => { nginxLog += d; });
        await waitForListen(lbPorts.http, nginx, () => `nginx: ${nginxLog}${readErrorLog()}`);
    });

    function readErrorLog(): string {
        try {
            return fs.readFileSync(path.join(dir, "error.log"), "utf8");
        } catch {
            return "";
        }
    }

    after(async () => {
        if (nginx && nginx.exitCode === null) {
            const exited = new Promise(r => nginx!.once("exit", r));
            nginx.kill("SIGTERM");
            await Promise.race([exited, new Promise(r => setTimeout(r, 5000))]);
            if (nginx.exitCode === null) {
                nginx.kill("SIGKILL");
            }
        }
        await Promise.all([...httpBackends, ...apiBackends].map(b => b.stop()));
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("answers every request and spreads them over all backends", async () => {
        const counts = await load(lbPorts.http, 60);
        assert.deepEqual(Object.keys(counts).sort(), ids, JSON.stringify(counts));
        for (const id of ids) {
            assert.ok(counts[id] >= 10, `backend ${id} got ${counts[id]} of 60: ${JSON.stringify(counts)}`);
        }
        const concurrent = await load(lbPorts.http, 150, 15);
        assert.equal(Object.values(concurrent).reduce((a, b) => a + b, 0), 150);
        assert.deepEqual(Object.keys(concurrent).sort(), ids, JSON.stringify(concurrent));
    });

    it("sends the Kubernetes API port only to controlplane nodes", async () => {
        const counts = await load(lbPorts.kubeApi, 40, 4);
        assert.deepEqual(Object.keys(counts).sort(), ["api-b2", "api-b3"], JSON.stringify(counts));
    });

    it("keeps answering when a backend stops, and uses it again once it is back", async () => {
        const down = httpBackends[1];
        await down.stop();
        // Connections refused by b3 are retried on the next node (proxy_next_upstream): no request fails.
        const during = await load(lbPorts.http, 60, 3);
        assert.equal(during.b3, undefined, JSON.stringify(during));
        assert.ok(during.b2 > 0 && during.b4 > 0, JSON.stringify(during));
        assert.equal(during.b2 + during.b4, 60);

        await down.start();
        // b3 is skipped for fail_timeout (5s) after its failures, then tried again. Keep sending (every request
        // must still succeed) until it answers; bounded well under the test timeout.
        const end = Date.now() + 20000;
        let seen = 0;
        let sent = 0;
        while (seen === 0 && Date.now() < end) {
            const c = await load(lbPorts.http, 6, 3);
            sent += 6;
            seen = c.b3 ?? 0;
            if (seen === 0) {
                await new Promise(r => setTimeout(r, 200));
            }
        }
        assert.ok(seen > 0, `b3 got no request within 20 s after coming back (${sent} requests sent)`);
    });
});


/** A TCP server on host:port: `stall` accepts and never answers, `echo` echoes, `close` accepts and closes at once. */
class TcpBackend {
    private server?: net.Server;
    private readonly sockets = new Set<net.Socket>();
    constructor(readonly host: string, readonly port: number, readonly kind: "stall" | "echo" | "close") {}

    start(): Promise<void> {
        const server = net.createServer(sock => {
            this.sockets.add(sock);
            sock.on("close", () => this.sockets.delete(sock));
            sock.on("error", () => undefined);
            if (this.kind === "echo") {
                sock.pipe(sock);
            } else if (this.kind === "close") {
                sock.destroy();
            }
        });
        this.server = server;
        return new Promise((resolve, reject) => {
            server.once("error", reject);
            server.listen(this.port, this.host, () => resolve());
        });
    }

    stop(): Promise<void> {
        const server = this.server;
        this.server = undefined;
        this.sockets.forEach(s => s.destroy());
        return server ? new Promise(resolve => server.close(() => resolve())) : Promise.resolve();
    }
}

/** nginx with the rendered config on 127.0.0.1, until stop(). */
async function startNginx(dir: string, name: string, o: NginxConfOptions): Promise<{ stop: () => Promise<void> }> {
    const conf = renderNginxConf({ ...o, listenAddress: "127.0.0.1", pidPath: path.join(dir, `${name}.pid`),
        errorLog: path.join(dir, `${name}.log`), loadModules: [STREAM_MODULE] });
    const confPath = path.join(dir, `${name}.conf`);
    fs.writeFileSync(confPath, conf);
    const proc = spawn(NGINX, ["-c", confPath, "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    proc.stderr!.on("data", d => { log += d; });
    await waitForListen(o.listenPorts.http, proc, () => `nginx: ${log}`);
    return {
        stop: async () => {
            if (proc.exitCode === null) {
                const exited = new Promise(r => proc.once("exit", r));
                proc.kill("SIGTERM");
                await Promise.race([exited, new Promise(r => setTimeout(r, 5000))]);
                if (proc.exitCode === null) {
                    proc.kill("SIGKILL");
                }
            }
        },
    };
}

describe("loadBalancer/nginxConf: traffic through sick nodes (real nginx)", function () {
    this.timeout(60000);
    let dir: string;
    const stops: (() => Promise<void>)[] = [];

    before(function () {
        requireTool(this, nginxUnavailable());
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-lb-sick-"));
    });

    after(async () => {
        for (const stop of stops.reverse()) {
            await stop();
        }
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    async function lbPorts() {
        return { http: await portFreeOn(["127.0.0.1"]), https: await portFreeOn(["127.0.0.1"]), kubeApi: await portFreeOn(["127.0.0.1"]) };
    }

    describe("a dead node, a stalled node and a short proxyTimeout", () => {
        // 127.0.0.2 and .3 are controlplane nodes; 127.0.0.5 is a node where nothing listens (connections refused).
        // HTTP: .2/.3 answer. HTTPS: .2/.3 accept and never answer. Kubernetes API: .2/.3 echo.
        const listen = { http: 0, https: 0, kubeApi: 0 };
        before(async () => {
            const hosts = ["127.0.0.2", "127.0.0.3", "127.0.0.5"];
            const backendPorts = { http: await portFreeOn(hosts), https: await portFreeOn(hosts), kubeApi: await portFreeOn(hosts) };
            Object.assign(listen, await lbPorts());
            const live = hosts.slice(0, 2);
            const servers = [
                ...live.map((h, i) => new Backend(h, backendPorts.http, `b${i + 2}`)),
                ...live.map(h => new TcpBackend(h, backendPorts.https, "stall")),
                ...live.map(h => new TcpBackend(h, backendPorts.kubeApi, "echo")),
            ];
            await Promise.all(servers.map(b => b.start()));
            stops.push(() => Promise.all(servers.map(b => b.stop())).then(() => undefined));
            const lb = await startNginx(dir, "sick", {
                backends: hosts.map((address, i) => ({ address, controlplane: i < 2 })),
                listenPorts: listen, backendPorts, proxyTimeout: "2s", maxConnections: 1000,
            });
            stops.push(lb.stop);
        });

        it("skips a node that refuses: every request answered, none waits for a connect timeout (2s)", async () => {
            const counts: Record<string, number> = {};
            for (let i = 0; i < 30; i++) {
                const start = Date.now();
                const id = await get(listen.http);
                const took = Date.now() - start;
                assert.ok(took < 2000, `request ${i} took ${took} ms: it waited for a connect timeout`);
                counts[id] = (counts[id] ?? 0) + 1;
            }
            assert.deepEqual(Object.keys(counts).sort(), ["b2", "b3"], JSON.stringify(counts));
        });

        it("closes a connection to a node that accepts then stalls once it is idle for proxyTimeout (2s), not never", async () => {
            const sock = net.connect(listen.https, "127.0.0.1");
            sock.on("error", () => undefined);
            const start = Date.now();
            sock.write("GET / HTTP/1.1\r\n\r\n");
            const closed = await new Promise<boolean>(resolve => {
                const bound = setTimeout(() => resolve(false), 10000);
                sock.once("close", () => { clearTimeout(bound); resolve(true); });
            });
            const took = Date.now() - start;
            sock.destroy();
            assert.ok(closed, "the LB held the stalled connection for 10 s");
            assert.ok(took >= 1500, `closed after ${took} ms, before the 2s idle timeout`);
        });

        it("keeps a connection that carries traffic open past proxyTimeout (an idle timeout, not a lifetime)", async () => {
            const sock = net.connect(listen.kubeApi, "127.0.0.1");
            let received = "";
            let closed = false;
            sock.setEncoding("utf8");
            sock.on("data", d => { received += d; });
            sock.on("close", () => { closed = true; });
            sock.on("error", () => undefined);
            await new Promise<void>((resolve, reject) => { sock.once("connect", resolve); sock.once("error", reject); });
            // 8 messages 500 ms apart: 4 s in all, twice the 2s proxy_timeout, never idle for more than 0.5 s.
            for (let i = 0; i < 8; i++) {
                sock.write(`ping ${i}\n`);
                await new Promise(r => setTimeout(r, 500));
            }
            const open = !closed;
            sock.destroy();
            assert.ok(open, `closed while traffic flowed; echoed: ${JSON.stringify(received)}`);
            assert.equal(received, Array.from({ length: 8 }, (_, i) => `ping ${i}\n`).join(""));
        });
    });

    describe("round robin and a fast-failing node", () => {
        const listen = { http: 0, https: 0, kubeApi: 0 };
        before(async () => {
            const hosts = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
            const backendPorts = { http: await portFreeOn(hosts), https: await portFreeOn(hosts), kubeApi: await portFreeOn(hosts) };
            Object.assign(listen, await lbPorts());
            // .2 and .3 answer; .4 accepts and closes at once (a node whose ingress is restarting).
            const servers = [
                new Backend(hosts[0], backendPorts.http, "b2"), new Backend(hosts[1], backendPorts.http, "b3"),
                new TcpBackend(hosts[2], backendPorts.http, "close"),
            ];
            await Promise.all(servers.map(b => b.start()));
            stops.push(() => Promise.all(servers.map(b => b.stop())).then(() => undefined));
            const lb = await startNginx(dir, "fastfail", {
                backends: hosts.map(address => ({ address, controlplane: true })),
                listenPorts: listen, backendPorts, maxConnections: 1000,
            });
            stops.push(lb.stop);
        });

        it("sends the fast-failing node only its share of connections (least_conn would send it most)", async () => {
            let failed = 0;
            let ok = 0;
            let next = 0;
            const worker = async () => {
                while (next < 90) {
                    next++;
                    try {
                        await get(listen.http);
                        ok++;
                    } catch {
                        failed++;
                    }
                }
            };
            await Promise.all(Array.from({ length: 6 }, worker));
            assert.equal(ok + failed, 90);
            // Its round-robin share is a third (30); least_conn measured 57% in the issue.
            assert.ok(failed <= 40, `${failed} of 90 requests failed: the fast-failing node got more than its share`);
            assert.ok(ok >= 50, `${ok} of 90 answered`);
        });
    });
});
