// The RKE stage's remote scripts, run over real sshd as a non-root user exactly as @pulumi/command runs them
// (command string as the session command, bundle on stdin), with test doubles of rke and docker.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { keyId } from "../../../components/config";
import { rkeClusterYaml, rkeUpPlan, rkeYamlArgs } from "../../../components/rke/clusterYml";
import {
    parseRkeUpOutput, rkeConfigBundle, rkePreflightScript, rkeRemoveScript, rkeRequiredPorts, rkeRestoreBundle, rkeStageScripts,
    rkeRestorePayload, rkeUpScript, RkeUpScriptArgs,
} from "../../../components/rke/scripts";
import { freePort, RunResult, SshHost, sshHostUnavailable, startSshHost } from "../../helpers/sshHost";
import { requireTool } from "../../helpers/tools";
import { control, installDoubles, rkeCalls, RKE_TEST_DOUBLE } from "../../fixtures/rke/doubles";
import { CLUSTER_KEY, minimalRaw, nodesRaw, settingsFrom } from "../../fixtures/rke/settings";

function configBundle(nodes: number, mutate?: (raw: Record<string, unknown>) => void): string {
    const raw = minimalRaw(nodesRaw(nodes));
    mutate?.(raw);
    const s = settingsFrom(raw);
    const args = rkeYamlArgs(s, "192.0.2.10");
    return rkeConfigBundle(rkeClusterYaml(args), rkeUpPlan(args), [{ keyId: keyId(CLUSTER_KEY), privateKey: CLUSTER_KEY }]);
}

function mode(p: string): string {
    return (fs.statSync(p).mode & 0o777).toString(8);
}

describe("render: RKE scripts over real SSH (rke and docker test doubles)", function () {
    this.timeout(120000);
    let host: SshHost;
    let work: string;
    const upArgs = (over: Partial<RkeUpScriptArgs> = {}): RkeUpScriptArgs => ({
        workDir: "~/rancher-ha", rkePath: "rke", rkeVersion: "v1.8.14", hostLabel: "rkeuser@127.0.0.1:22", stack: "test",
        attempts: 3, retryDelaySeconds: 0, ...over,
    });
    const up = (stdin: string, over: Partial<RkeUpScriptArgs> = {}) => host.run(rkeUpScript(upArgs(over)), stdin);
    const upCalls = () => rkeCalls(host).filter(c => c.argv.startsWith("up"));
    const ok = (r: RunResult) => assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);

    before(async function () {
        requireTool(this, sshHostUnavailable());
        host = await startSshHost({ user: "rkeuser", sudo: true });
        installDoubles(host);
        work = path.join(host.home, "rancher-ha");
    });
    after(async () => host && host.stop());
    beforeEach(() => {
        fs.rmSync(work, { recursive: true, force: true });
        for (const d of [".rke-test-double", ".docker-test-double"]) {
            fs.rmSync(path.join(host.home, d), { recursive: true, force: true });
        }
    });

    describe("rke up", () => {
        it("writes the yml and keys with mode 0600, runs rke up in the work dir, reports kubeconfig and state on stdout only", async () => {
            const r = await up(configBundle(3));
            ok(r);
            assert.equal(mode(work), "700");
            assert.equal(mode(path.join(work, "rancher-cluster.yml")), "600");
            assert.equal(mode(path.join(work, "keys")), "700");
            const keyFile = path.join(work, "keys", keyId(CLUSTER_KEY));
            assert.equal(mode(keyFile), "600");
            assert.equal(fs.readFileSync(keyFile, "utf8"), CLUSTER_KEY);
            assert.match(fs.readFileSync(path.join(work, "rancher-cluster.yml"), "utf8"), /kubernetes_version: v1\.30\.14-rancher1-1/);
            assert.equal(fs.readdirSync(work).filter(f => f.startsWith(".incoming")).length, 0, "staging dir cleaned up");

            assert.deepEqual(upCalls().map(c => [c.cwd, c.argv, c.stateBefore]), [[work, "up --config rancher-cluster.yml", "absent"]]);
            const out = parseRkeUpOutput(r.stdout);
            assert.equal(out.mode, "full");
            assert.equal(out.rkeState, fs.readFileSync(path.join(work, "rancher-cluster.rkestate"), "utf8"));
            assert.equal(out.kubeconfig, fs.readFileSync(path.join(work, "kube_config_rancher-cluster.yml"), "utf8"));
            assert.match(out.kubeconfig, /server: "https:\/\/192\.0\.2\.11:6443"/);
            // stderr (logged by Pulumi) has the progress, never the state, the kubeconfig or a key.
            assert.match(r.stderr, /Finished building Kubernetes cluster successfully \(rke-test-double\)/);
            for (const secret of [out.rkeState.split("\n")[1], "client-key-data", "PRIVATE KEY"]) {
                assert.ok(!r.stderr.includes(secret), `stderr leaks ${secret}`);
            }
        });

        it("a re-run with the same input does not call rke and reports the same outputs", async () => {
            const stdin = configBundle(3);
            const first = await up(stdin);
            ok(first);
            const again = await up(stdin);
            ok(again);
            assert.equal(upCalls().length, 1);
            assert.match(again.stderr, /unchanged since the last successful rke up; not running rke/);
            const [a, b] = [parseRkeUpOutput(first.stdout), parseRkeUpOutput(again.stdout)];
            assert.equal(b.mode, "unchanged");
            assert.deepEqual([b.kubeconfig, b.rkeState], [a.kubeconfig, a.rkeState]);
        });

        it("a new admin.stateSync reports what an ops command left on the host, without calling rke", async () => {
            const stdin = configBundle(3);
            ok(await up(stdin));
            // What `npm run ops -- cert-rotate` leaves behind: new certificates in the state and the kubeconfig.
            fs.appendFileSync(path.join(work, "rancher-cluster.rkestate"), "\n/* rotated */\n");
            fs.appendFileSync(path.join(work, "kube_config_rancher-cluster.yml"), "# rotated\n");
            const synced = await up(stdin, { stateSync: "20261123" });
            ok(synced);
            assert.equal(upCalls().length, 1, "rke itself is not called again");
            const out = parseRkeUpOutput(synced.stdout);
            assert.equal(out.mode, "unchanged");
            assert.match(out.rkeState, /rotated/);
            assert.match(out.kubeconfig, /# rotated/);
            assert.match(rkeUpScript(upArgs({ stateSync: "20261123" })), /^# admin\.stateSync: 20261123 /m);
            assert.throws(() => rkeUpScript(upArgs({ stateSync: "x\nrm -rf /" })), /stateSync "x\nrm -rf \/" must match/);
        });

        it("a node change runs rke up: worker-only additions/removals with --update-only, anything else in full", async () => {
            ok(await up(configBundle(3)));
            ok(await up(configBundle(5)));   // two workers added
            ok(await up(configBundle(4)));   // one removed
            ok(await up(configBundle(4, raw => { (raw.nodes as any[])[3].labels = { pool: "b" }; })));  // a kept worker changed
            ok(await up(configBundle(4, raw => { (raw.nodes as any[])[3].roles = ["controlplane", "worker"]; })));
            ok(await up(configBundle(5)));   // after a full change the fingerprint is the new one again
            assert.deepEqual(upCalls().map(c => c.argv), [
                "up --config rancher-cluster.yml",
                "up --update-only --config rancher-cluster.yml",
                "up --update-only --config rancher-cluster.yml",
                "up --config rancher-cluster.yml",
                "up --config rancher-cluster.yml",
                "up --config rancher-cluster.yml",
            ]);
            // every run after the first found the state the previous one wrote
            assert.ok(upCalls().slice(1).every(c => c.stateBefore !== "absent"));
        });

        it("restores the state file from the stack when the host lacks it, and never overwrites one that is there", async () => {
            const first = await up(configBundle(3));
            ok(first);
            const saved = parseRkeUpOutput(first.stdout).rkeState;
            const statePath = path.join(work, "rancher-cluster.rkestate");

            fs.rmSync(statePath);   // lost admin disk (state only)
            const restored = await up(configBundle(4) + rkeRestoreBundle(saved, true));
            ok(restored);
            assert.match(restored.stderr, /rancher-cluster\.rkestate was missing; restored it from the Pulumi stack/);
            const sha = (t: string) => require("crypto").createHash("sha256").update(t).digest("hex");
            assert.equal(upCalls()[1].stateBefore, sha(saved), "rke up ran with the restored state");
            assert.equal(mode(statePath), "600");

            // The same payload again (Pulumi replays it while the config hash is unchanged): the host's newer state,
            // written by the run that took that payload in, is used.
            const onHost = fs.readFileSync(statePath, "utf8");
            const kept = await up(configBundle(5) + rkeRestoreBundle(saved, true));
            ok(kept);
            assert.equal(upCalls()[2].stateBefore, sha(onHost), "the host's newer state was used, not the replayed payload");
            assert.ok(!kept.stderr.includes("restored it"));
        });

        it("refuses a state from the stack that this host never wrote nor took in (admin host A -> B -> A), keeping both", async () => {
            ok(await up(configBundle(3)));
            const statePath = path.join(work, "rancher-cluster.rkestate");
            const stale = fs.readFileSync(statePath, "utf8");
            const fromB = "# state rke wrote on admin host B since\n";
            const r = await up(configBundle(4) + rkeRestoreBundle(fromB, true));
            assert.equal(r.code, 1);
            assert.match(r.stderr, /differs from the newer one in the Pulumi stack.*Both are kept; rke did not run.*mv .*rancher-cluster\.rkestate\.from-stack .*rancher-cluster\.rkestate/);
            assert.equal(upCalls().length, 1, "rke was not called");
            assert.equal(r.stdout, "", "no outputs: the stack keeps its state");
            assert.equal(fs.readFileSync(statePath, "utf8"), stale, "the host's copy is untouched");
            const kept = path.join(work, "rancher-cluster.rkestate.from-stack");
            assert.equal(fs.readFileSync(kept, "utf8"), fromB);
            assert.equal(mode(kept), "600");
            // The operator chooses the stack's, as the message says: rke then runs with it.
            fs.renameSync(kept, statePath);
            ok(await up(configBundle(4) + rkeRestoreBundle(fromB, true)));
            const sha = (t: string) => require("crypto").createHash("sha256").update(t).digest("hex");
            assert.equal(upCalls()[1].stateBefore, sha(fromB));
            assert.ok(!fs.existsSync(kept));
        });

        it("refuses to run rke up when the cluster exists but no state file is on the host or in the stack", async () => {
            ok(await up(configBundle(3)));
            fs.rmSync(path.join(work, "rancher-cluster.rkestate"));
            const r = await up(configBundle(4) + rkeRestoreBundle(undefined, true));
            assert.equal(r.code, 1);
            assert.match(r.stderr, /the cluster exists .* but neither .*rancher-cluster\.rkestate nor the stack has its state file; rke up without it would create new certificates/);
            assert.equal(upCalls().length, 1, "rke was not called");
            assert.equal(r.stdout, "");
        });

        it("retries a failing rke up, then fails with its stderr tail and no outputs on stdout", async () => {
            control(host, "rke", "fail-times", "1");
            control(host, "rke", "fail-message", "Failed to set up SSH tunneling for host [192.0.2.12]: Can't retrieve Docker Info");
            const retried = await up(configBundle(3));
            ok(retried);
            assert.match(retried.stderr, /attempt 2 of 3/);
            assert.equal(upCalls().length, 2);

            control(host, "rke", "fail-times", "9");
            const failed = await up(configBundle(4), { attempts: 2 });
            assert.equal(failed.code, 1);
            assert.equal(upCalls().length, 4);
            assert.match(failed.stderr, /rke up failed 2 time\(s\); last lines of .*rancher-ha\/rke\.log:\n(  \| .*\n)*  \| FATA\[0042\] Failed to set up SSH tunneling for host \[192\.0\.2\.12\]/);
            assert.match(failed.stderr.trim().split("\n").pop()!, /^rancher-ha: rkeuser@127\.0\.0\.1:22: rke up failed \(exit 1\) after 2 attempt\(s\)/);
            assert.equal(failed.stdout, "", "no outputs block: the error Pulumi shows holds no secrets");

            control(host, "rke", "fail-times", "0");
            const fixed = await up(configBundle(4));
            ok(fixed);
            assert.equal(parseRkeUpOutput(fixed.stdout).mode, "update-only", "the failed run did not record its fingerprint");
        });

        it("checks the rke binary: missing or another version fails with how to install the right one", async () => {
            const missing = await up(configBundle(3), { rkePath: "~/bin/no-such-rke" });
            assert.equal(missing.code, 1);
            assert.match(missing.stderr, /rke not found \(admin\.rkePath: .*no-such-rke\); install rke v1\.8\.14: curl -fsSLo \/tmp\/rke https:\/\/github\.com\/rancher\/rke\/releases\/download\/v1\.8\.14\/rke_linux-(amd64|arm64)/);
            control(host, "rke", "version", "v1.5.10");
            const wrong = await up(configBundle(3));
            assert.equal(wrong.code, 1);
            assert.match(wrong.stderr, /rke is rke v1\.5\.10, but versions\.rke is v1\.8\.14/);
            assert.equal(upCalls().length, 0);
        });
    });

    describe("a run that outlives its SSH session, and one run at a time", () => {
        const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

        it("a dropped session does not stop rke: it finishes on the host, and the next run picks up its outputs", async () => {
            control(host, "rke", "up-seconds", "5");
            const stdin = configBundle(3);
            // The SSH client is killed 2 s into the run (a lost network, a cancelled pulumi up).
            await assert.rejects(host.run(rkeUpScript(upArgs()), stdin, 2000), /timed out/);
            control(host, "rke", "up-seconds", undefined);
            // rke goes on in its own session; the next run of the same config reattaches or finds it done.
            const next = await up(stdin);
            ok(next);
            assert.equal(upCalls().length, 1, "rke up ran once, and to the end");
            const out = parseRkeUpOutput(next.stdout);
            assert.equal(out.mode, "unchanged");
            assert.equal(out.rkeState, fs.readFileSync(path.join(work, "rancher-cluster.rkestate"), "utf8"));
            assert.match(fs.readFileSync(path.join(work, "rke.log"), "utf8"), /Finished building Kubernetes cluster successfully/);
        });

        it("a second run of the same config while rke runs waits for it instead of running rke again", async () => {
            control(host, "rke", "up-seconds", "4");
            const stdin = configBundle(3);
            const first = up(stdin);
            await sleep(1500);
            const second = await up(stdin);
            const firstDone = await first;
            control(host, "rke", "up-seconds", undefined);
            ok(firstDone);
            ok(second);
            assert.equal(upCalls().length, 1);
            assert.match(second.stderr, /an rke up of this same config started earlier is still running \(pid \d+\); waiting for it/);
            assert.equal(parseRkeUpOutput(second.stdout).rkeState, parseRkeUpOutput(firstDone.stdout).rkeState);
        });

        it("a run of another config waits for the lock, and gives up after its bound naming the holder", async () => {
            control(host, "rke", "up-seconds", "6");
            const first = up(configBundle(3));
            await sleep(1500);
            const refused = await up(configBundle(4), { lockWaitSeconds: 1 });
            assert.equal(refused.code, 1);
            assert.match(refused.stderr, /another rancher-ha run holds .*\.rancher-ha\.lock: rke up job, stack test, pid \d+, since /);
            assert.equal(refused.stdout, "");
            const waited = up(configBundle(4));   // the default bound: it waits for the first one
            ok(await first);
            control(host, "rke", "up-seconds", undefined);
            const w = await waited;
            ok(w);
            assert.match(w.stderr, /waiting up to 600 s for another run/);
            assert.equal(upCalls().length, 2, "the two runs ran one after the other");
        });
    });

    describe("rke remove (the Command's delete)", () => {
        it("runs rke remove --force with the same files, says what it wipes, and cleans the work dir", async () => {
            const stdin = configBundle(3);
            ok(await up(stdin));
            fs.rmSync(path.join(work, "keys"), { recursive: true });   // delete re-writes what it needs from stdin
            // What npm run ops leaves beside them: dated copies of the state and kubeconfig, its logs.
            for (const f of ["rancher-cluster.rkestate.before-restore-20261201T000000Z", "kube_config_rancher-cluster.yml.replaced-20261201T000000Z", "ops.log", "snapshots.log"]) {
                fs.writeFileSync(path.join(work, f), "secret copy\n", { mode: 0o600 });
            }
            const r = await host.run(rkeRemoveScript({
                workDir: "~/rancher-ha", rkePath: "rke", hostLabel: "rkeuser@127.0.0.1:22", stack: "test", nodes: ["192.0.2.11", "192.0.2.12", "192.0.2.13"],
            }), stdin);
            ok(r);
            const calls = rkeCalls(host);
            assert.deepEqual(calls[calls.length - 1].argv, "remove --force --config rancher-cluster.yml");
            assert.equal(calls[calls.length - 1].cwd, work);
            assert.match(r.stderr, /rke remove --force wipes the cluster on 192\.0\.2\.11, 192\.0\.2\.12, 192\.0\.2\.13: .*\/var\/lib\/etcd .*etcd snapshots \(local and S3\)/);
            assert.match(rkeRemoveScript({ workDir: "~/x", rkePath: "rke", hostLabel: "h", stack: "s", nodes: [] }),
                /^# rancher-ha: cluster removal opted in \(admin\.removeClusterOnDestroy\)$/m);
            // No secret stays: only the (empty) lock file, which the script held until it ended.
            assert.deepEqual(fs.readdirSync(work), [".rancher-ha.lock"]);
            assert.equal(fs.statSync(path.join(work, ".rancher-ha.lock")).size, 0);
        });
    });

    describe("local admin host", () => {
        it("the same script runs under /bin/sh -c as local.Command does", function () {
            const home = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-local-admin-"));
            try {
                const bin = path.join(home, "bin");
                fs.mkdirSync(bin);
                fs.writeFileSync(path.join(bin, "rke"), RKE_TEST_DOUBLE, { mode: 0o755 });
                const env = { HOME: home, PATH: `${bin}:/usr/bin:/bin` };
                const run = () => spawnSync("/bin/sh", ["-c", rkeUpScript(upArgs({ hostLabel: "local" }))],
                    { input: configBundle(3), env, encoding: "utf8", timeout: 30000 });
                const r1 = run();
                assert.equal(r1.status, 0, r1.stderr);
                assert.equal(parseRkeUpOutput(r1.stdout).mode, "full");
                assert.equal(parseRkeUpOutput(run().stdout).mode, "unchanged");
                assert.equal(mode(path.join(home, "rancher-ha", "rancher-cluster.yml")), "600");
            } finally {
                fs.rmSync(home, { recursive: true, force: true });
            }
        });
    });

    describe("preflight", () => {
        // The host's own network namespace holds one listener, its sshd: that port is in use there, others are free.
        let busyPort: number;
        let freeP: number;
        const sshdConfig = () => host.configPath;
        const swaps = (entries: number) => {
            const p = path.join(host.home, `swaps-${entries}`);
            fs.writeFileSync(p, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" +
                "/swapfile                               file\t\t1048572\t\t0\t\t-2\n".repeat(entries));
            return p;
        };
        const preflight = (over: Partial<Parameters<typeof rkePreflightScript>[0]> = {}) => host.run(rkePreflightScript({
            nodeLabel: "rkeuser@127.0.0.1:22", roles: ["controlplane", "etcd", "worker"],
            ports: [{ port: freeP, use: "kube-apiserver" }], failSwapOn: false,
            sshdConfig: sshdConfig(), procSwaps: swaps(0), ...over,
        }));

        before(async () => {
            busyPort = host.port;
            freeP = await freePort();
        });
        afterEach(() => installDoubles(host));

        it("passes on a healthy node (docker reachable, forwarding allowed, no swap, ports free)", async () => {
            const r = await preflight();
            ok(r);
            assert.equal(r.stdout, "preflight ok: rkeuser@127.0.0.1:22 (controlplane,etcd,worker)\n");
            assert.match(r.stderr, /docker 26\.1\.4 reachable by rkeuser-\w+ at \/var\/run\/docker\.sock/);
        });

        it("lists every failed check with the node and the fix", async () => {
            control(host, "docker", "mode", "denied");
            const cfg = path.join(host.home, "sshd_config_no_forwarding");
            fs.writeFileSync(cfg, fs.readFileSync(sshdConfig(), "utf8").replace(/^AllowTcpForwarding yes$/m, "AllowTcpForwarding no"));
            const r = await preflight({
                ports: [{ port: busyPort, use: "ingress-nginx https" }], failSwapOn: true, procSwaps: swaps(1), sshdConfig: cfg,
                dockerSocket: "/run/user-docker.sock",
            });
            assert.equal(r.code, 1);
            const lines = r.stderr.split("\n").filter(l => l.startsWith("rancher-ha preflight failed: "));
            assert.equal(lines.length, 4, r.stderr);
            for (const l of lines) {
                assert.match(l, /^rancher-ha preflight failed: rkeuser@127\.0\.0\.1:22 \(controlplane,etcd,worker\): .*; fix: /);
            }
            assert.match(r.stderr, /cannot use the Docker socket \/run\/user-docker\.sock \(permission denied\).*sudo usermod -aG docker rkeuser/);
            assert.match(r.stderr, /sshd has AllowTcpForwarding no.*set AllowTcpForwarding yes in .*sshd_config_no_forwarding/);
            assert.match(r.stderr, /swap is on and services\.kubelet\.fail_swap_on is true.*swapoff -a/);
            assert.match(r.stderr, new RegExp(`port ${busyPort} \\(ingress-nginx https\\) is already in use`));
            assert.match(r.stderr, /rkeuser@127\.0\.0\.1:22: 4 check\(s\) failed/);
        });

        it("reports a Docker daemon that does not answer (the real docker CLI when installed, else the double)", async () => {
            const real = spawnSync("sh", ["-c", "command -v docker"], { env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }, encoding: "utf8" });
            if (real.status === 0) {
                fs.rmSync(path.join(host.binDir, "docker"));
            } else {
                control(host, "docker", "mode", "down");
            }
            const r = await preflight({ dockerSocket: path.join(host.home, "no-docker.sock") });
            assert.equal(r.code, 1);
            assert.match(r.stderr, /the Docker daemon does not answer at .*no-docker\.sock \(.*\); fix: sudo systemctl enable --now docker/);
        });

        it("reports docker missing", async function () {
            // A node whose PATH has no docker: the distro directories only (a docker CLI in /usr/local/bin, as on
            // some build machines, is left out).
            const nodePath = "/usr/sbin:/usr/bin:/sbin:/bin";
            const real = spawnSync("sh", ["-c", "command -v docker"], { env: { PATH: nodePath }, encoding: "utf8" });
            if (real.status === 0) {
                // eslint-disable-next-line no-console
                console.warn(`      skipped: docker is installed in ${real.stdout.trim()}, so it cannot be missing here`);
                this.skip();
            }
            const check = rkePreflightScript({
                nodeLabel: "rkeuser@127.0.0.1:22", roles: ["worker"], ports: [], failSwapOn: false, sshdConfig: sshdConfig(),
            });
            const r = await host.run(`PATH=${nodePath}; export PATH\n${check}`);
            assert.equal(r.code, 1);
            assert.match(r.stderr, /docker is not installed; fix: install a Docker version RKE supports/);
            assert.equal(r.stderr.split("\n").filter(l => l.startsWith("rancher-ha preflight failed: ")).length, 1, r.stderr);
        });

        it("skips the port check on a node RKE already runs (its containers hold the ports)", async () => {
            control(host, "docker", "containers", "kube-proxy\nkubelet\nnginx-proxy\n");
            const r = await preflight({ ports: [{ port: busyPort, use: "kube-apiserver" }] });
            ok(r);
            assert.match(r.stderr, /already in the cluster, port check skipped/);
        });

        it("warns, without failing, about swap when fail_swap_on is false (RKE's default)", async () => {
            const r = await preflight({ procSwaps: swaps(2) });
            ok(r);
            assert.match(r.stderr, /swap is on; kubelet runs with fail_swap_on: false/);
        });

        it("ports per role follow RKE's port listeners and the ingress controller", () => {
            const ports = (roles: Parameters<typeof rkeRequiredPorts>[0], ingress = "nginx") => rkeRequiredPorts(roles, ingress).map(p => p.port);
            assert.deepEqual(ports(["etcd"]), [2379, 2380, 10250]);
            assert.deepEqual(ports(["controlplane"]), [6443, 10250]);
            assert.deepEqual(ports(["worker"]), [10250, 80, 443]);
            assert.deepEqual(ports(["worker"], "none"), [10250]);
            assert.deepEqual(ports(["controlplane", "etcd", "worker"]), [2379, 2380, 6443, 10250, 80, 443]);
        });
    });

    describe("without sudo", () => {
        let plain: SshHost;
        before(async () => {
            plain = await startSshHost({ user: "rkeplain" });
            installDoubles(plain);
        });
        after(async () => plain && plain.stop());

        it("preflight reads sshd_config itself when sshd -T cannot run", async () => {
            const cfg = path.join(plain.home, "sshd_config_copy");
            fs.writeFileSync(cfg, fs.readFileSync(path.join(path.dirname(plain.binDir), "sshd_config"), "utf8")
                .replace(/^AllowTcpForwarding yes$/m, "AllowTcpForwarding no"));
            fs.chmodSync(cfg, 0o644);
            const r = await plain.run(rkePreflightScript({
                nodeLabel: "rkeplain@127.0.0.1:22", roles: ["worker"], ports: [], failSwapOn: false, sshdConfig: cfg,
            }));
            assert.equal(r.code, 1, r.stderr);
            assert.match(r.stderr, /could not run sshd -T \(needs sudo\)/);
            assert.match(r.stderr, /sshd has AllowTcpForwarding no/);
        });
    });
});

describe("render: restore payload bookkeeping (pure)", () => {
    it("first run: nothing; changed config: latest state + exists mark; same config: the previous payload unchanged", () => {
        assert.equal(rkeRestorePayload("h1", {}), "");
        const p2 = rkeRestorePayload("h2", { rkeConfigHash: "h1", rkeState: "S1", rkeRestorePayload: "" });
        assert.equal(p2, rkeRestoreBundle("S1", true));
        assert.equal(rkeRestorePayload("h2", { rkeConfigHash: "h2", rkeState: "S2", rkeRestorePayload: p2 }), p2,
            "the state moved on to S2 but the payload stays byte-identical");
        assert.equal(rkeRestorePayload("h1", { rkeConfigHash: "h1", rkeState: "S1" }), "");
        assert.equal(rkeRestorePayload("h3", { rkeConfigHash: "h2" }), rkeRestoreBundle(undefined, true),
            "exists per Pulumi without a state: the script will refuse rather than regenerate certificates");
    });

    it("the outputs parser finds the block among other output and rejects a missing one", () => {
        const b64 = (s: string) => Buffer.from(s).toString("base64");
        const out = parseRkeUpOutput(`noise\n-----BEGIN RANCHER-HA RKE OUTPUTS-----\nmode full\nkubeconfig ${b64("K\n")}\nrkestate ${b64("{}")}\n-----END RANCHER-HA RKE OUTPUTS-----`);
        assert.deepEqual(out, { mode: "full", kubeconfig: "K\n", rkeState: "{}" });
        assert.throws(() => parseRkeUpOutput("rke said nothing"), /no rancher-ha outputs block/);
        assert.throws(() => parseRkeUpOutput("-----BEGIN RANCHER-HA RKE OUTPUTS-----\nmode full\n-----END RANCHER-HA RKE OUTPUTS-----"), /kubeconfig is missing/);
    });
});

describe("render: the rke stage's scripts from the stack (pure)", () => {
    it("preflight treats swap as fatal exactly when the rendered yml sets fail_swap_on (rkeOverrides may)", () => {
        const node = (s: ReturnType<typeof settingsFrom>) => rkeStageScripts(s, { stack: "dev" }).preflight(s.nodes[0]);
        assert.match(node(settingsFrom(minimalRaw())), /^FAIL_SWAP_ON=false$/m);
        const strict = minimalRaw();
        strict.rkeOverrides = { services: { kubelet: { fail_swap_on: true } } };
        assert.match(node(settingsFrom(strict)), /^FAIL_SWAP_ON=true$/m);
    });

    it("names the admin host, and carries admin.stateSync into the rke up script", () => {
        const raw = minimalRaw();
        const plain = rkeStageScripts(settingsFrom(raw), { stack: "dev" });
        assert.equal(plain.hostLabel, "rancher@192.0.2.11:22");
        assert.doesNotMatch(plain.up, /^# admin\.stateSync/m);
        raw.admin = { stateSync: "1" };
        const synced = rkeStageScripts(settingsFrom(raw), { stack: "dev" });
        assert.match(synced.up, /^# admin\.stateSync: 1 /m);
        assert.equal(synced.remove, plain.remove, "delete is unaffected");
    });
});
