import { strict as assert } from "assert";
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
        assert.equal(r.stdout, "rhtest\nfrom stdin\n");
    });

    it("puts test doubles first on PATH and passes exit codes", async () => {
        installTestDouble(host, "rke", "#!/bin/sh\necho rke-test-double \"$@\"\nexit 3\n");
        const r = await host.run("rke up --config x.yml");
        assert.equal(r.code, 3);
        assert.equal(r.stdout, "rke-test-double up --config x.yml\n");
    });

    it("gives the non-root user passwordless sudo", async () => {
        const r = await host.run("sudo -n id -u");
        assert.equal(r.stdout.trim(), "0", r.stderr);
    });
});
