// The LB's health checker against a node that accepts and never answers (a hung process), on real nginx: the LB and
// three backends each in a network namespace of their own, clients in the root namespace. nginx's connect to the
// hung node succeeds, so neither max_fails nor proxy_next_upstream helps: without the checker a third of the short
// requests time out and a third of the long-lived connections hang (until the 1 h proxy_timeout). Measured: those
// before the checker; the time to detect the node (its probes run into their timeout); that the connections hanging
// on it then end and their clients reconnect to a healthy node; and the client errors once detected (at most 1%).
import { strict as assert } from "assert";
import { ChildProcess } from "child_process";
import * as path from "path";
import { lbHealthCheckScript, lbHealthTargets } from "../../../components/loadBalancer/healthCheck";
import { nginxUnavailable, requireTool, toolMissing } from "../../helpers/tools";
import { SshHost, sshHostUnavailable } from "../../helpers/sshHost";
import {
    Backend, CheckerRun, hungSessions, LbTestbed, LiveClients, openSessions, shortLoad, sleep, startLbTestbed,
    startNginx, stopProcess, testbedNginxConf, until,
} from "../../helpers/lbTraffic";

const LB_PORT = 8088;
const NODE_PORT = 8080;
const HELD = 200;

describe("loadBalancer/healthCheck: a node that accepts and never answers, real nginx, hosts in netns", function () {
    this.timeout(90000);
    let lbHost: SshHost;
    let nodes: SshHost[] = [];
    let backends: Backend[] = [];
    let dir: string;
    let bed: LbTestbed | undefined;
    let nginx: ChildProcess | undefined;
    let clients: LiveClients | undefined;
    let checker: CheckerRun | undefined;

    before(async function () {
        this.timeout(60000);
        requireTool(this, nginxUnavailable() ?? sshHostUnavailable() ?? toolMissing("curl") ?? toolMissing("ss", ["-V"]));
        bed = await startLbTestbed("hung", NODE_PORT);
        ({ dir, lbHost, nodes, backends } = bed);
        nginx = await startNginx(lbHost.netns, dir, "nginx", testbedNginxConf(nodes, {
            listenAddress: lbHost.address, lbPort: LB_PORT, nodePort: NODE_PORT,
            pidPath: path.join(dir, "nginx.pid"), errorLog: path.join(dir, "error.log"),
        }), LB_PORT);
    });

    after(async () => {
        await clients?.stop();
        await checker?.stop();
        await stopProcess(nginx);
        await bed?.stop();
    });

    it("detects it within 6 s; then the connections hanging on it end, and clients see at most 1% errors", async () => {
        backends[2].setMode("hang");
        // Before the checker: long-lived connections (one reconnect each) and short requests (2 s client timeout).
        clients = new LiveClients({ host: lbHost.address, port: LB_PORT, count: HELD, intervalMs: 200, maxReconnects: 1 });
        await sleep(2500);
        const held = await clients.snapshot();
        const hung = hungSessions(held, 2000);
        assert.equal(openSessions(held).length, HELD);
        assert.ok(hung.length >= HELD / 6 && hung.every(s => s.node === null), `the hung node's share of the connections hangs: ${hung.length}`);
        const before = await shortLoad({ host: lbHost.address, port: LB_PORT, n: 150, concurrency: 10, timeoutMs: 2000 });
        assert.ok(before.errors >= 15, `without checks the hung node times out its share of clients: ${JSON.stringify(before)}`);

        const targets = lbHealthTargets(nodes.map(h => ({ address: h.address, controlplane: false })),
            { http: NODE_PORT, https: 8443, kubeApi: 6443 }).filter(t => t.upstream === "http");
        checker = new CheckerRun(lbHost.netns, lbHealthCheckScript({ targets, stateDir: path.join(dir, "state"), maxRounds: 120 }));
        const down = await checker.waitFor(`down: http ${nodes[2].address}:${NODE_PORT}`, 15);
        const detected = (down.at - checker.startedAt) / 1000;
        assert.ok(detected <= 6, `detected in ${detected} s:\n${checker.log}`);

        // The connections hanging on it end, and their clients are answered again through the LB by a healthy node.
        const hungIds = new Set(hung.map(s => s.client));
        const endedOf = (s: { sessions: { client: number; attempt: number; closedAt: number | null }[] }) =>
            s.sessions.filter(x => x.attempt === 0 && hungIds.has(x.client) && x.closedAt !== null);
        await until("every connection hanging on the node ended", async () => endedOf(await clients!.snapshot()).length === hung.length, 5);
        const endMs = Math.max(...endedOf(await clients.snapshot()).map(s => s.closedAt! - down.at));
        assert.ok(endMs <= 2000, `ended ${endMs} ms after the decision was logged`);
        await until("every client answered", async () => {
            const s = await clients!.snapshot();
            return openSessions(s).filter(x => x.lastReplyAt !== null && s.now - x.lastReplyAt < 1000).length === HELD;
        }, 5);
        const settled = await clients.snapshot();
        const reconnects = settled.sessions.filter(s => s.attempt > 0);
        assert.equal(reconnects.length, hung.length, "only the hung connections ended");
        assert.ok(reconnects.every(s => s.node !== null && s.node !== "b2"), "each reconnected to a healthy node");

        const after = await shortLoad({ host: lbHost.address, port: LB_PORT, n: 600, concurrency: 10, timeoutMs: 2000 });
        assert.ok(after.errors <= 6, `at most 1% errors once detected: ${JSON.stringify(after)}\n${checker.log}`);
        assert.equal(after.by.b2, undefined, "no client reaches the node taken out");

        // eslint-disable-next-line no-console
        console.log(`      hung: before the checker ${hung.length} of ${HELD} long-lived connections hung and ${before.errors} of ` +
            `${before.n} requests failed (${JSON.stringify(before.codes)}); detected in ${detected.toFixed(1)} s; the hung connections ` +
            `ended within ${endMs} ms of the decision and reconnected to healthy nodes; after: ${after.errors} errors of ${after.n}, ` +
            `${after.slow} over 1 s (longest ${after.maxMs} ms)`);
    });
});
