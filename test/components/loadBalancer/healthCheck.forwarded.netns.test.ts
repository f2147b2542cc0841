// Docker mode without docker: nginx runs in a "container" network namespace behind the LB host's, its connects to
// the nodes routed (forwarded) through the host's namespace, where the health checker runs and puts its rules, as
// on an LB host in docker mode (bridge network, published ports). Clients connect from the host's namespace to the
// container's address, as docker's published ports do. No NAT (this kernel has neither iptables nor nft): the
// container has a default route via the host's namespace, which forwards, and the nodes a route back.
//
// 1. The host's rules alone (the checker as before, not told about the container): a forwarded connect to the node
//    taken out meets the host's `prohibit` rule, which answers with an ICMP "administratively prohibited"
//    (EHOSTUNREACH in the container) only within the host's ICMP rate limits, so some connects fail at once and the
//    others wait for nginx's proxy_connect_timeout; and the connections already open to the node hang on, as `ss -K`
//    in the host's namespace sees none of nginx's sockets.
// 2. With nginxContainer (docker inspect: a test double here): the rules and `ss -K` also go into the container's
//    namespace, so its connects fail at once as in system mode and its connections to the node end; and when the
//    container comes back in a new namespace (restart, replacement), the checker follows it.
import { strict as assert } from "assert";
import { ChildProcess, spawnSync } from "child_process";
import * as fs from "fs";
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
const CLIENTS = 120;
const RUN = process.pid.toString(36);
/** The container's namespace and its veth pair (names no other harness claims: sshHost's are rh<run>...). */
const CONTAINER_NS = `lbfwd${RUN}`;
const VETH_CONTAINER = `lbf${RUN}c`;
const VETH_HOST = `lbf${RUN}l`;
const CONTAINER_ADDR = "172.31.255.2";
const HOST_SIDE_ADDR = "172.31.255.1";
const CONTAINER_NET = "172.31.255.0/30";
const CONTAINER_NAME = "rancher-ha-lb-test";

/** `n` connects to host:port one after the other, each given `ms`: how each ended (code@milliseconds). */
const CONNECTS_JS = `const net = require("net"); const [host, port, n, ms] = process.argv.slice(1); const out = [];
const one = i => { if (i >= Number(n)) { process.stdout.write(out.join(" ") + "\\n"); return; }
  const t0 = Date.now(); const s = net.connect(Number(port), host); let done = false;
  const fin = r => { if (done) { return; } done = true; clearTimeout(t); s.destroy(); out.push(r + "@" + (Date.now() - t0)); one(i + 1); };
  const t = setTimeout(() => fin("timeout"), Number(ms));
  s.on("connect", () => fin("connected")); s.on("error", e => fin(e.code)); };
one(0);`;

function sh(cmd: string, args: string[]): string {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`${cmd} ${args.join(" ")}: ${r.error?.message ?? r.stderr}`);
    }
    return r.stdout;
}

/** Kills what runs in the container's namespace, then removes it (its veth pair goes with it). */
function removeContainerNs(): void {
    const pids = spawnSync("ip", ["netns", "pids", CONTAINER_NS], { encoding: "utf8" }).stdout ?? "";
    for (const pid of pids.split("\n").map(Number).filter(p => p > 1 && p !== process.pid)) {
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            // gone
        }
    }
    spawnSync("ip", ["link", "del", VETH_HOST]);
    spawnSync("ip", ["netns", "del", CONTAINER_NS]);
}

describe("loadBalancer/healthCheck: docker mode, nginx's connects forwarded through the host's namespace (netns)", function () {
    this.timeout(90000);
    let lbHost: SshHost;
    let nodes: SshHost[] = [];
    let backends: Backend[] = [];
    let dir: string;
    let bed: LbTestbed | undefined;
    let nginx: ChildProcess | undefined;
    let clients: LiveClients | undefined;
    let checker: CheckerRun | undefined;
    let checkerEnv: NodeJS.ProcessEnv;

    /** A new "container" namespace: veth to the LB host's namespace, default route through it. */
    function createContainerNs(): void {
        sh("ip", ["netns", "add", CONTAINER_NS]);
        sh("ip", ["link", "add", VETH_CONTAINER, "netns", CONTAINER_NS, "type", "veth", "peer", "name", VETH_HOST, "netns", lbHost.netns]);
        sh("ip", ["-n", CONTAINER_NS, "link", "set", "lo", "up"]);
        sh("ip", ["-n", CONTAINER_NS, "addr", "add", `${CONTAINER_ADDR}/30`, "dev", VETH_CONTAINER]);
        sh("ip", ["-n", CONTAINER_NS, "link", "set", VETH_CONTAINER, "up"]);
        sh("ip", ["-n", CONTAINER_NS, "route", "add", "default", "via", HOST_SIDE_ADDR]);
        sh("ip", ["-n", lbHost.netns, "addr", "add", `${HOST_SIDE_ADDR}/30`, "dev", VETH_HOST]);
        sh("ip", ["-n", lbHost.netns, "link", "set", VETH_HOST, "up"]);
    }

    before(async function () {
        this.timeout(60000);
        requireTool(this, nginxUnavailable() ?? sshHostUnavailable() ?? toolMissing("curl") ?? toolMissing("ss", ["-V"])
            ?? toolMissing("nsenter"));
        bed = await startLbTestbed("fwd", NODE_PORT);
        ({ dir, lbHost, nodes, backends } = bed);
        removeContainerNs();
        createContainerNs();
        sh("ip", ["netns", "exec", lbHost.netns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
        for (const n of nodes) {
            sh("ip", ["-n", n.netns, "route", "add", CONTAINER_NET, "via", lbHost.address]);
        }
        // docker inspect -f '{{.State.Pid}}' <container>, as the checker asks it: the pid of the "container"'s nginx.
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(bin, "docker"), `#!/bin/sh
# docker-test-double: answers only what the health checker asks, the pid of the test's "container" nginx.
if [ "$1" = inspect ] && [ "$2" = -f ] && [ "$3" = '{{.State.Pid}}' ] && [ "$4" = ${CONTAINER_NAME} ]; then
  cat ${path.join(dir, "nginx.pid")} 2>/dev/null || echo 0
  exit 0
fi
echo "docker-test-double: not simulated: docker $*" >&2
exit 1
`, { mode: 0o755 });
        checkerEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    });

    afterEach(async () => {
        await clients?.stop();
        await checker?.stop();
        await stopProcess(nginx);
        clients = checker = nginx = undefined;
        backends.forEach(b => b.setMode("ok"));
    });

    after(async () => {
        removeContainerNs();
        await bed?.stop();
    });

    const errorLog = () => path.join(dir, "error.log");
    const logCount = (re: RegExp) => (fs.existsSync(errorLog()) ? fs.readFileSync(errorLog(), "utf8") : "").split("\n").filter(l => re.test(l)).length;

    async function startContainerNginx(): Promise<void> {
        fs.rmSync(errorLog(), { force: true });
        nginx = await startNginx(CONTAINER_NS, dir, "nginx", testbedNginxConf(nodes, {
            listenAddress: CONTAINER_ADDR, lbPort: LB_PORT, nodePort: NODE_PORT, pidPath: path.join(dir, "nginx.pid"), errorLog: errorLog(),
        }), LB_PORT);
    }

    /** nginx in the container, the clients on the node, then the node hung; the connections on it, hanging. */
    async function hangNodeUnderClients(): Promise<{ onSick: Set<number>; hung: number }> {
        await startContainerNginx();
        clients = new LiveClients({ netns: lbHost.netns, host: CONTAINER_ADDR, port: LB_PORT, count: CLIENTS, intervalMs: 200, maxReconnects: 3 });
        await until(`${CLIENTS} long-lived connections answered`, async () =>
            openSessions(await clients!.snapshot()).filter(s => s.node !== null).length === CLIENTS, 15);
        const start = await clients.snapshot();
        const onSick = new Set(openSessions(start).filter(s => s.node === "b2").map(s => s.client));
        assert.ok(onSick.size >= CLIENTS / 6, `round robin gives the node its share: ${JSON.stringify(openByNode(start))}`);
        backends[2].setMode("hang");
        await sleep(2500);
        const hung = hungSessions(await clients.snapshot(), 2000);
        assert.equal(hung.length, onSick.size, "the connections to the hung node hang");
        return { onSick, hung: hung.length };
    }

    const targets = () => lbHealthTargets(nodes.map(h => ({ address: h.address, controlplane: false })),
        { http: NODE_PORT, https: 8443, kubeApi: 6443 }).filter(t => t.upstream === "http");

    it("a forwarded connect that meets the host's prohibit rule: EHOSTUNREACH at once, but only within the ICMP rate limit", () => {
        // No checker, no nginx: the rule by hand, then connects one after the other from the container, 1 s each at most.
        const rule = ["-n", lbHost.netns, "rule", "add", "priority", "19000", "to", `${nodes[2].address}/32`, "ipproto", "tcp", "dport", String(NODE_PORT), "prohibit"];
        sh("ip", rule);
        try {
            const out = sh("ip", ["netns", "exec", CONTAINER_NS, process.execPath, "-e", CONNECTS_JS, nodes[2].address, String(NODE_PORT), "8", "1000"]);
            const results = out.trim().split(" ");
            const icmp = sh("ip", ["netns", "exec", lbHost.netns, "nstat", "-asz", "IcmpOutDestUnreachs", "IcmpOutRateLimitHost"])
                .split("\n").filter(l => /^Icmp/.test(l)).map(l => l.trim().split(/\s+/).slice(0, 2).join(" ")).join(", ");
            const [first, ms] = results[0].split("@");
            assert.ok(first === "EHOSTUNREACH" && Number(ms) < 200, `the first connect fails at once: ${results.join(" ")}`);
            assert.ok(results.some(r => r.startsWith("timeout")), `later ones are dropped unanswered (ICMP rate limit): ${results.join(" ")}`);
            // eslint-disable-next-line no-console
            console.log(`      forwarded connects to a node behind the host's prohibit rule: ${results.join(" ")} (host: ${icmp})`);
        } finally {
            spawnSync("ip", ["-n", lbHost.netns, "rule", "del", "priority", "19000"]);
        }
    });

    it("the host's rules alone: forwarded connects get EHOSTUNREACH only within ICMP rate limits; open connections hang on", async () => {
        const { onSick, hung } = await hangNodeUnderClients();
        checker = new CheckerRun(lbHost.netns, lbHealthCheckScript({ targets: targets(), stateDir: path.join(dir, "state-host"), maxRounds: 120 }), checkerEnv);
        const down = await checker.waitFor(`down: http ${nodes[2].address}:${NODE_PORT}`, 15);
        const detected = (down.at - checker.startedAt) / 1000;
        assert.match(down.line, /ended its 0 established connections/, "ss -K in the host's namespace finds none of nginx's sockets");
        assert.deepEqual(prohibitRules(CONTAINER_NS), [], "nothing in the container's namespace");

        // The connections to the node still hang 3 s after the decision.
        await sleep(3000);
        const later = await clients!.snapshot();
        const stillHung = hungSessions(later, 2000).filter(s => onSick.has(s.client) && s.attempt === 0).length;
        assert.equal(stillHung, onSick.size, "the host's rule does not end established connections");

        // New connects: nginx moves on, at once when the ICMP error gets through, after its 2 s connect timeout when not.
        const load = await shortLoad({ netns: lbHost.netns, host: CONTAINER_ADDR, port: LB_PORT, n: 300, concurrency: 5, timeoutMs: 8000 });
        const icmp = logCount(/\(113: No route to host\) while connecting to upstream/);
        const timedOut = logCount(/upstream timed out \(110: Connection timed out\) while connecting to upstream/);
        assert.equal(load.by.b2, undefined, JSON.stringify(load));
        const icmpOut = sh("ip", ["netns", "exec", lbHost.netns, "nstat", "-asz", "IcmpOutDestUnreachs", "IcmpOutRateLimitHost"]);

        // eslint-disable-next-line no-console
        console.log(`      host rules only: ${hung} of ${CLIENTS} connections hung; detected in ${detected.toFixed(1)} s; 3 s later ` +
            `${stillHung} still hung; short requests: ${load.errors} errors of ${load.n}, ${load.slow} over 1 s (longest ${load.maxMs} ms); ` +
            `nginx: ${icmp} connects failed with EHOSTUNREACH, ${timedOut} timed out; host ICMP: ` +
            icmpOut.split("\n").filter(l => /^Icmp/.test(l)).map(l => l.trim().split(/\s+/).slice(0, 2).join(" ")).join(", "));
    });

    it("nginxContainer: rules and ss -K in the container's namespace: connects fail at once, connections end; follows a restart", async () => {
        const { onSick, hung } = await hangNodeUnderClients();
        checker = new CheckerRun(lbHost.netns, lbHealthCheckScript({ targets: targets(), stateDir: path.join(dir, "state-container"),
            maxRounds: 120, nginxContainer: CONTAINER_NAME }), checkerEnv);
        await checker.waitFor(`nginx container ${CONTAINER_NAME} (pid`, 10);
        const down = await checker.waitFor(`down: http ${nodes[2].address}:${NODE_PORT}`, 15);
        const detected = (down.at - checker.startedAt) / 1000;
        assert.ok(detected <= 6, `detected in ${detected} s:\n${checker.log}`);
        assert.match(down.line, new RegExp(`ended its ${onSick.size} established connections`), checker.log);
        assert.deepEqual(prohibitRules(CONTAINER_NS), prohibitRules(lbHost.netns), "the same rule in the container's namespace");

        const endedOf = (s: { sessions: { client: number; attempt: number; closedAt: number | null }[] }) =>
            s.sessions.filter(x => x.attempt === 0 && onSick.has(x.client) && x.closedAt !== null);
        await until("every connection to the hung node ended", async () => endedOf(await clients!.snapshot()).length === onSick.size, 5);
        const endMs = Math.max(...endedOf(await clients!.snapshot()).map(s => s.closedAt! - down.at));
        await until("every client answered by a healthy node", async () => {
            const s = await clients!.snapshot();
            const live = openSessions(s).filter(x => x.lastReplyAt !== null && s.now - x.lastReplyAt < 1000);
            return live.length === CLIENTS && live.every(x => x.node !== "b2");
        }, 5);
        const load = await shortLoad({ netns: lbHost.netns, host: CONTAINER_ADDR, port: LB_PORT, n: 300, concurrency: 5, timeoutMs: 8000 });
        assert.ok(load.errors <= 3 && load.by.b2 === undefined, JSON.stringify(load));
        assert.equal(load.slow, 0, `no connect waits for a timeout: ${JSON.stringify(load)}`);
        assert.equal(logCount(/upstream timed out \(110: Connection timed out\) while connecting to upstream/), 0, "no connect timed out");
        const refused = logCount(/\(13: Permission denied\) while connecting to upstream/);

        // The container restarts: a new namespace, a new nginx. The checker puts the rule there.
        await clients!.stop();
        clients = undefined;
        await stopProcess(nginx);
        removeContainerNs();
        createContainerNs();
        await startContainerNginx();
        await checker.waitFor(`rules put there for the node ports out: http ${nodes[2].address}:${NODE_PORT}`, 10);
        assert.equal(prohibitRules(CONTAINER_NS).length, 1, checker.log);
        const restarted = await shortLoad({ netns: lbHost.netns, host: CONTAINER_ADDR, port: LB_PORT, n: 150, concurrency: 5, timeoutMs: 8000 });
        assert.ok(restarted.errors <= 1 && restarted.by.b2 === undefined && restarted.slow === 0, JSON.stringify(restarted));

        // eslint-disable-next-line no-console
        console.log(`      nginxContainer: ${hung} of ${CLIENTS} connections hung; detected in ${detected.toFixed(1)} s; all ended within ` +
            `${endMs} ms of the decision and reconnected to healthy nodes; short requests: ${load.errors} errors of ${load.n}, ` +
            `${load.slow} over 1 s (longest ${load.maxMs} ms), nginx: ${refused} connects refused at once (EACCES); after a restart ` +
            `into a new namespace: ${restarted.errors} errors of ${restarted.n}, ${restarted.slow} over 1 s`);
    });
});
