// The ops commands. Each prints what it did and the next step on stdout; progress (rke's output) streams on stderr.
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as path from "path";
import * as yaml from "js-yaml";
import { keyId, lbClientAddress } from "../../components/config";
import { hostKeyFingerprint, hostKeyFor, normaliseHostKey, parseKnownHosts } from "../../components/config/hostKeys";
import { rkeRemoveWarning } from "../../components/rke/scripts";
import { CERT_WARN_DAYS, certStatusReport, stateCertificates } from "./certStatus";
import { rkeYamlArgs } from "../../components/rke/clusterYml";
import { agentCaChecksum, agentRedeployBundle, agentRedeployScript } from "./agentRedeploy";
import {
    certRotateScript, installRecoveredBundle, installRecoveredScript, OpsWorkDirArgs, parseOpsResult, recoverStateScript,
    readStateScript, RecoveredFiles, removeClusterScript, ROTATABLE_SERVICES, snapshotNameProblem, snapshotRestoreScript, snapshotSaveScript,
} from "./remoteScripts";
import { rkeClusterYaml, rkeKeyPath } from "../../components/rke/clusterYml";
import {
    compareNodes, firstControlplane, fullStateFromObject, kubeconfigServer, parseRkeState, ParsedRkeState, rebuildClusterYml,
    recoverStackConfig, RecoveryNote,
} from "./rkeRecovery";
import { readStackFile, toolSettings, withoutHostKeyCheck } from "../stackFile";
import { flag, list, ParsedArgs, str } from "./args";
import { expandHome, RemoteTarget, runScript, sshCommandFor } from "./remote";
import { adminTarget, keyFileFor, loadStack, OpsStack, rawBastion, rawHostKey, readKeyFile } from "./stack";
import { stackRenderer, withEntries } from "./stackRender";
import { distributionMismatch, stackDistribution } from "./distribution";

/** What adopting an RKE2 cluster takes instead of recover (said when recover is asked for on an rke2 stack). */
export const RECOVER_ON_RKE2 = "recover adopts an RKE1 cluster from its kube-system/full-cluster-state. An RKE2 cluster " +
    "needs no recovery of that kind: each server keeps its own state, and a stack takes one over with the secret rke2Token " +
    "set to its token (sudo cat /var/lib/rancher/rke2/server/token on a server) and its nodes listed in nodes (first " +
    "server first): the first pulumi up then writes each node's config.yaml and restarts it only where that changes (docs/rke2.md)";

/** Why restore-workdir does not apply to RKE2 (said when it is asked for on an rke2 stack). */
export const RESTORE_WORKDIR_ON_RKE2 = "restore-workdir puts RKE1's admin work dir back; RKE2 has no admin work dir: each node " +
    "keeps its own /etc/rancher/rke2/config.yaml, which pulumi up writes. Compare the nodes' files with the stack: " +
    "npm run ops -- drift --stack <stack>; read the first server's kubeconfig back into the stack: set admin.stateSync " +
    "to a new value and pulumi up";

export interface Io {
    out: (s: string) => void;
    err: (s: string) => void;
    /** The whole of stdin (for commands that take a state on stdin). */
    readStdin: () => Promise<string>;
    stdinIsTty: boolean;
}

type Opts = ParsedArgs["options"];

/** A failure the user can fix: printed as one message, exit 1. */
export class OpsError extends Error {}

/** The project directory (--cwd, else the working directory). */
export function cwdOf(o: Opts): string {
    return path.resolve(str(o, "cwd") ?? process.cwd());
}

/** --stack, required. */
export function stackName(o: Opts): string {
    const s = str(o, "stack");
    if (!s) {
        throw new OpsError("--stack <name> is required (the Pulumi stack, as in Pulumi.<name>.yaml)");
    }
    return s;
}

interface WorkDirContext {
    stack: OpsStack;
    name: string;
    target: RemoteTarget | "local";
    args: OpsWorkDirArgs;
    sshOptions: string[];
}

/** The RKE (RKE1) work dir commands' context; refuses an rke2 stack, naming what to run instead. */
function workDirContext(o: Opts, command: string, onRke2?: string): WorkDirContext {
    const name = stackName(o);
    const stack = loadStack(cwdOf(o), name);
    const s = stack.settings;
    const mismatch = distributionMismatch(name, s.distribution, command, "rke",
        onRke2 ?? `npm run ops -- ${command} --stack ${name} runs the RKE2 one for this stack (docs/operations.md#rke2)`);
    if (mismatch) {
        throw new OpsError(mismatch);
    }
    const target = adminTarget(s, stack.file.raw, str(o, "identity"));
    return {
        stack, name, target, sshOptions: list(o, "ssh-option"),
        args: {
            workDir: s.admin.workDir, rkePath: s.admin.rkePath, rkeVersion: s.versions.rke, stack: name,
            hostLabel: target === "local" ? "local" : `${target.user}@${target.address}:${target.port}`,
            sshToAdmin: target === "local" ? undefined : sshCommandFor(target),
        },
    };
}

/** Writes a secret file here: mode 0600, never over an existing file. */
function saveSecretFile(p: string, content: string): void {
    fs.writeFileSync(p, content, { mode: 0o600, flag: "wx" });
}

function utcStamp(): string {
    return new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

async function runOnAdmin(c: WorkDirContext, io: Io, script: string, stdin = ""): Promise<ReturnType<typeof parseOpsResult> | undefined> {
    const r = await runScript(c.target, script, stdin, { sshOptions: c.sshOptions, progress: io.err });
    return r.code === 0 ? parseOpsResult(r.stdout) : undefined;
}

// ---- snapshots ----

export async function snapshotSave(o: Opts, io: Io): Promise<number> {
    const c = workDirContext(o, "snapshot-save");
    const name = str(o, "name") ?? `rancher-ha-${utcStamp()}`;
    const problem = snapshotNameProblem(name);
    if (problem) {
        throw new OpsError(problem);
    }
    const res = await runOnAdmin(c, io, snapshotSaveScript({ ...c.args, name, overwrite: flag(o, "overwrite") }));
    if (!res) {
        return 1;
    }
    const s3 = c.stack.settings.etcdSnapshots.s3;
    io.out(`snapshot ${name} saved on every etcd node (/opt/rke/etcd-snapshots/${name}.zip)` +
        `${s3 ? ` and uploaded to s3://${s3.bucketName}/${s3.folder ?? ""}` : ""}.\n` +
        `Restore it (rolls the whole cluster back) with: npm run ops -- snapshot-restore --stack ${c.name} --name ${name} --yes\n`);
    return 0;
}

export async function snapshotRestore(o: Opts, io: Io): Promise<number> {
    const name = str(o, "name");
    if (!name) {
        throw new OpsError("--name <snapshot> is required (npm run ops -- snapshot-save printed it; rke keeps them in /opt/rke/etcd-snapshots on the etcd nodes)");
    }
    const c = workDirContext(o, "snapshot-restore");
    if (!flag(o, "yes")) {
        io.out(`snapshot-restore rolls the cluster of stack ${c.name} back to snapshot ${name}: ALL cluster data written since ` +
            "(Rancher's included) is lost, and RKE removes and redeploys the Kubernetes containers on every node. " +
            "Take a snapshot of the current state first (snapshot-save), then run the same command with --yes.\n");
        return 2;
    }
    const res = await runOnAdmin(c, io, snapshotRestoreScript({ ...c.args, name }));
    if (!res) {
        return 1;
    }
    io.out(`cluster restored to snapshot ${name}.\n`);
    afterStateChange(o, io, c, res);
    return 0;
}

/** After rke rewrote the state: keep copies if asked, and say what the stack does not know yet. */
function afterStateChange(o: Opts, io: Io, c: WorkDirContext, res: ReturnType<typeof parseOpsResult>): void {
    for (const l of res.lines.filter(x => x.startsWith("backup "))) {
        io.out(`previous file kept on the admin host: ${c.args.workDir}/${l.slice(7)}\n`);
    }
    const saveState = str(o, "save-state");
    if (saveState && res.rkeState) {
        saveSecretFile(expandHome(saveState), res.rkeState);
        io.out(`new state file saved to ${saveState} (0600)\n`);
    }
    const saveKube = str(o, "save-kubeconfig");
    if (saveKube && res.kubeconfig) {
        saveSecretFile(expandHome(saveKube), res.kubeconfig);
        io.out(`new kubeconfig saved to ${saveKube} (0600)\n`);
    }
    io.out(`The stack's rkeState output still holds the previous state until the next pulumi up that runs rke up; the admin ` +
        `host's file is the current one and is never overwritten by pulumi${saveState ? "" : " (keep a copy: --save-state <file>)"}.\n` +
        `Read the new state and kubeconfig into the stack now, without running rke:\n  ${stateSyncCommand(c.name)}\n`);
}

/**
 * Makes the next pulumi up re-read the admin host's kubeconfig and state (admin.stateSync, see RkeCluster); on RKE2 it
 * re-runs the first server's script, which reports its current kubeconfig (Rke2Cluster).
 */
export function stateSyncCommand(stack: string): string {
    return `pulumi config set --stack ${stack} --path rancher-ha:admin.stateSync "$(date +%Y%m%d%H%M%S)" && pulumi up --stack ${stack}`;
}

export async function certRotate(o: Opts, io: Io): Promise<number> {
    const services = list(o, "service");
    const bad = services.filter(x => !(ROTATABLE_SERVICES as readonly string[]).includes(x));
    if (bad.length > 0) {
        throw new OpsError(`unknown --service ${bad.join(", ")}; rke cert rotate takes ${ROTATABLE_SERVICES.join(", ")}`);
    }
    const rotateCa = flag(o, "rotate-ca");
    const c = workDirContext(o, "cert-rotate");
    if (rotateCa && !flag(o, "yes")) {
        io.out("cert-rotate --rotate-ca replaces the cluster CA and every certificate: every kubeconfig made with the old CA " +
            "(the stack's kubeconfig output included) stops working, and RKE restarts the system pods so service account " +
            "tokens are reissued. Run it again with --yes, and --save-kubeconfig <file> to keep the new admin kubeconfig.\n");
        return 2;
    }
    const res = await runOnAdmin(c, io, certRotateScript({ ...c.args, services, rotateCa }));
    if (!res) {
        return 1;
    }
    io.out(`certificates rotated (${rotateCa ? "CA and all" : services.length > 0 ? services.join(", ") : "all services"}); ` +
        "RKE restarted the components that use them.\n");
    afterStateChange(o, io, c, res);
    if (rotateCa) {
        io.out("The CA changed: the stack's kubeconfig output still has the old CA, so pulumi up would fail at the Kubernetes " +
            "stages with 'x509: certificate signed by unknown authority' until the stack reads the new one back (the command " +
            "above, before any other pulumi up). Use the kubeconfig saved above (or kube_config_rancher-cluster.yml on the " +
            "admin host) meanwhile.\n");
    }
    return 0;
}

// ---- recovery ----

function noteLines(notes: RecoveryNote[]): string {
    const title = { secret: "set before pulumi up", changed: "the first pulumi up changes", dropped: "not carried", info: "note" };
    return notes.map(n => `  - [${title[n.kind]}] ${n.text}\n`).join("");
}

/**
 * Everything recover writes here, checked before it reads or writes anything: a run that cannot finish writes nothing
 * (the admin work dir is checked by the install script itself, before it writes).
 */
function recoverPreconditions(cwd: string, stack: string, kubeOut: string | undefined, write: boolean): void {
    if (kubeOut) {
        const p = path.resolve(cwd, expandHome(kubeOut));
        if (fs.existsSync(p)) {
            throw new OpsError(`--kubeconfig-out ${kubeOut} already exists and recover never overwrites a kubeconfig; nothing was written. ` +
                "Move it away (or delete it), or pass another --kubeconfig-out, and run recover again");
        }
        const d = path.dirname(p);
        try {
            fs.accessSync(d, fs.constants.W_OK);
        } catch {
            throw new OpsError(`--kubeconfig-out ${kubeOut}: the directory ${d} does not exist or is not writable; nothing was written. ` +
                "Create it or pass another --kubeconfig-out");
        }
    }
    if (write) {
        const p = path.join(cwd, `Pulumi.${stack}.yaml`);
        for (const [f, what] of [[p, "file"], [cwd, "directory (for the .bak copy)"]] as const) {
            try {
                fs.accessSync(f, fs.constants.W_OK);
            } catch {
                throw new OpsError(`--write: the ${what} ${f} is not writable; nothing was written. Make it writable, or run recover ` +
                    "without --write and merge the printed config by hand");
            }
        }
    }
}

/** `recover --from <controlplane address>`: adopt a cluster from the state RKE keeps in it. */
export async function recover(o: Opts, io: Io): Promise<number> {
    const name = stackName(o);
    const cwd = cwdOf(o);
    const from = str(o, "from");
    if (!from) {
        throw new OpsError("--from <address of a controlplane node> is required");
    }
    const file = readStackFile(cwd, name);
    const mismatch = distributionMismatch(name, stackDistribution(file.raw), "recover", "rke", RECOVER_ON_RKE2);
    if (mismatch) {
        throw new OpsError(mismatch);
    }
    const raw = file.raw;
    const ssh = (typeof raw.ssh === "object" && raw.ssh !== null ? raw.ssh : {}) as Record<string, unknown>;
    const sshUser = typeof ssh.user === "string" ? ssh.user : undefined;
    const user = str(o, "user") ?? sshUser;
    if (!user) {
        throw new OpsError("no SSH user: pass --user <user> (recovered states usually say root; use the user RKE should log in as) or set ssh.user in the stack");
    }
    const kubeOut = str(o, "kubeconfig-out");
    const write = flag(o, "write");
    recoverPreconditions(cwd, name, kubeOut, write);
    const port = Number(str(o, "port") ?? ssh.port ?? 22);
    let bastion;
    try {
        bastion = rawBastion(raw, str(o, "identity"));
    } catch (e) {
        throw new OpsError((e as Error).message);
    }
    // The node is not in the stack yet: pinned when ssh.knownHostsFile has it; through the stack's bastion when it has one.
    const node: RemoteTarget = {
        address: from, port, user, keyFile: keyFileFor(raw, {}, str(o, "identity")), hostKey: rawHostKey(raw, {}, from, port), bastion,
    };
    const sshOptions = list(o, "ssh-option");
    const nodeLabel = `${user}@${from}:${port}`;
    io.err(`rancher-ha ops: reading kube-system/full-cluster-state on ${nodeLabel}` +
        `${bastion ? ` through the bastion ${bastion.user}@${bastion.address}:${bastion.port}` : ""}\n`);
    const r = await runScript(node, recoverStateScript({ nodeLabel }), "", { sshOptions, progress: io.err });
    if (r.code !== 0) {
        return 1;
    }
    const res = parseOpsResult(r.stdout);
    let kind;
    let parsed: ParsedRkeState;
    try {
        const full = fullStateFromObject(res.object ?? "");
        kind = full.kind;
        parsed = parseRkeState(full.state);
    } catch (e) {
        throw new OpsError(`${nodeLabel}: ${(e as Error).message}`);
    }
    io.err(`rancher-ha ops: recovered the cluster state from the ${kind} (${parsed.certificates.length} certificates, ` +
        `Kubernetes ${String(parsed.config.kubernetesVersion)})\n`);

    const stackBastion = typeof raw.bastion === "object" && raw.bastion !== null ? raw.bastion as Record<string, unknown> : undefined;
    let recovered;
    try {
        recovered = recoverStackConfig(parsed, {
            sshUser, user: str(o, "user"), sshPort: typeof ssh.port === "number" ? ssh.port : undefined,
            keepSystemImages: flag(o, "keep-system-images"), stackBastion,
        }, stackRenderer(file));
    } catch (e) {
        throw new OpsError(`the recovered nodes cannot be rendered with this stack (it needs hostname, loadBalancer.address and ssh.* ` +
            `before recover):\n${(e as Error).message}`);
    }
    const mergedRaw = withEntries(raw, recovered.entries);
    // Secrets the user still has to set stand in as placeholders, so the rest validates now.
    const pending = Object.fromEntries(recovered.secrets.filter(x => mergedRaw[x.key] === undefined).map(x => [x.key, `<pending:${x.key}>`]));
    const { settings } = toolSettings({ ...file, raw: { ...mergedRaw, ...pending } });

    // The admin host gets the state, the kubeconfig, and (when the stack's keys are files here) a cluster.yml as it
    // runs, with every key it names (nodes and bastion) in keys/.
    const files: RecoveredFiles = { rkeState: parsed.text, kubeconfig: parsed.kubeconfig };
    const adminNodeRaw = settings.admin.host === "local" ? {} :
        (mergedRaw.nodes as Record<string, unknown>[]).find(n => n.address === (settings.admin.host as { address: string }).address) ?? {};
    const key = readKeyFile(keyFileFor(mergedRaw, adminNodeRaw));
    const bastionRaw = (typeof mergedRaw.bastion === "object" && mergedRaw.bastion !== null ? mergedRaw.bastion : undefined) as Record<string, unknown> | undefined;
    const stateBastion = (parsed.config.bastionHost as { address?: string } | undefined)?.address;
    const bastionKeyFile = stateBastion ? keyFileFor(mergedRaw, bastionRaw ?? {}) : undefined;
    const bastionKey = stateBastion ? readKeyFile(bastionKeyFile) : undefined;
    const workDir = settings.admin.workDir;
    let notWritten: string | undefined;
    if (key && (!stateBastion || bastionKey)) {
        const yml = rebuildClusterYml(parsed, {
            user, sshKeyPath: rkeKeyPath(workDir, keyId(key)),
            bastionKeyPath: bastionKey ? rkeKeyPath(workDir, keyId(bastionKey)) : undefined,
            bastionUser: typeof bastionRaw?.user === "string" ? bastionRaw.user : undefined,
        });
        // Deterministic (no date): recovering the same cluster twice finds the same file and changes nothing.
        files.clusterYml = "# Rebuilt by rancher-ha ops recover from the cluster's full-cluster-state.\n" +
            "# The next pulumi up replaces it with the one rendered from the stack.\n" + yaml.dump(yml, { lineWidth: -1, noRefs: true });
        files.keys = [{ keyId: keyId(key), privateKey: key }, ...(bastionKey ? [{ keyId: keyId(bastionKey), privateKey: bastionKey }] : [])];
    } else {
        notWritten = key
            ? `the bastion's SSH key is not a file here (${bastionKeyFile ?? "sshPrivateKey"}; set bastion.sshKeyPath)`
            : "the stack's SSH key is not a file here";
    }
    const target = adminTarget(settings, mergedRaw, str(o, "identity"));
    const recoverCommand = `npm run ops -- recover --stack ${name} --from ${from}${str(o, "user") ? ` --user ${str(o, "user")}` : ""}`;
    const inst = await runScript(target, installRecoveredScript({
        workDir, hostLabel: target === "local" ? "local" : `${target.user}@${target.address}:${target.port}`, replace: flag(o, "replace"),
        stack: name, recoverCommand,
    }), installRecoveredBundle(files), { sshOptions, progress: io.err });
    if (inst.code !== 0) {
        return 1;
    }
    const where = target === "local" ? "this machine" : `${target.user}@${target.address}`;
    io.out(`Recovered the cluster state (${parsed.from}) and put it in ${workDir} on ${where}:\n` +
        parseOpsResult(inst.stdout).lines.map(l => `  ${l}\n`).join("") +
        (notWritten ? `  (rancher-cluster.yml and keys/ not written: ${notWritten}; the first pulumi up writes them)\n` : ""));
    if (parsed.kubeconfig) {
        const server = kubeconfigServer(parsed.kubeconfig);
        const host = server ? /^https?:\/\/\[?([^\]/]+?)\]?(:\d+)?(\/.*)?$/.exec(server)?.[1] : undefined;
        const nodes = parsed.config.nodes as { address: string; role?: string[] }[];
        const i = nodes.findIndex(n => n.address === host);
        const cp = firstControlplane(parsed.config);
        const which = i < 0 ? "" : ` (${i === cp?.index ? "the first controlplane node, " : ""}node ${i + 1} of the state: ${(nodes[i].role ?? []).join(", ")})`;
        const origin = parsed.kubeconfigBuilt ? "built from the state's kube-admin certificate and key, " : "";
        if (kubeOut) {
            saveSecretFile(path.resolve(cwd, expandHome(kubeOut)), parsed.kubeconfig);
            io.out(`admin kubeconfig saved to ${kubeOut} (0600; ${origin}it points at ${server ?? "an unknown server"}${which})\n`);
        } else if (origin) {
            io.out(`admin kubeconfig ${origin}pointing at ${server ?? "an unknown server"}${which}: in the work dir; --kubeconfig-out <file> saves a copy here\n`);
        }
    } else if (kubeOut) {
        io.out(`no admin kubeconfig: the state has neither one nor the kube-admin certificate and key to build it; ${kubeOut} not written ` +
            "(the first pulumi up's rke up writes one)\n");
    }

    const config = Object.fromEntries(Object.entries(recovered.entries).map(([k, v]) => [`${file.project}:${k}`, mergedRaw[k] ?? v]));
    if (write) {
        writeStackConfig(cwd, name, config);
        io.out(`\nWrote these keys into Pulumi.${name}.yaml (previous file: Pulumi.${name}.yaml.bak; comments are not kept):\n`);
    } else {
        io.out(`\nStack config for Pulumi.${name}.yaml (rerun with --write to merge it in):\n`);
    }
    io.out(yaml.dump({ config }, { lineWidth: -1, noRefs: true }).split("\n").map(l => (l ? `  ${l}` : l)).join("\n"));
    io.out(`\n${noteLines(recovered.notes)}`);
    io.out(nodeReport(parsed, res, name, nodeLabel));
    io.out(`\nNext:\n` +
        recovered.secrets.map(s => `  pulumi config set --stack ${name} --secret ${s.key}    # value: jq -r '${s.statePath}' ${workDir}/rancher-cluster.rkestate (on ${where})\n`).join("") +
        `  npm run ops -- snapshot-save --stack ${name} --name before-adoption   # a way back before anything changes\n` +
        `  pulumi preview --stack ${name} && pulumi up --stack ${name}\n` +
        "The first pulumi up runs rke up with the equivalent config: RKE keeps the cluster's certificates (they are in the " +
        "state) and recreates no Kubernetes container whose image, command, environment and mounts are unchanged; it " +
        "re-applies its add-ons and exports the state to the stack.\n");
    return 0;
}

/** The state's nodes against `kubectl get nodes` on the node recover read from (never fails the recovery). */
function nodeReport(parsed: ParsedRkeState, res: ReturnType<typeof parseOpsResult>, stack: string, nodeLabel: string): string {
    if (res.nodes === undefined) {
        return `\nNodes: not compared with the cluster (kubectl get nodes failed on ${nodeLabel}: ${res.nodesError || "no output"}); ` +
            "compare kubectl get nodes with the nodes above before pulumi up: a node missing from the state is not managed by rke up\n";
    }
    let mismatches;
    try {
        mismatches = compareNodes(parsed.config, res.nodes, stack);
    } catch (e) {
        return `\nNodes: not compared with the cluster (${(e as Error).message})\n`;
    }
    const count = (parsed.config.nodes as unknown[]).length;
    if (mismatches.length === 0) {
        return `\nNodes: the state lists every node of the cluster (${count}, kubectl get nodes on ${nodeLabel}).\n`;
    }
    const fromState = mismatches.filter(m => m.kind === "missing-from-state");
    const fromCluster = mismatches.filter(m => m.kind === "missing-from-cluster");
    return `\nNodes: the state and the cluster (kubectl get nodes on ${nodeLabel}) differ; settle this before pulumi up:\n` +
        (fromState.length > 0 ? `  in the cluster, missing from the state (and so from the recovered nodes):\n${fromState.map(m => `  - ${m.text}\n`).join("")}` : "") +
        (fromCluster.length > 0 ? `  in the state, missing from the cluster:\n${fromCluster.map(m => `  - ${m.text}\n`).join("")}` : "");
}

function writeStackConfig(cwd: string, stack: string, config: Record<string, unknown>): void {
    const p = path.join(cwd, `Pulumi.${stack}.yaml`);
    const text = fs.readFileSync(p, "utf8");
    const doc = (yaml.load(text) ?? {}) as { config?: Record<string, unknown> };
    doc.config = { ...(doc.config ?? {}), ...config };
    fs.writeFileSync(`${p}.bak`, text);
    fs.writeFileSync(p, yaml.dump(doc, { lineWidth: -1, noRefs: true }));
}

/**
 * `restore-workdir`: rancher-cluster.yml and keys/ rendered from the stack as pulumi up does, with the state piped in
 * from the stack (`pulumi stack output --show-secrets rkeState | npm run ops -- restore-workdir --stack s`). The
 * secrets the yml needs (registry password, S3 secret key) are read from that state, where RKE keeps them too.
 */
export async function restoreWorkdir(o: Opts, io: Io): Promise<number> {
    const c = workDirContext(o, "restore-workdir", RESTORE_WORKDIR_ON_RKE2);
    if (io.stdinIsTty) {
        throw new OpsError(`pipe the state in: pulumi stack output --stack ${c.name} --show-secrets rkeState | npm run ops -- restore-workdir --stack ${c.name}`);
    }
    // `pulumi stack output` adds one newline to the value; RKE's file has none.
    const parsed: ParsedRkeState = parseRkeState((await io.readStdin()).replace(/\n$/, ""));
    const cfg = parsed.config as Record<string, any>;
    const s = c.stack.settings;
    const raw = c.stack.file.raw;
    if (c.stack.file.encryptedKeys.includes("sshPrivateKey") && !str(o, "identity")) {
        throw new OpsError("the stack's SSH key is the encrypted secret sshPrivateKey: pass --identity <file> holding the same key");
    }
    const identityKey = readKeyFile(str(o, "identity") ? expandHome(str(o, "identity")!) : undefined);
    const rawWithKey = identityKey && c.stack.file.encryptedKeys.includes("sshPrivateKey") ? { ...raw, sshPrivateKey: identityKey } : raw;
    const { settings } = toolSettings({ ...c.stack.file, raw: rawWithKey });
    const keys: { keyId: string; privateKey: string }[] = [];
    for (const [t, tRaw] of [...settings.nodes.map((n, i) => [n, (raw.nodes as Record<string, unknown>[])[i]] as const),
        ...(settings.bastion ? [[settings.bastion, raw.bastion as Record<string, unknown>] as const] : [])]) {
        const k = tRaw.sshKeyPath === undefined && identityKey ? identityKey : readKeyFile(keyFileFor(rawWithKey, tRaw));
        if (!k || keyId(k) !== t.keyId) {
            throw new OpsError(`the SSH key of ${t.address} is not readable here (${keyFileFor(rawWithKey, tRaw) ?? "sshPrivateKey"}); pass --identity <file>`);
        }
        keys.push({ keyId: t.keyId, privateKey: k });
    }
    const registryPassword = s.privateRegistry ? cfg.privateRegistries?.[0]?.password : undefined;
    const s3Secret = s.etcdSnapshots.s3 ? cfg.services?.etcd?.backupConfig?.s3BackupConfig?.secretKey : undefined;
    const yml = rkeClusterYaml(rkeYamlArgs(settings, lbClientAddress(settings.loadBalancer), { registryPassword: registryPassword, s3SecretKey: s3Secret }));
    const res = await runOnAdmin(c, io, installRecoveredScript({ workDir: s.admin.workDir, hostLabel: c.args.hostLabel, replace: flag(o, "replace") }),
        installRecoveredBundle({ rkeState: parsed.text, kubeconfig: parsed.kubeconfig, clusterYml: yml, keys }));
    if (!res) {
        return 1;
    }
    io.out(`${s.admin.workDir} on ${c.args.hostLabel}:\n${res.lines.map(l => `  ${l}\n`).join("")}` +
        "The work dir is complete again; the next pulumi up that changes the cluster runs rke up with it.\n");
    return 0;
}

// ---- agents ----

function fetchText(url: string): Promise<string> {
    const get = url.startsWith("https:") ? https.get : http.get;
    return new Promise((resolve, reject) => {
        // The CA is what is being fetched, so it cannot be verified yet: agents do the same (curl --insecure), then pin it by checksum.
        const req = get(url, { rejectUnauthorized: false, timeout: 15000 } as https.RequestOptions, res => {
            let body = "";
            res.on("data", d => (body += d));
            res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url} answered ${res.statusCode}`))));
        });
        req.on("timeout", () => req.destroy(new Error(`${url} did not answer within 15 s`)));
        req.on("error", reject);
    });
}

/** `agents-redeploy`: give a cluster's Rancher agents the checksum of the CA Rancher serves now. */
export async function agentsRedeploy(o: Opts, io: Io): Promise<number> {
    const name = stackName(o);
    const kubeconfigFile = str(o, "kubeconfig");
    if (!kubeconfigFile) {
        throw new OpsError("--kubeconfig <file> of the cluster whose agents lost trust is required (a downstream or imported cluster: " +
            "Rancher's own cluster has no cattle agents since Rancher 2.5)");
    }
    let source: string;
    let cacerts: string;
    const caFile = str(o, "ca-file");
    if (caFile) {
        cacerts = fs.readFileSync(expandHome(caFile), "utf8");
        source = caFile;
    } else {
        const hostname = str(o, "rancher-url") ? undefined : readStackFile(cwdOf(o), name).raw.hostname;
        const url = `${(str(o, "rancher-url") ?? `https://${String(hostname)}`).replace(/\/+$/, "")}/v3/settings/cacerts`;
        const body = JSON.parse(await fetchText(url)) as { value?: unknown };
        if (typeof body.value !== "string") {
            throw new OpsError(`${url} has no cacerts value; is this a Rancher server?`);
        }
        cacerts = body.value;
        source = url;
    }
    const sum = agentCaChecksum(cacerts);
    io.err(`rancher-ha ops: CA checksum from ${source}: ${sum || "(empty: a publicly trusted certificate)"}\n`);
    const manifestFile = str(o, "manifest");
    const manifest = manifestFile ? fs.readFileSync(expandHome(manifestFile), "utf8") : undefined;
    const r = await runScript("local", agentRedeployScript({ expectedChecksum: sum, dryRun: flag(o, "dry-run") }),
        agentRedeployBundle(fs.readFileSync(expandHome(kubeconfigFile), "utf8"), manifest), { progress: io.err });
    if (r.code !== 0) {
        return 1;
    }
    const lines = r.stdout.trim().split("\n").filter(Boolean);
    io.out(lines.map(l => `${l}\n`).join(""));
    if (lines.every(l => l.startsWith("absent "))) {
        io.out("No Rancher agents in this cluster: point --kubeconfig at a downstream/imported cluster, or re-import it with " +
            "--manifest <file> (the YAML from Rancher's cluster import command).\n");
    } else if (lines.some(l => l.startsWith("patched ") || l.startsWith("applied "))) {
        io.out("The agent pods roll out with the new checksum and reconnect; then select Force Update for the cluster under " +
            "Continuous Delivery in the Rancher UI so fleet-agent gets the new CA too (Rancher docs, updating a private CA).\n");
    }
    return 0;
}

// ---- remove-cluster ----

/** `npm run ops -- remove-cluster`: the one way to wipe a cluster unless the stack opted in to it on destroy. */
export async function removeCluster(o: Opts, io: Io): Promise<number> {
    const c = workDirContext(o, "remove-cluster");
    const nodes = c.stack.settings.nodes.map(n => n.address);
    if (!flag(o, "yes")) {
        io.out(`remove-cluster WIPES the cluster of stack ${c.name}: ${rkeRemoveWarning(nodes)}\n` +
            `Then it removes the files rancher-ha kept in ${c.args.workDir} on ${c.args.hostLabel}. ` +
            `Take a snapshot first if you may want the data back (npm run ops -- snapshot-save --stack ${c.name}).\n` +
            `To go ahead: npm run ops -- remove-cluster --stack ${c.name} --yes\n`);
        return 1;
    }
    const res = await runOnAdmin(c, io, removeClusterScript({ ...c.args, nodes }));
    if (!res) {
        return 1;
    }
    io.out(`The cluster of stack ${c.name} is removed (${nodes.join(", ")}), and ${c.args.workDir} on ${c.args.hostLabel} ` +
        "holds none of its files any more. If the stack still has resources, pulumi destroy forgets them.\n");
    return 0;
}

// ---- host-keys ----

interface ScannedHost {
    /** The config key of the host: loadBalancer, nodes[0], bastion. */
    key: string;
    address: string;
    port: number;
    pinned?: string;
    behindBastion: boolean;
}

/** `ssh-keyscan` lines for some hosts, run here or on the bastion. */
async function keyscan(hosts: ScannedHost[], via: RemoteTarget | "local", io: Io, sshOptions: string[]): Promise<string> {
    const cmd = hosts.map(h => `ssh-keyscan -T 10 -p ${h.port} -t ed25519,ecdsa,rsa ${shellWord(h.address)} 2>/dev/null || true`).join("\n");
    const r = await runScript(via, `command -v ssh-keyscan >/dev/null 2>&1 || { echo "ssh-keyscan (OpenSSH client) is not installed" >&2; exit 1; }\n${cmd}\n`,
        "", { sshOptions, progress: io.err, timeoutMs: 120000 });
    if (r.code !== 0) {
        throw new OpsError(`ssh-keyscan ${via === "local" ? "here" : `on ${via.user}@${via.address}`} failed (exit ${r.code}): ${r.stderr.trim()}`);
    }
    return r.stdout;
}

function shellWord(s: string): string {
    if (!/^[A-Za-z0-9.:_-]+$/.test(s)) {
        throw new OpsError(`"${s}" is not a host name or address`);
    }
    return s;
}

/**
 * `npm run ops -- host-keys`: the SSH host key of every host of the stack, scanned now (hosts behind the bastion
 * from the bastion), with their fingerprints to check and the `pulumi config set` lines that pin them. Exit 3 when a
 * scanned key differs from the one the stack pins (a reinstalled host, or someone else answering).
 */
export async function hostKeys(o: Opts, io: Io): Promise<number> {
    const name = stackName(o);
    const file = readStackFile(cwdOf(o), name);
    // The keys may be missing (that is why this runs): read the stack as if they were not required.
    const { settings: s } = toolSettings({ ...file, raw: withoutHostKeyCheck(file.raw) });
    const originalPins = toolPins(file);
    const behind = s.bastion !== undefined;
    const hosts: ScannedHost[] = [
        { key: "loadBalancer", address: s.loadBalancer.address, port: s.loadBalancer.port, behindBastion: behind },
        ...s.nodes.map((n, i) => ({ key: `nodes[${i}]`, address: n.address, port: n.port, behindBastion: behind })),
        ...(s.bastion ? [{ key: "bastion", address: s.bastion.address, port: s.bastion.port, behindBastion: false }] : []),
    ].map(h => ({ ...h, pinned: originalPins[h.key] }));
    const sshOptions = list(o, "ssh-option");
    let scanned = await keyscan(hosts.filter(h => !h.behindBastion), "local", io, sshOptions);
    const bastionHost = hosts.find(h => h.key === "bastion");
    if (s.bastion && bastionHost) {
        const found = hostKeyFor(parseKnownHosts(scanned), s.bastion.address, s.bastion.port);
        const via: RemoteTarget = {
            address: s.bastion.address, port: s.bastion.port, user: s.bastion.user,
            keyFile: keyFileFor(file.raw, (file.raw.bastion ?? {}) as Record<string, unknown>, str(o, "identity")),
            hostKey: bastionHost.pinned ?? found,
        };
        scanned += await keyscan(hosts.filter(h => h.behindBastion), via, io, sshOptions);
    }
    const entries = parseKnownHosts(scanned);
    let differs = 0;
    let missing = 0;
    const lines: string[] = [];
    for (const h of hosts) {
        const key = hostKeyFor(entries, h.address, h.port);
        const where = `${h.key} (${h.address}:${h.port}${h.behindBastion ? ", via the bastion" : ""})`;
        if (!key) {
            missing++;
            io.out(`${where}: no answer to ssh-keyscan; check the host is up and its SSH port is ${h.port}\n`);
            continue;
        }
        const state = h.pinned === undefined ? "not pinned yet" : h.pinned === key ? "pinned: matches" : "pinned: DIFFERS from the stack's";
        if (h.pinned !== undefined && h.pinned !== key) {
            differs++;
        }
        io.out(`${where}: ${hostKeyFingerprint(key)}  ${state}\n`);
        if (h.pinned !== key) {
            lines.push(`pulumi config set --stack ${name} --path '${file.project}:${h.key}.hostKey' '${key}'`);
        }
    }
    io.out("\nCheck each fingerprint against the host's own before you trust it (on its console: " +
        "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); ssh-keyscan believes whoever answers.\n");
    if (lines.length > 0) {
        io.out(`Then pin them:\n${lines.map(l => `  ${l}\n`).join("")}`);
    }
    if (differs > 0) {
        io.err(`rancher-ha ops host-keys: ${differs} host(s) present a key other than the one the stack pins: a reinstalled host, ` +
            "or someone else at its address. Find out which before you pin the new key.\n");
        return 3;
    }
    return missing > 0 ? 1 : 0;
}

/** The host keys the stack file itself pins, by config key (hostKey settings only). */
function toolPins(file: { raw: Record<string, unknown> }): Record<string, string | undefined> {
    const out: Record<string, string | undefined> = {};
    const pin = (v: unknown) => (typeof v === "object" && v !== null && typeof (v as any).hostKey === "string"
        ? normaliseHostKey((v as any).hostKey) : undefined);
    out.loadBalancer = pin(file.raw.loadBalancer);
    out.bastion = pin(file.raw.bastion);
    (Array.isArray(file.raw.nodes) ? file.raw.nodes : []).forEach((n, i) => { out[`nodes[${i}]`] = pin(n); });
    return out;
}

// ---- cert-status ----

/**
 * `npm run ops -- cert-status`: the expiry of the cluster's certificates (CA first), read from the state file on the
 * admin host; exit 3 when one has expired or expires within 30 days (RKE1's expire after a year).
 */
export async function certStatus(o: Opts, io: Io): Promise<number> {
    const c = workDirContext(o, "cert-status");
    const r = await runScript(c.target, readStateScript(c.args), "", { sshOptions: c.sshOptions, progress: io.err });
    if (r.code !== 0) {
        return 1;
    }
    const state = parseOpsResult(r.stdout).rkeState;
    if (!state) {
        throw new OpsError("the admin host printed no state file");
    }
    const report = certStatusReport(stateCertificates(state), new Date(), CERT_WARN_DAYS, c.name);
    io.out(`Certificates of stack ${c.name} (from ${c.args.workDir}/rancher-cluster.rkestate on ${c.args.hostLabel}):\n` +
        report.lines.map(l => `  ${l}\n`).join(""));
    return report.exitCode;
}
