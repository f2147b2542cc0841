// shellcheck over every script the program and the tools hand to a shell: the LB (docker and system modes), the
// RKE stage (up, remove, preflight), the RKE2 stage (each node's install and remove), the restore stage (restore and
// its delete: the migrate fixture), the agents' hostAliases (apply, release) and every `npm run ops` script (RKE and
// RKE2). A script that embeds another one in a quoted heredoc (`<<'RANCHER_HA_ROOT'` ... `RANCHER_HA_ROOT`: the RKE2
// scripts' root and job layers) has each embedded body checked on its own too (shellcheck reads a quoted heredoc as
// text), named `<script>#<heredoc name>`.
//
// Run as POSIX sh (`-s sh`: the remote login shell or local /bin/sh runs them). Checks that stay off everywhere,
// and why:
const DISABLED: Record<string, string> = {
    // none: intended exceptions are marked inline in the renderers (`# shellcheck disable=SCxxxx # why`).
};
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readStackFile, toolSettings } from "../scripts/stackFile";
import { reviewArtifacts } from "../scripts/render/reviewArtifacts";
import {
    certRotateScript, installRecoveredScript, OpsWorkDirArgs, readStateScript, recoverStateScript, removeClusterScript, snapshotRestoreScript, snapshotSaveScript,
} from "../scripts/ops/remoteScripts";
import { agentRedeployScript } from "../scripts/ops/agentRedeploy";
import { importClusterScript, releaseClusterScript } from "../components/rancherSetup/registration";
import { lbHealthCheckScript, lbHealthTargets } from "../components/loadBalancer/healthCheck";
import { driftScript } from "../scripts/ops/driftScripts";
import {
    rke2CertRotateScript, rke2CertStatusScript, rke2ClusterResetScript, rke2DriftScript, rke2RejoinServerScript, rke2SnapshotFindScript,
    rke2SnapshotSaveScript, rke2StartScript, rke2StopScript, rke2WaitNodesReadyScript,
} from "../scripts/ops/rke2Scripts";
import { FIXTURES, ROOT } from "./helpers/paths";
import { requireTool, toolMissing } from "./helpers/tools";

/** Quoted heredocs that embed a script (the RKE2 scripts' layers): `<<'RANCHER_HA_<NAME>'`. */
const EMBEDDED = /<<-?'(RANCHER_HA_[A-Z_]+)'/;

/**
 * The scripts embedded in `text` in quoted heredocs, each body (the lines after `<<'NAME'` up to a line equal to
 * NAME) by `<name>#NAME`, and theirs in turn (`<name>#NAME#INNER`).
 */
export function embeddedScripts(name: string, text: string): Record<string, string> {
    const out: Record<string, string> = {};
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
        const m = EMBEDDED.exec(lines[i]);
        if (!m) {
            continue;
        }
        const end = lines.indexOf(m[1], i + 1);
        if (end < 0) {
            throw new Error(`${name}: the heredoc ${m[1]} opened on line ${i + 1} has no line ${m[1]} that ends it`);
        }
        const inner = `${name}#${m[1]}`;
        out[inner] = lines.slice(i + 1, end).join("\n") + "\n";
        Object.assign(out, embeddedScripts(inner, out[inner]));
        i = end;
    }
    return out;
}

/** Every rendered script, by a name that says where it comes from. */
function renderedScripts(): Record<string, string> {
    const out: Record<string, string> = {};
    const stacks: [dir: string, stack: string][] = [
        [ROOT, "dev"],
        [ROOT, "dev-rke2"],
        ...fs.readdirSync(path.join(FIXTURES, "stacks"))
            .map(f => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
            .filter((s): s is string => s !== undefined)
            .map(s => [path.join(FIXTURES, "stacks"), s] as [string, string]),
    ];
    for (const [dir, stack] of stacks) {
        const file = readStackFile(dir, stack);
        const { settings } = toolSettings(file, { readFile: () => { throw new Error("no key files here"); } });
        for (const a of reviewArtifacts({ stack, settings, encryptedKeys: file.encryptedKeys })) {
            if (a.path.endsWith(".sh")) {
                out[`${stack}/${a.path}`] = a.content;
            }
        }
    }
    const ops: OpsWorkDirArgs = {
        workDir: "~/rancher-ha", rkePath: "rke", rkeVersion: "v1.8.14", hostLabel: "rancher@192.0.2.11:22", stack: "dev",
        sshToAdmin: "ssh rancher@192.0.2.11 -p 22",
    };
    out["ops/snapshot-save.sh"] = snapshotSaveScript({ ...ops, name: "before-upgrade" });
    out["ops/snapshot-restore.sh"] = snapshotRestoreScript({ ...ops, name: "before-upgrade" });
    out["ops/cert-rotate.sh"] = certRotateScript({ ...ops, services: ["etcd", "kubelet"], rotateCa: true });
    out["ops/recover-state.sh"] = recoverStateScript({ nodeLabel: "rancher@192.0.2.11:22" });
    out["ops/install-recovered.sh"] = installRecoveredScript({ workDir: "~/rancher-ha", hostLabel: "local", replace: false });
    out["ops/agents-redeploy.sh"] = agentRedeployScript({ expectedChecksum: "a".repeat(64) });
    out["ops/agents-redeploy-dry-run.sh"] = agentRedeployScript({ expectedChecksum: "", dryRun: true });
    out["ops/drift-lb-docker-and-admin.sh"] = driftScript({ hostLabel: "rancher@192.0.2.11:22", lb: { mode: "docker" }, admin: { workDir: "~/rancher-ha" } });
    out["ops/drift-lb-system.sh"] = driftScript({ hostLabel: "rancher@192.0.2.10:22", lb: { mode: "system" } });
    out["ops/drift-admin-local.sh"] = driftScript({ hostLabel: "local", admin: { workDir: "/srv/rancher ha" } });
    out["ops/remove-cluster.sh"] = removeClusterScript({ ...ops, nodes: ["192.0.2.11", "192.0.2.12"] });
    out["ops/read-state.sh"] = readStateScript(ops);
    out["lb/health-check.sh"] = lbHealthCheckScript({ targets: lbHealthTargets([{ address: "192.0.2.11", controlplane: true }, { address: "192.0.2.14", controlplane: false }],
        { http: 80, https: 443, kubeApi: 6443, supervisor: 9345 }) });
    out["6-rancher-setup/register.sh"] = importClusterScript({ clusterName: "prod-east", clusterId: "c-abcde", timeoutSeconds: 600 });
    out["6-rancher-setup/register-private-ca.sh"] = importClusterScript({ clusterName: "prod-east", clusterId: "c-abcde", caChecksum: "a".repeat(64), timeoutSeconds: 600 });
    out["6-rancher-setup/release.sh"] = releaseClusterScript({ clusterName: "prod-east", cleanupAgents: false });
    out["6-rancher-setup/release-cleanup.sh"] = releaseClusterScript({ clusterName: "prod-east", cleanupAgents: true });
    const server = { kind: "server" as const, hostLabel: "server 192.0.2.21", stack: "dev-rke2" };
    const agent = { kind: "agent" as const, hostLabel: "agent 192.0.2.24", stack: "dev-rke2" };
    const ready = { nodeReadyTimeoutSeconds: 900 };
    out["ops/rke2-snapshot-save.sh"] = rke2SnapshotSaveScript({ ...server, name: "before-upgrade" });
    out["ops/rke2-snapshot-find.sh"] = rke2SnapshotFindScript({ ...server, name: "before-upgrade", s3: true });
    out["ops/rke2-stop-agent.sh"] = rke2StopScript({ ...agent, what: "snapshot-restore" });
    out["ops/rke2-cluster-reset-local.sh"] = rke2ClusterResetScript({ ...server, ...ready, s3Configured: true,
        snapshot: { local: "/var/lib/rancher/rke2/server/db/snapshots/before-upgrade-server-1-1767225600" } });
    out["ops/rke2-cluster-reset-s3.sh"] = rke2ClusterResetScript({ ...server, ...ready, s3Configured: true, snapshot: { s3: "before-upgrade-server-1-1767225600" } });
    out["ops/rke2-rejoin-server.sh"] = rke2RejoinServerScript({ ...server, ...ready });
    out["ops/rke2-start-agent.sh"] = rke2StartScript({ ...agent, what: "snapshot-restore" });
    out["ops/rke2-wait-ready.sh"] = rke2WaitNodesReadyScript({ ...server, ...ready, nodeNames: ["agent-1", "agent-2"] });
    out["ops/rke2-cert-rotate.sh"] = rke2CertRotateScript({ ...server, ...ready });
    out["ops/rke2-cert-status.sh"] = rke2CertStatusScript(agent);
    out["ops/rke2-drift-server.sh"] = rke2DriftScript(server);
    for (const [name, text] of Object.entries(out)) {
        Object.assign(out, embeddedScripts(name, text));
    }
    return out;
}

describe("shellcheck over every rendered script", function () {
    this.timeout(120000);
    const scripts = renderedScripts();

    it("covers every kind of script", () => {
        for (const kind of ["1-load-balancer/apply.sh", "1-load-balancer/delete.sh", "2-rke/rke-up.sh", "2-rke/rke-up-command.sh", "2-rke/destroy.sh",
            "2-rke/preflight-", "5-host-aliases/agents-apply.sh", "5-host-aliases/agents-release.sh", "ops/",
            "2-rke2/", "install.sh#RANCHER_HA_ROOT#RANCHER_HA_JOB", "remove.sh#RANCHER_HA_ROOT#RANCHER_HA_JOB", "ops/rke2-cert-rotate.sh#RANCHER_HA_ROOT",
            "2b-restore/restore.sh", "2b-restore/restore-delete.sh"]) {
            assert.ok(Object.keys(scripts).some(n => n.includes(kind)), kind);
        }
        // Both LB modes: the dev stack runs nginx in docker, the full fixture as the system's nginx.
        assert.match(scripts["dev/1-load-balancer/apply.sh"], /docker/);
        assert.match(scripts["full/1-load-balancer/apply.sh"], /systemctl|nginx -s reload|service nginx/);
        // The fixture stacks are picked up by themselves (the RKE2 one included).
        assert.ok(Object.keys(scripts).some(n => n.startsWith("rke2/2-rke2/192.0.2.22/install.sh")));
    });

    it("extracts embedded scripts from quoted heredocs, recursively", () => {
        const text = "set -eu\ncat > a <<'RANCHER_HA_ROOT'\necho root\ncat > b <<'RANCHER_HA_JOB'\necho job\nRANCHER_HA_JOB\nRANCHER_HA_ROOT\necho end\n";
        assert.deepEqual(embeddedScripts("x", text), {
            "x#RANCHER_HA_ROOT": "echo root\ncat > b <<'RANCHER_HA_JOB'\necho job\nRANCHER_HA_JOB\n",
            "x#RANCHER_HA_ROOT#RANCHER_HA_JOB": "echo job\n",
        });
        assert.throws(() => embeddedScripts("y", "cat <<'RANCHER_HA_ROOT'\necho\n"), /has no line RANCHER_HA_ROOT/);
    });

    for (const [name, text] of Object.entries(scripts)) {
        it(`${name} passes shellcheck`, function () {
            requireTool(this, toolMissing("shellcheck"));
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-shellcheck-"));
            try {
                const file = path.join(dir, "script.sh");
                fs.writeFileSync(file, text);
                const exclude = Object.keys(DISABLED);
                const r = spawnSync("shellcheck", ["-s", "sh", "-f", "gcc", ...(exclude.length ? ["-e", exclude.join(",")] : []), file],
                    { encoding: "utf8" });
                assert.equal(r.error, undefined);
                assert.equal(r.stdout.replace(new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "g"), name), "");
                assert.equal(r.status, 0, r.stderr);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    }
});
