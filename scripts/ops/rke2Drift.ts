// `npm run ops -- drift` on RKE2 stacks: each node's /etc/rancher/rke2/config.yaml and registries.yaml against what
// the stack renders, its unit and its RKE2 release. The LB and the Helm releases are checked as on RKE1 (drift.ts).
//
// No secret travels for it: ops never decrypts the stack, and the node never sends its token. The node removes the
// lines holding secrets (token, agent-token, etcd-s3-secret-key; registries.yaml's password) from its files before it
// hashes or sends them (rke2DriftScript), and the stack's render (token and secrets redacted) loses the same lines
// before the comparison. A difference in those lines alone is therefore not seen.
import type { StackSettings } from "../../components/config";
import { lbClientAddress, Rke2NodeKind } from "../../components/config/types";
import { REDACTED, rke2NodeConfigYamlRedacted } from "../../components/rke2/configYaml";
import { rke2ClusterInputFor, rke2NodeInputFor, rke2RegistriesYamlFor } from "../../components/rke2/nodeArgs";
import { RKE2_OWNED_FILE_HEADER } from "../../components/rke2/scripts";
import { RKE2_PATHS, RKE2_UNITS } from "../../components/rke2/paths";
import { DriftResult, emptyResult, onHost, reportField, reportedFile, sha256, unifiedDiff } from "./driftReport";
import { maskSecretLines } from "./rke2Scripts";
import { stateSyncCommand } from "./commands";

/** What the stack renders for one RKE2 node, with the secret lines removed (maskSecretLines). */
export interface Rke2NodeExpected {
    /** How findings name the node: `server rancher@192.0.2.11:22`. */
    where: string;
    kind: Rke2NodeKind;
    /** The first server: admin.stateSync re-runs its script, which writes its files back. */
    first: boolean;
    stack: string;
    /** config.yaml, redacted and masked. */
    config: string;
    /** registries.yaml, masked; undefined when the stack has no privateRegistry. */
    registries?: string;
    /** versions.kubernetes (the RKE2 release). */
    version: string;
    /** `ssh -p 22 user@host`, for fix commands run on the node. */
    ssh?: string;
    /** The SSH user is root: no sudo in fix commands. */
    root: boolean;
}

/** A node's expected files: the same builders the stage uses (nodeArgs.ts), secrets redacted, then masked. */
export function rke2NodeExpectation(s: StackSettings, node: StackSettings["nodes"][number], kind: Rke2NodeKind, first: boolean,
    stack: string, where: string, ssh?: string): Rke2NodeExpected {
    const cluster = rke2ClusterInputFor(s, lbClientAddress(s.loadBalancer), s.etcdSnapshots.s3?.secretKey !== undefined ? REDACTED : undefined);
    const registries = rke2RegistriesYamlFor(s, s.privateRegistry?.password !== undefined ? REDACTED : undefined);
    return {
        where, kind, first, stack, ssh, root: node.user === "root", version: s.rke2!.version,
        config: maskSecretLines(rke2NodeConfigYamlRedacted(cluster, rke2NodeInputFor(node), first), "config"),
        registries: registries === undefined ? undefined : maskSecretLines(registries, "registries"),
    };
}

/** The node changed by hand: put the stack's file back, or move the change into the stack. */
function fileFix(e: Rke2NodeExpected, file: string): string {
    if (e.first) {
        return `${stateSyncCommand(e.stack)}   (re-runs the first server's script, which writes the stack's files back and restarts ` +
            `${RKE2_UNITS[e.kind]} because they changed)`;
    }
    const sudo = e.root ? "" : "sudo ";
    return `undo the edit on the node (the diff shows it; ${onHost(e.ssh, `${sudo}\${EDITOR:-vi} ${file}`)}, then ` +
        `${onHost(e.ssh, `${sudo}systemctl restart ${RKE2_UNITS[e.kind]}`)}), or put the change into the stack ` +
        `(rke2.serverConfig / rke2.agentConfig, the node's settings) and pulumi up --stack ${e.stack}: pulumi up rewrites a node's ` +
        "files only when the stack's change for that node";
}

/** One node's report lines against the stack. */
export function compareRke2Node(lines: string[], e: Rke2NodeExpected): DriftResult {
    const r = emptyResult();
    const job = reportField(lines, "node-job");
    if (job) {
        r.ok.push(`${e.where}: note: a pulumi up's node job is running now (pid ${job[1] ?? "?"}); what follows may change when it ends`);
    }
    const masked = "(token and secrets not compared)";
    for (const [key, path, want] of [["node-config", RKE2_PATHS.config, e.config], ["node-registries", RKE2_PATHS.registries, e.registries]] as const) {
        const f = reportedFile(lines, key);
        if (f.state === "present") {
            if (want === undefined) {
                // Only a file of ours is the stack's to remove (the stage drops it on its next run).
                if (f.text?.startsWith(RKE2_OWNED_FILE_HEADER)) {
                    r.findings.push({
                        where: e.where, what: `${path} is rancher-ha's, but the stack sets no privateRegistry any more`,
                        fix: `the node's next pulumi up run removes it; to remove it now: ${onHost(e.ssh, `${e.root ? "" : "sudo "}rm ${path}`)}`,
                    });
                } else {
                    r.ok.push(`${e.where}: ${path} is not rancher-ha's (left alone)`);
                }
            } else if (f.sha256 === sha256(want)) {
                r.ok.push(`${e.where}: ${path} is the stack's ${masked}`);
            } else {
                r.findings.push({
                    where: e.where,
                    what: `${path} differs from the one the stack renders ${masked}` + (f.text === undefined ? "; too large to show a diff" : ""),
                    fix: fileFix(e, path),
                    diff: f.text === undefined ? undefined : unifiedDiff(f.text, want, `${e.where}:${path} ${masked}`, `stack ${masked}`),
                });
            }
        } else if (f.state === "missing") {
            if (want !== undefined) {
                r.findings.push({
                    where: e.where, what: `${path} is missing: ${RKE2_UNITS[e.kind]} cannot start again without it`,
                    fix: e.first ? fileFix(e, path) : `pulumi up writes it only when the stack changes for this node: copy it from another ` +
                        `${e.kind} (the same token) and set its node-* keys as \`npm run render -- --stack ${e.stack}\` shows them for this node`,
                });
            }
        } else {
            r.problems.push(`${e.where}: ${path} could not be read (${f.state}; the SSH user needs sudo -n)`);
        }
    }
    const unit = RKE2_UNITS[e.kind];
    const state = (reportField(lines, "node-unit") ?? [])[0] ?? "unknown";
    if (state === "active") {
        r.ok.push(`${e.where}: ${unit} runs`);
    } else {
        r.findings.push({
            where: e.where, what: `${unit} is not running (systemctl: ${state})`,
            fix: `${onHost(e.ssh, `${e.root ? "" : "sudo "}systemctl start ${unit}`)}; if it fails: ${onHost(e.ssh, `journalctl -u ${unit} -n 50`)}`,
        });
    }
    const version = (reportField(lines, "node-version") ?? ["-"])[0] ?? "-";
    if (version === e.version) {
        r.ok.push(`${e.where}: RKE2 ${version}`);
    } else if (version === "-" || version === "") {
        r.findings.push({
            where: e.where, what: "RKE2 is not installed",
            fix: e.first ? fileFix(e, "rke2") : `pulumi up installs a node when it joins the stack: take it out of nodes, pulumi up --stack ${e.stack}, ` +
                "put it back, pulumi up again",
        });
    } else {
        r.findings.push({
            where: e.where, what: `runs RKE2 ${version}, the stack says ${e.version} (versions.kubernetes)`,
            fix: `set versions.kubernetes to the release the cluster should run and pulumi up --stack ${e.stack} (RKE2 cannot be downgraded: a newer node needs the stack raised to ${version})`,
        });
    }
    return r;
}
