// `npm run ops` on RKE2 stacks without any host: each command picks the stack's distribution, refuses what does not
// apply with the way that does (both ways: RKE1 commands and options on an rke2 stack, RKE2 ones on an rke stack),
// asks for --yes before anything runs, checks its arguments, and reads openssl's expiry dates (cert-status).
// Over real SSH hosts: rke2.test.ts.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { main } from "../../../scripts/ops";
import * as cmd from "../../../scripts/ops/commands";
import {
    rke2CertRotate, rke2CertStatus, rke2RemoveCluster, rke2SnapshotRestore, rke2SnapshotSave, rke2RemoveWarning,
} from "../../../scripts/ops/rke2Commands";
import { certStatusReport, opensslDate, rke2CertFix, rke2CertificatesFrom } from "../../../scripts/ops/certStatus";
import { distributionMismatch, stackDistribution } from "../../../scripts/ops/distribution";
import { HOST_KEYS } from "../../fixtures/hostKeys";

interface CliResult { code: number; stdout: string; stderr: string }

describe("npm run ops on RKE2 stacks: distribution, refusals, arguments (no host contacted)", () => {
    let dir: string;

    const io = () => {
        const r = { stdout: "", stderr: "" };
        return { r, io: { out: (t: string) => { r.stdout += t; }, err: (t: string) => { r.stderr += t; }, stdinIsTty: false, readStdin: async () => "" } };
    };
    async function ops(stack: string, ...args: string[]): Promise<CliResult> {
        const { r, io: i } = io();
        const code = await main([...args, "--stack", stack, "--cwd", dir], i);
        return { code, ...r };
    }

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-ops-rke2-pure-"));
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: rancher-ha\nruntime: nodejs\n");
        const nodes = [21, 22, 23, 24].map((n, i) => ({
            address: `192.0.2.${n}`, hostKey: HOST_KEYS[(i + 1) % HOST_KEYS.length], roles: i < 3 ? ["controlplane", "etcd", "worker"] : ["worker"],
        }));
        const common = {
            "rancher-ha:hostname": "rancher.example.com",
            "rancher-ha:ssh": { user: "rancher", keyPath: path.join(dir, "no-such-key") },
            "rancher-ha:loadBalancer": { address: "192.0.2.20", hostKey: HOST_KEYS[0] },
            "rancher-ha:nodes": nodes,
        };
        fs.writeFileSync(path.join(dir, "Pulumi.r2.yaml"), yaml.dump({ config: { "rancher-ha:distribution": "rke2", ...common } }));
        fs.writeFileSync(path.join(dir, "Pulumi.r1.yaml"), yaml.dump({ config: common }));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("reads the distribution from the stack file (rke when unset)", () => {
        assert.equal(stackDistribution({ distribution: "rke2" }), "rke2");
        assert.equal(stackDistribution({}), "rke");
        assert.equal(stackDistribution({ distribution: "k3s" }), "rke", "the config check reports a bad value; ops treats it as the default");
        assert.equal(distributionMismatch("s", "rke2", "x", "rke2", "y"), undefined);
    });

    it("asks for --yes before anything runs: snapshot-restore and cert-rotate exit 2, remove-cluster 1, each saying what it does", async () => {
        const restore = await ops("r2", "snapshot-restore", "--name", "before-upgrade");
        assert.equal(restore.code, 2);
        assert.match(restore.stdout, /rolls the RKE2 cluster of stack r2 back to snapshot before-upgrade: ALL cluster data written since/);
        assert.match(restore.stdout, /stops rke2-server on every server and rke2-agent on every agent, restores the snapshot on the first server \(server 192\.0\.2\.21: rke2 server --cluster-reset --cluster-reset-restore-path\)/);
        assert.match(restore.stdout, /\/var\/lib\/rancher\/rke2\/server\/db\.bak-<time>, never deleted/);
        const rotate = await ops("r2", "cert-rotate");
        assert.equal(rotate.code, 2);
        assert.match(rotate.stdout, /on server 192\.0\.2\.21, server 192\.0\.2\.22, server 192\.0\.2\.23 of stack r2: one server at a time/);
        const remove = await ops("r2", "remove-cluster");
        assert.equal(remove.code, 1);
        assert.match(remove.stdout, /WIPES the RKE2 cluster of stack r2: rke2-uninstall\.sh runs on every node \(192\.0\.2\.21, 192\.0\.2\.22, 192\.0\.2\.23, 192\.0\.2\.24\)/);
        assert.match(remove.stdout, /etcd's data and the local snapshots \(\/var\/lib\/rancher\/rke2\/server\/db\/snapshots\)/);
        assert.match(remove.stdout, /To go ahead: npm run ops -- remove-cluster --stack r2 --yes/);
        for (const r of [restore, rotate, remove]) {
            assert.equal(r.stderr, "", "no host was contacted");
        }
    });

    it("checks its arguments before any host is contacted", async () => {
        const noName = await ops("r2", "snapshot-restore", "--yes");
        assert.equal(noName.code, 1);
        assert.match(noName.stderr, /--name <snapshot> is required: the file name snapshot-save printed, or the --name it was saved with/);
        const badName = await ops("r2", "snapshot-save", "--name", "my snapshot");
        assert.equal(badName.code, 1);
        assert.match(badName.stderr, /"my snapshot" is not a usable snapshot name/);
        const agentNode = await ops("r2", "cert-rotate", "--yes", "--node", "192.0.2.24");
        assert.equal(agentNode.code, 1);
        assert.match(agentNode.stderr, /--node 192\.0\.2\.24: not a server of stack r2 \(servers: 192\.0\.2\.21, 192\.0\.2\.22, 192\.0\.2\.23\); agents renew/);
        const typo = await ops("r2", "snapshot-save", "--nmae", "x");
        assert.match(typo.stderr, /unknown option --nmae for snapshot-save/);
        const noStack = await main(["cert-status", "--cwd", dir], io().io);
        assert.equal(noStack, 1);
    });

    it("refuses RKE1's commands and options on an rke2 stack, naming what to do instead", async () => {
        const recover = await ops("r2", "recover", "--from", "192.0.2.21");
        assert.equal(recover.code, 1);
        assert.match(recover.stderr, /rancher-ha ops recover: stack r2 is distribution rke2: recover adopts an RKE1 cluster .*secret rke2Token set to its token \(sudo cat \/var\/lib\/rancher\/rke2\/server\/token on a server\)/);
        const workdir = await ops("r2", "restore-workdir");
        assert.equal(workdir.code, 1);
        assert.match(workdir.stderr, /stack r2 is distribution rke2: restore-workdir puts RKE1's admin work dir back; RKE2 has no admin work dir.*npm run ops -- drift --stack r2/);
        const overwrite = await ops("r2", "snapshot-save", "--name", "x", "--overwrite");
        assert.equal(overwrite.code, 1);
        assert.match(overwrite.stderr, /--overwrite is an option of snapshot-save on distribution rke stacks; stack r2 is rke2: RKE2 never replaces a snapshot/);
        const saveState = await ops("r2", "snapshot-restore", "--name", "x", "--yes", "--save-state", "s.json");
        assert.match(saveState.stderr, /--save-state is an option of snapshot-restore on distribution rke stacks; stack r2 is rke2: RKE2 keeps no state file/);
        const rotateCa = await ops("r2", "cert-rotate", "--rotate-ca", "--yes");
        assert.match(rotateCa.stderr, /--rotate-ca is an option of cert-rotate on distribution rke stacks; stack r2 is rke2: RKE2's CA rotation \(rke2 certificate rotate-ca\) is a manual procedure/);
    });

    it("refuses RKE2's options on an rke stack, and each implementation refuses the other distribution's stack (both ways)", async () => {
        const node = await ops("r1", "cert-rotate", "--node", "192.0.2.21");
        assert.equal(node.code, 1);
        assert.match(node.stderr, /--node is an option of cert-rotate on distribution rke2 stacks; stack r1 is rke: rke cert rotate renews the certificates of the whole cluster/);
        const opts = (stack: string, extra: Record<string, string | boolean> = {}) => ({ stack, cwd: dir, ...extra });
        for (const [name, run] of [["snapshot-save", rke2SnapshotSave], ["snapshot-restore", rke2SnapshotRestore], ["cert-rotate", rke2CertRotate],
            ["cert-status", rke2CertStatus], ["remove-cluster", rke2RemoveCluster]] as const) {
            await assert.rejects(run(opts("r1", { name: "x", yes: true }), io().io),
                new RegExp(`stack r1 is distribution rke \\(RKE1, rke on the admin host\\) \\(Pulumi\\.r1\\.yaml\\), but this ${name} is the one for ` +
                    `distribution rke2 \\(RKE2, node by node\\); npm run ops -- ${name} --stack r1 runs the RKE1 one`), name);
        }
        for (const [name, run] of [["snapshot-save", cmd.snapshotSave], ["snapshot-restore", cmd.snapshotRestore], ["cert-rotate", cmd.certRotate],
            ["cert-status", cmd.certStatus], ["remove-cluster", cmd.removeCluster]] as const) {
            await assert.rejects(run(opts("r2", { name: "x", yes: true }), io().io),
                new RegExp(`stack r2 is distribution rke2 \\(RKE2, node by node\\) \\(Pulumi\\.r2\\.yaml\\), but this ${name} is the one for ` +
                    `distribution rke \\(RKE1, rke on the admin host\\); npm run ops -- ${name} --stack r2 runs the RKE2 one`), name);
        }
        await assert.rejects(cmd.restoreWorkdir(opts("r2"), io().io), /RKE2 has no admin work dir/);
        await assert.rejects(cmd.recover(opts("r2", { from: "192.0.2.21" }), io().io), /recover adopts an RKE1 cluster/);
    });

    it("lists both implementations in the usage", async () => {
        const { r, io: i } = io();
        assert.equal(await main(["help"], i), 0);
        assert.match(r.stderr, /snapshot-restore --name <snapshot> --yes {3}roll the cluster back: every node stopped.*\(rke2\)/);
        assert.match(r.stderr, /recover --from .*\(rke only\)/);
        const help = io();
        assert.equal(await main(["cert-rotate", "--help"], help.io), 0);
        assert.match(help.r.stdout, /npm run ops -- cert-rotate --stack <name> --yes \[--node <server address>\]\.\.\./);
    });

    it("remove-cluster's warning says what rke2-uninstall.sh wipes and what stays", () => {
        const w = rke2RemoveWarning(["192.0.2.21"]);
        assert.match(w, /\/etc\/rancher\/rke2 .* \/var\/lib\/rancher\/rke2, which holds etcd's data and the local snapshots/);
        assert.match(w, /Snapshots in S3 \(etcdSnapshots\.s3\) are kept/);
    });
});

describe("cert-status on RKE2: openssl's dates, per node, with RKE2's fixes", () => {
    it("reads openssl's notAfter", () => {
        assert.equal(opensslDate("Dec 31 23:59:59 2027 GMT")?.toISOString(), "2027-12-31T23:59:59.000Z");
        assert.equal(opensslDate("Jan  2 03:04:05 2030 GMT")?.toISOString(), "2030-01-02T03:04:05.000Z");
        assert.equal(opensslDate("2030-01-02"), undefined);
        assert.equal(opensslDate("Foo  2 03:04:05 2030 GMT"), undefined);
    });

    it("names each certificate by node and path, CAs first; exit 3 within 30 days, with the fix for a server, an agent, a CA", () => {
        const server = rke2CertificatesFrom("server 192.0.2.21", [
            "cert server/tls/serving-kube-apiserver.crt leaf Jan 20 00:00:00 2027 GMT",
            "cert server/tls/server-ca.crt ca Nov 30 00:00:00 2035 GMT",
            "unreadable server/tls/broken.crt",
        ]);
        assert.deepEqual(server.certs.map(c => c.name), ["server 192.0.2.21: server/tls/server-ca.crt", "server 192.0.2.21: server/tls/serving-kube-apiserver.crt"]);
        assert.deepEqual(server.problems, ["server 192.0.2.21: openssl cannot read server/tls/broken.crt"]);
        const agent = rke2CertificatesFrom("agent 192.0.2.24", ["cert agent/client-kubelet.crt leaf Jan 10 00:00:00 2027 GMT"]);
        const now = new Date("2026-12-25T00:00:00Z");
        const report = certStatusReport([...server.certs, ...agent.certs], now, 30, "prod", rke2CertFix);
        assert.equal(report.exitCode, 3);
        const text = report.lines.join("\n");
        assert.match(text, /server 192\.0\.2\.21: server\/tls\/server-ca\.crt +2035-11-30 +3262 days {2}ok {2}\(CA\)/);
        assert.match(text, /warning: server 192\.0\.2\.21: server\/tls\/serving-kube-apiserver\.crt expires in 26 day\(s\).*npm run ops -- cert-rotate --stack prod --yes/);
        assert.match(text, /warning: agent 192\.0\.2\.24: agent\/client-kubelet\.crt expires in 16 day\(s\).*sudo systemctl restart rke2-agent/);
        const fine = certStatusReport(server.certs, new Date("2026-01-01T00:00:00Z"), 30, "prod", rke2CertFix);
        assert.equal(fine.exitCode, 0);
        const ca = certStatusReport([{ name: "server x: server/tls/client-ca.crt", subject: "", isCa: true, notAfter: new Date("2027-01-01T00:00:00Z") }],
            now, 30, "prod", rke2CertFix);
        assert.match(ca.lines.join("\n"), /rke2 certificate rotate-ca/);
        assert.match(certStatusReport([], now, 30, "prod", rke2CertFix).lines[0], /no certificates were read/);
    });
});
