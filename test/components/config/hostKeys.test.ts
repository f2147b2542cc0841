// known_hosts as OpenSSH writes it: plain and hashed names, [host]:port, wildcards and negation, revoked keys,
// and the choice of one key per host (ed25519 first).
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { hostKeyFingerprint, hostKeyFor, knownHostsName, normaliseHostKey, parseKnownHosts } from "../../../components/config/hostKeys";
import { HOST_KEYS } from "../../fixtures/hostKeys";
import { requireTool, toolMissing } from "../../helpers/tools";

describe("config/hostKeys", () => {
    it("names hosts as OpenSSH looks them up", () => {
        assert.equal(knownHostsName("192.0.2.11", 22), "192.0.2.11");
        assert.equal(knownHostsName("192.0.2.11", 2222), "[192.0.2.11]:2222");
    });

    it("keeps type and base64 of a valid key, refuses anything else", () => {
        assert.equal(normaliseHostKey(`  ${HOST_KEYS[0]} root@host \n`), HOST_KEYS[0]);
        assert.equal(normaliseHostKey("ssh-ed25519"), undefined);
        assert.equal(normaliseHostKey("ssh-dss AAAAB3NzaC1kc3M="), undefined);
        assert.equal(normaliseHostKey(HOST_KEYS[0].replace("ssh-ed25519", "ecdsa-sha2-nistp256")), undefined);
    });

    it("finds a host's key by plain, [host]:port, wildcard and hashed names; negation and @revoked exclude", () => {
        const rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7";
        const text = [
            "# comment",
            `192.0.2.11,node-1 ${rsa}`,
            `192.0.2.11 ${HOST_KEYS[1]}`,
            `[192.0.2.12]:2222 ${HOST_KEYS[2]}`,
            `192.0.2.* ,!192.0.2.13 ${HOST_KEYS[3]}`.replace(" ,", ","),
            `@revoked 192.0.2.14 ${HOST_KEYS[4]}`,
            `192.0.2.14 ${HOST_KEYS[4]}`,
            "@cert-authority *.example.com ssh-ed25519 AAAA",
        ].join("\n");
        const entries = parseKnownHosts(text);
        assert.equal(hostKeyFor(entries, "192.0.2.11", 22), HOST_KEYS[1], "ed25519 is preferred over rsa");
        assert.equal(hostKeyFor(entries, "192.0.2.12", 2222), HOST_KEYS[2]);
        assert.equal(hostKeyFor(entries, "192.0.2.12", 22), HOST_KEYS[3], "the wildcard entry");
        assert.equal(hostKeyFor(entries, "192.0.2.13", 22), undefined, "negated");
        assert.equal(hostKeyFor(entries, "192.0.2.14", 22), HOST_KEYS[3], "the revoked key is never chosen");
    });

    it("matches the hashed entries and fingerprints ssh-keygen writes", function () {
        requireTool(this, toolMissing("ssh-keygen", ["-?"]) && "ssh-keygen missing");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-kh-"));
        try {
            const file = path.join(dir, "known_hosts");
            fs.writeFileSync(file, `[192.0.2.12]:2222 ${HOST_KEYS[2]}\n192.0.2.11 ${HOST_KEYS[1]}\n`);
            const hashed = spawnSync("ssh-keygen", ["-H", "-f", file], { encoding: "utf8" });
            assert.equal(hashed.status, 0, hashed.stderr);
            const text = fs.readFileSync(file, "utf8");
            assert.match(text, /^\|1\|/m, "ssh-keygen hashed the names");
            const entries = parseKnownHosts(text);
            assert.equal(hostKeyFor(entries, "192.0.2.11", 22), HOST_KEYS[1]);
            assert.equal(hostKeyFor(entries, "192.0.2.12", 2222), HOST_KEYS[2]);
            assert.equal(hostKeyFor(entries, "192.0.2.12", 22), undefined);
            const pub = path.join(dir, "k.pub");
            fs.writeFileSync(pub, `${HOST_KEYS[1]}\n`);
            const lf = spawnSync("ssh-keygen", ["-lf", pub], { encoding: "utf8" });
            assert.equal(lf.stdout.split(" ")[1], hostKeyFingerprint(HOST_KEYS[1]));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
