// The render command as users run it: a child process on a real stack file, checked on disk.
import { strict as assert } from "assert";
import { generateKeyPairSync } from "crypto";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { keyId } from "../../components/config";
import { main } from "../../scripts/render";
import { NGINX, nginxUnavailable, requireTool, STREAM_MODULE } from "../helpers/tools";
import { ROOT } from "../helpers/paths";
import { HOST_KEYS } from "../fixtures/hostKeys";

const TS_NODE = path.join(ROOT, "node_modules", ".bin", "ts-node");
const SCRIPT = path.join(ROOT, "scripts", "render.ts");
const MANIFEST = ".rancher-ha-render.json";

interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
}

/** Every file under dir, relative, `/`-separated, sorted. */
function walk(dir: string, prefix = ""): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap(e => e.isDirectory()
        ? walk(path.join(dir, e.name), `${prefix}${e.name}/`)
        : [`${prefix}${e.name}`]).sort();
}

const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;

/** Secrets a stack file holds in plain text (what `pulumi config set` without --secret leaves there). */
const PLAIN_SECRETS = {
    bootstrapPassword: "Bootstrap-S3cret-4711",
    privateRegistryPassword: "Registry-S3cret-0815",
    etcdS3SecretKey: "wJalrXUtnFEMI-K7MDENG-S3SECRET",
    tlsCert: pem("CERTIFICATE", "MIIBtlsCERTIFICATEbodyOfTheUserServerCert0123456789"),
    tlsKey: pem("PRIVATE KEY", "MIGHtlsPRIVATEKEYbodyOfTheUserServerKey0123456789"),
};

describe("npm run render (scripts/render.ts)", function () {
    this.timeout(120000);
    let tmp: string;
    let home: string;
    let sshKey: string;

    before(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-render-"));
        // A HOME whose ~/.ssh/id_rsa is the key Pulumi.dev.yaml names: the command reads it (for the key's file
        // name on the admin host) and must never write it anywhere.
        home = path.join(tmp, "home");
        fs.mkdirSync(path.join(home, ".ssh"), { recursive: true, mode: 0o700 });
        sshKey = generateKeyPairSync("rsa", {
            modulusLength: 2048,
            privateKeyEncoding: { type: "pkcs1", format: "pem" },
            publicKeyEncoding: { type: "spki", format: "pem" },
        }).privateKey;
        fs.writeFileSync(path.join(home, ".ssh", "id_rsa"), sshKey, { mode: 0o600 });
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    /** The command as users run it: a child process (ts-node). Slow: used once, for the main case. */
    function spawnRender(args: string[], cwd = ROOT): Run {
        const r = spawnSync(TS_NODE, ["--transpile-only", SCRIPT, ...args], {
            cwd, encoding: "utf8", timeout: 90000, env: { ...process.env, HOME: home },
        });
        assert.equal(r.error, undefined, String(r.error));
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }

    /** The same command called in this process: its output captured, HOME and cwd passed in. */
    function render(args: string[], cwd = ROOT): Run {
        let stdout = "";
        let stderr = "";
        const status = main(args, { out: t => (stdout += t), err: t => (stderr += t), homeDir: home, cwd });
        return { status, stdout, stderr };
    }

    /** A project folder with our Pulumi.yaml and the given stack files. */
    function project(name: string, stacks: Record<string, unknown>): string {
        const dir = path.join(tmp, name);
        fs.mkdirSync(dir);
        fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        for (const [stack, doc] of Object.entries(stacks)) {
            fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), yaml.dump(doc));
        }
        return dir;
    }

    function assertNoSecret(dir: string, secrets: Record<string, string>) {
        for (const f of walk(dir)) {
            const text = fs.readFileSync(path.join(dir, f), "utf8");
            for (const [key, value] of Object.entries(secrets)) {
                for (const frag of [value.trim(), ...value.split("\n").filter(l => l.length > 0 && !l.startsWith("-----"))]) {
                    assert.ok(!text.includes(frag), `${f} contains ${key}`);
                }
            }
        }
    }

    function nginxT(conf: string, extra: string[] = []): Run {
        const r = spawnSync(NGINX, ["-t", "-c", conf, ...extra], { encoding: "utf8", timeout: 15000 });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }

    /** nginx -t on a config as written opens /var/log/nginx/error.log, which only root may write. */
    function nginxOnRealPaths(ctx: Mocha.Context) {
        requireTool(ctx, nginxUnavailable());
        requireTool(ctx, process.getuid?.() !== 0 ? "nginx -t of the config as written needs root (/var/log/nginx)"
            : fs.existsSync("/var/log/nginx") ? undefined : "/var/log/nginx missing: Debian's nginx package creates it");
    }

    describe("on Pulumi.dev.yaml", () => {
        let out: string;
        let run: Run;
        before(() => {
            out = path.join(tmp, "dev");
            run = spawnRender(["--stack", "dev", "--out", out]);
        });

        it("writes every artifact, lists each on stdout and in its manifest, and exits 0", () => {
            assert.equal(run.status, 0, run.stderr);
            const manifest = JSON.parse(fs.readFileSync(path.join(out, MANIFEST), "utf8")) as { stack: string; files: string[] };
            assert.equal(manifest.stack, "dev");
            assert.deepEqual(walk(out), [...manifest.files, MANIFEST].sort());
            for (const f of ["README.md", "1-load-balancer/nginx.conf", "1-load-balancer/apply.sh", "1-load-balancer/delete.sh",
                "2-rke/rancher-cluster.yml", "2-rke/rke-up.sh", "2-rke/rke-up-command.sh", "2-rke/destroy.sh", "2-rke/preflight-192.0.2.11.sh",
                "3-cert-manager/release.yaml", "3-cert-manager/values.yaml", "4-rancher/release.yaml", "4-rancher/values.yaml",
                "5-host-aliases/rancher-deployment-patch.yaml", "5-host-aliases/agents-apply.sh"]) {
                assert.ok(manifest.files.includes(f), `${f} not written`);
            }
            for (const f of manifest.files) {
                assert.match(run.stdout, new RegExp(`^  ${f.replace(/[.]/g, "\\.")} `, "m"), `${f} not printed`);
            }
        });

        it("renders the stack file's hosts and versions", () => {
            const stack = (yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as any).config;
            const yml = yaml.load(fs.readFileSync(path.join(out, "2-rke/rancher-cluster.yml"), "utf8")) as any;
            assert.deepEqual(yml.nodes.map((n: any) => n.address), stack["rancher-ha:nodes"].map((n: any) => n.address));
            assert.equal(yml.kubernetes_version, stack["rancher-ha:versions"].kubernetes);
            assert.ok(yml.authentication.sans.includes(stack["rancher-ha:loadBalancer"].address));
            // The key file was read (its hash names it on the admin host), its content never written.
            assert.ok(yml.nodes.every((n: any) => n.ssh_key_path === `~/rancher-ha/keys/${keyId(sshKey)}`));
            const release = yaml.load(fs.readFileSync(path.join(out, "4-rancher/release.yaml"), "utf8")) as any;
            assert.equal(release.version, String(stack["rancher-ha:versions"].rancher));
            const values = yaml.load(fs.readFileSync(path.join(out, "4-rancher/values.yaml"), "utf8")) as any;
            assert.equal(values.hostname, stack["rancher-ha:hostname"]);
        });

        it("writes no secret: neither the SSH key nor the bootstrap password", () => {
            assertNoSecret(out, { sshPrivateKey: sshKey });
            const values = yaml.load(fs.readFileSync(path.join(out, "4-rancher/values.yaml"), "utf8")) as any;
            assert.equal(values.bootstrapPassword, "<redacted:bootstrapPassword>");
        });

        it("writes an nginx.conf the real nginx accepts (docker mode: stream module built into the image)", function () {
            nginxOnRealPaths(this);
            const conf = path.join(out, "1-load-balancer/nginx.conf");
            // Debian's nginx has the module as a file; the official image has it built in. Without it the
            // check fails, so it is a real check.
            assert.match(nginxT(conf).stderr, /unknown directive "stream"/);
            const r = nginxT(conf, ["-g", `load_module ${STREAM_MODULE};`]);
            assert.equal(r.status, 0, r.stderr);
            assert.match(r.stderr, /test is successful/);
        });

        it("renders the same bytes again, replacing only the files it wrote", () => {
            const before = Object.fromEntries(walk(out).map(f => [f, fs.readFileSync(path.join(out, f), "utf8")]));
            // A file of the user's, and files a previous render of a different stack shape left behind.
            fs.writeFileSync(path.join(out, "review-notes.txt"), "mine\n");
            fs.mkdirSync(path.join(out, "6-old"));
            fs.writeFileSync(path.join(out, "6-old/gone.sh"), "old\n");
            fs.writeFileSync(path.join(out, "2-rke/preflight-192.0.2.99.sh"), "old\n");
            const m = JSON.parse(fs.readFileSync(path.join(out, MANIFEST), "utf8"));
            m.files.push("6-old/gone.sh", "2-rke/preflight-192.0.2.99.sh", "../outside.txt");
            fs.writeFileSync(path.join(out, MANIFEST), JSON.stringify(m));
            fs.writeFileSync(path.join(tmp, "outside.txt"), "not render's\n");

            const again = render(["--stack", "dev", "--out", out]);
            assert.equal(again.status, 0, again.stderr);
            const after = Object.fromEntries(walk(out).map(f => [f, fs.readFileSync(path.join(out, f), "utf8")]));
            assert.deepEqual(after, { ...before, "review-notes.txt": "mine\n" });
            assert.ok(fs.existsSync(path.join(tmp, "outside.txt")), "a manifest entry outside the folder is never deleted");
        });

        it("refuses a non-empty folder it did not write (exit 2), touching nothing", () => {
            const foreign = path.join(tmp, "foreign");
            fs.mkdirSync(foreign);
            fs.writeFileSync(path.join(foreign, "keep.txt"), "keep\n");
            const r = render(["--stack", "dev", "--out", foreign]);
            assert.equal(r.status, 2);
            assert.match(r.stderr, /is not empty and was not written by render/);
            assert.deepEqual(walk(foreign), ["keep.txt"]);
        });
    });

    describe("on a stack with secrets in it", () => {
        let dir: string;
        let run: Run;
        before(() => {
            const dev = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
            dir = project("secrets", {
                prod: {
                    encryptionsalt: "v1:abc",
                    config: {
                        ...dev.config,
                        "rancher-ha:loadBalancer": { address: "192.0.2.10", mode: "system", hostKey: HOST_KEYS[0] },
                        "rancher-ha:sshPrivateKey": { secure: "v1:AAAABBBBCCCCsshkeyciphertext" },
                        "rancher-ha:privateRegistry": { url: "registry.example.com:5000", user: "puller" },
                        "rancher-ha:etcdSnapshots": { creation: "6h", retention: "24h", s3: { bucketName: "etcd", endpoint: "s3.example.com", accessKey: "AKIAEXAMPLE" } },
                        "rancher-ha:tls": { source: "secret" },
                        ...Object.fromEntries(Object.entries(PLAIN_SECRETS).map(([k, v]) => [`rancher-ha:${k}`, v])),
                    },
                },
            });
            // From the project folder, with the defaults: --project-dir . and --out render-out/<stack>.
            run = render(["--stack", "prod"], dir);
        });

        it("writes none of them, and says which keys are encrypted and which are in plain text", () => {
            assert.equal(run.status, 0, run.stderr);
            const out = path.join(dir, "render-out", "prod");
            assertNoSecret(out, { ...PLAIN_SECRETS, sshPrivateKey: sshKey });
            for (const f of walk(out)) {
                assert.ok(!fs.readFileSync(path.join(out, f), "utf8").includes("AAAABBBBCCCC"), `${f} holds the ciphertext`);
            }
            const index = fs.readFileSync(path.join(out, "README.md"), "utf8");
            assert.match(index, /Encrypted in Pulumi\.prod\.yaml: `sshPrivateKey`\./);
            assert.match(index, /In plain text in Pulumi\.prod\.yaml: `tlsCert`, `tlsKey`, `bootstrapPassword`, `privateRegistryPassword`, `etcdS3SecretKey`\./);
            const yml = yaml.load(fs.readFileSync(path.join(out, "2-rke/rancher-cluster.yml"), "utf8")) as any;
            assert.equal(yml.private_registries[0].password, "<redacted:privateRegistryPassword>");
            assert.equal(yml.services.etcd.backup_config.s3backupconfig.secret_key, "<redacted:etcdS3SecretKey>");
        });

        it("writes a system-mode nginx.conf the real nginx accepts as written (distro module includes)", function () {
            nginxOnRealPaths(this);
            const r = nginxT(path.join(dir, "render-out", "prod", "1-load-balancer/nginx.conf"));
            assert.equal(r.status, 0, r.stderr);
        });
    });

    describe("refuses, with exit code 2", () => {
        it("an unknown stack, naming the known ones", () => {
            const r = render(["--stack", "nope", "--out", path.join(tmp, "nope")]);
            assert.equal(r.status, 2);
            assert.match(r.stderr, /no Pulumi\.nope\.yaml in .*; known stacks: (.*, )?dev\b/);
            assert.ok(!fs.existsSync(path.join(tmp, "nope")));
        });

        it("an invalid stack config, with every problem as pulumi up reports it", () => {
            const dir = project("broken", {
                broken: {
                    config: {
                        "rancher-ha:hostname": "rancher.example.com",
                        "rancher-ha:ssh": { user: "rancher" },
                        "rancher-ha:loadBalancer": { address: "192.0.2.10", hostKey: HOST_KEYS[0] },
                        "rancher-ha:nodes": [{ address: "192.0.2.11", roles: ["master", "etcd", "worker"], hostKey: HOST_KEYS[1] }],
                        "rancher-ha:tls": { source: "letsEncrypt" },
                    },
                },
            });
            const r = render(["--stack", "broken"], dir);
            assert.equal(r.status, 2);
            assert.match(r.stderr, /^render: invalid stack configuration \(\d+ problems\):\n/);
            assert.match(r.stderr, /rancher-ha:nodes\[0\]\.roles: unknown role "master" \(did you mean "controlplane"\?\)/);
            assert.match(r.stderr, /rancher-ha:tls\.letsEncryptEmail: required when tls\.source is letsEncrypt/);
            assert.ok(!fs.existsSync(path.join(dir, "render-out")), "nothing written");
        });

        for (const [what, args] of [
            ["no --stack", []],
            ["--stack without a value", ["--stack"]],
            ["an unknown option", ["--stack", "dev", "--fast"]],
            ["a stack name that is a path", ["--stack", "../dev"]],
        ] as [string, string[]][]) {
            it(`bad arguments: ${what}, with the usage`, () => {
                const r = render(args);
                assert.equal(r.status, 2, r.stdout);
                assert.match(r.stderr, /^render: .+\nusage: npm run render -- --stack <name>/);
            });
        }
    });
});
