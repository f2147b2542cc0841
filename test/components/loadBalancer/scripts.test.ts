// The LB's remote scripts, run over real SSH (Debian sshd on loopback) exactly as @pulumi/command runs them:
// the script is the session command and the config bundle is stdin.
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
    CANDIDATE_SUFFIX, CONTAINER_CONF_DIR, lbApplyScript, lbBundle, lbDeleteScript, LbScriptOptions, ORIGINAL_SUFFIX,
    SPEC_LABEL,
} from "../../../components/loadBalancer/scripts";
import { DISTRO_MODULE_INCLUDES, LbPorts, renderNginxConf } from "../../../components/loadBalancer/nginxConf";
import { sha256 } from "../../../components/shared/shell";
import { freePort, installTestDouble, SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";
import { nginxUnavailable, requireTool, STREAM_MODULE } from "../../helpers/tools";



/** Reads what a TCP server at host:port sends before closing; undefined when the connection is refused. */
function fetchId(port: number, host = "127.0.0.1"): Promise<string | undefined> {
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
    });

    describe("system mode over real SSH (non-root user with sudo, real nginx)", function () {
        this.timeout(120000);
        let host: SshHost;
        let dir: string;
        const masters = new Set<number>();
        let backend: net.Server;
        let backendPort: number;

        const conf = (d: string) => path.join(d, "nginx.conf");
        const pidFile = (d: string) => path.join(d, "nginx.pid");

        function render(d: string, ports: LbPorts, addresses = ["127.0.0.2"]): string {
            return renderNginxConf({
                backends: addresses.map(address => ({ address, controlplane: true })),
                listenAddress: "127.0.0.1",
                listenPorts: ports,
                backendPorts: { http: backendPort, https: backendPort, kubeApi: backendPort },
                pidPath: pidFile(d),
                errorLog: path.join(d, "error.log"),
                // As system mode renders it: the distro's module configs, here Debian's modules-enabled.
                moduleIncludes: DISTRO_MODULE_INCLUDES,
            });
        }

        function opts(d: string, text: string): LbScriptOptions {
            return { mode: "system", configHash: sha256(text), hostLabel: "rhlb@127.0.0.1", confPath: conf(d), pidPath: pidFile(d) };
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
            backendPort = await freePort("127.0.0.2");
            backend = net.createServer(s => s.end("b2\n"));
            await new Promise<void>(r => backend.listen(backendPort, "127.0.0.2", () => r()));
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
            assert.equal(await until("the LB to answer", () => fetchId(p1.http)), "b2\n");
            assert.equal(await fetchId(p1.kubeApi), "b2\n");
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
            assert.equal(await until("the new port to answer", () => fetchId(p2.http)), "b2\n");
            await until("the old port to close", async () => (await fetchId(p1.http)) === undefined);
        });

        it("broken config: rejected by nginx -t, the previous config stays live", async () => {
            // A node name that does not resolve: nginx -t fails with "host not found in upstream".
            const broken = render(dir, p1, ["127.0.0.2", "no-such-node.invalid"]);
            const r = await apply(dir, broken);
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /host not found in upstream "no-such-node\.invalid/);
            assert.match(r.stderr, /rancher-ha: load balancer on rhlb@127\.0\.0\.1: nginx -t rejected the new config/);
            assert.deepEqual(status(r.stdout), []);
            assert.equal(fs.readFileSync(conf(dir), "utf8"), conf2);
            assert.ok(!fs.existsSync(conf(dir) + CANDIDATE_SUFFIX), "the rejected candidate is removed");
            assert.equal(await fetchId(p2.http), "b2\n");
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
            await until("the LB port to close", async () => (await fetchId(p2.http)) === undefined);
            assert.equal(readPid(dir), pid, "nginx goes on with the distro config");
            const again = await host.run(lbDeleteScript(opts(dir, conf2)));
            assert.equal(again.code, 0, again.stderr);
            assert.match(again.stdout, /is not managed by rancher-ha; left in place/);
            assert.equal(fs.readFileSync(conf(dir), "utf8"), distro(dir));
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
                assert.equal(await until("the LB to answer", () => fetchId(p.http)), "b2\n");

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
                assert.equal(await fetchId(p.http), undefined);
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
                configDir: confDir, publishPorts: [LISTEN.http, LISTEN.https, LISTEN.kubeApi],
            };
        }

        /** docker calls recorded since the last call of this function. */
        let seen = 0;
        function calls(): string[] {
            const all = fs.existsSync(path.join(state, "calls")) ? fs.readFileSync(path.join(state, "calls"), "utf8").split("\n").filter(Boolean) : [];
            const fresh = all.slice(seen);
            seen = all.length;
            return fresh.filter(c => c !== "info");
        }

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

        it("installs: tests the config in the image, then runs the container as the seed does", async () => {
            const r = await host.run(lbApplyScript(opts(v1())), lbBundle(v1()));
            assert.equal(r.code, 0, r.stderr + r.stdout);
            assert.deepEqual(status(r.stdout), ["started"]);
            assert.equal(fs.readFileSync(path.join(confDir, "nginx.conf"), "utf8"), v1());
            const c = calls();
            const mount = `${confDir}:${CONTAINER_CONF_DIR}:ro`;
            assert.ok(c.includes(`inspect -f {{.State.Running}} {{index .Config.Labels "${SPEC_LABEL}"}} rancher-ha-lb`), c.join("\n"));
            const test = c.find(x => x.startsWith("run --rm"));
            assert.equal(test, `run --rm --entrypoint nginx -v ${mount} nginx:1.27-alpine -t -q -c ${CONTAINER_CONF_DIR}/nginx.conf${CANDIDATE_SUFFIX}`);
            const run = c.find(x => x.startsWith("run -d"))!;
            assert.match(run, new RegExp(`^run -d --name rancher-ha-lb --restart=unless-stopped --label ${SPEC_LABEL.replace(/\./g, "\\.")}=[0-9a-f]{16} ` +
                `-p 80:80 -p 443:443 -p 6443:6443 -v ${mount.replace(/[.]/g, "\\.")} nginx:1\\.27-alpine nginx -c ${CONTAINER_CONF_DIR}/nginx\\.conf -g daemon off;$`));
            assert.ok(c.indexOf(test!) < c.indexOf(run), "config tested before the container starts");
        });

        it("re-run with the same config: no docker run, no reload", async () => {
            const r = await host.run(lbApplyScript(opts(v1())), lbBundle(v1()));
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["unchanged"]);
            assert.deepEqual(calls().filter(c => !c.startsWith("inspect")), []);
        });

        it("changed config: tested, swapped in, container reloaded with SIGHUP", async () => {
            const r = await host.run(lbApplyScript(opts(v2())), lbBundle(v2()));
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["reloaded"]);
            assert.equal(fs.readFileSync(path.join(confDir, "nginx.conf"), "utf8"), v2());
            const c = calls().filter(x => !x.startsWith("inspect"));
            assert.equal(c.length, 2, c.join("\n"));
            assert.match(c[0], /^run --rm /);
            assert.equal(c[1], "kill -s HUP rancher-ha-lb");
        });

        it("broken config: rejected, the container keeps the previous one", async () => {
            const broken = render(["192.0.2.11", "no-such-node.invalid"]);
            const r = await host.run(lbApplyScript(opts(broken)), lbBundle(broken));
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /host not found in upstream/);
            assert.match(r.stderr, /nginx -t \(in nginx:1\.27-alpine\) rejected the new config/);
            assert.equal(fs.readFileSync(path.join(confDir, "nginx.conf"), "utf8"), v2());
            assert.ok(!fs.existsSync(path.join(confDir, `nginx.conf${CANDIDATE_SUFFIX}`)));
            assert.ok(!calls().some(c => c.startsWith("kill") || c.startsWith("run -d")));
        });

        it("changed image: the container is recreated; a stopped container is started", async () => {
            const r = await host.run(lbApplyScript(opts(v2(), "nginx:1.27.1-alpine")), lbBundle(v2()));
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["recreated"]);
            const c = calls().filter(x => !x.startsWith("inspect"));
            assert.equal(c[0], "rm -f rancher-ha-lb");
            assert.match(c[1], /^run -d .* nginx:1\.27\.1-alpine nginx -c /);

            fs.writeFileSync(path.join(state, "c.rancher-ha-lb"), fs.readFileSync(path.join(state, "c.rancher-ha-lb"), "utf8").replace(/^true/, "false"));
            const s = await host.run(lbApplyScript(opts(v2(), "nginx:1.27.1-alpine")), lbBundle(v2()));
            assert.equal(s.code, 0, s.stderr);
            assert.deepEqual(status(s.stdout), ["started"]);
            assert.deepEqual(calls().filter(x => !x.startsWith("inspect")), ["start rancher-ha-lb"]);
        });

        it("a same-named container rancher-ha did not create is neither replaced nor deleted", async () => {
            const own = fs.readFileSync(path.join(state, "c.rancher-ha-lb"), "utf8");
            fs.writeFileSync(path.join(state, "c.rancher-ha-lb"), "true <no value>\n");
            const r = await host.run(lbApplyScript(opts(v1())), lbBundle(v1()));
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /a container named rancher-ha-lb exists that rancher-ha did not create/);
            const d = await host.run(lbDeleteScript(opts(v1())));
            assert.equal(d.code, 0, d.stderr);
            assert.match(d.stdout, /not created by rancher-ha; left in place/);
            assert.ok(!calls().some(c => c.startsWith("rm")));
            fs.writeFileSync(path.join(state, "c.rancher-ha-lb"), own);
        });

        it("delete: removes the container and the config directory, nothing else", async () => {
            const r = await host.run(lbDeleteScript(opts(v2())));
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["removed"]);
            assert.deepEqual(calls().filter(x => !x.startsWith("inspect")), ["rm -f rancher-ha-lb"]);
            assert.ok(!fs.existsSync(confDir));
            assert.ok(fs.existsSync(state), "the parent directory stays");
            assert.ok(!calls().some(c => c.startsWith("rmi")), "the image is not removed");
        });
    });
});

/**
 * A `docker` stand-in: appends each call's arguments to $STATE/calls and keeps the container's
 * "<running> <spec label>" in $STATE/c.<name>. `docker run --rm ... -t -c <file>` runs the real nginx -t on the
 * mounted file (with Debian's stream module standing in for the image's built-in one).
 */
function dockerDouble(stateDir: string): string {
    return `#!/bin/sh
# docker-test-double: not the real docker.
S=${stateDir}
echo "$*" >> "$S/calls"
cmd=$1; shift
case "$cmd" in
  info) echo "docker-test-double"; exit 0 ;;
  inspect)
    name=$3
    if [ -f "$S/c.$name" ]; then cat "$S/c.$name"; else echo "Error: No such object: $name" >&2; exit 1; fi ;;
  run)
    rm=0; name=""; label=""; mount=""
    while [ $# -gt 0 ]; do
      case "$1" in
        -d|--restart=*) ;;
        --rm) rm=1 ;;
        --name) name=$2; shift ;;
        --label) label=\${2#*=}; shift ;;
        -v) mount=$2; shift ;;
        -p|--entrypoint) shift ;;
        -*) echo "docker-test-double: unexpected flag $1" >&2; exit 2 ;;
        *) break ;;
      esac
      shift
    done
    shift # image
    if [ "$rm" = 1 ]; then
      hostdir=\${mount%%:*}
      cdir=$(echo "$mount" | cut -d: -f2)
      for last in "$@"; do :; done
      exec /usr/sbin/nginx -t -q -c "$hostdir/\${last#"$cdir"/}" -g "load_module ${STREAM_MODULE};"
    fi
    echo "true $label" > "$S/c.$name"
    echo "0123456789ab" ;;
  kill|start)
    name=$(eval echo \\$$#)
    [ -f "$S/c.$name" ] || { echo "Error: No such container: $name" >&2; exit 1; }
    [ "$cmd" = start ] && sed -i 's/^false/true/' "$S/c.$name"
    echo "$name" ;;
  rm)
    name=$2
    rm -f "$S/c.$name"
    echo "$name" ;;
  *) echo "docker-test-double: unexpected command $cmd" >&2; exit 2 ;;
esac
`;
}
