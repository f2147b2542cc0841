// npm run ops -- backup-now / migrate-check: Rancher's own backups (the rancher-backup operator) from the machine
// running ops, with kubectl and the user's kubeconfig file (issue #14). backup-now applies a one-time Backup and waits
// for its file; migrate-check compares an old stack (backup) with a new one (restoreFrom) item by item, and with
// kubeconfigs the two clusters (docs/backup-research.md, sections 3 and 4). See docs/operations.md.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BackupS3Settings, StackSettings } from "../../components/config";
import {
    backupResource, ENCRYPTION_CONFIG_SECRET, onDemandBackupName, parseBackupFilename, RESTORE_NAME,
    s3LocationOf, SCHEDULED_BACKUP_NAME,
} from "../../components/backup/resources";
import { backupState, describeState, restoreState } from "../../components/backup/status";
import { shellQuote } from "../../components/shared/shell";
import { readStackFile, StackFile, toolSettings } from "../stackFile";
import { str } from "./args";
import { cwdOf, Io, OpsError, stackName } from "./commands";
import { expandHome } from "./remote";

type Opts = Record<string, string | string[] | boolean>;
type Raw = Record<string, unknown>;
const rec = (v: unknown): Raw => (typeof v === "object" && v !== null && !Array.isArray(v) ? v as Raw : {});

// ---------------------------------------------------------------------------------------------------------------
// The stack

/** A stack's settings, and whether it sets the secret backupEncryptionKey (its value is never read). */
export interface BackupStack {
    name: string;
    file: StackFile;
    settings: StackSettings;
    hasEncryptionKey: boolean;
}

// 32 zero bytes, base64: stands for the encrypted backupEncryptionKey so that the config validates (the generic
// placeholder of scripts/stackFile.ts is not base64 and fails validateBackupKey). Never rendered or sent anywhere.

/** The stack file parsed as toolSettings does (secrets as placeholders), with a valid stand-in for the encryption key. */
export function loadBackupStack(cwd: string, stack: string): BackupStack {
    const file = readStackFile(cwd, stack);
    // toolSettings stands in a valid key for backupEncryptionKey (its value is never used here).
    const { settings } = toolSettings(file);
    return { name: stack, file, settings, hasEncryptionKey: file.raw.backupEncryptionKey !== undefined };
}

/** The one-time Backup backup-now applies: the stack's resource set, encrypted, in the stage's S3 location. */
export function onDemandBackup(s: StackSettings, at: Date): Record<string, unknown> {
    if (!s.backup) {
        throw new OpsError("no backup section");
    }
    return backupResource({
        name: onDemandBackupName(at), resourceSetName: s.backup.resourceSet,
        encryptionConfigSecretName: ENCRYPTION_CONFIG_SECRET, s3: s3LocationOf(s.backup.s3),
    });
}

/**
 * The config lines that make a new stack restore `filename` from the old stack's bucket (`<new>` stands for the new
 * stack's name). Secrets are never printed: the lines read them from the old stack or ask for them.
 */
export function restoreFromLines(old: BackupStack, filename: string): string[] {
    const s3 = old.settings.backup!.s3;
    const set = (k: string, v: string) => `pulumi config set --stack <new> --path ${shellQuote(`rancher-ha:restoreFrom.${k}`)} ${shellQuote(v)}`;
    const caFile = rec(rec(rec(old.file.raw.backup).s3)).caFile;
    return [
        set("backupFilename", filename),
        set("s3.bucketName", s3.bucketName),
        ...(s3.folder !== undefined ? [set("s3.folder", s3.folder)] : []),
        ...(s3.region !== undefined ? [set("s3.region", s3.region)] : []),
        set("s3.endpoint", s3.endpoint),
        set("s3.accessKey", s3.accessKey),
        ...(typeof caFile === "string" ? [set("s3.caFile", caFile)] : []),
        ...(s3.insecureTLSSkipVerify ? [`pulumi config set --stack <new> --path 'rancher-ha:restoreFrom.s3.insecureTLSSkipVerify' true`] : []),
        "pulumi config set --stack <new> --secret restoreS3SecretKey <the secret key of that access key>",
        ...(filename.endsWith(".enc")
            ? [`pulumi stack output --stack ${shellQuote(old.name)} --show-secrets backupEncryptionKey | pulumi config set --stack <new> --secret backupEncryptionKey`]
            : []),
    ];
}

// ---------------------------------------------------------------------------------------------------------------
// kubectl

export interface KubectlResult { code: number; stdout: string; stderr: string }
export type Kubectl = (args: string[], stdin?: string) => Promise<KubectlResult>;

/** Bound on one kubectl run (its own --request-timeout is 20s per request). */
const KUBECTL_RUN_MS = 60000;

/** kubectl here with the user's kubeconfig file (its path only on the command line) and a private cache dir. */
export function localKubectl(kubeconfig: string, cacheDir: string): Kubectl {
    return (args, stdin) => new Promise((resolve, reject) => {
        const child = spawn("kubectl", ["--kubeconfig", kubeconfig, "--cache-dir", cacheDir, "--request-timeout=20s", ...args],
            { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        const timer = setTimeout(() => { stderr += `\nkubectl did not finish within ${KUBECTL_RUN_MS / 1000}s`; child.kill("SIGKILL"); }, KUBECTL_RUN_MS);
        child.stdout.on("data", d => { stdout += d; });
        child.stderr.on("data", d => { stderr += d; });
        child.stdin.on("error", () => undefined); // kubectl may exit before reading stdin
        child.stdin.end(stdin ?? "");
        child.on("error", e => { clearTimeout(timer); reject(new OpsError(`kubectl could not run (${e.message}); install kubectl on this machine`)); });
        child.on("close", code => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr }); });
    });
}

/** Runs `use` with kubectl on `kubeconfig`; the cache dir is removed afterwards. */
async function withKubectl<T>(kubeconfig: string, use: (k: Kubectl) => Promise<T>): Promise<T> {
    const file = expandHome(kubeconfig);
    if (!fs.existsSync(file)) {
        throw new OpsError(`kubeconfig ${kubeconfig} does not exist`);
    }
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-kubectl-"));
    try {
        return await use(localKubectl(file, cache));
    } finally {
        fs.rmSync(cache, { recursive: true, force: true });
    }
}

const lastLine = (r: KubectlResult) => r.stderr.trim().split("\n").pop() || `exit ${r.code}`;

/** One object as JSON, undefined when it does not exist; throws OpsError when kubectl fails. */
export async function getObject(k: Kubectl, args: string[]): Promise<unknown> {
    const r = await k(["get", ...args, "-o", "json", "--ignore-not-found"]);
    if (r.code !== 0) {
        throw new OpsError(`kubectl get ${args.join(" ")} failed: ${lastLine(r)}`);
    }
    if (r.stdout.trim() === "") {
        return undefined;
    }
    try {
        return JSON.parse(r.stdout);
    } catch {
        throw new OpsError(`kubectl get ${args.join(" ")} printed no JSON`);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// backup-now

export interface BackupNowDeps {
    /** Between two polls. Default 10 s. */
    pollMs?: number;
    now?: () => Date;
    /** Overrides --timeout-minutes (tests). */
    timeoutMs?: number;
}

function positiveInt(o: Opts, key: string, dflt: number, max: number): number {
    const v = str(o, key);
    if (v === undefined) {
        return dflt;
    }
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) {
        throw new OpsError(`--${key} must be a whole number from 1 to ${max}`);
    }
    return Number(v);
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export async function backupNow(o: Opts, io: Io, deps: BackupNowDeps = {}): Promise<number> {
    const stack = stackName(o);
    const st = loadBackupStack(cwdOf(o), stack);
    if (!st.settings.backup) {
        throw new OpsError(`stack ${stack} has no backup section: configure backup.s3 (and the secret backupS3SecretKey) and run ` +
            "pulumi up first; that installs the rancher-backup operator and the S3 and encryption Secrets this Backup uses");
    }
    const kubeconfig = str(o, "kubeconfig");
    if (!kubeconfig) {
        throw new OpsError("--kubeconfig <file> of the stack's cluster is required");
    }
    const timeoutMs = deps.timeoutMs ?? positiveInt(o, "timeout-minutes", 15, 720) * 60000;
    const pollMs = deps.pollMs ?? 10000;
    const now = deps.now ?? (() => new Date());
    const manifest = onDemandBackup(st.settings, now());
    const name = (manifest.metadata as { name: string }).name;
    return withKubectl(kubeconfig, async k => {
        const applied = await k(["apply", "-f", "-"], `${JSON.stringify(manifest, null, 2)}\n`);
        if (applied.code !== 0) {
            throw new OpsError(`kubectl apply of Backup ${name} failed: ${lastLine(applied)} (is the rancher-backup chart installed? ` +
                `pulumi up --stack ${stack} installs it with the backup section)`);
        }
        io.err(`Backup ${name} applied (S3 bucket ${st.settings.backup!.s3.bucketName}${st.settings.backup!.s3.folder ? `, folder ${st.settings.backup!.s3.folder}` : ""}); waiting for its file\n`);
        const start = Date.now();
        const maxPolls = Math.ceil(timeoutMs / pollMs) + 1;
        let last = "no status yet";
        let kubectlFailures = 0;
        for (let poll = 0; poll < maxPolls && Date.now() - start <= timeoutMs; poll++) {
            if (poll > 0) {
                await sleep(pollMs);
            }
            let obj: unknown;
            try {
                obj = await getObject(k, ["backups.resources.cattle.io", name]);
                kubectlFailures = 0;
            } catch (e) {
                if (++kubectlFailures >= 3) {
                    throw e;
                }
                io.err(`${(e as Error).message}; retrying\n`);
                continue;
            }
            if (obj === undefined) {
                last = `Backup ${name}: not found (deleted?)`;
                continue;
            }
            const state = backupState(obj);
            last = describeState("Backup", name, state);
            if (state.done && state.filename) {
                io.out(`backup file: ${state.filename}\n\n` +
                    "Restore it on the new stack with (<new> = the new stack's name):\n" +
                    restoreFromLines(st, state.filename).map(l => `  ${l}\n`).join("") +
                    `\nThe one-time Backup ${name} stays in the cluster, and its file in the bucket: the operator never prunes ` +
                    "one-time backups (only a schedule's retentionCount does). Delete them by hand when no longer needed " +
                    `(kubectl delete backups.resources.cattle.io ${name}).\n`);
                return 0;
            }
            if (state.failed) {
                io.err(`${last}\nThe operator keeps retrying; the Backup ${name} stays (kubectl get backups.resources.cattle.io ${name}; ` +
                    `delete it with kubectl delete backups.resources.cattle.io ${name}).\n`);
                return 1;
            }
            io.err(`${last}\n`);
        }
        io.err(`timed out after ${timeoutMs >= 60000 ? `${Math.round(timeoutMs / 60000)} min` : `${timeoutMs / 1000} s`}: ${last}\nThe Backup ${name} stays and the operator may still ` +
            `finish it: kubectl get backups.resources.cattle.io ${name} -o jsonpath='{.status.filename}'\n`);
        return 1;
    });
}

// ---------------------------------------------------------------------------------------------------------------
// migrate-check

export type Verdict = "go" | "NO-GO" | "warn";
export interface CheckItem { item: string; verdict: Verdict; detail: string }

const item = (i: string, ok: boolean, detail: string): CheckItem => ({ item: i, verdict: ok ? "go" : "NO-GO", detail });

/** The offline comparison of the old stack (backup) with the new one (restoreFrom). Pure. */
export function compareStacks(from: BackupStack, to: BackupStack): CheckItem[] {
    const f = from.settings;
    const t = to.settings;
    const items: CheckItem[] = [
        item("rancher version", f.versions.rancher === t.versions.rancher,
            f.versions.rancher === t.versions.rancher ? f.versions.rancher
                : `${from.name} runs ${f.versions.rancher}, ${to.name} would install ${t.versions.rancher}: restore the same version, upgrade after the migration`),
        item("hostname", f.hostname === t.hostname,
            f.hostname === t.hostname ? f.hostname : `${f.hostname} vs ${t.hostname}: downstream clusters only know the old server URL`),
        t.distribution === "rke2"
            ? { item: "distribution", verdict: "go", detail: `${from.name} ${f.distribution} -> ${to.name} rke2` }
            : { item: "distribution", verdict: "warn", detail: `${to.name} is distribution ${t.distribution}, not rke2 (RKE1 is end of life)` },
        item("old stack backup", f.backup !== undefined,
            f.backup ? `bucket ${f.backup.s3.bucketName}${f.backup.s3.folder ? `/${f.backup.s3.folder}` : ""}, ${f.backup.schedule}`
                : `${from.name} has no backup section: nothing to restore from`),
        item("new stack restoreFrom", t.restoreFrom !== undefined,
            t.restoreFrom ? t.restoreFrom.backupFilename : `${to.name} has no restoreFrom: it would install an empty Rancher (npm run ops -- backup-now prints the lines)`),
    ];
    if (f.backup && t.restoreFrom) {
        const a = f.backup.s3;
        const b = t.restoreFrom.s3;
        const where = (s: BackupS3Settings) => `${s.bucketName}/${s.folder ?? ""}`;
        items.push(item("restore bucket/folder", a.bucketName === b.bucketName && (a.folder ?? "") === (b.folder ?? ""),
            a.bucketName === b.bucketName && (a.folder ?? "") === (b.folder ?? "") ? where(b)
                : `${to.name} restores from ${where(b)}, ${from.name} backs up to ${where(a)}`));
        if (t.restoreFrom.encrypted) {
            items.push(item("encryption key", to.hasEncryptionKey, to.hasEncryptionKey
                ? "backupEncryptionKey is set; that it equals the old stack's cannot be verified offline (compare " +
                  `pulumi stack output --show-secrets backupEncryptionKey of ${from.name} with ${to.name}'s config)`
                : `${t.restoreFrom.backupFilename} is encrypted and ${to.name} has no backupEncryptionKey`));
        } else {
            items.push({ item: "encryption key", verdict: "warn", detail: `${t.restoreFrom.backupFilename} is not encrypted (no .enc): its Secrets are plain text in the bucket` });
        }
    } else {
        items.push(item("restore bucket/folder", false, "needs both the old backup and the new restoreFrom"));
    }
    return items;
}

const DAY_MS = 24 * 3600 * 1000;

/** The old cluster's scheduled Backup: recent, and the file restoreFrom names (or an older one). Pure. */
export function checkOldCluster(scheduled: unknown, to: BackupStack, now: Date): CheckItem[] {
    if (scheduled === undefined) {
        return [item("latest backup", false, `no Backup ${SCHEDULED_BACKUP_NAME} in the old cluster (pulumi up with the backup section creates it)`)];
    }
    const s = backupState(scheduled);
    const items: CheckItem[] = [];
    const ts = s.lastSnapshotTs ? new Date(s.lastSnapshotTs) : undefined;
    if (ts === undefined || Number.isNaN(ts.getTime())) {
        items.push(item("latest backup", false, `no backup written yet: ${describeState("Backup", SCHEDULED_BACKUP_NAME, s)}`));
    } else {
        const age = now.getTime() - ts.getTime();
        // A one-time backup (backup-now) right before the migration counts as well, whatever the schedule.
        const chosen = to.settings.restoreFrom ? parseBackupFilename(to.settings.restoreFrom.backupFilename)?.time : undefined;
        const chosenAge = chosen ? now.getTime() - chosen.getTime() : undefined;
        const freshFile = chosenAge !== undefined && chosenAge >= 0 && chosenAge <= DAY_MS;
        items.push(item("latest backup", (age <= DAY_MS && !s.failed) || freshFile,
            `${s.lastSnapshotTs} (${Math.round(age / 3600000)} h ago)${age > DAY_MS ? ", older than 24 h" : ""}` +
            `${s.failed ? `; ${describeState("Backup", SCHEDULED_BACKUP_NAME, s)}` : ""}` +
            (freshFile && (age > DAY_MS || s.failed) ? `; restoreFrom's file is ${Math.round(chosenAge! / 3600000)} h old` : "")));
    }
    const wanted = to.settings.restoreFrom?.backupFilename;
    if (s.filename && wanted) {
        const latest = parseBackupFilename(s.filename)?.time;
        const chosen = parseBackupFilename(wanted)?.time;
        if (s.filename === wanted) {
            items.push({ item: "restore file", verdict: "go", detail: `${wanted} is the latest scheduled backup` });
        } else if (latest && chosen && chosen.getTime() >= latest.getTime()) {
            items.push({ item: "restore file", verdict: "go", detail: `${wanted} is newer than the latest scheduled backup ${s.filename}` });
        } else {
            items.push({ item: "restore file", verdict: "warn", detail: `a newer backup exists: ${s.filename}; restoreFrom names ${wanted} ` +
                "(what changed in Rancher since then is lost): take npm run ops -- backup-now right before the migration" });
        }
    }
    return items;
}

/** What the new cluster's objects say: nodes, the Restore, the local cluster object, no Rancher before the restore. Pure. */
export function checkNewCluster(o: { nodes: unknown; restore: unknown; localCluster: unknown; rancherDeployment: unknown }, to: BackupStack): CheckItem[] {
    const items: CheckItem[] = [];
    const nodes = Array.isArray(rec(o.nodes).items) ? rec(o.nodes).items as unknown[] : [];
    const notReady = nodes.filter(n => !(Array.isArray(rec(rec(n).status).conditions) &&
        (rec(rec(n).status).conditions as unknown[]).some(c => rec(c).type === "Ready" && rec(c).status === "True")))
        .map(n => String(rec(rec(n).metadata).name));
    items.push(item("nodes Ready", nodes.length > 0 && notReady.length === 0,
        nodes.length === 0 ? "no nodes" : notReady.length ? `not Ready: ${notReady.join(", ")}` : `${nodes.length} Ready`));
    const r = o.restore === undefined ? undefined : restoreState(o.restore);
    items.push(item("restore", r?.done === true, r ? describeState("Restore", RESTORE_NAME, r)
        : `no Restore ${RESTORE_NAME} (pulumi up of the new stack with restoreFrom applies it)`));
    if (to.settings.distribution === "rke2") {
        if (o.localCluster === undefined) {
            items.push({ item: "local cluster object", verdict: r?.done ? "NO-GO" : "warn", detail: "clusters.management.cattle.io local not found" +
                (r?.done ? " although the Restore completed" : " (the Restore brings it)") });
        } else {
            const c = rec(o.localCluster);
            const driver = rec(c.status).driver;
            const provider = rec(c.status).provider;
            const label = rec(rec(c.metadata).labels)["provider.cattle.io"];
            const rke1 = [driver, provider, label].some(v => v === "rke" || v === "rancherKubernetesEngine");
            items.push(item("local cluster object", !rke1, `driver ${String(driver ?? "-")}, provider ${String(provider ?? "-")}, label provider.cattle.io ${String(label ?? "-")}` +
                (rke1 ? ". RKE1 values on an RKE2 cluster (rancher#41260, #50414). Fix after the restore, before Rancher is installed " +
                    "(Rancher docs, migrate-rancher-to-new-cluster): kubectl edit clusters.management.cattle.io local: set status.driver to imported; " +
                    "remove status.provider, status.version, the label provider.cattle.io, the annotation " +
                    "management.cattle.io/current-cluster-controllers-version and spec.rke2Config/spec.k3sConfig if present" : "")));
        }
    }
    const d = o.rancherDeployment;
    if (d === undefined) {
        items.push(item("no Rancher before the restore", true, "no rancher Deployment in cattle-system"));
    } else {
        const created = String(rec(rec(d).metadata).creationTimestamp ?? "");
        const before = r?.completedAt === undefined || new Date(created).getTime() < new Date(r.completedAt).getTime();
        items.push(item("no Rancher before the restore", !before, before
            ? `the rancher Deployment (created ${created || "?"}) exists ${r?.completedAt ? `before the Restore completed (${r.completedAt})` : "and the Restore has not completed"}: ` +
              "the restore loops on Rancher's webhook (backup-restore-operator#428); restore onto a cluster without Rancher"
            : `rancher installed ${created}, after the Restore completed (${r!.completedAt})`));
    }
    return items;
}

/** The report: one line per item; exit 0 when nothing is NO-GO, else 3. */
export function formatChecks(items: CheckItem[]): { text: string; code: number } {
    const width = Math.max(...items.map(i => i.item.length));
    const text = items.map(i => `${i.verdict.padEnd(5)}  ${i.item.padEnd(width)}  ${i.detail}\n`).join("");
    const nogo = items.filter(i => i.verdict === "NO-GO").length;
    return { text: text + (nogo ? `\nNO-GO: ${nogo} item(s)\n` : "\ngo\n"), code: nogo ? 3 : 0 };
}

export async function migrateCheck(o: Opts, io: Io, now: () => Date = () => new Date()): Promise<number> {
    // ops reads --stack for every command (the distribution); here it is the new stack, and --to may repeat it.
    const fromName = str(o, "from");
    const toName = str(o, "to") ?? str(o, "stack");
    if (!fromName || !toName) {
        throw new OpsError("--from <old stack> and --stack <new stack> are required");
    }
    if (str(o, "to") !== undefined && str(o, "stack") !== undefined && str(o, "to") !== str(o, "stack")) {
        throw new OpsError(`--to ${str(o, "to")} and --stack ${str(o, "stack")} differ: both name the new stack`);
    }
    const cwd = cwdOf(o);
    const from = loadBackupStack(cwd, fromName);
    const to = loadBackupStack(cwd, toName);
    const items = compareStacks(from, to);
    // Both clusters may be read in one run: a kubectl failure names the one it came from.
    const onCluster = <T>(which: string, flag: string, kc: string, use: (k: Kubectl) => Promise<T>) => withKubectl(kc, async k => {
        try {
            return await use(k);
        } catch (e) {
            throw e instanceof OpsError ? new OpsError(`${which} (--${flag} ${kc}): ${e.message}`) : e;
        }
    });
    const fromKc = str(o, "from-kubeconfig");
    if (fromKc) {
        items.push(...await onCluster("old cluster", "from-kubeconfig", fromKc, async k =>
            checkOldCluster(await getObject(k, ["backups.resources.cattle.io", SCHEDULED_BACKUP_NAME]), to, now())));
    }
    const toKc = str(o, "to-kubeconfig");
    if (toKc) {
        items.push(...await onCluster("new cluster", "to-kubeconfig", toKc, async k => checkNewCluster({
            nodes: await getObject(k, ["nodes"]),
            restore: await getObject(k, ["restores.resources.cattle.io", RESTORE_NAME]),
            localCluster: to.settings.distribution === "rke2" ? await getObject(k, ["clusters.management.cattle.io", "local"]) : undefined,
            rancherDeployment: await getObject(k, ["deployment", "-n", "cattle-system", "rancher"]),
        }, to)));
    }
    const { text, code } = formatChecks(items);
    io.out(text);
    return code;
}
