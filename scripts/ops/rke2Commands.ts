// The ops commands on RKE2 stacks (distribution: rke2): snapshot-save, snapshot-restore, cert-rotate, cert-status and
// remove-cluster, each run node by node over SSH in the order RKE2's documentation gives (the scripts are in
// rke2Scripts.ts). What a command did and the next step go to stdout; the nodes' progress streams on stderr. Nothing
// secret is sent to a node or printed: the nodes read the token from their own config.yaml.
import * as path from "path";
import { NodeSettings, StackSettings } from "../../components/config";
import { Rke2NodeKind } from "../../components/config/types";
import { rke2NodeScriptArgsFor, rke2PlannedNodes } from "../../components/rke2/nodeArgs";
import { RKE2_PATHS } from "../../components/rke2/paths";
import { rke2RemoveNodeScript } from "../../components/rke2/scripts";
import { flag, list, ParsedArgs, str } from "./args";
import { CERT_WARN_DAYS, certStatusReport, rke2CertFix, rke2CertificatesFrom } from "./certStatus";
import { cwdOf, Io, OpsError, stackName, stateSyncCommand } from "./commands";
import { distributionMismatch } from "./distribution";
import { RemoteTarget, runScript } from "./remote";
import { OpsResult, parseOpsResult } from "./remoteScripts";
import {
    rke2CertRotateScript, rke2CertStatusScript, rke2ClusterResetScript, rke2RejoinServerScript, rke2SnapshotFindScript,
    rke2SnapshotNameProblem, rke2SnapshotSaveScript, rke2StartScript, rke2StopScript, rke2WaitNodesReadyScript,
} from "./rke2Scripts";
import { loadStack, OpsStack, targetFor } from "./stack";

type Opts = ParsedArgs["options"];

/** A node as the commands address it. */
export interface Rke2OpsNode {
    node: NodeSettings;
    kind: Rke2NodeKind;
    first: boolean;
    target: RemoteTarget;
    /** "server 192.0.2.11", as the stage's scripts name it. */
    label: string;
}

export interface Rke2Context {
    name: string;
    stack: OpsStack;
    settings: StackSettings;
    /** In the stack's order. */
    nodes: Rke2OpsNode[];
    servers: Rke2OpsNode[];
    agents: Rke2OpsNode[];
    sshOptions: string[];
}

/** The stack (distribution rke2, else refused naming the RKE1 command) and its nodes. */
export function rke2Context(o: Opts, command: string): Rke2Context {
    const name = stackName(o);
    const stack = loadStack(cwdOf(o), name);
    const s = stack.settings;
    const mismatch = distributionMismatch(name, s.distribution, command, "rke2",
        `npm run ops -- ${command} --stack ${name} runs the RKE1 one (rke on the admin host) for this stack`);
    if (mismatch) {
        throw new OpsError(mismatch);
    }
    const identity = str(o, "identity");
    const nodes = rke2PlannedNodes(s).map(p => ({
        ...p, target: targetFor(s, stack.file.raw, p.node, identity), label: `${p.kind} ${p.node.address}`,
    }));
    return {
        name, stack, settings: s, nodes, sshOptions: list(o, "ssh-option"),
        servers: nodes.filter(n => n.kind === "server"), agents: nodes.filter(n => n.kind === "agent"),
    };
}

/**
 * Runs a script on a node; its framed result (an empty one for `framed: false`: the stage's removal prints none), or
 * undefined when it failed (its messages went to stderr).
 */
async function runOn(c: Rke2Context, n: Rke2OpsNode, scriptText: string, io: Io, framed = true): Promise<OpsResult | undefined> {
    const r = await runScript(n.target, scriptText, "", { sshOptions: c.sshOptions, progress: io.err });
    if (r.code !== 0) {
        io.err(`rancher-ha ops: ${n.label}: failed (exit ${r.code}${r.code === 255 ? ": SSH failed, host unreachable or its key not the pinned one" : ""})\n`);
        return undefined;
    }
    return framed ? parseOpsResult(r.stdout) : { lines: [] };
}

const nodeArgs = (c: Rke2Context, n: Rke2OpsNode) => ({ kind: n.kind, hostLabel: n.label, stack: c.name });
const readyArgs = (c: Rke2Context) => ({ nodeReadyTimeoutSeconds: c.settings.rke2!.nodeReadyTimeoutSeconds });
const field = (res: OpsResult, key: string) => res.lines.filter(l => l.startsWith(`${key} `)).map(l => l.slice(key.length + 1));

const tokenNote = (stack: string) => "A restore on new hosts needs the cluster token the snapshot was taken with: the stack's " +
    `rke2Token (pulumi stack output --stack ${stack} --show-secrets rke2Token); keep it with the snapshot.`;

function utcStamp(): string {
    return new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "z").toLowerCase();
}

// ---- snapshots ----

/** `snapshot-save`: `rke2 etcd-snapshot save --name` on the first server (and in S3 when the stack has it). */
export async function rke2SnapshotSave(o: Opts, io: Io): Promise<number> {
    const c = rke2Context(o, "snapshot-save");
    const name = str(o, "name") ?? `rancher-ha-${utcStamp()}`;
    const problem = rke2SnapshotNameProblem(name);
    if (problem) {
        throw new OpsError(problem);
    }
    const first = c.servers[0];
    const res = await runOn(c, first, rke2SnapshotSaveScript({ ...nodeArgs(c, first), name }), io);
    if (!res) {
        return 1;
    }
    const files = field(res, "snapshot");
    const s3 = c.settings.etcdSnapshots.s3;
    const where = s3 ? `s3://${s3.bucketName}/${s3.folder ? `${s3.folder.replace(/\/+$/, "")}/` : ""}` : undefined;
    io.out(`snapshot ${name} saved on ${first.label} (the first server):\n${files.map(f => `  ${f}\n`).join("")}` +
        (where ? `and uploaded to ${where} (config.yaml carries the stack's etcd-s3-* settings).\n` : "") +
        `Restore it (rolls the whole cluster back) with: npm run ops -- snapshot-restore --stack ${c.name} --name ${path.posix.basename(files[0])} --yes\n` +
        `${tokenNote(c.name)}\n`);
    return 0;
}

/** What a multi-node procedure did before a step failed, and where it stands. */
function stopped(io: Io, done: string[], state: string): number {
    io.out(`${done.length > 0 ? `Done before the failure:\n${done.map(d => `  ${d}\n`).join("")}` : "Nothing was changed.\n"}${state}\n`);
    return 1;
}

/**
 * `snapshot-restore --name X --yes`: RKE2's documented restore on existing nodes. rke2-server stops on every server
 * and rke2-agent on every agent; the first server restores the snapshot (`rke2 server --cluster-reset
 * --cluster-reset-restore-path`) and starts; every other server, one at a time, moves its datastore aside and starts
 * (joining the restored etcd), each Ready before the next; then the agents start and are waited for.
 */
export async function rke2SnapshotRestore(o: Opts, io: Io): Promise<number> {
    const name = str(o, "name");
    if (!name) {
        throw new OpsError(`--name <snapshot> is required: the file name snapshot-save printed, or the --name it was saved with ` +
            `(RKE2 keeps them in ${RKE2_PATHS.snapshotsDir} on each server, and in S3 with etcdSnapshots.s3)`);
    }
    const c = rke2Context(o, "snapshot-restore");
    const first = c.servers[0];
    const others = c.servers.slice(1);
    if (!flag(o, "yes")) {
        io.out(`snapshot-restore rolls the RKE2 cluster of stack ${c.name} back to snapshot ${name}: ALL cluster data written since ` +
            "(Rancher's included) is lost, and the Kubernetes API is down until the first server is back. It stops rke2-server " +
            `on every server and rke2-agent on every agent, restores the snapshot on the first server (${first.label}: rke2 server ` +
            "--cluster-reset --cluster-reset-restore-path) and starts it, then starts each other server with its datastore moved " +
            `aside (${RKE2_PATHS.serverDb}.bak-<time>, never deleted), one at a time, then the agents. Take a snapshot of the current ` +
            "state first (snapshot-save), then run the same command with --yes.\n");
        return 2;
    }
    const s3 = c.settings.etcdSnapshots.s3 !== undefined;
    const found = await runOn(c, first, rke2SnapshotFindScript({ ...nodeArgs(c, first), name, s3 }), io);
    if (!found) {
        return stopped(io, [], `The snapshot was not found on ${first.label}; nothing was stopped.`);
    }
    const local = field(found, "local")[0];
    const snapshot = local !== undefined ? { local } : { s3: field(found, "s3")[0] ?? name };
    const source = local ?? `s3 ${snapshot.s3}`;
    io.err(`rancher-ha ops: restoring ${source} on ${first.label}\n`);

    const done: string[] = [];
    const downNodes: Rke2OpsNode[] = [];
    const restartHint = () => downNodes.length === 0 ? "" : `Still stopped: ${downNodes.map(n => n.label).join(", ")}; ` +
        "start them again by hand (sudo systemctl start rke2-server / rke2-agent) if you give up on the restore.";
    // 1. Everything down: every server (in the stack's order), then every agent.
    for (const n of [...c.servers, ...c.agents]) {
        if (!await runOn(c, n, rke2StopScript({ ...nodeArgs(c, n), what: "snapshot-restore" }), io)) {
            return stopped(io, done, `${restartHint()} Fix the cause and run snapshot-restore again.`);
        }
        downNodes.push(n);
        done.push(`${n.label}: ${n.kind === "server" ? "rke2-server" : "rke2-agent"} stopped`);
    }
    // 2. The first server restores the snapshot and comes back as a one-member cluster.
    const reset = await runOn(c, first, rke2ClusterResetScript({ ...nodeArgs(c, first), ...readyArgs(c), snapshot, s3Configured: s3 }), io);
    if (!reset) {
        return stopped(io, done, `${restartHint()} When the failure is before the reset, fix it and run snapshot-restore again; ` +
            `after it (the message above says), follow docs/operations.md#rke2 by hand from the first server's start.`);
    }
    downNodes.splice(downNodes.indexOf(first), 1);
    done.push(`${first.label}: restored from ${source}, rke2-server started, node ${field(reset, "node-name")[0]} Ready`);
    // 3. Each other server joins the restored etcd with an empty datastore, one at a time.
    for (const n of others) {
        const res = await runOn(c, n, rke2RejoinServerScript({ ...nodeArgs(c, n), ...readyArgs(c) }), io);
        if (!res) {
            return stopped(io, done, `${restartHint()} The cluster runs restored on ${first.label}; fix the cause and rejoin ` +
                `the rest by hand (docs/operations.md#rke2: move ${RKE2_PATHS.serverDb} aside, start rke2-server, one at a time).`);
        }
        downNodes.splice(downNodes.indexOf(n), 1);
        const moved = field(res, "moved")[0];
        done.push(`${n.label}: ${moved ? `datastore moved aside to ${moved}, ` : ""}rejoined, node ${field(res, "node-name")[0]} Ready`);
    }
    // 4. The agents, then a wait (from the first server: agents have no admin kubeconfig of their own) until Ready.
    const agentNames: string[] = [];
    for (const n of c.agents) {
        const res = await runOn(c, n, rke2StartScript({ ...nodeArgs(c, n), what: "snapshot-restore" }), io);
        if (!res) {
            return stopped(io, done, `${restartHint()} The servers run restored; start the agents by hand (sudo systemctl start rke2-agent).`);
        }
        downNodes.splice(downNodes.indexOf(n), 1);
        agentNames.push(field(res, "node-name")[0]);
        done.push(`${n.label}: rke2-agent started`);
    }
    if (agentNames.length > 0 && !await runOn(c, first, rke2WaitNodesReadyScript({ ...nodeArgs(c, first), ...readyArgs(c), nodeNames: agentNames }), io)) {
        return stopped(io, done, "The servers run restored; an agent did not become Ready in time: check it (journalctl -u rke2-agent).");
    }
    io.out(`The RKE2 cluster of stack ${c.name} is restored to ${source}:\n${done.slice(c.nodes.length).map(d => `  ${d}\n`).join("")}` +
        (agentNames.length > 0 ? `  agents Ready: ${agentNames.join(", ")}\n` : "") +
        "Nodes the snapshot knows but that are gone stay NotReady: kubectl delete node them. The cluster's CA is the snapshot's " +
        "(the same, for a snapshot of this cluster), so the stack's kubeconfig keeps working; to read the first server's " +
        `kubeconfig into the stack anyway:\n  ${stateSyncCommand(c.name)}\n${tokenNote(c.name)}\n`);
    return 0;
}

// ---- certificates ----

/** `cert-rotate --yes [--node <address>]...`: `rke2 certificate rotate` server by server, each Ready before the next. */
export async function rke2CertRotate(o: Opts, io: Io): Promise<number> {
    const c = rke2Context(o, "cert-rotate");
    const wanted = list(o, "node");
    const unknown = wanted.filter(a => !c.servers.some(n => n.node.address === a));
    if (unknown.length > 0) {
        throw new OpsError(`--node ${unknown.join(", ")}: not a server of stack ${c.name} (servers: ${c.servers.map(n => n.node.address).join(", ")}); ` +
            "agents renew their certificates themselves when rke2-agent starts");
    }
    const servers = wanted.length === 0 ? c.servers : c.servers.filter(n => wanted.includes(n.node.address));
    if (!flag(o, "yes")) {
        io.out(`cert-rotate renews every component certificate (same CAs) on ${servers.map(n => n.label).join(", ")} of stack ${c.name}: ` +
            "one server at a time, rke2-server is stopped, rke2 certificate rotate runs, rke2-server starts and the node must be " +
            "Ready before the next one (the API stays up through the LB on the other servers). Run it again with --yes.\n");
        return 2;
    }
    const done: string[] = [];
    for (const n of servers) {
        if (!await runOn(c, n, rke2CertRotateScript({ ...nodeArgs(c, n), ...readyArgs(c) }), io)) {
            return stopped(io, done, `Not rotated: ${servers.slice(done.length).map(x => x.label).join(", ")}. Fix the cause and run ` +
                `cert-rotate again (with --node for the rest).`);
        }
        done.push(`${n.label}: certificates rotated, Ready`);
    }
    io.out(`certificates rotated (rke2 certificate rotate, same CAs):\n${done.map(d => `  ${d}\n`).join("")}` +
        "Agents' certificates are not rotated here: RKE2 renews a node's certificates close to their expiry whenever it starts " +
        "(sudo systemctl restart rke2-agent); cert-status shows them.\n" +
        "The stack's kubeconfig output holds the first server's admin certificate from before (it keeps working until it " +
        `expires); read the new one into the stack now:\n  ${stateSyncCommand(c.name)}\n`);
    return 0;
}

/**
 * `cert-status`: every certificate of every node (servers' server/tls, all nodes' agent/), read with openssl on the
 * node, CAs first; exit 3 when one has expired or expires within 30 days, 1 when a node could not be read.
 */
export async function rke2CertStatus(o: Opts, io: Io): Promise<number> {
    const c = rke2Context(o, "cert-status");
    const results = await Promise.all(c.nodes.map(n => runOn(c, n, rke2CertStatusScript(nodeArgs(c, n)), io)));
    const certs = [];
    const problems: string[] = [];
    for (const [i, res] of results.entries()) {
        if (!res) {
            problems.push(`${c.nodes[i].label}: could not be read (see above)`);
            continue;
        }
        const r = rke2CertificatesFrom(c.nodes[i].label, res.lines);
        certs.push(...r.certs);
        problems.push(...r.problems);
    }
    const report = certStatusReport(certs, new Date(), CERT_WARN_DAYS, c.name, rke2CertFix);
    io.out(`Certificates of stack ${c.name} (RKE2: ${RKE2_PATHS.dataDir}/server/tls and agent/ on each node, read with openssl):\n` +
        report.lines.map(l => `  ${l}\n`).join(""));
    for (const p of problems) {
        io.err(`rancher-ha ops cert-status: ${p}\n`);
    }
    return problems.length > 0 ? 1 : report.exitCode;
}

// ---- remove-cluster ----

/** What remove-cluster wipes on an RKE2 stack (rke2-uninstall.sh on every node). */
export function rke2RemoveWarning(nodes: string[]): string {
    return `rke2-uninstall.sh runs on every node (${nodes.join(", ")}): it stops RKE2 and every container, and deletes RKE2's ` +
        `binaries and units, ${RKE2_PATHS.configDir} (config.yaml, registries.yaml) and ${RKE2_PATHS.dataDir}, which holds etcd's ` +
        `data and the local snapshots (${RKE2_PATHS.snapshotsDir}), with the kubelet's and the CNI's files. Snapshots in S3 ` +
        `(etcdSnapshots.s3) are kept; so are ${RKE2_PATHS.stateDir} (rancher-ha's lock and logs) and the artifacts copied to the SSH user's home.`;
}

/**
 * `remove-cluster --yes`: every node's removal with the opt-in (the stage's rke2RemoveNodeScript with
 * removeClusterOnDestroy: uninstall without a drain), agents first, then the servers last to first.
 */
export async function rke2RemoveCluster(o: Opts, io: Io): Promise<number> {
    const c = rke2Context(o, "remove-cluster");
    const addresses = c.nodes.map(n => n.node.address);
    if (!flag(o, "yes")) {
        io.out(`remove-cluster WIPES the RKE2 cluster of stack ${c.name}: ${rke2RemoveWarning(addresses)}\n` +
            `Take a snapshot first if you may want the data back (npm run ops -- snapshot-save --stack ${c.name}), and keep the ` +
            `token with it (pulumi stack output --stack ${c.name} --show-secrets rke2Token).\n` +
            `To go ahead: npm run ops -- remove-cluster --stack ${c.name} --yes\n`);
        return 1;
    }
    io.err(`rancher-ha ops: ${rke2RemoveWarning(addresses)}\n`);
    const order = [...c.agents, ...[...c.servers].reverse()];
    const done: string[] = [];
    for (const n of order) {
        const a = { ...rke2NodeScriptArgsFor(c.settings, n.node, n.kind, n.first, c.name), removeClusterOnDestroy: true };
        if (!await runOn(c, n, rke2RemoveNodeScript(a), io, false)) {
            return stopped(io, done, `Not removed yet: ${order.slice(done.length).map(x => x.label).join(", ")}. Fix the cause and ` +
                "run remove-cluster again (a node without RKE2 is skipped).");
        }
        done.push(`${n.label}: RKE2 removed`);
    }
    io.out(`The RKE2 cluster of stack ${c.name} is removed:\n${done.map(d => `  ${d}\n`).join("")}` +
        "If the stack still has resources, pulumi destroy forgets them (the nodes' deletes are skipped with the cluster record).\n");
    return 0;
}
