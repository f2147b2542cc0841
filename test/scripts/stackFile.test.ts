import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readStackFile, redacted, toolSettings } from "../../scripts/stackFile";
import { settle } from "../helpers/mocks";
import { ROOT } from "../helpers/paths";

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
            "  rancher-ha:loadBalancer: {address: 192.0.2.10}",
            "  rancher-ha:rancher: {replicas: '2'}",
            "  rancher-ha:rkeOverrides: {services: {kubelet: {extra_args: {max-pods: '250'}}}}",
            "  rancher-ha:nodes:",
            "    - {address: 192.0.2.11, roles: [controlplane, etcd, worker]}",
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
});
