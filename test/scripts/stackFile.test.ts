import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigError } from "../../components/config";
import { main as render } from "../../scripts/render";
import { loadBoundedYaml, readStackFile, redacted, STACK_FILE_LIMITS, toolSettings } from "../../scripts/stackFile";
import { settle } from "../helpers/mocks";
import { ROOT } from "../helpers/paths";
import { HOST_KEYS } from "../fixtures/hostKeys";

describe("stackFile (config outside the Pulumi engine)", () => {
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-stackfile-"));
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: rancher-ha\nruntime: nodejs\n");
        fs.copyFileSync(path.join(ROOT, "Pulumi.dev.yaml"), path.join(dir, "Pulumi.dev.yaml"));
        fs.writeFileSync(path.join(dir, "Pulumi.prod.yaml"), [
            "encryptionsalt: v1:abc",
            "config:",
            "  other:key: ignored",
            "  rancher-ha:hostname: rancher.example.com",
            "  rancher-ha:ssh: {user: rancher}",
            "  rancher-ha:sshPrivateKey:",
            "    secure: v1:AAAABBBBCCCC",
            "  rancher-ha:bootstrapPassword: plain-text-password-123",
            "  rancher-ha:loadBalancer: {address: 192.0.2.10, hostKey: \"" + HOST_KEYS[0] + "\"}",
            "  rancher-ha:rancher: {replicas: '2'}",
            "  rancher-ha:rkeOverrides: {services: {kubelet: {extra_args: {max-pods: '250'}}}}",
            "  rancher-ha:nodes:",
            "    - {address: 192.0.2.11, roles: [controlplane, etcd, worker], hostKey: \"" + HOST_KEYS[1] + "\"}",
            "",
        ].join("\n"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("reads the project's keys, leaves other namespaces, and marks encrypted values", () => {
        const f = readStackFile(dir, "prod");
        assert.equal(f.project, "rancher-ha");
        assert.equal(f.raw.hostname, "rancher.example.com");
        assert.equal(f.raw["other:key"], undefined);
        assert.deepEqual(f.encryptedKeys, ["sshPrivateKey"]);
        // As the engine hands them over: nested values keep their YAML types (a quoted number stays text).
        assert.deepEqual(f.raw.rkeOverrides, { services: { kubelet: { extra_args: { "max-pods": "250" } } } });
        assert.match(String(f.raw.sshPrivateKey), /^-----BEGIN OPENSSH PRIVATE KEY-----\n<redacted:sshPrivateKey>\n/);
    });

    it("gives settings in which every secret is a placeholder, never the value in the file", async () => {
        const { settings } = toolSettings(readStackFile(dir, "prod"));
        assert.equal((await settle(settings.rancher.bootstrapPassword!)).value, redacted("bootstrapPassword"));
        assert.match((await settle(settings.nodes[0].privateKey)).value, /<redacted:sshPrivateKey>/);
        assert.equal(settings.rancher.replicas, 2, "scalars are read as the program reads them");
    });

    it("uses a placeholder for a key file it cannot read, so tools run without access to the hosts", async () => {
        const { settings } = toolSettings(readStackFile(dir, "dev"), { homeDir: "/nonexistent" });
        assert.match((await settle(settings.nodes[0].privateKey)).value, /<redacted:sshPrivateKey>/);
    });

    it("names the known stacks when the asked one is missing", () => {
        assert.throws(() => readStackFile(dir, "staging"), /no Pulumi\.staging\.yaml .*known stacks: dev, prod/);
    });

    describe("files crafted to hang or flood the tools (they run on pull-request content)", () => {
        /** A stack file with `body` (YAML lines, indented under config:) added to a valid minimal stack. */
        const stackWith = (name: string, body: string[]) => fs.writeFileSync(path.join(dir, `Pulumi.${name}.yaml`), [
            "config:",
            "  rancher-ha:hostname: rancher.example.com",
            "  rancher-ha:ssh: {user: rancher}",
            "  rancher-ha:loadBalancer: {address: 192.0.2.10, hostKey: \"" + HOST_KEYS[0] + "\"}",
            "  rancher-ha:nodes:",
            "    - {address: 192.0.2.11, roles: [controlplane, etcd, worker], hostKey: \"" + HOST_KEYS[1] + "\"}",
            ...body,
            "",
        ].join("\n"));

        /** The classic "billion laughs": 9 levels of 9 aliases, 9^9 strings once expanded, 1 KB on disk. */
        const aliasBomb = () => {
            const lines = ["  rancher-ha:rkeOverrides:", `    a: &a [${Array(9).fill('"lol"').join(", ")}]`];
            const names = "abcdefghi";
            for (let i = 1; i < names.length; i++) {
                lines.push(`    ${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(", ")}]`);
            }
            return lines;
        };

        it("refuses a YAML alias bomb in rkeOverrides fast, with what to do", () => {
            stackWith("bomb", aliasBomb());
            const t = Date.now();
            assert.throws(() => readStackFile(dir, "bomb"),
                /^Error: Pulumi\.bomb\.yaml uses YAML aliases \(\*name\) more than 100 times; write the settings out without anchors \(&name\) and aliases \(\*name\)$/);
            assert.ok(Date.now() - t < 1000, `took ${Date.now() - t} ms`);
        });

        it("npm run render stops on it at once, exit 2, one line", () => {
            stackWith("bomb", aliasBomb());
            const err: string[] = [];
            const t = Date.now();
            const code = render(["--stack", "bomb", "--project-dir", dir, "--out", path.join(dir, "out-bomb")],
                { out: () => undefined, err: s => err.push(s), homeDir: "/nonexistent" });
            assert.ok(Date.now() - t < 1000, `took ${Date.now() - t} ms`);
            assert.equal(code, 2);
            assert.match(err.join(""), /^render: cannot render stack bomb: Pulumi\.bomb\.yaml uses YAML aliases \(\*name\) more than 100 times;/);
            assert.equal(fs.existsSync(path.join(dir, "out-bomb")), false);
        });

        it("refuses a document that expands too far with few aliases (one big string, aliased)", () => {
            const big = "x".repeat(400 * 1024);
            stackWith("wide", ["  rancher-ha:rkeOverrides:", `    a: &a "${big}"`, `    b: [${Array(20).fill("*a").join(", ")}]`]);
            assert.throws(() => readStackFile(dir, "wide"), /Pulumi\.wide\.yaml holds more than 4194304 characters of text once its YAML aliases are expanded/);
            const items = Array(STACK_FILE_LIMITS.maxValues).fill("1").join(",");
            stackWith("many", ["  rancher-ha:rkeOverrides:", `    a: [${items}]`]);
            assert.throws(() => readStackFile(dir, "many"), /Pulumi\.many\.yaml expands to more than 100000 values/);
        });

        it("refuses a file over 1 MiB without reading or echoing it", () => {
            stackWith("huge", [`  rancher-ha:versions: {rancher: "${"9".repeat(20 * 1024 * 1024)}"}`]);
            let message = "";
            const t = Date.now();
            try {
                readStackFile(dir, "huge");
            } catch (e) {
                message = (e as Error).message;
            }
            assert.ok(Date.now() - t < 1000, `took ${Date.now() - t} ms`);
            assert.match(message, /^Pulumi\.huge\.yaml is \d+ bytes, over the 1048576-byte limit for a stack file; /);
            assert.ok(message.length < 400, message);
        });

        it("cuts a long value in a config error to 80 characters and its length", () => {
            const long = `${"9".repeat(900 * 1024)}`;
            stackWith("long", [`  rancher-ha:versions: {rancher: "${long}"}`]);
            let problems: string[] = [];
            try {
                toolSettings(readStackFile(dir, "long"), { homeDir: "/nonexistent" });
            } catch (e) {
                assert.ok(e instanceof ConfigError, String(e).slice(0, 300));
                problems = e.problems;
            }
            assert.deepEqual(problems, [`rancher-ha:versions.rancher: "${"9".repeat(80)}…" (${long.length} characters) is not a chart version; use e.g. 2.11.16`]);
        });

        it("still reads an ordinary file with a few anchors and aliases", () => {
            stackWith("anchors", ["  rancher-ha:rkeOverrides:", "    services:", "      kubelet: {extra_args: &args {max-pods: '250'}}", "      kubeproxy: {extra_args: *args}"]);
            const f = readStackFile(dir, "anchors");
            assert.deepEqual(f.raw.rkeOverrides, { services: { kubelet: { extra_args: { "max-pods": "250" } }, kubeproxy: { extra_args: { "max-pods": "250" } } } });
            assert.equal(loadBoundedYaml(path.join(dir, "Pulumi.yaml"), STACK_FILE_LIMITS) !== undefined, true);
        });
    });
});
