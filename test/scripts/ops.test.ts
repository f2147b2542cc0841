// `npm run ops` end to end: the CLI as users run it, reading a real Pulumi.<stack>.yaml, talking to a real sshd test
// host with the system ssh client (rke and docker are the test doubles of test/fixtures/rke/opsDoubles.ts), and the
// real kubectl against a fake Kubernetes/Rancher API on 127.0.0.1.
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { keyId } from "../../components/config";
import { rkeYamlArgs } from "../../components/rke/clusterYml";
import { rkeClusterYaml, rkeUpPlan } from "../../components/rke/clusterYml";
import { rkeConfigBundle, rkeUpScript } from "../../components/rke/scripts";
import { agentCaChecksum } from "../../scripts/ops/agentRedeploy";
import { readStackFile, toolSettings } from "../../scripts/stackFile";
import { SshHost, sshHostUnavailable, startSshHost } from "../helpers/sshHost";
import { requireTool, toolMissing } from "../helpers/tools";
import { control, rkeCalls } from "../fixtures/rke/doubles";
import { fullStateObject, installOpsDoubles, nodeList, rkeNode } from "../fixtures/rke/opsDoubles";
import { AGENT_PATHS, FakeAgentApi, kubeconfigFor } from "../fixtures/rke/fakeAgentApi";
import { runWithStdin } from "../helpers/run";
import { main } from "../../scripts/ops";
import { FIXTURES, ROOT } from "../helpers/paths";
import { HOST_KEYS } from "../fixtures/hostKeys";
import { hostKeyFingerprint } from "../../components/config/hostKeys";

const FIXTURE = fs.readFileSync(path.join(FIXTURES, "rke/recovered.rkestate.json"), "utf8");
/** A literal text as a regular expression. */
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface CliResult { code: number | null; stdout: string; stderr: string }

/** The command as users run it: a child process (ts-node). Slow: used once, for the first case. */
function spawnOps(args: string[], stdin = ""): Promise<CliResult> {
    return runWithStdin(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/ops.ts", ...args], stdin,
        { cwd: ROOT, env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, "tsconfig.json") }, timeoutMs: 90000 });
}

/** The same command called in this process, stdin and output captured. */
async function ops(args: string[], stdin = ""): Promise<CliResult> {
    let stdout = "";
    let stderr = "";
    const code = await main(args, {
        out: t => { stdout += t; }, err: t => { stderr += t; }, stdinIsTty: false, readStdin: async () => stdin,
    });
    return { code, stdout, stderr };
}

describe("scripts/ops (npm run ops) end to end", function () {
    this.timeout(180000);
    let host: SshHost;
    let dir: string;
    let work: string;
    // Every SSH connection checks the host key the stack pins: no ssh option loosens it.
    const common = () => ["--stack", "test", "--cwd", dir];

    /** Pulumi.test.yaml: the sshd test host is the first node and so the admin host. */
    function writeStack(withNodes: boolean): void {
        const config: Record<string, unknown> = {
            "rancher-ha:hostname": "rancher.example.com",
            "rancher-ha:ssh": { user: host.user, port: host.port, keyPath: host.privateKeyPath, knownHostsFile: path.join(dir, "known_hosts") },
            "rancher-ha:loadBalancer": { address: "192.0.2.10" },
        };
        if (withNodes) {
            config["rancher-ha:nodes"] = [host.address, "192.0.2.12", "192.0.2.13"].map(address => ({ address, roles: ["controlplane", "etcd", "worker"] }));
        }
        fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), yaml.dump({ config }));
        // The test host's real key; the other (unreachable) hosts one of the fixture keys.
        fs.writeFileSync(path.join(dir, "known_hosts"), `[${host.address}]:${host.port} ${host.hostKey}\n*,![${host.address}]:${host.port} ${HOST_KEYS[1]}\n`);
    }

    function resetHost(): void {
        for (const d of ["rancher-ha", ".rke-test-double", ".docker-test-double"]) {
            fs.rmSync(path.join(host.home, d), { recursive: true, force: true });
        }
    }

    /** The work dir the RkeCluster stage leaves after pulumi up, for this stack. */
    async function deploy(): Promise<void> {
        const { settings } = toolSettings(readStackFile(dir, "test"));
        const a = rkeYamlArgs(settings, "192.0.2.10");
        const stdin = rkeConfigBundle(rkeClusterYaml(a), rkeUpPlan(a), [{ keyId: keyId(host.privateKey), privateKey: host.privateKey }]);
        const r = await host.run(rkeUpScript({ workDir: "~/rancher-ha", rkePath: "rke", rkeVersion: "v1.8.14", hostLabel: "x", stack: "test", retryDelaySeconds: 0 }), stdin);
        assert.equal(r.code, 0, r.stderr);
    }

    before(async function () {
        requireTool(this, sshHostUnavailable());
        // sshd on a port other than 22: the stack's ssh.port, which recover must tell apart from the state's ports.
        host = await startSshHost({ user: "opsuser", port: 2222 });
        installOpsDoubles(host);
        work = path.join(host.home, "rancher-ha");
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-ops-cli-"));
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: rancher-ha\nruntime: nodejs\n");
    });
    after(async () => {
        await host?.stop();
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    describe("snapshots and certificates on a deployed stack", () => {
        before(async () => {
            writeStack(true);
            resetHost();
            await deploy();
        });

        it("snapshot-save over SSH on the admin host, then tells how to restore it", async () => {
            const r = await spawnOps(["snapshot-save", ...common(), "--name", "before-upgrade"]);
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, /^snapshot before-upgrade saved on every etcd node \(\/opt\/rke\/etcd-snapshots\/before-upgrade\.zip\)\.\n/);
            assert.match(r.stdout, /npm run ops -- snapshot-restore --stack test --name before-upgrade --yes/);
            assert.match(r.stderr, /Finished saving\/uploading snapshot \[before-upgrade\] on all etcd hosts \(rke-test-double\)/);
            const last = rkeCalls(host).pop()!;
            assert.deepEqual([last.cwd, last.argv], [work, "etcd snapshot-save --config rancher-cluster.yml --name before-upgrade"]);
        });

        it("snapshot-restore asks for --yes first; with it, restores and saves the new state here (0600)", async () => {
            const calls = rkeCalls(host).length;
            const asked = await ops(["snapshot-restore", ...common(), "--name", "before-upgrade"]);
            assert.equal(asked.code, 2);
            assert.match(asked.stdout, /rolls the cluster of stack test back to snapshot before-upgrade: ALL cluster data written since .*--yes/);
            assert.equal(rkeCalls(host).length, calls, "nothing ran");

            const saved = path.join(dir, "restored.rkestate");
            const r = await ops(["snapshot-restore", ...common(), "--name", "before-upgrade", "--yes", "--save-state", saved]);
            assert.equal(r.code, 0, r.stderr);
            assert.equal(rkeCalls(host).pop()!.argv, "etcd snapshot-restore --config rancher-cluster.yml --name before-upgrade");
            assert.equal(fs.readFileSync(saved, "utf8"), fs.readFileSync(path.join(work, "rancher-cluster.rkestate"), "utf8"));
            assert.equal((fs.statSync(saved).mode & 0o777).toString(8), "600");
            assert.match(r.stdout, /previous file kept on the admin host: ~\/rancher-ha\/rancher-cluster\.rkestate\.before-restore-\d{8}T\d{6}Z/);
            assert.match(r.stdout, /The stack's rkeState output still holds the previous state until the next pulumi up that runs rke up/);
            assert.match(r.stdout, /pulumi config set --stack \S+ --path rancher-ha:admin\.stateSync "\$\(date \+%Y%m%d%H%M%S\)" && pulumi up --stack \S+/);
        });

        it("restore-workdir: after a lost disk, the piped state plus the stack give back the files rke needs", async () => {
            const yml = fs.readFileSync(path.join(work, "rancher-cluster.yml"), "utf8");
            const state = FIXTURE.trimEnd(); // a state as real rke writes it (the stage double's is not JSON)
            fs.rmSync(work, { recursive: true });
            const lost = await ops(["snapshot-save", ...common(), "--name", "x"]);
            assert.match(lost.stderr, new RegExp(`does not exist .*pulumi stack output --stack test --show-secrets rkeState \\| ssh -p ${host.port} opsuser-\\w+@${re(host.address)} .*npm run ops -- restore-workdir --stack test`));
            const r = await ops(["restore-workdir", ...common()], `${state}\n`); // as pulumi stack output prints it
            assert.equal(r.code, 0, r.stderr);
            assert.equal(fs.readFileSync(path.join(work, "rancher-cluster.rkestate"), "utf8"), state);
            assert.equal(fs.readFileSync(path.join(work, "rancher-cluster.yml"), "utf8"), yml, "the same yml pulumi up wrote");
            assert.equal(fs.readFileSync(path.join(work, "keys", keyId(host.privateKey)), "utf8"), host.privateKey);
            assert.match(fs.readFileSync(path.join(work, "kube_config_rancher-cluster.yml"), "utf8"), /kube-admin-local/);
            const again = await ops(["snapshot-save", ...common(), "--name", "after-restore-workdir"]);
            assert.equal(again.code, 0, again.stderr);
        });

        it("cert-rotate: --service goes through, --rotate-ca needs --yes, mistakes are refused before SSH", async () => {
            const r = await ops(["cert-rotate", ...common(), "--service", "kubelet"]);
            assert.equal(r.code, 0, r.stderr);
            assert.equal(rkeCalls(host).pop()!.argv, "cert rotate --config rancher-cluster.yml --service kubelet");
            const calls = rkeCalls(host).length;
            const ca = await ops(["cert-rotate", ...common(), "--rotate-ca"]);
            assert.equal(ca.code, 2);
            assert.match(ca.stdout, /replaces the cluster CA .*--yes/);
            const bad = await ops(["cert-rotate", ...common(), "--service", "apiserver"]);
            assert.equal(bad.code, 1);
            assert.match(bad.stderr, /unknown --service apiserver; rke cert rotate takes etcd, kubelet, kube-apiserver/);
            const typo = await ops(["snapshot-save", ...common(), "--nmae", "x"]);
            assert.match(typo.stderr, /unknown option --nmae for snapshot-save; it takes .*--name/);
            const noStack = await ops(["snapshot-save", "--cwd", dir]);
            assert.match(noStack.stderr, /--stack <name> is required/);
            assert.equal(rkeCalls(host).length, calls);
        });
    });

    describe("host-keys and remove-cluster", () => {
        beforeEach(async () => {
            writeStack(true);
            resetHost();
            await deploy();
        });

        it("host-keys scans every host, prints fingerprints and the lines that pin them; a differing key exits 3", async () => {
            // The stack pins nothing in its own settings yet (the known_hosts file aside): every scanned host is listed.
            const r = await ops(["host-keys", ...common()]);
            const fp = hostKeyFingerprint(host.hostKey);
            // Only the test host answers; the documentation addresses do not (reported, exit 1).
            assert.equal(r.code, 1, r.stderr);
            assert.match(r.stdout, new RegExp(`^nodes\\[0\\] \\(${re(host.address)}:${host.port}\\): ${fp.replace(/[+/]/g, "\\$&")}  not pinned yet$`, "m"));
            assert.match(r.stdout, /^loadBalancer \(192\.0\.2\.10:\d+\): no answer to ssh-keyscan/m);
            assert.ok(r.stdout.includes(`pulumi config set --stack test --path 'rancher-ha:nodes[0].hostKey' '${host.hostKey}'`), r.stdout);
            assert.match(r.stdout, /Check each fingerprint against the host's own/);
            // Pinned to another key: said loudly, exit 3.
            const doc = yaml.load(fs.readFileSync(path.join(dir, "Pulumi.test.yaml"), "utf8")) as any;
            doc.config["rancher-ha:nodes"][0].hostKey = HOST_KEYS[2];
            fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), yaml.dump(doc));
            const differs = await ops(["host-keys", ...common()]);
            assert.equal(differs.code, 3);
            assert.match(differs.stdout, /^nodes\[0\] .*pinned: DIFFERS from the stack's$/m);
            assert.match(differs.stderr, /present a key other than the one the stack pins/);
        });

        it("every ops SSH connection checks the pinned key: a wrong one is refused before anything runs", async () => {
            const doc = yaml.load(fs.readFileSync(path.join(dir, "Pulumi.test.yaml"), "utf8")) as any;
            doc.config["rancher-ha:nodes"][0].hostKey = HOST_KEYS[2];
            fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), yaml.dump(doc));
            const before = rkeCalls(host).length;
            const r = await ops(["snapshot-save", ...common(), "--name", "x", "--ssh-option", "StrictHostKeyChecking=no"]);
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
            assert.equal(rkeCalls(host).length, before, `rke never ran: ${JSON.stringify(rkeCalls(host))} ${r.stderr}`);
        });

        it("cert-status reads the certificates' expiry from the admin host's state: CA first, exit 3 when one is due", async function () {
            requireTool(this, toolMissing("openssl", ["version"]));
            const pem = (cn: string, days: number, ca: boolean) => {
                const d = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-cert-"));
                try {
                    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", path.join(d, "k"), "-out", path.join(d, "c"), "-days", String(days), "-subj", `/CN=${cn}`,
                        "-addext", `basicConstraints=critical,CA:${ca ? "TRUE" : "FALSE"}`], { stdio: "ignore" });
                    return fs.readFileSync(path.join(d, "c"), "utf8");
                } finally {
                    fs.rmSync(d, { recursive: true, force: true });
                }
            };
            const writeState = (apiDays: number) => fs.writeFileSync(path.join(work, "rancher-cluster.rkestate"), JSON.stringify({
                currentState: { certificatesBundle: {
                    "kube-apiserver": { certificatePEM: pem("kube-apiserver", apiDays, false) },
                    "kube-ca": { certificatePEM: pem("kube-ca", 3650, true) },
                } },
            }));
            writeState(365);
            const fine = await ops(["cert-status", ...common()]);
            assert.equal(fine.code, 0, fine.stderr);
            assert.match(fine.stdout, /^ {2}kube-ca +\d{4}-\d{2}-\d{2} +36\d\d days {2}ok {2}\(CA\)\n {2}kube-apiserver +\d{4}-\d{2}-\d{2} +36[45] days {2}ok$/m);
            writeState(10);
            const due = await ops(["cert-status", ...common()]);
            assert.equal(due.code, 3);
            assert.match(due.stdout, /kube-apiserver .* EXPIRES SOON/);
            assert.match(due.stdout, /warning: kube-apiserver expires in \d+ day\(s\).*npm run ops -- cert-rotate --stack test/);
        });

        it("remove-cluster asks for --yes, then runs rke remove with the work dir's files and leaves no secret", async () => {
            const asked = await ops(["remove-cluster", ...common()]);
            assert.equal(asked.code, 1);
            assert.match(asked.stdout, new RegExp(`remove-cluster WIPES the cluster of stack test: rke remove --force wipes the cluster on ${re(host.address)}, [\\s\\S]*--yes`));
            assert.ok(fs.existsSync(path.join(work, "rancher-cluster.rkestate")), "nothing happened without --yes");
            const r = await ops(["remove-cluster", ...common(), "--yes"]);
            assert.equal(r.code, 0, r.stderr);
            assert.equal(rkeCalls(host).pop()!.argv, "remove --force --config rancher-cluster.yml");
            assert.match(r.stdout, /The cluster of stack test is removed/);
            assert.deepEqual(fs.readdirSync(work).filter(f => f !== ".rancher-ha.lock"), []);
        });
    });

    describe("recover: adopting a cluster whose state files are lost", () => {
        before(() => {
            writeStack(false);
            resetHost();
        });

        it("reads the state on a controlplane node, installs it on the admin host, writes the stack config, and ops work right away", async () => {
            // The cluster runs on the test host (first node) and two others; the state says root, like states do.
            const state = JSON.parse(FIXTURE);
            for (const half of [state.currentState, state.desiredState]) {
                Object.assign(half.rkeConfig.nodes[0], { address: host.address, internalAddress: "10.0.0.21", port: String(host.port) });
            }
            const stateText = JSON.stringify(state, null, 2);
            control(host, "docker", "secret.json", fullStateObject("Secret", stateText));

            const kubeOut = path.join(dir, "admin.kubeconfig");
            const r = await ops(["recover", ...common(), "--ssh-option", `UserKnownHostsFile=${host.knownHostsPath}`, "--from", host.address, "--write", "--kubeconfig-out", kubeOut]);
            assert.equal(r.code, 0, r.stderr);
            // On the admin host: the state as it was in the cluster, the kubeconfig, a cluster.yml as it runs, the key.
            assert.equal(fs.readFileSync(path.join(work, "rancher-cluster.rkestate"), "utf8"), stateText);
            const yml = yaml.load(fs.readFileSync(path.join(work, "rancher-cluster.yml"), "utf8")) as any;
            assert.equal(yml.kubernetes_version, "v1.28.15-rancher1-1");
            assert.deepEqual(yml.nodes.map((n: any) => [n.address, n.user, n.ssh_key_path]), [
                [host.address, host.user, `~/rancher-ha/keys/${keyId(host.privateKey)}`],
                ["192.0.2.22", host.user, `~/rancher-ha/keys/${keyId(host.privateKey)}`],
                ["192.0.2.23", host.user, `~/rancher-ha/keys/${keyId(host.privateKey)}`],
            ]);
            assert.equal(fs.readFileSync(path.join(work, "keys", keyId(host.privateKey)), "utf8"), host.privateKey);
            assert.match(fs.readFileSync(kubeOut, "utf8"), /user: "kube-admin-local"/);
            // The stack now describes the cluster, without a secret, and passes validation.
            const written = fs.readFileSync(path.join(dir, "Pulumi.test.yaml"), "utf8");
            assert.ok(!written.includes("FAKE-registry-password"));
            assert.ok(fs.existsSync(path.join(dir, "Pulumi.test.yaml.bak")));
            // ... once the user has set the registry password as told (`pulumi config set --secret` stores it encrypted).
            const doc = yaml.load(written) as { config: Record<string, unknown> };
            doc.config["rancher-ha:privateRegistryPassword"] = { secure: "v1:ZmFrZS1lbmNyeXB0ZWQ=" };
            fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), yaml.dump(doc));
            const { settings } = toolSettings(readStackFile(dir, "test"));
            assert.deepEqual(settings.nodes.map(n => [n.address, n.port, n.user, n.roles.join(",")]), [
                [host.address, host.port, host.user, "controlplane,etcd,worker"],
                ["192.0.2.22", 22, host.user, "controlplane,etcd,worker"],   // the state's port, not ssh.port
                ["192.0.2.23", 22, host.user, "controlplane,etcd,worker"],
            ]);
            assert.equal(settings.versions.kubernetes, "v1.28.15-rancher1-1");
            assert.ok(settings.rkeOverrides, "rkeOverrides passed RKE's key check");
            // As written to the file (the values of extra_args are RKE's map[string]string: strings).
            assert.deepEqual((doc.config["rancher-ha:rkeOverrides"] as any).services, {
                etcd: { extra_args: { "quota-backend-bytes": "6442450944" }, backup_config: { interval_hours: 12, retention: 6, timeout: 300 } },
                "kube-api": { extra_args: { "audit-log-maxage": "30" } },
                kubelet: { extra_args: { "max-pods": "250" }, extra_binds: ["/usr/libexec/kubernetes/kubelet-plugins:/usr/libexec/kubernetes/kubelet-plugins"] },
            });
            // What the user is told.
            assert.match(r.stdout, /\[set before pulumi up\] privateRegistryPassword/);
            assert.match(r.stdout, /\[the first pulumi up changes\] authentication\.sans: adds 192\.0\.2\.10, rancher\.example\.com \(the load balancer and Rancher hostname\)/);
            assert.match(r.stdout, /pulumi config set --stack test --secret privateRegistryPassword/);
            assert.match(r.stdout, /npm run ops -- snapshot-save --stack test --name before-adoption/);
            assert.ok(!(r.stdout + r.stderr).includes("FAKE-registry-password") && !(r.stdout + r.stderr).includes("RkFLRSBLRVk"),
                "neither the state's secrets nor its keys are printed");

            // Idempotent: the same recovery again changes nothing.
            const again = await ops(["recover", ...common(), "--ssh-option", `UserKnownHostsFile=${host.knownHostsPath}`, "--from", host.address]);
            assert.equal(again.code, 0, again.stderr);
            assert.match(again.stdout, /kept rancher-cluster\.rkestate/);

            // And the adopted work dir is usable by rke at once: a snapshot before the first pulumi up.
            const snap = await ops(["snapshot-save", ...common(), "--name", "before-adoption"]);
            assert.equal(snap.code, 0, snap.stderr);
            assert.equal(rkeCalls(host).pop()!.argv, "etcd snapshot-save --config rancher-cluster.yml --name before-adoption");
        });
    });

    describe("recover: nothing written on a precondition, the kubeconfig it writes, the nodes it compares", () => {
        const dockerCalls = () => {
            const p = path.join(host.home, ".docker-test-double", "calls.log");
            return fs.existsSync(p) ? fs.readFileSync(p, "utf8").trim().split("\n") : [];
        };
        /** The fixture on the test host, nodes reordered: a worker first, the test host the first controlplane node. */
        function cluster(mutate: (state: any) => void = () => undefined): string {
            const state = JSON.parse(FIXTURE);
            for (const half of [state.currentState, state.desiredState]) {
                const [a, b, c] = half.rkeConfig.nodes;
                Object.assign(a, { address: host.address, internalAddress: "10.0.0.21", port: String(host.port) });
                Object.assign(c, { role: ["worker"] });
                half.rkeConfig.nodes = [c, a, b];
            }
            mutate(state);
            const text = JSON.stringify(state, null, 2);
            control(host, "docker", "secret.json", fullStateObject("Secret", text));
            return text;
        }
        beforeEach(() => {
            writeStack(false);
            resetHost();
            for (const f of ["Pulumi.test.yaml.bak", "admin.kubeconfig"]) {
                fs.rmSync(path.join(dir, f), { force: true });
            }
        });

        it("an existing --kubeconfig-out: refused before anything is read or written, naming the file and the fix", async () => {
            cluster();
            const kubeOut = path.join(dir, "admin.kubeconfig");
            fs.writeFileSync(kubeOut, "mine\n");
            const stackBefore = fs.readFileSync(path.join(dir, "Pulumi.test.yaml"), "utf8");
            const r = await ops(["recover", ...common(), "--from", host.address, "--write", "--kubeconfig-out", kubeOut]);
            assert.equal(r.code, 1);
            assert.equal(r.stderr, `rancher-ha ops recover: --kubeconfig-out ${kubeOut} already exists and recover never overwrites a kubeconfig; ` +
                "nothing was written. Move it away (or delete it), or pass another --kubeconfig-out, and run recover again\n");
            assert.equal(r.stdout, "");
            assert.equal(fs.readFileSync(kubeOut, "utf8"), "mine\n");
            assert.ok(!fs.existsSync(work), "the admin work dir is not written");
            assert.equal(fs.readFileSync(path.join(dir, "Pulumi.test.yaml"), "utf8"), stackBefore);
            assert.ok(!fs.existsSync(path.join(dir, "Pulumi.test.yaml.bak")));
            assert.deepEqual(dockerCalls(), [], "nothing was read either");
            const noDir = await ops(["recover", ...common(), "--from", host.address, "--kubeconfig-out", path.join(dir, "nope", "k")]);
            assert.equal(noDir.code, 1);
            assert.match(noDir.stderr, /--kubeconfig-out .*nope\/k: the directory .*nope does not exist or is not writable; nothing was written/);
            assert.ok(!fs.existsSync(work));
        });

        it("an empty kube-admin config: built from the state's certificates; the summary names the node the file points at", async () => {
            cluster(st => { st.currentState.certificatesBundle["kube-admin"].config = ""; });
            const kubeOut = path.join(dir, "admin.kubeconfig");
            const r = await ops(["recover", ...common(), "--from", host.address, "--kubeconfig-out", kubeOut]);
            assert.equal(r.code, 0, r.stderr);
            const kc = yaml.load(fs.readFileSync(kubeOut, "utf8")) as any;
            assert.equal(kc.clusters[0].cluster.server, `https://${host.address}:6443`, "the first controlplane node, as RKE does");
            const bundle = JSON.parse(FIXTURE).currentState.certificatesBundle;
            assert.equal(kc.users[0].user["client-certificate-data"], Buffer.from(bundle["kube-admin"].certificatePEM).toString("base64"));
            assert.equal(kc.clusters[0].cluster["certificate-authority-data"], Buffer.from(bundle["kube-ca"].certificatePEM).toString("base64"));
            assert.equal(fs.readFileSync(path.join(work, "kube_config_rancher-cluster.yml"), "utf8"), fs.readFileSync(kubeOut, "utf8"));
            assert.match(r.stdout, new RegExp(`admin kubeconfig saved to \\S+admin\\.kubeconfig \\(0600; built from the state's kube-admin certificate and key, it points at https://${re(host.address)}:6443 \\(the first controlplane node, node 2 of the state: etcd, controlplane, worker\\)\\)`));
            assert.doesNotMatch(r.stdout, /192\.0\.2\.23\)/, "not nodes[0], the worker");
        });

        it("the state's kube-admin config as it is: the summary says where it points, not nodes[0]", async () => {
            cluster(); // the fixture's kubeconfig points at 192.0.2.21's old address: what the file says is what is said
            const kubeOut = path.join(dir, "admin.kubeconfig");
            const r = await ops(["recover", ...common(), "--from", host.address, "--kubeconfig-out", kubeOut]);
            assert.equal(r.code, 0, r.stderr);
            const server = (yaml.load(fs.readFileSync(kubeOut, "utf8")) as any).clusters[0].cluster.server;
            assert.ok(r.stdout.includes(`(0600; it points at ${server})`), r.stdout);
        });

        it("compares the state's nodes with kubectl get nodes on the same node: lists each difference with its fix, exit 0", async () => {
            cluster();
            control(host, "docker", "nodes.json", nodeList([
                rkeNode("rancher-01", host.address, ["controlplane", "etcd", "worker"], "10.0.0.21"),
                rkeNode("rancher-02", "192.0.2.22", ["controlplane", "etcd", "worker"]),
                rkeNode("worker-04", "192.0.2.24", ["worker"]),
            ]));
            const r = await ops(["recover", ...common(), "--from", host.address]);
            assert.equal(r.code, 0, r.stderr);
            assert.ok(dockerCalls().some(c => c.endsWith("get nodes -o json")), "the same kubectl on the same node");
            assert.match(r.stdout, new RegExp(`Nodes: the state and the cluster \\(kubectl get nodes on [\\w-]+@${re(host.address)}:${host.port}\\) differ`));
            assert.match(r.stdout, /in the cluster, missing from the state .*\n  - worker-04 \(192\.0\.2\.24\), roles worker: .*add it to the stack's nodes with its roles .*\{address: 192\.0\.2\.24, roles: \[worker\]\}.*kubectl drain worker-04 --ignore-daemonsets --delete-emptydir-data && kubectl delete node worker-04/);
            assert.match(r.stdout, /in the state, missing from the cluster:\n  - 192\.0\.2\.23 \(192\.0\.2\.23\), roles worker: .*remove it from the stack's nodes in Pulumi\.test\.yaml before pulumi up/);
            assert.match(r.stdout, /Next:\n/, "the recovery went on");
            control(host, "docker", "nodes.json", undefined);
            const unknown = await ops(["recover", ...common(), "--from", host.address]);
            assert.equal(unknown.code, 0, unknown.stderr);
            assert.match(unknown.stdout, /Nodes: not compared with the cluster \(kubectl get nodes failed on .*Forbidden.*\); compare kubectl get nodes with the nodes above/);
        });
    });

    describe("recover behind the stack's bastion (a second sshd as the jump host)", () => {
        let jump: SshHost;
        before(async () => {
            jump = await startSshHost({ user: "opsjump" });
        });
        after(async () => jump?.stop());

        /** The stack before recover: the bastion set (its key, its pinned host key); the node reached only through it. */
        function writeBastionStack(bastionHostKey: string): void {
            writeStack(false);
            const doc = yaml.load(fs.readFileSync(path.join(dir, "Pulumi.test.yaml"), "utf8")) as any;
            doc.config["rancher-ha:bastion"] = { address: jump.address, port: jump.port, user: jump.user, sshKeyPath: jump.privateKeyPath, hostKey: bastionHostKey };
            fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), yaml.dump(doc));
        }

        it("reads the state through the bastion (pinned), installs its key like the nodes', and snapshot-save works; the hint fits an adopted stack", async () => {
            resetHost();
            const state = JSON.parse(FIXTURE);
            for (const half of [state.currentState, state.desiredState]) {
                Object.assign(half.rkeConfig.nodes[0], { address: host.address, internalAddress: "10.0.0.21", port: String(host.port) });
                half.rkeConfig.bastionHost = { address: jump.address, port: String(jump.port), user: "root", sshKeyPath: "~/.ssh/id_rsa" };
            }
            control(host, "docker", "secret.json", fullStateObject("Secret", JSON.stringify(state, null, 2)));

            // Through the bastion: a wrong pinned bastion key stops it before anything reaches the node.
            writeBastionStack(HOST_KEYS[2]);
            const refused = await ops(["recover", ...common(), "--from", host.address]);
            assert.equal(refused.code, 1);
            assert.match(refused.stderr, new RegExp(`through the bastion opsjump-\\w+@${re(jump.address)}:${jump.port}`));
            assert.match(refused.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
            assert.ok(!fs.existsSync(path.join(host.home, ".docker-test-double", "calls.log")), "the node was not reached");

            writeBastionStack(jump.hostKey);
            const r = await ops(["recover", ...common(), "--from", host.address, "--write"]);
            assert.equal(r.code, 0, r.stderr);
            const yml = yaml.load(fs.readFileSync(path.join(work, "rancher-cluster.yml"), "utf8")) as any;
            const jumpId = keyId(jump.privateKey);
            assert.deepEqual(yml.bastion_host, { address: jump.address, port: String(jump.port), user: jump.user, ssh_key_path: `~/rancher-ha/keys/${jumpId}` });
            assert.equal(fs.readFileSync(path.join(work, "keys", jumpId), "utf8"), jump.privateKey);
            assert.equal(fs.readFileSync(path.join(work, "keys", keyId(host.privateKey)), "utf8"), host.privateKey);
            // The stack keeps its own bastion settings (key, pinned host key).
            const bastion = (yaml.load(fs.readFileSync(path.join(dir, "Pulumi.test.yaml"), "utf8")) as any).config["rancher-ha:bastion"];
            assert.deepEqual(bastion, { address: jump.address, port: jump.port, user: jump.user, sshKeyPath: jump.privateKeyPath, hostKey: jump.hostKey });
            assert.doesNotMatch(r.stdout, /set bastion\.sshKeyPath/);
            // The registry password set as told (pulumi config set --secret stores it encrypted).
            const doc = yaml.load(fs.readFileSync(path.join(dir, "Pulumi.test.yaml"), "utf8")) as any;
            doc.config["rancher-ha:privateRegistryPassword"] = { secure: "v1:ZmFrZS1lbmNyeXB0ZWQ=" };
            fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), yaml.dump(doc));

            // Step 3 of the adoption: rke finds every key the yml names (through the bastion to the admin host too).
            const snap = await ops(["snapshot-save", ...common(), "--name", "before-adoption"]);
            assert.equal(snap.code, 0, snap.stderr);
            assert.equal(rkeCalls(host).pop()!.argv, "etcd snapshot-save --config rancher-cluster.yml --name before-adoption");

            // A lost file of an adopted work dir: the hint says recover again (the stack has no rkeState output yet).
            fs.rmSync(path.join(work, "keys", jumpId));
            const lost = await ops(["snapshot-save", ...common(), "--name", "x"]);
            assert.equal(lost.code, 1);
            assert.match(lost.stderr, new RegExp(`missing in .*keys/\\w+; rke cannot work on the cluster without them\\. this work dir was written by npm run ops -- recover and the stack has no rkeState output until its first pulumi up .*: write the files again with npm run ops -- recover --stack test --from ${re(host.address)}`));
            assert.doesNotMatch(lost.stderr, /--show-secrets rkeState/, "not the stack output an adopted stack does not have yet");
            const again = await ops(["recover", ...common(), "--from", host.address]);
            assert.equal(again.code, 0, again.stderr);
            assert.match(again.stdout, new RegExp(`wrote keys/${jumpId}`));
        });
    });

    describe("agents-redeploy", () => {
        let api: FakeAgentApi;
        before(function () {
            requireTool(this, toolMissing("kubectl", ["version", "--client"]));
        });
        after(async () => api?.stop());

        it("takes the CA from Rancher's cacerts setting and patches the agents of the given cluster", async () => {
            api = new FakeAgentApi();
            const url = await api.start();
            api.cacerts = "-----BEGIN CERTIFICATE-----\nRkFLRSBORVcgQ0E=\n-----END CERTIFICATE-----";
            const kc = path.join(dir, "downstream.kubeconfig");
            fs.writeFileSync(kc, kubeconfigFor(url), { mode: 0o600 });
            const r = await ops(["agents-redeploy", ...common(), "--kubeconfig", kc, "--rancher-url", url]);
            assert.equal(r.code, 0, r.stderr);
            const sum = agentCaChecksum(api.cacerts);
            assert.match(r.stderr, new RegExp(`CA checksum from ${url}/v3/settings/cacerts: ${sum}`));
            assert.match(r.stdout, /^patched deployment\/cattle-cluster-agent cluster-register .*\npatched daemonset\/cattle-node-agent agent /);
            assert.match(r.stdout, /Force Update/);
            assert.deepEqual(api.checksums(AGENT_PATHS.daemonset), { agent: sum });
        });
    });
});
