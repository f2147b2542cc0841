// Real traffic through the rendered config: Debian's nginx with the stream module on 127.0.0.1 high ports, in
// front of three small HTTP backends on 127.0.0.2/.3/.4 that answer with their own id.
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { renderNginxConf } from "../../../components/loadBalancer/nginxConf";
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
