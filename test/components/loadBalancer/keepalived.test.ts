// keepalived.conf, the nginx check and the interface helper of the LB pair, rendered; checked by the real keepalived
// (--config-test), shellcheck, and the check run against a real listener. The VIP moving between real hosts is
// keepalived.netns.test.ts.
import { strict as assert } from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import {
    KEEPALIVED_DEFAULTS, KEEPALIVED_INTERFACE_TOKEN, KeepalivedOptions, keepalivedCheckScript, keepalivedConf, keepalivedInterfaceSh,
    keepalivedOptionsForHosts, lbPriorities,
} from "../../../components/loadBalancer/keepalived";
import { requireTool, toolMissing } from "../../helpers/tools";

const PAIR = keepalivedOptionsForHosts(["10.0.0.11", "10.0.0.12"], { virtualIp: "10.0.0.250", virtualRouterId: 51, checkPorts: [6443, 80, 443] });
const base: KeepalivedOptions = PAIR[0];

/** The directive lines of a keepalived.conf, comments and indentation gone. */
const directives = (conf: string) => conf.split("\n").map(l => l.trim()).filter(l => l !== "" && !l.startsWith("#"));

function tmpDir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-keepalived-unit-"));
}

describe("loadBalancer/keepalived: keepalived.conf, check script, interface helper", () => {
    it("renders a pair: both BACKUP, the first higher, unicast to each other, the VIP as /32, the nginx check tracked", () => {
        const [first, second] = PAIR.map(keepalivedConf);
        const d1 = directives(first);
        for (const line of ["state BACKUP", "priority 200", "virtual_router_id 51", "vrrp_version 3", "advert_int 0.5",
            "unicast_src_ip 10.0.0.11", "unicast_peer {", "10.0.0.12", "track_src_ip", "vrrp_check_unicast_src",
            `interface ${KEEPALIVED_INTERFACE_TOKEN}`, `10.0.0.250/32 dev ${KEEPALIVED_INTERFACE_TOKEN}`,
            "script_user root", "enable_script_security", 'script "/etc/rancher-ha/lb/check-nginx.sh"',
            "interval 1", "timeout 1", "fall 2", "rise 3", "track_script {", "rancher_ha_nginx",
            "vrrp_garp_master_delay 1", "vrrp_garp_master_repeat 5", "vrrp_garp_lower_prio_repeat 5"]) {
            assert.ok(d1.includes(line), `first host: ${line}\n${first}`);
        }
        const d2 = directives(second);
        assert.ok(d2.includes("priority 190") && d2.includes("unicast_src_ip 10.0.0.12") && d2.includes("10.0.0.11") && d2.includes("state BACKUP"));
        const peers = (d: string[]) => d.slice(d.indexOf("unicast_peer {") + 1, d.indexOf("}", d.indexOf("unicast_peer {")));
        assert.deepEqual(peers(d1), ["10.0.0.12"]);
        assert.deepEqual(peers(d2), ["10.0.0.11"], "each host's peer is the other, never itself");
        // Preempt (the default): no nopreempt anywhere; no weight on the check (a failure means FAULT); no multicast.
        for (const conf of [first, second]) {
            assert.doesNotMatch(conf, /^\s*(nopreempt|preempt_delay|weight|mcast_|state MASTER)/m);
        }
        assert.equal(first.split("\n")[0], "# Managed by rancher-ha (Pulumi): keepalived (VRRP) holding the load balancer's virtual IP 10.0.0.250.");
        assert.equal(keepalivedConf(base), first, "the same settings, the same bytes");
    });

    it("takes an interface, a script path and an advert interval; lbPriorities puts the first host highest", () => {
        const conf = directives(keepalivedConf({ ...base, interface: "ens192", checkScriptPath: "/opt/lb/check.sh", advertIntervalSeconds: 0.25 }));
        assert.ok(conf.includes("interface ens192") && conf.includes("10.0.0.250/32 dev ens192") && conf.includes('script "/opt/lb/check.sh"'));
        assert.ok(conf.includes("advert_int 0.25"));
        assert.ok(!conf.join("\n").includes(KEEPALIVED_INTERFACE_TOKEN));
        assert.ok(directives(keepalivedConf({ ...base, advertIntervalSeconds: 2 })).includes("advert_int 2"));
        assert.deepEqual(lbPriorities(2), [200, 190]);
        assert.deepEqual(lbPriorities(3), [200, 190, 180]);
        assert.equal(KEEPALIVED_DEFAULTS.advertIntervalSeconds < 1, true, "sub-second adverts: a dead master is replaced in under 2 s");
        const three = keepalivedOptionsForHosts(["10.0.0.11", "10.0.0.12", "10.0.0.13"], { virtualIp: "10.0.0.250", virtualRouterId: 7, checkPorts: [80] });
        assert.deepEqual(three.map(o => [o.selfAddress, o.peerAddresses.join(","), o.priority]),
            [["10.0.0.11", "10.0.0.12,10.0.0.13", 200], ["10.0.0.12", "10.0.0.11,10.0.0.13", 190], ["10.0.0.13", "10.0.0.11,10.0.0.12", 180]]);
    });

    it("refuses what it cannot render safely, with a message that says what to give", () => {
        const bad: [Partial<KeepalivedOptions>, RegExp][] = [
            [{ virtualIp: "fd00::250" }, /virtualIp "fd00::250" is not an IPv4 address/],
            [{ virtualIp: "lb.example.com" }, /virtualIp "lb.example.com" is not an IPv4 address/],
            [{ virtualIp: "10.0.0.256" }, /not an IPv4 address/],
            [{ selfAddress: "127.0.0.1" }, /selfAddress 127.0.0.1 is not a unicast host address/],
            [{ peerAddresses: ["224.0.0.18"] }, /peer address 224.0.0.18 is not a unicast host address/],
            [{ peerAddresses: [] }, /peerAddresses is empty/],
            [{ peerAddresses: ["10.0.0.11"] }, /10.0.0.11 is given twice; virtualIp, selfAddress and peerAddresses must all be distinct/],
            [{ peerAddresses: ["10.0.0.12", "10.0.0.12"] }, /10.0.0.12 is given twice/],
            [{ virtualIp: "10.0.0.11" }, /10.0.0.11 is given twice/],
            [{ virtualRouterId: 0 }, /virtualRouterId must be a whole number from 1 to 255, got 0/],
            [{ virtualRouterId: 256 }, /virtualRouterId must be a whole number from 1 to 255, got 256/],
            [{ priority: 255 }, /priority must be a whole number from 1 to 254, got 255/],
            [{ priority: 0 }, /priority must be a whole number from 1 to 254/],
            [{ priority: 1.5 }, /priority must be a whole number/],
            [{ interface: "eth0 dev lo" }, /interface "eth0 dev lo" is not an interface name/],
            [{ interface: "averyveryverylongname" }, /is not an interface name/],
            [{ checkPorts: [] }, /checkPorts is empty/],
            [{ checkPorts: [80, 70000] }, /check port must be a whole number from 1 to 65535, got 70000/],
            [{ checkScriptPath: "check.sh" }, /checkScriptPath "check.sh" must be an absolute plain path/],
            [{ checkScriptPath: "/etc/lb/check.sh; reboot" }, /must be an absolute plain path/],
            [{ checkScriptPath: "/etc/../tmp/check.sh" }, /must be an absolute plain path/],
            [{ advertIntervalSeconds: 0 }, /advertIntervalSeconds must be from 0.01 to 40.95 in steps of 0.01 \(VRRPv3\), got 0/],
            [{ advertIntervalSeconds: 0.005 }, /advertIntervalSeconds must be from 0.01/],
            [{ advertIntervalSeconds: 0.255 }, /advertIntervalSeconds must be from 0.01/],
            [{ advertIntervalSeconds: 41 }, /advertIntervalSeconds must be from 0.01/],
        ];
        for (const [change, message] of bad) {
            assert.throws(() => keepalivedConf({ ...base, ...change }), message, JSON.stringify(change));
        }
        assert.throws(() => keepalivedCheckScript({ checkPorts: [0] }), /check port must be a whole number from 1 to 65535, got 0/);
        assert.throws(() => lbPriorities(0), /from 1 to 10/);
        assert.throws(() => lbPriorities(11), /from 1 to 10/);
        assert.throws(() => keepalivedOptionsForHosts(["10.0.0.11"], { virtualIp: "10.0.0.250", virtualRouterId: 1, checkPorts: [80] }),
            /at least two load balancer hosts, got 1/);
    });

    it("the check script: POSIX sh, every port (sorted, once) checked with nc on 127.0.0.1 at once", () => {
        const s = keepalivedCheckScript({ checkPorts: [6443, 80, 443, 80] });
        assert.ok(s.startsWith("#!/bin/sh\n"), "keepalived execs it: it needs its interpreter line");
        assert.match(s, /^PORTS='80 443 6443'$/m);
        assert.match(s, /nc -z -w1 127\.0\.0\.1 "\$port" <\/dev\/null >\/dev\/null 2>&1 &/);
        const code = s.split("\n").filter(l => !l.trimStart().startsWith("#")).join("\n");
        assert.doesNotMatch(code, /\/dev\/tcp|\[\[|bash|curl/, "no bash-isms, nc only");
        assert.equal(keepalivedCheckScript({ checkPorts: [443, 80, 6443] }), s, "the same ports, the same bytes");
    });

    it("shellcheck -s sh: the check script and the interface helper", function () {
        requireTool(this, toolMissing("shellcheck", ["--version"]));
        const scripts = {
            "check-nginx.sh": keepalivedCheckScript({ checkPorts: [80, 443, 6443] }),
            "interface.sh": `set -eu\n${keepalivedInterfaceSh}\nlb_interface 10.0.0.11\nlb_fill_interface /etc/keepalived/keepalived.conf 10.0.0.11\n`,
        };
        for (const [name, text] of Object.entries(scripts)) {
            const r = spawnSync("shellcheck", ["-s", "sh", "-"], { input: text, encoding: "utf8" });
            assert.equal(r.status, 0, `${name}:\n${r.stdout}${r.stderr}`);
        }
    });

    it("the check script passes when nginx's ports accept on 127.0.0.1 and fails, naming the port, when one does not", async function () {
        requireTool(this, toolMissing("nc", ["-h"]));
        const servers = await Promise.all([0, 1].map(() => new Promise<net.Server>(resolve => {
            const srv = net.createServer(c => c.destroy());
            srv.listen(0, "127.0.0.1", () => resolve(srv));
        })));
        const closed = await new Promise<number>(resolve => {
            const srv = net.createServer();
            srv.listen(0, "127.0.0.1", () => {
                const p = (srv.address() as net.AddressInfo).port;
                srv.close(() => resolve(p));
            });
        });
        try {
            const ports = servers.map(srv => (srv.address() as net.AddressInfo).port);
            const run = (checkPorts: number[]) => new Promise<{ code: number | null; stderr: string; ms: number }>(resolve => {
                const t0 = Date.now();
                const child = spawn("sh", ["-c", keepalivedCheckScript({ checkPorts })], { stdio: ["ignore", "ignore", "pipe"] });
                let stderr = "";
                child.stderr!.on("data", (d: Buffer) => { stderr += d; });
                const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
                child.on("close", code => { clearTimeout(timer); resolve({ code, stderr, ms: Date.now() - t0 }); });
            });
            const ok = await run(ports);
            assert.equal(ok.code, 0, ok.stderr);
            const bad = await run([...ports, closed]);
            assert.equal(bad.code, 1);
            assert.equal(bad.stderr.trim(), `rancher-ha check-nginx: nginx does not accept on 127.0.0.1:${closed}`);
        } finally {
            servers.forEach(srv => srv.close());
        }
    });

    it("the interface helper finds the interface that carries the address and fills the token in", function () {
        requireTool(this, toolMissing("awk", ["--version"]) ?? toolMissing("sed", ["--version"]));
        const dir = tmpDir();
        try {
            // `ip -o -4 addr show` as iproute2 prints it on a host with a NIC, a VLAN and an address that is a prefix of another.
            fs.writeFileSync(path.join(dir, "ip"), `#!/bin/sh
[ "$*" = "-o -4 addr show" ] || { echo "unexpected: ip $*" >&2; exit 2; }
cat <<'EOF'
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: ens192    inet 192.168.1.70/24 brd 192.168.1.255 scope global ens192\\       valid_lft forever preferred_lft forever
3: ens192.10@ens192    inet 192.168.10.7/24 brd 192.168.10.255 scope global ens192.10\\       valid_lft forever preferred_lft forever
4: eth1    inet 192.168.1.7/24 brd 192.168.1.255 scope global eth1\\       valid_lft forever preferred_lft forever
EOF
`, { mode: 0o755 });
            const conf = path.join(dir, "keepalived.conf");
            fs.writeFileSync(conf, keepalivedConf({ ...base, selfAddress: "192.168.1.7", peerAddresses: ["192.168.1.70"], virtualIp: "192.168.1.250" }));
            const sh = (cmd: string) => spawnSync("sh", ["-c", `set -eu\n${keepalivedInterfaceSh}\n${cmd}`],
                { encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
            assert.equal(sh("lb_interface 192.168.1.7").stdout, "eth1\n");
            assert.equal(sh("lb_interface 192.168.1.70").stdout, "ens192\n");
            assert.equal(sh("lb_interface 192.168.10.7").stdout, "ens192.10\n");
            const missing = sh("lb_interface 192.168.1.8");
            assert.equal(missing.status, 1);
            assert.match(missing.stderr, /^rancher-ha: no interface on \S+ carries 192\.168\.1\.8 \(ip -o -4 addr show\)/);
            const fill = sh(`lb_fill_interface ${conf} 192.168.1.7`);
            assert.equal(fill.status, 0, fill.stderr);
            const filled = directives(fs.readFileSync(conf, "utf8"));
            assert.ok(filled.includes("interface eth1") && filled.includes("192.168.1.250/32 dev eth1"), filled.join("\n"));
            assert.ok(!filled.join("\n").includes(KEEPALIVED_INTERFACE_TOKEN));
            assert.equal(sh(`lb_fill_interface ${conf} 192.168.1.8`).status, 1, "no interface: fails, the file is left alone");
            assert.ok(!fs.existsSync(`${conf}.tmp`));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    describe("the real keepalived reads it (keepalived --config-test)", () => {
        let dir: string;
        let iface: string | undefined;
        /** keepalived --config-test of `conf` with the check script in place; its exit code and messages. */
        const configTest = (conf: string) => {
            const file = path.join(dir, "keepalived.conf");
            fs.writeFileSync(file, conf);
            return spawnSync("keepalived", ["--config-test", "--use-file", file], { encoding: "utf8" });
        };
        const options = () => ({ ...base, interface: iface, checkScriptPath: path.join(dir, "check-nginx.sh") });

        before(function () {
            requireTool(this, toolMissing("keepalived", ["--version"]));
            // enable_script_security accepts only a script root owns, in directories only root may write to.
            requireTool(this, process.getuid?.() === 0 ? undefined : "keepalived --config-test of a root-run check script needs root (.ci/run runs as root)");
            // keepalived checks that the interface exists; any real one will do (not lo: VRRP refuses loopback).
            iface = fs.readdirSync("/sys/class/net").sort().find(i => i !== "lo" && /^[A-Za-z0-9_.-]{1,15}$/.test(i));
            requireTool(this, iface ? undefined : "no network interface other than lo for keepalived --config-test");
            dir = tmpDir();
            fs.writeFileSync(path.join(dir, "check-nginx.sh"), keepalivedCheckScript(base), { mode: 0o755 });
        });

        after(() => {
            if (dir) {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("accepts the rendered config without a warning", () => {
            for (const o of PAIR) {
                const r = configTest(keepalivedConf({ ...o, interface: iface, checkScriptPath: path.join(dir, "check-nginx.sh") }));
                assert.equal(r.status, 0, r.stderr);
                assert.equal(r.stderr, "", "no warning either");
            }
        });

        it("facts the design relies on: sub-second adverts need VRRPv3, the check interval is whole seconds, a missing or unsafe script is disabled", () => {
            const conf = keepalivedConf(options());
            const v2 = configTest(conf.replace("vrrp_version 3", "vrrp_version 2"));
            assert.match(v2.stderr, /VRRPv2 advertisement interval 0\.500000s must be an integer\. rounding/);
            const missingScript = configTest(conf.replace(path.join(dir, "check-nginx.sh"), path.join(dir, "absent.sh")));
            assert.match(missingScript.stderr, /Disabling track script rancher_ha_nginx since not found\/accessible/);
            assert.notEqual(missingScript.status, 0);
            const halfSecondCheck = configTest(conf.replace("interval 1\n", "interval 0.5\n"));
            assert.match(halfSecondCheck.stderr, /vrrp script interval '0\.5' must be between 1 and/);
            fs.chmodSync(dir, 0o777);
            try {
                // ... and keepalived would run without checking nginx: --config-test fails, so an installer that runs it first finds out.
                const unsafe = configTest(conf);
                assert.match(unsafe.stderr, /Disabling track script rancher_ha_nginx due to insecure/);
                assert.notEqual(unsafe.status, 0);
            } finally {
                fs.chmodSync(dir, 0o700);
            }
        });
    });
});
