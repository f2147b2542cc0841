// The RKE2 ops scripts as text (scripts/ops/rke2Scripts.ts): their arguments checked, the stage's node lock and
// wrapper reused, RKE2's documented commands, every loop bounded, nothing secret. Run over SSH in rke2.test.ts and
// through shellcheck (with their embedded root parts) in test/shellcheck.test.ts.
import { strict as assert } from "assert";
import { rke2NodeLockSh, RKE2_LOCK_WAIT_SECONDS, rke2WrapperScript } from "../../../components/rke2/scripts";
import { SUDO_SH } from "../../../components/shared/shell";
import {
    CLUSTER_RESET_DONE, maskSecretLines, RESET_FLAG, rke2CertRotateScript, rke2CertStatusScript, rke2ClusterResetScript, rke2DriftScript,
    rke2RejoinServerScript, rke2SnapshotFindScript, rke2SnapshotNameProblem, rke2SnapshotSaveScript, rke2StartScript, rke2StopScript,
    rke2WaitNodesReadyScript,
} from "../../../scripts/ops/rke2Scripts";

const server = { kind: "server" as const, hostLabel: "server 192.0.2.21", stack: "prod" };
const agent = { kind: "agent" as const, hostLabel: "agent 192.0.2.24", stack: "prod" };
const ready = { nodeReadyTimeoutSeconds: 900 };
const LOCAL = "/var/lib/rancher/rke2/server/db/snapshots/before-upgrade-server-1-1767225600";

/** The root part a script runs with sudo (the body of its RANCHER_HA_ROOT heredoc). */
function root(text: string): string {
    const m = /<<'RANCHER_HA_ROOT'\n([^]*?)\nRANCHER_HA_ROOT\n/.exec(text);
    assert.ok(m, "the script runs its root part through the stage's wrapper");
    return m![1];
}

/** Every script that changes a node, with what it is. */
const changing: [string, string][] = [
    ["snapshot-save", rke2SnapshotSaveScript({ ...server, name: "before-upgrade" })],
    ["stop", rke2StopScript({ ...agent, what: "snapshot-restore" })],
    ["cluster reset", rke2ClusterResetScript({ ...server, ...ready, s3Configured: false, snapshot: { local: LOCAL } })],
    ["rejoin", rke2RejoinServerScript({ ...server, ...ready })],
    ["start", rke2StartScript({ ...agent, what: "snapshot-restore" })],
    ["cert-rotate", rke2CertRotateScript({ ...server, ...ready })],
];
const readOnly: [string, string][] = [
    ["snapshot find", rke2SnapshotFindScript({ ...server, name: "before-upgrade", s3: false })],
    ["wait ready", rke2WaitNodesReadyScript({ ...server, ...ready, nodeNames: ["agent-1"] })],
    ["cert-status", rke2CertStatusScript(agent)],
];

describe("scripts/ops/rke2Scripts", () => {
    it("runs as the SSH user through the stage's wrapper: sudo -n unless root, the root part in a quoted heredoc", () => {
        for (const [what, text] of [...changing, ...readOnly]) {
            assert.ok(text.startsWith(`set -eu\n${SUDO_SH}\n`), what);
            assert.equal(text, rke2WrapperScript(`${root(text)}\n`), `${what}: exactly the stage's wrapper`);
        }
    });

    it("takes the stage's node lock (the same text: flock on /var/lib/rancher/rancher-ha/lock, bounded, naming the holder) to change a node", () => {
        for (const [what, text] of changing) {
            const r = root(text);
            assert.ok(r.includes(rke2NodeLockSh(RKE2_LOCK_WAIT_SECONDS)), what);
            assert.match(r, /> "\$STATE\/lock\.owner"/, `${what} names itself as the holder`);
        }
        assert.ok(root(rke2StopScript({ ...server, what: "snapshot-restore", lockWaitSeconds: 7 })).includes(rke2NodeLockSh(7)));
        for (const [what, text] of readOnly) {
            assert.doesNotMatch(text, /flock/, `${what} is read-only: no lock, it never waits for a pulumi up`);
        }
        assert.doesNotMatch(rke2DriftScript(server), /flock|mktemp|> "/, "the drift check writes nothing");
    });

    it("checks its arguments", () => {
        assert.equal(rke2SnapshotNameProblem("before-upgrade_2.1"), undefined);
        for (const bad of ["", "-x", "a b", "a/b", "x;rm", "é", "a".repeat(101)]) {
            assert.ok(rke2SnapshotNameProblem(bad), bad);
            assert.throws(() => rke2SnapshotSaveScript({ ...server, name: bad }), /not a usable snapshot name/);
        }
        assert.throws(() => rke2SnapshotSaveScript({ ...agent, name: "x" }), /runs on a server/);
        assert.throws(() => rke2ClusterResetScript({ ...agent, ...ready, s3Configured: false, snapshot: { local: LOCAL } }), /runs on a server/);
        assert.throws(() => rke2ClusterResetScript({ ...server, ...ready, s3Configured: false, snapshot: { local: "/tmp/$(id)" } }), /not a snapshot path/);
        assert.throws(() => rke2ClusterResetScript({ ...server, ...ready, s3Configured: false, snapshot: { local: "/var/../etc/shadow" } }), /not a snapshot path/);
        assert.throws(() => rke2SnapshotFindScript({ ...server, name: "a b", s3: true }), /not a snapshot name/);
        assert.throws(() => rke2RejoinServerScript({ ...server, nodeReadyTimeoutSeconds: 0 }), /nodeReadyTimeoutSeconds must be a positive integer/);
        assert.throws(() => rke2CertRotateScript({ ...server, ...ready, pollSeconds: 1.5 }), /pollSeconds must be a positive integer/);
        assert.throws(() => rke2StopScript({ ...server, what: "x", lockWaitSeconds: 0 }), /lockWaitSeconds must be a positive integer/);
        assert.throws(() => rke2WaitNodesReadyScript({ ...server, ...ready, nodeNames: ["Agent_1"] }), /not a Kubernetes node name/);
    });

    it("snapshot-save: rke2 etcd-snapshot save --name, bounded, and only the files it made in the result", () => {
        const r = root(rke2SnapshotSaveScript({ ...server, name: "before-upgrade" }));
        assert.match(r, /^SNAP=before-upgrade$/m);
        assert.match(r, /timeout 900 "\$BIN" etcd-snapshot save --name "\$SNAP"/);
        assert.match(r, /systemctl is-active --quiet "\$UNIT" \|\| fail .*needs this server's etcd/);
        assert.match(r, /grep -qxF "\$\{f##\*\/\}"/, "files there before are not reported");
    });

    it("cluster reset: RKE2's documented command, --etcd-s3=false only for a local file with S3 configured, its log read for the reset line (bounded)", () => {
        const local = root(rke2ClusterResetScript({ ...server, ...ready, s3Configured: false, snapshot: { local: LOCAL } }));
        assert.match(local, new RegExp(`"\\$BIN" server --cluster-reset --cluster-reset-restore-path="\\$RESTORE" >> "\\$LOG" 2>&1 &`));
        assert.match(local, new RegExp(`^RESTORE=${LOCAL}$`, "m"));
        const localWithS3 = root(rke2ClusterResetScript({ ...server, ...ready, s3Configured: true, snapshot: { local: LOCAL } }));
        assert.match(localWithS3, /--cluster-reset-restore-path="\$RESTORE" --etcd-s3=false >>/);
        const fromS3 = root(rke2ClusterResetScript({ ...server, ...ready, s3Configured: true, snapshot: { s3: "before-upgrade-server-1-1767225600" } }));
        assert.match(fromS3, /--cluster-reset-restore-path="\$RESTORE" >>/, "a name only: RKE2 fetches it from S3");
        assert.doesNotMatch(fromS3, /\[ -f "\$RESTORE" \]/);
        assert.ok(local.includes(CLUSTER_RESET_DONE));
        assert.match(local, /END=\$\(\( \$\(date \+%s\) \+ 1800 \)\)/, "the reset's wait is bounded");
        assert.match(local, /\[ "\$i" -lt 30 \]/, "and so is the wait for rke2 to exit");
        assert.ok(local.includes(`if [ -e ${RESET_FLAG} ]; then`), "a pending reset flag is reported before anything runs");
        // Order on the node: the unit down, the reset, then the start and the Ready wait.
        const [stop, reset, start, wait] = ["\nstop_unit\n", "--cluster-reset-restore-path", "\nstart_unit\n", 'wait_ready "$NAME"'].map(x => local.indexOf(x));
        assert.ok(stop > 0 && stop < reset && reset < start && start < wait);
    });

    it("rejoin: the datastore moved aside (db.bak-<UTC time>), never deleted, then started and waited for", () => {
        const r = root(rke2RejoinServerScript({ ...server, ...ready }));
        assert.match(r, /MOVED=\/var\/lib\/rancher\/rke2\/server\/db\.bak-\$\(date -u \+%Y%m%dT%H%M%SZ\)/);
        assert.match(r, /mv \/var\/lib\/rancher\/rke2\/server\/db "\$MOVED"/);
        assert.doesNotMatch(r, /rm -rf|rm -r /, "nothing is deleted");
        assert.ok(r.indexOf("\nstop_unit\n") < r.indexOf("mv /var/lib") && r.indexOf("mv /var/lib") < r.indexOf("\nstart_unit\n"));
    });

    it("cert-rotate: stop, rke2 certificate rotate (bounded), start, Ready; a failed rotation starts the unit again", () => {
        const r = root(rke2CertRotateScript({ ...server, ...ready }));
        assert.match(r, /timeout 300 "\$BIN" certificate rotate/);
        assert.ok(r.indexOf("\nstop_unit\n") < r.indexOf("certificate rotate") && r.indexOf("certificate rotate") < r.lastIndexOf("\nstart_unit\n"));
        assert.match(r, /rke2 certificate rotate failed or took over 300 s; starting \$UNIT again/);
        assert.match(r, /systemctl start --no-block "\$UNIT"/, "RKE2's units have TimeoutStartSec=0: the wait is ours");
        assert.match(r, /end=\$\(\( \$\(date \+%s\) \+ 900 \)\)/, "Ready waits for rke2.nodeReadyTimeout");
    });

    it("cert-status: openssl over server/tls, server/tls/etcd and agent certificates, at most 500 files", () => {
        const r = root(rke2CertStatusScript(agent));
        assert.match(r, /for f in "\$DIR"\/server\/tls\/\*\.crt "\$DIR"\/server\/tls\/etcd\/\*\.crt "\$DIR"\/agent\/\*\.crt; do/);
        assert.match(r, /openssl x509 -noout -enddate -in "\$f"/);
        assert.match(r, /\[ "\$n" -le 500 \] \|\| break/);
        assert.match(r, /openssl is not installed on this node/);
    });

    it("drift: the secret lines are removed on the node, before anything is hashed or sent, as maskSecretLines removes them here", () => {
        const d = rke2DriftScript(server);
        assert.match(d, /masked_report node-config \/etc\/rancher\/rke2\/config\.yaml '\^\(token\|agent-token\|etcd-s3-secret-key\):'/);
        assert.match(d, /masked_report node-registries \/etc\/rancher\/rke2\/registries\.yaml '\^\[\[:space:\]\]\*password:'/);
        assert.doesNotMatch(d, /\$R cat "\$2" \| (sha256sum|base64)/, "nothing unmasked is hashed or sent");
        const config = "# Written by rancher-ha\nserver: https://lb:9345\ntoken: \"s3cret\"\nnode-ip: 10.0.0.1\netcd-s3-secret-key: k\nagent-token: t\n";
        assert.equal(maskSecretLines(config, "config"), "# Written by rancher-ha\nserver: https://lb:9345\nnode-ip: 10.0.0.1\n");
        assert.equal(maskSecretLines("configs:\n  r:\n    auth:\n      username: u\n      password: p\n", "registries"), "configs:\n  r:\n    auth:\n      username: u\n");
        assert.equal(maskSecretLines("a: 1", "config"), "a: 1\n", "every line ends in a newline, as grep prints it");
    });
});
