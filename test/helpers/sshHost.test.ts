import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import { installTestDouble, SshHost, sshHostUnavailable, startSshHost } from "./sshHost";
import { requireTool } from "./tools";

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

    it("removes its user, home and sudo rule when stopped", async () => {
        const other = await startSshHost({ user: "rhgone", sudo: true });
        assert.equal(spawnSync("getent", ["passwd", other.user]).status, 0);
        await other.stop();
        assert.notEqual(spawnSync("getent", ["passwd", other.user]).status, 0, "the user is gone");
        assert.ok(!fs.existsSync(other.home), "its home is gone");
        assert.ok(!fs.existsSync(`/etc/sudoers.d/rancher-ha-test-${other.user}`));
    });

    it("gives the non-root user passwordless sudo", async () => {
        const r = await host.run("sudo -n id -u");
        assert.equal(r.stdout.trim(), "0", r.stderr);
    });
});
