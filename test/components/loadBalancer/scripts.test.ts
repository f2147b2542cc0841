// The LB's remote scripts, run over real SSH (Debian sshd in a test host's own network namespace) exactly as
// @pulumi/command runs them: the script is the session command and the config bundle is stdin.
//
// system mode drives the real nginx (as a non-root user through sudo) with a config path in a root-owned temp
// directory instead of /etc/nginx, so the machine's own nginx setup is never touched. docker mode uses a
// `docker` test double that records its arguments and runs the real `nginx -t` for `docker run --rm ... -t`.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import {
    CANDIDATE_SUFFIX, CONTAINER_CONF_DIR, imageRegistry, lbApplyScript, lbBundle, lbDeleteScript, LbScriptOptions,
    ORIGINAL_SUFFIX, PREVIOUS_NAME_SUFFIX, PREVIOUS_SUFFIX, SPEC_LABEL,
} from "../../../components/loadBalancer/scripts";
import { DISTRO_MODULE_INCLUDES, LbPorts, renderNginxConf } from "../../../components/loadBalancer/nginxConf";
import { LbOwnership } from "../../../components/loadBalancer/owner";
import { sha256 } from "../../../components/shared/shell";
import { freePort, installTestDouble, SshHost, sshHostUnavailable, startSshHost, testNetGateway } from "../../helpers/sshHost";
import { nginxUnavailable, requireTool, STREAM_MODULE } from "../../helpers/tools";



/** Reads what a TCP server at host:port sends before closing; undefined when the connection is refused. */
function fetchId(port: number, host: string): Promise<string | undefined> {
    return new Promise(resolve => {
        const s = net.connect(port, host);
        let data = "";
        s.setTimeout(3000, () => { s.destroy(); resolve(undefined); });
        s.on("data", d => { data += d; });
        s.on("end", () => resolve(data));
        s.on("error", () => resolve(undefined));
    });
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 10000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
        const v = await fn();
        if (v !== undefined && v !== false) {
            return v as T;
        }
        if (Date.now() > end) {
            throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        }
        await new Promise(r => setTimeout(r, 100));
    }
}

function processName(pid: number): string | undefined {
    try {
        return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
        return undefined;
    }
}

function status(stdout: string): string[] {
    return stdout.split("\n").filter(l => l.startsWith("rancher-ha-lb: ")).map(l => l.slice("rancher-ha-lb: ".length));
}

describe("loadBalancer/scripts", () => {
    const hash = sha256("x");
    const system: LbScriptOptions = { mode: "system", configHash: hash, hostLabel: "ops@lb.example.com:22" };
    const docker: LbScriptOptions = {
        mode: "docker", configHash: hash, hostLabel: "ops@lb:22", image: "nginx:1.27-alpine", publishPorts: [80, 443, 6443],
    };

    it("renders POSIX sh (dash -n) with no config content in the command string", () => {
        for (const s of [lbApplyScript(system), lbDeleteScript(system), lbApplyScript(docker), lbDeleteScript(docker)]) {
            const r = spawnSync("/bin/sh", ["-n"], { input: s, encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            assert.ok(s.startsWith("set -eu\n"));
            assert.ok(!/upstream|proxy_pass|least_conn/.test(s), "config text must travel on stdin, not in the command");
        }
        assert.ok(lbApplyScript(system).includes(hash), "the config hash is in the command, so a new config is an update");
        assert.ok(!lbDeleteScript(system).includes(hash), "delete does not depend on the config");
    });

    it("rejects options that cannot be rendered safely", () => {
        assert.throws(() => lbApplyScript({ ...system, configHash: "abc" }), /sha256/);
        assert.throws(() => lbApplyScript({ ...system, confPath: "etc/nginx.conf" }), /absolute/);
        assert.throws(() => lbApplyScript({ ...docker, image: "nginx; rm -rf /" }), /image reference/);
        assert.throws(() => lbApplyScript({ ...docker, publishPorts: [] }), /ports to publish/);
        assert.throws(() => lbApplyScript({ ...docker, confirmSeconds: 1.5 }), /confirmSeconds/);
    });

    it("names the registry an image is pulled from as docker does", () => {
        assert.equal(imageRegistry("nginx:1.27-alpine"), "docker.io");
        assert.equal(imageRegistry("library/nginx@sha256:abc"), "docker.io");
        assert.equal(imageRegistry("registry.example.com/mirror/nginx:1.27"), "registry.example.com");
        assert.equal(imageRegistry("10.0.0.5:5000/nginx"), "10.0.0.5:5000");
        assert.equal(imageRegistry("localhost/nginx"), "localhost");
    });

    describe("system mode over real SSH (non-root user with sudo, real nginx)", function () {
        this.timeout(120000);
        let host: SshHost;
        let dir: string;
        const masters = new Set<number>();
        let backend: net.Server;
        // The backend runs here, on the bridge's address, which nginx on the test host reaches; the LB listens on
        // the host's own address.
        let backendAddress: string;
        let backendPort: number;
        const fromLb = (port: number) => fetchId(port, host.address);

        const conf = (d: string) => path.join(d, "nginx.conf");
        const pidFile = (d: string) => path.join(d, "nginx.pid");

        function render(d: string, ports: LbPorts, addresses = [backendAddress]): string {
            return renderNginxConf({
                backends: addresses.map(address => ({ address, controlplane: true })),
                listenAddress: host.address,
                listenPorts: ports,
                backendPorts: { http: backendPort, https: backendPort, kubeApi: backendPort },
                pidPath: pidFile(d),
                errorLog: path.join(d, "error.log"),
                // As system mode renders it: the distro's module configs, here Debian's modules-enabled.
                moduleIncludes: DISTRO_MODULE_INCLUDES,
            });
        }

        function opts(d: string, text: string): LbScriptOptions {
            return { mode: "system", configHash: sha256(text), hostLabel: "rhlb@127.0.0.1", confPath: conf(d), pidPath: pidFile(d), runDir: d };
        }

        async function apply(d: string, text: string) {
            const r = await host.run(lbApplyScript(opts(d, text)), lbBundle(text));
            const pid = readPid(d);
            if (pid) {
                masters.add(pid);
            }
            return r;
        }

        function readPid(d: string): number | undefined {
            try {
                const pid = Number(fs.readFileSync(pidFile(d), "utf8").trim());
                return processName(pid) === "nginx" ? pid : undefined;
            } catch {
                return undefined;
            }
        }

        async function ports(): Promise<LbPorts> {
            return { http: await freePort(), https: await freePort(), kubeApi: await freePort() };
        }

        /** A root-owned directory the SSH user can read but not write: every write must go through sudo. */
        function rootDir(): string {
            const d = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-lb-sys-"));
            fs.chmodSync(d, 0o755);
            return d;
        }

        before(async function () {
            requireTool(this, sshHostUnavailable() ?? nginxUnavailable());
            host = await startSshHost({ user: "rhlb", sudo: true });
            backendAddress = testNetGateway();
            backendPort = await freePort(backendAddress);
            backend = net.createServer(s => s.end("b2\n"));
            await new Promise<void>(r => backend.listen(backendPort, backendAddress, () => r()));
            dir = rootDir();
        });

        after(async () => {
            for (const pid of masters) {
                if (processName(pid) === "nginx") {
                    process.kill(pid, "SIGTERM");
                }
            }
            await until("test nginx masters to exit", async () => [...masters].every(p => processName(p) !== "nginx"), 10000)
                .catch(() => [...masters].forEach(p => processName(p) === "nginx" && process.kill(p, "SIGKILL")));
            backend?.close();
            await host?.stop();
            if (dir) {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        // The distro's config: valid, same pid file as ours (as on Debian/RHEL), no listeners.
        const distro = (d: string) => `# distro nginx.conf\npid ${pidFile(d)};\nerror_log ${path.join(d, "error.log")};\nevents { worker_connections 64; }\n`;
        let p1: LbPorts;
        let p2: LbPorts;
        let conf2: string;

        it("installs: keeps the distro config, writes ours, starts nginx, which proxies", async () => {
            fs.writeFileSync(conf(dir), distro(dir));
            p1 = await ports();
            const conf1 = render(dir, p1);
            const r = await apply(dir, conf1);
            assert.equal(r.code, 0, r.stderr + r.stdout);
            assert.deepEqual(status(r.stdout), ["started"]);
            assert.equal(fs.readFileSync(conf(dir), "utf8"), conf1);
            assert.equal(fs.readFileSync(conf(dir) + ORIGINAL_SUFFIX, "utf8"), distro(dir));
            assert.ok(!fs.existsSync(conf(dir) + CANDIDATE_SUFFIX));
            assert.equal(await until("the LB to answer", () => fromLb(p1.http)), "b2\n");
            assert.equal(await fromLb(p1.kubeApi), "b2\n");
        });

        it("re-run with the same config: nothing changes on the host", async () => {
            const before = { pid: readPid(dir), mtime: fs.statSync(conf(dir)).mtimeMs };
            const r = await apply(dir, render(dir, p1));
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["unchanged"]);
            assert.equal(readPid(dir), before.pid);
            assert.equal(fs.statSync(conf(dir)).mtimeMs, before.mtime);
            assert.equal(fs.readFileSync(conf(dir) + ORIGINAL_SUFFIX, "utf8"), distro(dir), "backup is the distro's, not ours");
        });

        it("changed config: tested, swapped in and reloaded (same master, new port serves)", async () => {
            const pid = readPid(dir);
            p2 = await ports();
            conf2 = render(dir, p2);
            const r = await apply(dir, conf2);
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["reloaded"]);
            assert.equal(fs.readFileSync(conf(dir), "utf8"), conf2);
            assert.equal(readPid(dir), pid, "reload keeps the master process");
            assert.equal(await until("the new port to answer", () => fromLb(p2.http)), "b2\n");
            await until("the old port to close", async () => (await fromLb(p1.http)) === undefined);
        });

        it("two runs at once: the lock serialises them; one changes, the other finds it done", async () => {
            const text = render(dir, p2, [backendAddress, host.address]);
            const both = await Promise.all([apply(dir, text), apply(dir, text)]);
            both.forEach(r => assert.equal(r.code, 0, r.stderr));
            assert.deepEqual(both.flatMap(r => status(r.stdout)).sort(), ["reloaded", "unchanged"]);
            const back = await apply(dir, conf2);
            assert.deepEqual(status(back.stdout), ["reloaded"]);
        });

        it("broken config: rejected by nginx -t, the previous config stays live", async () => {
            // A node name that does not resolve: nginx -t fails with "host not found in upstream".
            const broken = render(dir, p1, [backendAddress, "no-such-node.invalid"]);
            const r = await apply(dir, broken);
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /host not found in upstream "no-such-node\.invalid/);
            assert.match(r.stderr, /rancher-ha: load balancer on rhlb@127\.0\.0\.1: nginx -t rejected the new config/);
            assert.deepEqual(status(r.stdout), []);
            assert.equal(fs.readFileSync(conf(dir), "utf8"), conf2);
            assert.ok(!fs.existsSync(conf(dir) + CANDIDATE_SUFFIX), "the rejected candidate is removed");
            assert.equal(await fromLb(p2.http), "b2\n");
        });

        it("refuses a config whose bytes do not match the hash in the command (cut-off stdin)", async () => {
            const text = render(dir, p1);
            const r = await host.run(lbApplyScript(opts(dir, text)), lbBundle(text.slice(0, 100)));
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /does not match its hash/);
            assert.equal(fs.readFileSync(conf(dir), "utf8"), conf2);
        });

        it("delete: restores the distro config and reloads, so the LB ports close", async () => {
            const pid = readPid(dir);
            const r = await host.run(lbDeleteScript(opts(dir, conf2)));
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["restored"]);
            assert.equal(fs.readFileSync(conf(dir), "utf8"), distro(dir));
            assert.ok(!fs.existsSync(conf(dir) + ORIGINAL_SUFFIX));
            await until("the LB port to close", async () => (await fromLb(p2.http)) === undefined);
            assert.equal(readPid(dir), pid, "nginx goes on with the distro config");
            const again = await host.run(lbDeleteScript(opts(dir, conf2)));
            assert.equal(again.code, 0, again.stderr);
            assert.match(again.stdout, /is not managed by rancher-ha; left in place/);
            assert.equal(fs.readFileSync(conf(dir), "utf8"), distro(dir));
        });

        it("two stacks, one LB host: refused without takeOverFrom, taken over with it, the other's delete leaves it alone", async () => {
            const d = rootDir();
            const ownerFile = path.join(d, "lb-owner");
            const as = (owner: string, takeOverFrom: string[] = []): LbOwnership => ({ owner, takeOverFrom, file: ownerFile });
            const run = (text: string, owner: LbOwnership) => host.run(lbApplyScript({ ...opts(d, text), owner }), lbBundle(text));
            const del = (text: string, owner: LbOwnership) => host.run(lbDeleteScript({ ...opts(d, text), owner }));
            try {
                const p = await ports();
                const oldText = render(d, p);
                const newBackend = net.createServer(s => s.end("new\n"));
                const newPort = await freePort(backendAddress);
                await new Promise<void>(r => newBackend.listen(newPort, backendAddress, () => r()));
                const newText = renderNginxConf({
                    backends: [{ address: backendAddress, controlplane: true }], listenAddress: host.address, listenPorts: p,
                    backendPorts: { http: newPort, https: newPort, kubeApi: newPort }, pidPath: pidFile(d),
                    errorLog: path.join(d, "error.log"), moduleIncludes: DISTRO_MODULE_INCLUDES,
                });
                try {
                    const first = await run(oldText, as("rancher-ha/old"));
                    assert.equal(first.code, 0, first.stderr);
                    const pid = readPid(d)!;
                    masters.add(pid);
                    assert.equal(fs.readFileSync(ownerFile, "utf8"), "rancher-ha/old\n", "the nginx apply records the stack");
                    assert.equal(await until("the old LB to answer", () => fromLb(p.http)), "b2\n");

                    // Another stack naming this host by mistake: refused before anything changes.
                    const refused = await run(newText, as("rancher-ha/new"));
                    assert.equal(refused.code, 1);
                    assert.match(refused.stderr, /this LB host serves the stack rancher-ha\/old .*set loadBalancer\.takeOverFrom to old/);
                    assert.equal(fs.readFileSync(conf(d), "utf8"), oldText);
                    assert.equal(await fromLb(p.http), "b2\n");

                    // The switch: the new stack takes the host over in one run; the same nginx now serves the new nodes.
                    const taken = await run(newText, as("rancher-ha/new", ["rancher-ha/old"]));
                    assert.equal(taken.code, 0, taken.stderr);
                    assert.deepEqual(status(taken.stdout), ["reloaded"]);
                    assert.match(taken.stderr, /taking this LB host over from the stack rancher-ha\/old/);
                    assert.equal(fs.readFileSync(ownerFile, "utf8"), "rancher-ha/new\n");
                    assert.equal(await until("the new nodes to answer", async () => ((await fromLb(p.http)) === "new\n" ? "new" : undefined)), "new");
                    assert.equal(readPid(d), pid, "reloaded in place: no connection refused during the switch");

                    // The old stack's destroy (or its next pulumi up) cannot undo the switch.
                    const oldDelete = await del(oldText, as("rancher-ha/old"));
                    assert.equal(oldDelete.code, 0, oldDelete.stderr);
                    assert.deepEqual(status(oldDelete.stdout), ["left alone: this LB host serves the stack rancher-ha/new now"]);
                    assert.equal(fs.readFileSync(conf(d), "utf8"), newText);
                    assert.equal(await fromLb(p.http), "new\n");
                    const oldApply = await run(oldText, as("rancher-ha/old"));
                    assert.equal(oldApply.code, 1);
                    assert.match(oldApply.stderr, /serves the stack rancher-ha\/new .*takeOverFrom to new/);

                    // Rollback: the old stack takes it back the same way.
                    const back = await run(oldText, as("rancher-ha/old", ["rancher-ha/new"]));
                    assert.equal(back.code, 0, back.stderr);
                    assert.equal(await until("the old nodes to answer again", async () => ((await fromLb(p.http)) === "b2\n" ? "old" : undefined)), "old");
                    assert.equal(fs.readFileSync(ownerFile, "utf8"), "rancher-ha/old\n");

                    // The owner's delete removes the LB and the record.
                    const gone = await del(oldText, as("rancher-ha/old"));
                    assert.equal(gone.code, 0, gone.stderr);
                    assert.deepEqual(status(gone.stdout), ["removed"]);
                    assert.ok(!fs.existsSync(ownerFile));
                    await until("nginx to stop", async () => processName(pid) !== "nginx");
                } finally {
                    newBackend.close();
                }
            } finally {
                fs.rmSync(d, { recursive: true, force: true });
            }
        });

        it("without a distro config: install starts nginx, delete removes the config and stops it", async () => {
            const d = rootDir();
            try {
                const p = await ports();
                const text = render(d, p);
                const r = await apply(d, text);
                assert.equal(r.code, 0, r.stderr);
                assert.deepEqual(status(r.stdout), ["started"]);
                assert.ok(!fs.existsSync(conf(d) + ORIGINAL_SUFFIX));
                const pid = readPid(d)!;
                assert.ok(pid, "nginx runs");
                assert.equal(await until("the LB to answer", () => fromLb(p.http)), "b2\n");

                // Someone stopped nginx by hand: the next run starts it again without touching the config.
                process.kill(pid, "SIGTERM");
                await until("nginx to stop", async () => processName(pid) !== "nginx");
                const restarted = await apply(d, text);
                assert.equal(restarted.code, 0, restarted.stderr);
                assert.deepEqual(status(restarted.stdout), ["started"]);
                const pid2 = readPid(d)!;
                assert.ok(pid2 && pid2 !== pid);

                const del = await host.run(lbDeleteScript(opts(d, text)));
                assert.equal(del.code, 0, del.stderr);
                assert.deepEqual(status(del.stdout), ["removed"]);
                assert.ok(!fs.existsSync(conf(d)));
                await until("nginx to stop", async () => processName(pid2) !== "nginx");
                assert.equal(await fromLb(p.http), undefined);
            } finally {
                fs.rmSync(d, { recursive: true, force: true });
            }
        });
    });

    describe("docker mode over real SSH (docker test double)", function () {
        this.timeout(60000);
        let host: SshHost;
        let state: string;
        let confDir: string;
        const LISTEN = { http: 80, https: 443, kubeApi: 6443 };
        const NAME = "rancher-ha-lb";
        const PREV = NAME + PREVIOUS_NAME_SUFFIX;

        function render(addresses: string[], workerConnections = 8192): string {
            // As docker mode renders it: no module includes (stream is built into the official image).
            return renderNginxConf({
                backends: addresses.map(address => ({ address, controlplane: true })),
                listenPorts: LISTEN,
                workerConnections,
            });
        }

        function opts(text: string, image = "nginx:1.27-alpine"): LbScriptOptions {
            return {
                mode: "docker", configHash: sha256(text), hostLabel: "root@127.0.0.1", image,
                configDir: confDir, publishPorts: [LISTEN.http, LISTEN.https, LISTEN.kubeApi], runDir: state,
                // A new container must stay up this long before the one it replaces is removed.
                confirmSeconds: 1,
            };
        }

        async function apply(text: string, image?: string) {
            return host.run(lbApplyScript(opts(text, image)), lbBundle(text));
        }

        /** The spec label a container started from these options carries (from the rendered script). */
        function specOf(image: string): string {
            return /^SPEC=([0-9a-f]{16})$/m.exec(lbApplyScript(opts(v1(), image)))![1];
        }

        /** docker calls recorded since the last call of this function, without the read-only ones. */
        let seen = 0;
        function calls(): string[] {
            const all = fs.existsSync(path.join(state, "calls")) ? fs.readFileSync(path.join(state, "calls"), "utf8").split("\n").filter(Boolean) : [];
            const fresh = all.slice(seen);
            seen = all.length;
            return fresh.filter(c => c !== "info" && !c.startsWith("inspect "));
        }

        /** The double's container table: name -> its fields (running, image, label, ports, ...). */
        function containers(): Record<string, Record<string, string>> {
            const dir = path.join(state, "containers");
            const out: Record<string, Record<string, string>> = {};
            for (const n of fs.existsSync(dir) ? fs.readdirSync(dir).filter(f => !f.startsWith(".")) : []) {
                out[n] = Object.fromEntries(fs.readFileSync(path.join(dir, n), "utf8").split("\n").filter(Boolean)
                    .map(l => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
            }
            return out;
        }

        function setContainer(name: string, fields: Record<string, string> | undefined): void {
            const p = path.join(state, "containers", name);
            if (fields === undefined) {
                fs.rmSync(p, { force: true });
            } else {
                fs.writeFileSync(p, Object.entries(fields).map(([k, v]) => `${k}=${v}\n`).join(""));
            }
        }

        /** Steers the double: images whose pull fails (with docker's error), images whose nginx dies at start. */
        function control(file: "unpullable" | "dies", lines: string[]): void {
            fs.writeFileSync(path.join(state, file), lines.map(l => l + "\n").join(""));
        }

        const liveConf = () => fs.readFileSync(path.join(confDir, "nginx.conf"), "utf8");
        const leftovers = () => fs.readdirSync(confDir).filter(f => f !== "nginx.conf");

        before(async function () {
            requireTool(this, sshHostUnavailable() ?? nginxUnavailable());
            host = await startSshHost();
            state = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-docker-double-"));
            confDir = path.join(state, "etc-rancher-ha-lb");
            installTestDouble(host, "docker", dockerDouble(state));
        });

        after(async () => {
            await host?.stop();
            if (state) {
                fs.rmSync(state, { recursive: true, force: true });
            }
        });

        const v1 = () => render(["192.0.2.11", "192.0.2.12", "192.0.2.13"]);
        const v2 = () => render(["192.0.2.11", "192.0.2.12", "192.0.2.13"], 4096);
        const v3 = () => render(["192.0.2.11", "192.0.2.12", "192.0.2.13"], 2048);
        const mount = () => `${confDir}:${CONTAINER_CONF_DIR}:ro`;

        it("installs: pulls the image, tests the config in it, then creates and starts the container", async () => {
            const r = await apply(v1());
            assert.equal(r.code, 0, r.stderr + r.stdout);
            assert.deepEqual(status(r.stdout), ["started"]);
            assert.equal(liveConf(), v1());
            const c = calls();
            assert.deepEqual(c.slice(0, 2), ["image inspect nginx:1.27-alpine", "pull nginx:1.27-alpine"], c.join("\n"));
            assert.equal(c[2], `run --rm --entrypoint nginx -v ${mount()} nginx:1.27-alpine -t -q -c ${CONTAINER_CONF_DIR}/nginx.conf${CANDIDATE_SUFFIX}`);
            assert.equal(c[3], `create --name ${NAME} --restart=unless-stopped --label ${SPEC_LABEL}=${specOf("nginx:1.27-alpine")} ` +
                `-p 80:80 -p 443:443 -p 6443:6443 -v ${mount()} nginx:1.27-alpine nginx -c ${CONTAINER_CONF_DIR}/nginx.conf -g daemon off;`);
            assert.deepEqual(c.slice(4), [`start ${NAME}`]);
            assert.deepEqual(Object.keys(containers()), [NAME]);
            assert.deepEqual(containers()[NAME], {
                running: "true", restarting: "false", restarts: "0", exit: "0", label: specOf("nginx:1.27-alpine"),
                image: "nginx:1.27-alpine", ports: "80:80 443:443 6443:6443", log: "",
            });
        });

        it("re-run with the same spec and config: no docker call but inspect, nothing changes", async () => {
            const before = containers();
            const r = await apply(v1());
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["unchanged"]);
            assert.deepEqual(calls(), [], "no pull, no run, no create/start/stop, no reload");
            assert.deepEqual(containers(), before);
        });

        it("changed config: tested in the (present) image, swapped in, container reloaded with SIGHUP", async () => {
            const r = await apply(v2());
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["reloaded"]);
            assert.equal(liveConf(), v2());
            const c = calls();
            assert.equal(c.length, 3, c.join("\n"));
            assert.equal(c[0], "image inspect nginx:1.27-alpine", "present: not pulled again");
            assert.match(c[1], /^run --rm /);
            assert.equal(c[2], `kill -s HUP ${NAME}`);
            assert.equal(containers()[NAME].hups, "1");
            assert.equal(containers()[NAME].image, "nginx:1.27-alpine");
        });

        it("broken config: rejected by nginx -t, the container keeps the previous one", async () => {
            const before = containers();
            const broken = render(["192.0.2.11", "no-such-node.invalid"]);
            const r = await apply(broken);
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /host not found in upstream/);
            assert.match(r.stderr, /nginx -t \(in nginx:1\.27-alpine\) rejected the new config/);
            assert.equal(liveConf(), v2());
            assert.deepEqual(leftovers(), [], "the rejected candidate is removed");
            assert.ok(!calls().some(c => /^(kill|run -d|create|start|stop|rename|rm|pull)/.test(c)));
            assert.deepEqual(containers(), before);
        });

        it("unpullable image: fails with the pull's error, image and registry; the old container and config stay", async () => {
            const before = containers();
            const image = "registry.example.com/mirror/nginx:1.27.1-alpine";
            const why = `Get "https://registry.example.com/v2/": dial tcp: lookup registry.example.com on 127.0.0.53:53: no such host`;
            control("unpullable", [`${image}|${why}`, `nosuch/nginx:1.27|pull access denied for nosuch/nginx, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`]);
            // A new image and a new config at once: neither may reach the host.
            const r = await apply(v3(), image);
            assert.notEqual(r.code, 0);
            assert.deepEqual(status(r.stdout), []);
            assert.ok(r.stderr.includes(
                `rancher-ha: load balancer on root@127.0.0.1: docker pull ${image} from registry.example.com failed: Error response from daemon: ${why}; nothing was changed`),
                r.stderr);
            assert.doesNotMatch(r.stderr, /nginx -t/, "not reported as a config rejection");
            assert.deepEqual(calls(), [`image inspect ${image}`, `pull ${image}`]);
            assert.deepEqual(containers(), before, "the old container runs on with the old spec");
            assert.equal(containers()[NAME].running, "true");
            assert.equal(liveConf(), v2());
            assert.deepEqual(leftovers(), []);

            // Docker Hub: the registry is named as docker.io.
            const hub = await apply(v2(), "nosuch/nginx:1.27");
            assert.notEqual(hub.code, 0);
            assert.match(hub.stderr, /docker pull nosuch\/nginx:1\.27 from docker\.io failed: Error response from daemon: pull access denied for nosuch\/nginx/);
            assert.deepEqual(calls(), ["image inspect nosuch/nginx:1.27", "pull nosuch/nginx:1.27"]);
            assert.deepEqual(containers(), before);
            control("unpullable", []);
        });

        it("changed image: the new container starts before the old one is removed, then takes its name", async () => {
            const oldSpec = containers()[NAME].label;
            const r = await apply(v2(), "nginx:1.27.1-alpine");
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["recreated"]);
            const c = calls();
            assert.deepEqual(c, [
                "image inspect nginx:1.27.1-alpine",
                "pull nginx:1.27.1-alpine",
                `rename ${NAME} ${PREV}`,
                `create --name ${NAME} --restart=unless-stopped --label ${SPEC_LABEL}=${specOf("nginx:1.27.1-alpine")} ` +
                    `-p 80:80 -p 443:443 -p 6443:6443 -v ${mount()} nginx:1.27.1-alpine nginx -c ${CONTAINER_CONF_DIR}/nginx.conf -g daemon off;`,
                // The ports are free only once the old one stopped (the double refuses a second bind, as docker does).
                `stop -t 2 ${PREV}`,
                `start ${NAME}`,
                `rm -f ${PREV}`,
            ], "old one renamed, kept (stopped) until the new one ran, then removed");
            assert.notEqual(specOf("nginx:1.27.1-alpine"), oldSpec);
            assert.deepEqual(Object.keys(containers()), [NAME]);
            assert.equal(containers()[NAME].running, "true");
            assert.equal(containers()[NAME].image, "nginx:1.27.1-alpine");
            assert.equal(containers()[NAME].label, specOf("nginx:1.27.1-alpine"));
            assert.equal(liveConf(), v2());
            assert.deepEqual(leftovers(), []);
        });

        it("a new container that dies right after starting: rolled back, the old one runs again with its config", async () => {
            const before = containers();
            control("dies", ["nginx:1.27.2-alpine"]);
            // New image and new config: the rollback must bring back both.
            const r = await apply(v3(), "nginx:1.27.2-alpine");
            assert.notEqual(r.code, 0);
            assert.deepEqual(status(r.stdout), []);
            assert.match(r.stderr, /nginx: \[emerg\] docker-test-double: this image exits right after it starts/, "the container's log");
            assert.match(r.stderr, new RegExp(`the new nginx container \\(nginx:1\\.27\\.2-alpine\\) failed: it exited right after starting \\(exit code 1; its log is above\\); ` +
                `it was removed and the previous container ${NAME} was started again`));
            const c = calls();
            assert.deepEqual(c.filter(x => !x.startsWith("logs")), [
                "image inspect nginx:1.27.2-alpine",
                "pull nginx:1.27.2-alpine",
                `run --rm --entrypoint nginx -v ${mount()} nginx:1.27.2-alpine -t -q -c ${CONTAINER_CONF_DIR}/nginx.conf${CANDIDATE_SUFFIX}`,
                `rename ${NAME} ${PREV}`,
                c.find(x => x.startsWith("create "))!,
                `stop -t 2 ${PREV}`,
                `start ${NAME}`,
                `rm -f ${NAME}`,
                `start ${PREV}`,
                `rename ${PREV} ${NAME}`,
            ], c.join("\n"));
            assert.deepEqual(Object.keys(containers()), [NAME]);
            assert.deepEqual(containers(), before, "the previous container, running, with the previous spec");
            assert.equal(liveConf(), v2(), "and the previous config");
            assert.deepEqual(leftovers(), []);
            control("dies", []);
        });

        it("a new container that cannot bind its ports: rollback; if the old one cannot either, says the LB is down", async () => {
            const before = containers();
            // Something else took 6443 while our LB ran (the double checks binds only at start, as docker does).
            setContainer("squatter", { running: "true", restarting: "false", restarts: "0", exit: "0", label: "", image: "busybox", ports: "6443:6443", log: "" });
            const r = await apply(v2(), "nginx:1.27.3-alpine");
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /docker could not start it: Error: failed to start containers: rancher-ha-lb/);
            assert.match(r.stderr, /Bind for 0\.0\.0\.0:6443 failed: port is already allocated/);
            assert.match(r.stderr, new RegExp(`the previous container ${PREV} did not start again either: .*the LB is down`));
            assert.deepEqual(Object.keys(containers()).sort(), [PREV, "squatter"], "no new container left; the old one kept under its -previous name");
            assert.equal(containers()[PREV].image, before[NAME].image);
            calls();

            // Once the port is free, the next run puts the previous container back first, then swaps properly.
            setContainer("squatter", undefined);
            const again = await apply(v2(), "nginx:1.27.3-alpine");
            assert.equal(again.code, 0, again.stderr);
            assert.deepEqual(status(again.stdout), ["recreated"]);
            assert.match(again.stderr, new RegExp(`put back the previous container ${NAME}, left behind by an interrupted run`));
            const c = calls();
            assert.deepEqual(c.slice(0, 2), [`rename ${PREV} ${NAME}`, `start ${NAME}`], c.join("\n"));
            assert.deepEqual(Object.keys(containers()), [NAME]);
            assert.equal(containers()[NAME].running, "true");
            assert.equal(containers()[NAME].image, "nginx:1.27.3-alpine");
        });

        it("a swap cut off after the new container ran: the next run only removes the previous one", async () => {
            const current = containers()[NAME];
            setContainer(PREV, { ...current, running: "false", image: "nginx:1.27.1-alpine", label: specOf("nginx:1.27.1-alpine") });
            fs.writeFileSync(path.join(confDir, `nginx.conf${PREVIOUS_SUFFIX}`), v1());
            const r = await apply(v2(), "nginx:1.27.3-alpine");
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["unchanged"]);
            assert.deepEqual(calls(), [`rm -f ${PREV}`]);
            assert.deepEqual(containers(), { [NAME]: current });
            assert.equal(liveConf(), v2());
            assert.deepEqual(leftovers(), []);
        });

        it("a stopped container with the same spec is started again (no new container)", async () => {
            setContainer(NAME, { ...containers()[NAME], running: "false" });
            const s = await apply(v2(), "nginx:1.27.3-alpine");
            assert.equal(s.code, 0, s.stderr);
            assert.deepEqual(status(s.stdout), ["started"]);
            assert.deepEqual(calls(), [`start ${NAME}`]);
            assert.equal(containers()[NAME].running, "true");
        });

        it("a same-named container rancher-ha did not create is neither replaced nor deleted", async () => {
            const own = containers()[NAME];
            const foreign = { ...own, label: "" };
            setContainer(NAME, foreign);
            const r = await apply(v1());
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /a container named rancher-ha-lb exists that rancher-ha did not create/);
            const d = await host.run(lbDeleteScript(opts(v1())));
            assert.equal(d.code, 0, d.stderr);
            assert.match(d.stdout, /not created by rancher-ha; left in place/);
            assert.ok(!calls().some(c => /^(rm|rename|stop|create|pull)/.test(c)));
            assert.deepEqual(containers(), { [NAME]: foreign });
            setContainer(NAME, own);
        });

        it("delete: removes the container and the config directory, nothing else", async () => {
            const r = await host.run(lbDeleteScript(opts(v2())));
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["removed"]);
            assert.deepEqual(calls(), [`rm -f ${NAME}`]);
            assert.deepEqual(containers(), {});
            assert.ok(!fs.existsSync(confDir));
            assert.ok(fs.existsSync(state), "the parent directory stays");
            assert.ok(fs.readFileSync(path.join(state, "images"), "utf8").includes("nginx:1.27-alpine\n"), "the images are not removed");
        });
    });
});

/**
 * A `docker` stand-in (docker-test-double, not the real thing). Appends each call's arguments to $STATE/calls.
 * Its container table is $STATE/containers/<name>, one `key=value` line per field: running, restarting, restarts,
 * exit (code), label (the spec label; empty: none), image, ports ("80:80 443:443"), log, hups (SIGHUPs received).
 * Images: $STATE/images lists the ones present (`pull` adds to it; `run`/`create` pull a missing one, as docker
 * does); a line `<image>|<error>` in $STATE/unpullable makes its pull fail with docker's "Error response from
 * daemon: <error>"; an image listed in $STATE/dies gives containers whose nginx exits right after `start` (docker
 * then restarts it: running=false restarting=true restarts=1). `start` refuses, as docker does, host ports that
 * another running container publishes. `run --rm ... -t -c <file>` runs the real nginx -t on the mounted file (with
 * Debian's stream module standing in for the image's built-in one). `inspect -f` fills in the template fields it
 * knows and fails on any other. (Written with %{ for the shell's ${, so that no TypeScript escaping is needed.)
 */
function dockerDouble(stateDir: string): string {
    return String.raw`#!/bin/sh
# docker-test-double: not the real docker.
S='@STATE@'
C="$S/containers"
mkdir -p "$C"
echo "$*" >> "$S/calls"
get() { sed -n "s/^$2=//p" "$C/$1"; }
put() { { grep -v "^$2=" "$C/$1" || true; echo "$2=$3"; } > "$C/.$1.tmp"; mv "$C/.$1.tmp" "$C/$1"; }
exists() { [ -f "$C/$1" ]; }
no_such() { echo "Error response from daemon: No such container: $1" >&2; exit 1; }
has_image() { grep -qxF "$1" "$S/images" 2>/dev/null; }
pull() {
  err=$(awk -F'|' -v i="$1" '$1 == i { print $2; f = 1 } END { exit !f }' "$S/unpullable" 2>/dev/null) &&
    { echo "Error response from daemon: $err" >&2; return 1; }
  echo "%{1##*:}: Pulling from docker-test-double"
  echo "Status: Downloaded newer image for $1"
  echo "$1" >> "$S/images"
}
need_image() {
  has_image "$1" && return 0
  echo "Unable to find image '$1' locally" >&2
  pull "$1" >/dev/null 2>"$S/.pull-err" || { echo "docker: $(cat "$S/.pull-err")" >&2; exit 125; }
}
# A host port that container $1 publishes and another running container publishes too.
conflict() {
  for f in "$C"/*; do
    [ -f "$f" ] || continue
    o=%{f##*/}
    [ "$o" != "$1" ] && [ "$(get "$o" running)" = true ] || continue
    for p in $(get "$1" ports); do
      for q in $(get "$o" ports); do [ "%{p%%:*}" = "%{q%%:*}" ] && { echo "%{p%%:*}"; return 0; }; done
    done
  done
  return 1
}
start() {
  exists "$1" || no_such "$1"
  if [ "$(get "$1" running)" != true ]; then
    if p=$(conflict "$1"); then
      echo "Error response from daemon: driver failed programming external connectivity on endpoint $1 (0123456789ab): Bind for 0.0.0.0:$p failed: port is already allocated" >&2
      echo "Error: failed to start containers: $1" >&2
      exit 1
    fi
    if grep -qxF "$(get "$1" image)" "$S/dies" 2>/dev/null; then
      put "$1" running false; put "$1" restarting true; put "$1" restarts 1; put "$1" exit 1
      put "$1" log "nginx: [emerg] docker-test-double: this image exits right after it starts"
    else
      put "$1" running true; put "$1" restarting false; put "$1" exit 0
    fi
  fi
  echo "$1"
}
cmd=$1; shift
case "$cmd" in
  info) echo "docker-test-double"; exit 0 ;;
  image)
    [ "$1" = inspect ] || { echo "docker-test-double: unexpected image command $1" >&2; exit 2; }
    has_image "$2" || { echo "Error response from daemon: No such image: $2" >&2; exit 1; }
    echo '[{"docker-test-double": true}]' ;;
  pull) pull "$1" ;;
  inspect)
    [ "$1" = -f ] || { echo "docker-test-double: inspect without -f" >&2; exit 2; }
    fmt=$2; n=$3
    exists "$n" || { echo "Error: No such object: $n" >&2; exit 1; }
    label=$(get "$n" label); [ -n "$label" ] || label="<no value>"
    out=$(printf '%s\n' "$fmt" | sed -e "s/{{\.State\.Running}}/$(get "$n" running)/g" \
      -e "s/{{\.State\.Restarting}}/$(get "$n" restarting)/g" -e "s/{{\.RestartCount}}/$(get "$n" restarts)/g" \
      -e "s/{{\.State\.ExitCode}}/$(get "$n" exit)/g" -e "s/{{\.State\.Error}}//g" \
      -e "s/{{index \.Config\.Labels \"[^\"]*\"}}/$label/g")
    case "$out" in *"{{"*) echo "docker-test-double: unsupported inspect format $fmt" >&2; exit 2 ;; esac
    echo "$out" ;;
  run|create)
    rm=0; name=""; label=""; mount=""; ports=""
    while [ $# -gt 0 ]; do
      case "$1" in
        -d|--restart=*) ;;
        --rm) rm=1 ;;
        --name) name=$2; shift ;;
        --label) label=%{2#*=}; shift ;;
        -v) mount=$2; shift ;;
        -p) ports="%{ports:+$ports }$2"; shift ;;
        --entrypoint|--ulimit) shift ;;
        -*) echo "docker-test-double: unexpected flag $1" >&2; exit 2 ;;
        *) break ;;
      esac
      shift
    done
    image=$1; shift
    need_image "$image"
    if [ "$rm" = 1 ]; then
      hostdir=%{mount%%:*}
      cdir=$(echo "$mount" | cut -d: -f2)
      for last in "$@"; do :; done
      exec /usr/sbin/nginx -t -q -c "$hostdir/%{last#"$cdir"/}" -g "load_module @STREAM@;"
    fi
    if exists "$name"; then
      echo "docker: Error response from daemon: Conflict. The container name \"/$name\" is already in use by container \"0123456789ab\". You have to remove (or rename) that container to be able to reuse that name." >&2
      exit 125
    fi
    printf 'running=false\nrestarting=false\nrestarts=0\nexit=0\nlabel=%s\nimage=%s\nports=%s\nlog=\n' "$label" "$image" "$ports" > "$C/$name"
    [ "$cmd" = create ] || start "$name" >/dev/null
    echo "0123456789ab" ;;
  start) start "$1" ;;
  stop)
    [ "$1" = -t ] && shift 2
    exists "$1" || no_such "$1"
    put "$1" running false; put "$1" restarting false
    echo "$1" ;;
  kill)
    [ "$1" = -s ] || { echo "docker-test-double: kill without -s" >&2; exit 2; }
    exists "$3" || no_such "$3"
    [ "$(get "$3" running)" = true ] || { echo "Error response from daemon: cannot kill container: $3: container is not running" >&2; exit 1; }
    put "$3" hups $(( $(get "$3" hups || true) + 0 + 1 ))
    echo "$3" ;;
  rename)
    exists "$1" || no_such "$1"
    exists "$2" && { echo "Error response from daemon: Conflict. The container name \"/$2\" is already in use" >&2; exit 1; }
    mv "$C/$1" "$C/$2" ;;
  logs)
    [ "$1" = --tail ] && shift 2
    exists "$1" || no_such "$1"
    get "$1" log ;;
  rm)
    [ "$1" = -f ] && shift
    exists "$1" || no_such "$1"
    rm -f "$C/$1"
    echo "$1" ;;
  *) echo "docker-test-double: unexpected command $cmd" >&2; exit 2 ;;
esac
`.replace(/%\{/g, "${").replace("@STATE@", stateDir).replace("@STREAM@", STREAM_MODULE);
}
