// The LB's health checker and long-lived connections (watches, agent websockets) on real nginx: the LB and three
// backends each in a network namespace of their own, 150 clients in the root namespace, each keeping a connection
// through the LB and exchanging a line with its node every 200 ms, with nginx's 1 h proxy_timeout. One node goes
// sick (new connections reset, or accepted and never answered; its open connections stop answering). Measured:
// the connections that hang before the checker acts, the time to detect the node, that every connection to it then
// ends (the routing rule alone would leave them hanging until proxy_timeout) and its client reconnects through the
// LB to a healthy node, that no connection to a healthy node is disturbed, and the client errors after detection.
import { strict as assert } from "assert";
import { ChildProcess, spawnSync } from "child_process";
import * as path from "path";
import { lbHealthCheckScript, lbHealthTargets } from "../../../components/loadBalancer/healthCheck";
import { nginxUnavailable, requireTool, toolMissing } from "../../helpers/tools";
import { SshHost, sshHostUnavailable } from "../../helpers/sshHost";
import {
    Backend, CheckerRun, hungSessions, LbTestbed, LiveClients, openByNode, openSessions, prohibitRules, shortLoad,
    sleep, startLbTestbed, startNginx, stopProcess, testbedNginxConf, until,
} from "../../helpers/lbTraffic";

const LB_PORT = 8088;
const NODE_PORT = 8080;
const CLIENTS = 150;

describe("loadBalancer/healthCheck: long-lived connections to a node that goes sick, real nginx, hosts in netns", function () {
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
        bed = await startLbTestbed("live", NODE_PORT);
        ({ dir, lbHost, nodes, backends } = bed);
    });

    afterEach(async () => {
        await clients?.stop();
        await checker?.stop();
        await stopProcess(nginx);
        clients = checker = nginx = undefined;
        backends.forEach(b => b.setMode("ok"));
    });

    after(async () => {
        await bed?.stop();
    });

    /** Connections the node holds from the LB's nginx (the checker's probes, from ports 1200-1999, left out). */
    const nodeSideConnections = (i: number) => (spawnSync("ip", ["netns", "exec", nodes[i].netns, "ss", "-Htn", "state", "established",
        `sport = :${NODE_PORT} and dport > :1999`], { encoding: "utf8" }).stdout ?? "").split("\n").filter(l => l.trim() !== "").length;

    /** nginx as the stack renders it, its http port given the long-lived ports' 1 h proxy_timeout. */
    async function startLb(name: string): Promise<void> {
        nginx = await startNginx(lbHost.netns, dir, name, testbedNginxConf(nodes, {
            listenAddress: lbHost.address, lbPort: LB_PORT, nodePort: NODE_PORT,
            pidPath: path.join(dir, `${name}.pid`), errorLog: path.join(dir, `${name}.error.log`),
        }), LB_PORT);
    }

    const targets = () => lbHealthTargets(nodes.map(h => ({ address: h.address, controlplane: false })),
        { http: NODE_PORT, https: 8443, kubeApi: 6443 }).filter(t => t.upstream === "http");

    /** nginx, the clients spread over the nodes, then node b2 sick: its connections hang (nginx's 1 h proxy_timeout). */
    async function sickNodeUnderClients(mode: "reset" | "hang") {
        await startLb(`nginx-${mode}`);
        clients = new LiveClients({ host: lbHost.address, port: LB_PORT, count: CLIENTS, intervalMs: 200, maxReconnects: 3 });
        await until(`${CLIENTS} long-lived connections answered`, async () =>
            openSessions(await clients!.snapshot()).filter(s => s.node !== null).length === CLIENTS, 15);
        const start = await clients.snapshot();
        const onSick = openSessions(start).filter(s => s.node === "b2");
        const onHealthy = openSessions(start).filter(s => s.node !== "b2");
        assert.ok(onSick.length >= CLIENTS / 6, `round robin gives the node its share: ${JSON.stringify(openByNode(start))}`);

        // Without the checker: every connection to the sick node hangs.
        backends[2].setMode(mode);
        await sleep(3000);
        const before = await clients.snapshot();
        const hung = hungSessions(before, 2000);
        const sickIds = new Set(onSick.map(s => s.client));
        assert.equal(hung.length, onSick.length, `every connection to the sick node hangs, no other: ${hung.length} hung of ${onSick.length}`);
        assert.ok(hung.every(s => sickIds.has(s.client)), "only the sick node's connections hang");
        assert.equal(before.sessions.filter(s => s.closedAt !== null).length, 0, "nothing ends by itself");
        assert.equal(nodeSideConnections(2), onSick.length, "the node holds its end of each");
        return { onSick, onHealthy, hung, sickIds };
    }

    it("the rule alone (endConnections false) ends no established connection: they hang on", async () => {
        const { onSick, sickIds } = await sickNodeUnderClients("hang");
        checker = new CheckerRun(lbHost.netns, lbHealthCheckScript({ targets: targets(), stateDir: path.join(dir, "state-rule-only"),
            maxRounds: 120, endConnections: false }));
        const down = await checker.waitFor(`down: http ${nodes[2].address}:${NODE_PORT}`, 15);
        assert.match(down.line, /established connections left as they are/);
        await sleep(4000);
        const later = await clients!.snapshot();
        const stillHung = hungSessions(later, 3500).filter(s => sickIds.has(s.client) && s.attempt === 0);
        assert.equal(stillHung.length, onSick.length, "every connection to the node taken out still hangs 4 s after the rule");
        const lb = (spawnSync("ip", ["netns", "exec", lbHost.netns, "ss", "-Htn", `dst ${nodes[2].address} and dport = :${NODE_PORT} and sport > :1999`],
            { encoding: "utf8" }).stdout ?? "").split("\n").filter(l => l.startsWith("ESTAB")).length;
        assert.equal(lb, onSick.length, "nginx still holds them, ESTABLISHED (the checker's probes, from ports 1200-1999, left out)");
        // eslint-disable-next-line no-console
        console.log(`      rule only: 4 s after the node was taken out, ${stillHung.length} of its ${onSick.length} connections still hang, ` +
            `${lb} ESTABLISHED in the LB's namespace`);
    });

    for (const mode of ["reset", "hang"] as const) {
        it(`${mode}: once the node is out its connections end within 2 s and reconnect to healthy nodes; the others are untouched`, async () => {
            const { onSick, onHealthy, hung, sickIds } = await sickNodeUnderClients(mode);
            checker = new CheckerRun(lbHost.netns, lbHealthCheckScript({ targets: targets(), stateDir: path.join(dir, `state-${mode}`), maxRounds: 120 }));
            const down = await checker.waitFor(`down: http ${nodes[2].address}:${NODE_PORT}`, 15);
            const detected = (down.at - checker.startedAt) / 1000;
            assert.ok(detected <= 6, `detected in ${detected} s:\n${checker.log}`);
            assert.match(down.line, new RegExp(`ended its ${onSick.length} established connections`), checker.log);
            // They were ended before the rule went in, so the node got their resets and freed its end too.
            assert.equal(nodeSideConnections(2), 0, "the node holds none of them any more");

            // Every connection to the sick node ends (its client sees the close) ...
            const closedOf = (s: { sessions: { client: number; attempt: number; closedAt: number | null }[] }) =>
                s.sessions.filter(x => x.attempt === 0 && sickIds.has(x.client) && x.closedAt !== null);
            await until("every connection to the sick node ended", async () => closedOf(await clients!.snapshot()).length === onSick.length, 5);
            const ended = await clients!.snapshot();
            const endMs = Math.max(...closedOf(ended).map(s => s.closedAt! - down.at));
            assert.ok(endMs <= 2000, `ended ${endMs} ms after the decision was logged`);

            // ... and its client is answered again, through the LB, by a healthy node.
            await until("every client answered by a healthy node", async () => {
                const s = await clients!.snapshot();
                const live = openSessions(s).filter(x => x.lastReplyAt !== null && s.now - x.lastReplyAt < 1000);
                return live.length === CLIENTS && live.every(x => x.node !== "b2");
            }, 5);
            await sleep(1000);
            const after = await clients!.snapshot();
            const healthyIds = new Set(onHealthy.map(s => s.client));
            const healthyNow = after.sessions.filter(s => s.attempt === 0 && healthyIds.has(s.client));
            assert.equal(healthyNow.filter(s => s.closedAt !== null).length, 0, "no connection to a healthy node ended");
            const maxGap = Math.max(...healthyNow.map(s => Math.max(s.maxGap, after.now - s.lastReplyAt!)));
            assert.ok(maxGap < 1000, `the healthy nodes' connections kept answering every 200 ms (longest gap ${maxGap} ms)`);
            const reconnects = after.sessions.filter(s => s.attempt > 0);
            const failed = reconnects.filter(s => s.node === null || s.node === "b2");
            assert.equal(reconnects.length, onSick.length, "one reconnect per ended connection");
            assert.ok(failed.length <= reconnects.length / 100, `reconnects failing: ${failed.length} of ${reconnects.length}`);
            const load = await shortLoad({ host: lbHost.address, port: LB_PORT, n: 300, concurrency: 5, timeoutMs: 3000 });
            assert.ok(load.errors <= 3 && load.by.b2 === undefined, `short requests after detection: ${JSON.stringify(load)}`);
            assert.deepEqual(prohibitRules(lbHost.netns).length, 1);

            // eslint-disable-next-line no-console
            console.log(`      ${mode}: ${hung.length} of ${CLIENTS} connections hung before the checker; detected in ${detected.toFixed(1)} s; ` +
                `all ${onSick.length} ended within ${endMs} ms of the decision; ${reconnects.length - failed.length}/${reconnects.length} ` +
                `reconnected to healthy nodes; healthy connections: 0 ended, longest gap ${maxGap} ms; short requests after: ` +
                `${load.errors} errors of ${load.n}`);
        });
    }
});
