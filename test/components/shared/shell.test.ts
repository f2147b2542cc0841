import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import { fileBundle, script, shellPath, shellQuote, sha256, UNPACK_BUNDLE_SH } from "../../../components/shared/shell";

function sh(code: string, stdin = ""): { status: number | null; stdout: string; stderr: string } {
    // dash: the strictest POSIX shell a remote host is likely to have as /bin/sh.
    const r = spawnSync("/bin/sh", ["-c", code], { input: stdin, encoding: "utf8" });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("shared/shell", () => {
    it("shellQuote survives quotes, spaces, $ and newlines through a real shell", () => {
        for (const v of ["plain", "it's", "a b", "$HOME `id` $(id)", "new\nline", "", "'''", "-n"]) {
            const r = sh(`printf '%s' ${shellQuote(v)}`);
            assert.equal(r.stdout, v, `round trip of ${JSON.stringify(v)}`);
        }
    });

    it("shellPath expands ~ to the remote home, and quotes the rest", () => {
        const r = sh(`HOME=/h; printf '%s' ${shellPath("~/a dir/x")}`);
        assert.equal(r.stdout, "/h/a dir/x");
        assert.equal(sh(`printf '%s' ${shellPath("/abs/p")}`).stdout, "/abs/p");
    });

    it("fileBundle + unpack_bundle write exact bytes and modes", () => {
        const files = [
            { name: "rancher-cluster.yml", mode: "600", content: "nodes:\n  - address: 1.2.3.4\n" },
            { name: "key", mode: "400", content: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n" },
            { name: "empty", mode: "644", content: "" },
            { name: "unicode.txt", mode: "600", content: "héllo ✓ 'q' \"d\"\n\n" },
        ];
        const dir = spawnSync("mktemp", ["-d"], { encoding: "utf8" }).stdout.trim();
        const r = sh(script(UNPACK_BUNDLE_SH, `unpack_bundle ${shellQuote(dir)}`, `cd ${dir}; for f in *; do printf '%s %s\\n' "$f" "$(stat -c %a "$f")"; done`), fileBundle(files));
        assert.equal(r.status, 0, r.stderr);
        for (const f of files) {
            assert.equal(require("fs").readFileSync(`${dir}/${f.name}`, "utf8"), f.content, f.name);
            assert.match(r.stdout, new RegExp(`^${f.name.replace(".", "\\.")} ${f.mode}$`, "m"));
        }
        spawnSync("rm", ["-rf", dir]);
    });

    it("unpack_bundle refuses path traversal", () => {
        const dir = spawnSync("mktemp", ["-d"], { encoding: "utf8" }).stdout.trim();
        const evil = `../evil 600 ${Buffer.from("x").toString("base64")}\n`;
        const r = sh(script(UNPACK_BUNDLE_SH, `unpack_bundle ${dir}`), evil);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /bad file name/);
        spawnSync("rm", ["-rf", dir]);
    });

    it("fileBundle rejects bad names and modes", () => {
        assert.throws(() => fileBundle([{ name: "a/b", mode: "600", content: "" }]), /bad or duplicate/);
        assert.throws(() => fileBundle([{ name: "a", mode: "600", content: "" }, { name: "a", mode: "600", content: "" }]), /duplicate/);
        assert.throws(() => fileBundle([{ name: "a", mode: "rw", content: "" }]), /bad mode/);
    });

    it("sha256 is the hex digest", () => {
        assert.equal(sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    });
});
