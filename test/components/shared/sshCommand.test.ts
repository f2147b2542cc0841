// runOnHostScript as local.Command runs it (/bin/sh -c, bundle on stdin), over the real ssh client to a real sshd
// test host: the pinned host key is checked, a jump host works, a wrong key is refused and said so, nothing is left.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { keyId } from "../../../components/config";
import { runOnHostScript, runOnHostStdin, SshHop } from "../../../components/shared/sshCommand";
import { runShellScript } from "../../helpers/run";
import { SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";
import { requireTool } from "../../helpers/tools";
import { HOST_KEYS } from "../../fixtures/hostKeys";

const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("shared/sshCommand: a remote script over the system ssh client, pinned host keys", function () {
    this.timeout(60000);
    let host: SshHost;
    let jump: SshHost;
    let tmp: string;
    const hop = (over: Partial<SshHop> = {}): SshHop => ({
        address: host.address, port: host.port, user: host.user, keyId: keyId(host.privateKey), hostKey: host.hostKey, ...over,
    });
    const jumpHop = (over: Partial<SshHop> = {}): SshHop => ({
        address: jump.address, port: jump.port, user: jump.user, keyId: keyId(jump.privateKey), hostKey: jump.hostKey, ...over,
    });
    const keys = () => [host, jump].map(h => ({ keyId: keyId(h.privateKey), privateKey: h.privateKey }));
    // TMPDIR of our own: the script's private temp dir must be gone afterwards, whatever happened.
    const run = (target: SshHop | "local", remote: string, payload: string, bastion?: SshHop) =>
        runShellScript(runOnHostScript(target, remote, bastion), runOnHostStdin(target, payload, keys(), bastion),
            { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: tmp }, 30000);

    before(async function () {
        requireTool(this, sshHostUnavailable());
        host = await startSshHost({ user: "sshcmd" });
        jump = await startSshHost({ user: "sshjump" });   // a second sshd (its own address, key and host key)
    });
    after(async () => {
        await host?.stop();
        await jump?.stop();
    });
    beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-sshcmd-")); });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("runs the remote script on the host with the payload as its stdin, and passes its exit status back", async () => {
        const r = await run(hop(), 'echo "on $(id -un): $(cat)"; echo err >&2; exit 3', "the payload");
        assert.equal(r.code, 3, r.stderr);
        assert.equal(r.stdout, `on ${host.user}: the payload\n`);
        assert.match(r.stderr, /^err$/m);
        assert.deepEqual(fs.readdirSync(tmp), [], "keys and known_hosts are removed");
    });

    it("goes through a jump host, pinning both host keys", async () => {
        const r = await run(hop(), "cat; echo; echo \"via $SSH_CONNECTION\"", "through the bastion", jumpHop());
        assert.equal(r.code, 0, r.stderr);
        // The session came from the jump host's address, to the host's address and port.
        assert.match(r.stdout, new RegExp(`^through the bastion\nvia ${re(jump.address)} \\d+ ${re(host.address)} ${host.port}\n$`));
    });

    it("refuses a host whose key is not the pinned one, and says what to check", async () => {
        const r = await run(hop({ hostKey: HOST_KEYS[3] }), "echo reached", "");
        assert.equal(r.code, 255);
        assert.equal(r.stdout, "", "the remote script never ran");
        assert.match(r.stderr, /Host key verification failed/);
        assert.match(r.stderr, new RegExp(`ssh to sshcmd-\\w+@${re(host.address)}:${host.port} failed \\(above\\): .*a host key other than the one pinned in the stack.*npm run ops -- host-keys`));
        const viaBadBastion = await run(hop(), "echo reached", "", jumpHop({ hostKey: HOST_KEYS[3] }));
        assert.equal(viaBadBastion.code, 255);
        assert.equal(viaBadBastion.stdout, "");
        assert.match(viaBadBastion.stderr, /Host key verification failed/);
        assert.deepEqual(fs.readdirSync(tmp), []);
    });

    it("without a pinned key (ssh.insecureIgnoreHostKeys) it connects, and warns every time", async () => {
        const r = await run(hop({ hostKey: undefined }), "echo reached", "");
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "reached\n");
        assert.match(r.stderr, new RegExp(`WARNING: not checking the SSH host key of sshcmd-\\w+@${re(host.address)}:${host.port}`));
    });

    it('"local" runs the same remote script here, under /bin/sh, with the payload on stdin', async () => {
        const r = await run("local", 'echo "here: $(cat)"', "local payload");
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "here: local payload\n");
        assert.deepEqual(fs.readdirSync(tmp), []);
    });
});
