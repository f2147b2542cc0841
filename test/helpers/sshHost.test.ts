import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import { installTestDouble, SshHost, sshHostUnavailable, startSshHost, testNetGateway } from "./sshHost";
import { requireTool } from "./tools";

const ipOut = (...args: string[]) => spawnSync("ip", args, { encoding: "utf8" }).stdout;

describe("test harness: SSH test host", function () {
    this.timeout(60000);
    let host: SshHost;
    before(async function () {
        requireTool(this, sshHostUnavailable());
        host = await startSshHost({ user: "rhtest", sudo: true });
    });
    after(async () => host && host.stop());

    it("runs a command string as the login user with stdin, over real sshd", async () => {
        const r = await host.run(`id -un; cat`, "from stdin\n");
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `${host.user}\nfrom stdin\n`);
        assert.match(host.user, /^rhtest-[0-9a-z]+$/, "a user of this run only");
    });

    it("puts test doubles first on PATH and passes exit codes", async () => {
        installTestDouble(host, "rke", "#!/bin/sh\necho rke-test-double \"$@\"\nexit 3\n");
        const r = await host.run("rke up --config x.yml");
        assert.equal(r.code, 3);
        assert.equal(r.stdout, "rke-test-double up --config x.yml\n");
    });

    it("removes its user, home, sudo rule, namespace and veth when stopped", async () => {
        const other = await startSshHost({ user: "rhgone", sudo: true });
        assert.equal(spawnSync("getent", ["passwd", other.user]).status, 0);
        assert.ok(ipOut("netns", "list").split("\n").some(l => l.split(" ")[0] === other.netns), "its namespace exists while it runs");
        assert.equal(spawnSync("ip", ["link", "show", other.veth]).status, 0, "its veth exists while it runs");
        await other.stop();
        assert.notEqual(spawnSync("getent", ["passwd", other.user]).status, 0, "the user is gone");
        assert.ok(!fs.existsSync(other.home), "its home is gone");
        assert.ok(!fs.existsSync(`/etc/sudoers.d/rancher-ha-test-${other.user}`));
        assert.ok(!ipOut("netns", "list").split("\n").some(l => l.split(" ")[0] === other.netns), "its namespace is gone");
        assert.notEqual(spawnSync("ip", ["link", "show", other.veth]).status, 0, "its veth is gone");
        assert.ok(!ipOut("-br", "link").includes(other.veth));
    });

    it("gives the non-root user passwordless sudo", async () => {
        const r = await host.run("sudo -n id -u");
        assert.equal(r.stdout.trim(), "0", r.stderr);
    });

    describe("network namespaces", () => {
        let second: SshHost;
        let gatewayServer: net.Server;
        let gatewayPort: number;
        before(async () => {
            second = await startSshHost({ extraAddresses: 1 });
            gatewayServer = net.createServer(s => s.end("from the gateway\n"));
            await new Promise<void>(r => gatewayServer.listen(0, testNetGateway(), () => r()));
            gatewayPort = (gatewayServer.address() as net.AddressInfo).port;
        });
        after(async () => {
            await new Promise<void>(r => (gatewayServer ? gatewayServer.close(() => r()) : r()));
            await second?.stop();
        });

        it("gives each host its own address and namespace, sshd on port 22", () => {
            assert.notEqual(host.address, second.address);
            assert.notEqual(host.netns, second.netns);
            assert.equal(second.address, second.addresses[0]);
            assert.equal(second.addresses.length, 2);
            assert.ok(!second.addresses.includes(host.address));
            assert.equal(host.port, 22);
            for (const a of [host.address, ...second.addresses, testNetGateway()]) {
                assert.match(a, /^10\.\d+\.\d+\.\d+$/);
                assert.equal(a.split(".").slice(0, 3).join("."), testNetGateway().split(".").slice(0, 3).join("."), "one /24");
            }
            assert.equal(fs.readFileSync(host.knownHostsPath, "utf8"), `${host.address} ${host.hostKey}\n`, "no brackets on port 22");
            assert.equal(fs.readFileSync(second.knownHostsPath, "utf8"), `${second.addresses.join(",")} ${second.hostKey}\n`);
        });

        it("each host reaches the other's sshd (every address of it) and the gateway", async () => {
            const keyscan = (from: SshHost, address: string) => from.run(`ssh-keyscan -T 5 -t ed25519 ${address} 2>/dev/null`);
            for (const a of second.addresses) {
                const r = await keyscan(host, a);
                assert.equal(r.stdout.trim(), `${a} ${second.hostKey}`, r.stderr);
            }
            const back = await keyscan(second, host.address);
            assert.equal(back.stdout.trim(), `${host.address} ${host.hostKey}`, back.stderr);
            for (const h of [host, second]) {
                const r = await h.run(`nc -w 5 ${testNetGateway()} ${gatewayPort} </dev/null`);
                assert.equal(r.stdout, "from the gateway\n", r.stderr);
            }
        });

        it("the sessions run in the host's namespace: its own interfaces and listeners only", async () => {
            const r = await second.run("ip -4 -o addr show dev eth0; ss -ltn");
            assert.equal(r.code, 0, r.stderr);
            for (const a of second.addresses) {
                assert.ok(r.stdout.includes(` ${a}/24 `), r.stdout);
            }
            assert.ok(!r.stdout.includes(host.address), r.stdout);
            assert.ok(!r.stdout.includes(`:${gatewayPort} `), "the gateway's listeners are not the host's");
        });
    });

    describe("private directories", () => {
        let a: SshHost;
        let b: SshHost;
        const name = `rancher-ha-test-${process.pid}`;
        before(async () => {
            a = await startSshHost({ privateDirs: ["/etc/rancher", "/var/lib/rancher"] });
            b = await startSshHost({ privateDirs: ["/etc/rancher"] });
        });
        after(async () => {
            await a?.stop();
            await b?.stop();
        });

        it("what a session writes under /etc/rancher lands in the host's own directory, not the machine's or another host's", async () => {
            const file = `/etc/rancher/${name}`;
            const w = await a.run(`ls -A /etc/rancher; echo written by a > ${file}; cat ${file}`);
            assert.equal(w.code, 0, w.stderr);
            assert.equal(w.stdout, "written by a\n", "the directory starts empty");
            assert.equal(a.privateDir(file), `${a.privateDir("/etc/rancher")}/${name}`);
            assert.equal(fs.readFileSync(a.privateDir(file), "utf8"), "written by a\n");
            assert.ok(!fs.existsSync(file), "not in the machine's /etc/rancher");
            assert.ok(!fs.existsSync(b.privateDir(file)), "not in the other host's");
            const seen = await b.run(`test -e ${file} && echo present || echo absent; ls -A /etc/rancher`);
            assert.equal(seen.stdout, "absent\n", seen.stderr);

            const deep = await a.run("mkdir -p /var/lib/rancher/rke2/server && echo s > /var/lib/rancher/rke2/server/token");
            assert.equal(deep.code, 0, deep.stderr);
            assert.equal(fs.readFileSync(a.privateDir("/var/lib/rancher/rke2/server/token"), "utf8"), "s\n");
            assert.ok(!fs.existsSync("/var/lib/rancher/rke2/server/token"));
        });

        it("privateDir() refuses a path outside the host's private directories", () => {
            assert.throws(() => a.privateDir("/etc/hosts"), /not under a private directory/);
            assert.throws(() => b.privateDir("/var/lib/rancher/x"), /not under a private directory/);
            assert.throws(() => host.privateDir("/etc/rancher"), /not under a private directory of this host \(none\)/);
            assert.throws(() => a.privateDir("/etc/rancher/../passwd"), /not under a private directory/);
        });

        it("refuses privateDirs that are not absolute, normalised paths", async () => {
            await assert.rejects(startSshHost({ privateDirs: ["etc/rancher"] }), /must be a normalised absolute path/);
            await assert.rejects(startSshHost({ privateDirs: ["/"] }), /must be a normalised absolute path/);
        });
    });
});

describe("test harness: SSH test hosts, once the last one stopped", () => {
    it("the run's bridge is gone too", function () {
        requireTool(this, sshHostUnavailable());
        const bridge = `rhb${process.pid.toString(36)}`;
        assert.notEqual(spawnSync("ip", ["link", "show", bridge]).status, 0, `${bridge} is left`);
    });
});
