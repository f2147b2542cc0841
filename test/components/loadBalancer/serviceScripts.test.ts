// LB host services (the health checker, keepalived): rendering, and the scripts run for real over SSH on test
// hosts in network namespaces. Without systemd (the test hosts have none) the daemon is detached with a pid file;
// the systemd path runs against a systemctl test double that starts the unit's ExecStart as systemd would.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
    LbServiceOptions, lbServiceApplyScript, lbServiceDeleteScript, LbServiceSpec, lbServiceSpec, lbServiceUnit, SERVICE_MARKER,
} from "../../../components/loadBalancer/serviceScripts";
import { installTestDouble, SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";
import { requireTool } from "../../helpers/tools";

/** A daemon that counts its HUPs and says when TERM ends it, in files next to its directory. */
const DAEMON = (tag: string) => `#!/bin/sh
out=/var/lib/rancher-ha/svc-test
mkdir -p "$out"
echo "${tag} $$" >> "$out/starts"
trap 'echo "$$" >> "$out/hups"' HUP
trap 'echo "$$" >> "$out/terms"; exit 0' TERM
while :; do sleep 0.2; done
`;

function spec(tag: string, onChange: "restart" | "hup" = "restart", over: Partial<LbServiceOptions> = {}): LbServiceSpec {
    return lbServiceSpec({
        name: "rancher-ha-svc-test", description: "rancher-ha service test", hostLabel: "test@host:22",
        exec: ["/bin/sh", "{dir}/daemon.sh"], onChange, confirmSeconds: 1, ...over,
    }, [{ name: "daemon.sh", mode: "755", content: DAEMON(tag) }]);
}

const status = (stdout: string) => stdout.split("\n").filter(l => l.startsWith("rancher-ha-lb-service ")).map(l => l.split(": ")[1]);

describe("loadBalancer/serviceScripts", () => {
    it("renders POSIX sh with only the hash of the files in the command", () => {
        const s = spec("a");
        for (const text of [lbServiceApplyScript(s.options), lbServiceDeleteScript(s.options)]) {
            const r = spawnSync("dash", ["-n"], { input: text, encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            assert.ok(!text.includes("trap 'echo"), "the daemon's text travels on stdin, not in the command");
        }
        assert.ok(lbServiceApplyScript(s.options).includes(s.options.bundleHash));
        assert.notEqual(spec("b").options.bundleHash, s.options.bundleHash, "the hash follows the files");
    });

    it("renders a unit that restarts the daemon, reloads with HUP where asked, and is marked ours", () => {
        const unit = lbServiceUnit({ ...spec("a", "hup").options });
        assert.ok(unit.startsWith(`${SERVICE_MARKER}\n[Unit]\n`));
        assert.match(unit, /^ExecStart=\/bin\/sh \/etc\/rancher-ha\/lb\/rancher-ha-svc-test\/daemon\.sh$/m);
        assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
        assert.match(unit, /^Restart=always$/m);
        assert.match(unit, /^WantedBy=multi-user.target$/m);
        assert.doesNotMatch(lbServiceUnit(spec("a", "restart").options), /ExecReload/);
    });

    it("rejects names, directories and hashes it cannot render safely", () => {
        const o = spec("a").options;
        assert.throws(() => lbServiceApplyScript({ ...o, name: "sshd" }), /rancher-ha-/);
        assert.throws(() => lbServiceApplyScript({ ...o, dir: "/etc/../root" }), /absolute path/);
        assert.throws(() => lbServiceApplyScript({ ...o, bundleHash: "x" }), /sha256/);
        assert.throws(() => lbServiceApplyScript({ ...o, exec: [] }), /exec is empty/);
    });

    describe("over real SSH (non-root user with sudo)", function () {
        this.timeout(120000);
        let host: SshHost;
        const out = (f: string) => {
            const p = path.join(host.privateDir("/var/lib/rancher-ha"), "svc-test", f);
            return fs.existsSync(p) ? fs.readFileSync(p, "utf8").split("\n").filter(Boolean) : [];
        };
        const apply = async (s: LbServiceSpec) => {
            const r = await host.run(lbServiceApplyScript(s.options), s.bundle);
            assert.equal(r.code, 0, r.stderr + r.stdout);
            return status(r.stdout);
        };
        const pidOf = () => Number(fs.readFileSync(path.join(host.privateDir("/run/rancher-ha"), "rancher-ha-svc-test.pid"), "utf8").trim());
        // A process that ended but whose parent (outside the test host) has not reaped it yet counts as gone.
        const alive = (pid: number) => {
            try {
                return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
            } catch {
                return false;
            }
        };

        before(async function () {
            requireTool(this, sshHostUnavailable());
            host = await startSshHost({
                user: "rhsvc", sudo: true,
                privateDirs: ["/etc/rancher-ha", "/var/lib/rancher-ha", "/var/log/rancher-ha", "/run/rancher-ha"],
            });
        });
        after(async () => {
            if (host) {
                await host.run(lbServiceDeleteScript(spec("a").options));
                await host.stop();
            }
        });

        it("starts the daemon detached: it outlives the SSH session", async () => {
            assert.deepEqual(await apply(spec("a")), ["started"]);
            const pid = pidOf();
            await new Promise(r => setTimeout(r, 500));
            assert.ok(alive(pid), "still running after the session ended");
            assert.deepEqual(out("starts"), [`a ${pid}`]);
            const stat = fs.statSync(path.join(host.privateDir("/etc/rancher-ha"), "lb", "rancher-ha-svc-test", "daemon.sh"));
            assert.equal(stat.uid, 0, "its files are root's");
        });

        it("the same files again: unchanged, the same process", async () => {
            const pid = pidOf();
            assert.deepEqual(await apply(spec("a")), ["unchanged"]);
            assert.equal(pidOf(), pid);
            assert.equal(out("starts").length, 1);
        });

        it("changed files: a restarting daemon is stopped with TERM and started again", async () => {
            const old = pidOf();
            assert.deepEqual(await apply(spec("b")), ["restarted"]);
            assert.notEqual(pidOf(), old);
            assert.ok(!alive(old));
            assert.deepEqual(out("terms"), [String(old)]);
            assert.equal(out("starts").at(-1), `b ${pidOf()}`);
        });

        it("changed files: a daemon that reloads on HUP keeps running and gets HUP", async () => {
            const pid = pidOf();
            assert.deepEqual(await apply(spec("c", "hup")), ["reloaded"]);
            assert.equal(pidOf(), pid);
            const t0 = Date.now();
            while (out("hups").length === 0 && Date.now() - t0 < 5000) {
                await new Promise(r => setTimeout(r, 100));
            }
            assert.deepEqual(out("hups"), [String(pid)]);
        });

        it("two runs at once: the lock serialises them; one changes, the other finds it done", async () => {
            const s = spec("d");
            const both = await Promise.all([host.run(lbServiceApplyScript(s.options), s.bundle), host.run(lbServiceApplyScript(s.options), s.bundle)]);
            both.forEach(r => assert.equal(r.code, 0, r.stderr));
            assert.deepEqual(both.flatMap(r => status(r.stdout)).sort(), ["restarted", "unchanged"]);
        });

        it("a daemon that dies at once fails the run, with its log", async () => {
            const bad = lbServiceSpec({ ...spec("x").options, name: "rancher-ha-svc-bad", confirmSeconds: 1 },
                [{ name: "daemon.sh", mode: "755", content: "#!/bin/sh\necho 'cannot start: no config' >&2\nexit 3\n" }]);
            const r = await host.run(lbServiceApplyScript(bad.options), bad.bundle);
            assert.equal(r.code, 1);
            assert.match(r.stderr, /cannot start: no config/);
            assert.match(r.stderr, /rancher-ha-svc-bad stopped within 1 s of starting/);
            await host.run(lbServiceDeleteScript(bad.options));
        });

        it("a host another stack serves: apply refused unless taken over, delete leaves the daemon running", async () => {
            const ownerFile = path.join(host.privateDir("/etc/rancher-ha"), "lb-owner");
            fs.writeFileSync(ownerFile, "rancher-ha/old\n");
            try {
                const pid = pidOf();
                const s = spec("a");
                const asNew = (takeOverFrom: string[] = []) => ({ ...s.options, owner: { owner: "rancher-ha/new", takeOverFrom } });
                const refused = await host.run(lbServiceApplyScript(asNew()), s.bundle);
                assert.equal(refused.code, 1);
                assert.match(refused.stderr, /rancher-ha-svc-test on test@host:22: this LB host serves the stack rancher-ha\/old/);
                const left = await host.run(lbServiceDeleteScript(asNew()));
                assert.equal(left.code, 0, left.stderr);
                assert.deepEqual(status(left.stdout), ["left alone"]);
                assert.equal(pidOf(), pid);
                assert.ok(alive(pid), "still running: the host is the other stack's");
                const taken = await host.run(lbServiceApplyScript(asNew(["rancher-ha/old"])), s.bundle);
                assert.equal(taken.code, 0, taken.stderr);
                assert.match(taken.stderr, /taking this LB host over from the stack rancher-ha\/old/);
            } finally {
                fs.rmSync(ownerFile, { force: true });
            }
        });

        it("delete stops it and removes its files", async () => {
            const pid = pidOf();
            const r = await host.run(lbServiceDeleteScript(spec("a").options));
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["removed"]);
            assert.ok(!alive(pid));
            assert.ok(!fs.existsSync(path.join(host.privateDir("/etc/rancher-ha"), "lb", "rancher-ha-svc-test")));
            const again = await host.run(lbServiceDeleteScript(spec("a").options));
            assert.deepEqual(status(again.stdout), ["removed"], "deleting twice is fine");
        });
    });

    describe("with systemd (systemctl test double over real SSH)", function () {
        this.timeout(120000);
        let host: SshHost;
        const calls = () => fs.readFileSync(path.join(host.privateDir("/run/systemd"), "calls"), "utf8").split("\n").filter(Boolean);
        const unitPath = () => path.join(host.privateDir("/etc/systemd/system"), "rancher-ha-svc-test.service");

        before(async function () {
            requireTool(this, sshHostUnavailable());
            host = await startSshHost({
                privateDirs: ["/etc/rancher-ha", "/var/lib/rancher-ha", "/var/log/rancher-ha", "/run/rancher-ha", "/run/systemd", "/etc/systemd/system"],
            });
            fs.mkdirSync(path.join(host.privateDir("/run/systemd"), "system"));
            // systemctl-test-double: runs the unit's ExecStart detached, as systemd would, and records each call.
            installTestDouble(host, "systemctl", `#!/bin/sh
exec 9>&-
echo "$*" >> /run/systemd/calls
[ "$1" = --quiet ] && shift
unit=/etc/systemd/system/$2.service; pidf=/run/systemd/$2.pid
active() { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }
start() { cmd=$(sed -n 's/^ExecStart=//p' "$unit"); setsid sh -c "exec $cmd" </dev/null >/dev/null 2>&1 & echo $! > "$pidf"; }
stop() { if active; then kill -TERM "$(cat "$pidf")"; sleep 0.5; fi; rm -f "$pidf"; }
case "$1" in
  is-active) if [ "$2" = --quiet ]; then unit=/etc/systemd/system/$3.service; pidf=/run/systemd/$3.pid; fi; active ;;
  start) start ;;
  restart) stop; start ;;
  reload) kill -HUP "$(cat "$pidf")" ;;
  stop) stop ;;
  enable|daemon-reload) : ;;
  disable) [ "$2" = --now ] && { pidf=/run/systemd/$3.pid; stop; } ;;
  *) echo "systemctl-test-double: unsupported: $*" >&2; exit 2 ;;
esac
`);
        });
        after(async () => {
            if (host) {
                await host.stop();
            }
        });

        it("writes our unit, reloads systemd, enables and starts it; then changes follow the unit's way", async () => {
            const s = spec("a", "hup");
            let r = await host.run(lbServiceApplyScript(s.options), s.bundle);
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["started"]);
            assert.equal(fs.readFileSync(unitPath(), "utf8"), lbServiceUnit(s.options));
            assert.deepEqual(calls().filter(c => !c.startsWith("is-active")),
                ["daemon-reload", "enable --quiet rancher-ha-svc-test", "start rancher-ha-svc-test"]);

            r = await host.run(lbServiceApplyScript(s.options), s.bundle);
            assert.deepEqual(status(r.stdout), ["unchanged"]);

            const changed = spec("b", "hup");
            r = await host.run(lbServiceApplyScript(changed.options), changed.bundle);
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(status(r.stdout), ["reloaded"], "same unit, new files: systemctl reload (HUP)");
            assert.equal(calls().filter(c => c === "reload rancher-ha-svc-test").length, 1);

            const restart = spec("b", "restart");
            r = await host.run(lbServiceApplyScript(restart.options), restart.bundle);
            assert.deepEqual(status(r.stdout), ["restarted"], "a changed unit restarts it");
            assert.ok(calls().includes("restart rancher-ha-svc-test"));

            r = await host.run(lbServiceDeleteScript(restart.options));
            assert.equal(r.code, 0, r.stderr);
            assert.ok(calls().includes("disable --now rancher-ha-svc-test"));
            assert.ok(!fs.existsSync(unitPath()));
        });
    });
});
