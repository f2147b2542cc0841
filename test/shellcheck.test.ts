// shellcheck over every script the program and the tools hand to a shell: the LB (docker and system modes), the
// RKE stage (up, remove, preflight), the agents' hostAliases (apply, release) and every `npm run ops` script.
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
import { driftScript } from "../scripts/ops/driftScripts";
import { FIXTURES, ROOT } from "./helpers/paths";
import { requireTool, toolMissing } from "./helpers/tools";

/** Every rendered script, by a name that says where it comes from. */
function renderedScripts(): Record<string, string> {
    const out: Record<string, string> = {};
    const stacks: [dir: string, stack: string][] = [
        [ROOT, "dev"],
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
    return out;
}

describe("shellcheck over every rendered script", function () {
    this.timeout(120000);
    const scripts = renderedScripts();

    it("covers every kind of script", () => {
        for (const kind of ["1-load-balancer/apply.sh", "1-load-balancer/delete.sh", "2-rke/rke-up.sh", "2-rke/rke-up-command.sh", "2-rke/destroy.sh",
            "2-rke/preflight-", "5-host-aliases/agents-apply.sh", "5-host-aliases/agents-release.sh", "ops/"]) {
            assert.ok(Object.keys(scripts).some(n => n.includes(kind)), kind);
        }
        // Both LB modes: the dev stack runs nginx in docker, the full fixture as the system's nginx.
        assert.match(scripts["dev/1-load-balancer/apply.sh"], /docker/);
        assert.match(scripts["full/1-load-balancer/apply.sh"], /systemctl|nginx -s reload|service nginx/);
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
