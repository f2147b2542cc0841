// `npm run ops -- drift --stack X [--kubeconfig <file>]`: what runs on the hosts compared with what the stack applies
// (on RKE2 stacks each node instead of the admin work dir: rke2Drift.ts),
// each difference printed with the command that fixes it. Exit 0: no drift; 3: drift; 1: a check could not run (a host
// unreachable, a file unreadable), whatever else was found. Meant to run on a schedule.
//
// One read-only script per host (driftScripts.ts) reports what is there; everything below the "comparison" line is
// pure (report lines and rendered text in, findings out) and unit-tested without SSH (test/scripts/ops/drift.test.ts).
//
// Secrets: ops never decrypts the stack, so the values the stack keeps encrypted (the registry password and S3
// secret key in rancher-cluster.yml; the key material of `sshPrivateKey`, which names keys/<keyId>) are unknown here.
// The yml is therefore compared as data, with those values masked on BOTH sides (a key present on one side only
// still shows), and byte for byte only when nothing had to be masked. The host's secrets never reach the output.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import * as yaml from "js-yaml";
import { keyId, lbClientAddress, lbHosts, StackSettings } from "../../components/config";
import { lbNginxConf } from "../../components/loadBalancer/nginxConf";
import { LB_SCRIPT_DEFAULTS, lbApplyScript, lbScriptOptions } from "../../components/loadBalancer/scripts";
import { rkeClusterYaml, rkeUpPlan, rkeYamlArgs } from "../../components/rke/clusterYml";
import { RKE_FILES } from "../../components/rke/scripts";
import { CERT_MANAGER_NAMESPACE, needsCertManager } from "../../components/certManager/release";
import { RANCHER_NAMESPACE } from "../../components/rancher/release";
import { describeTarget } from "../../components/shared/ssh";
import { secretPlaceholder } from "../stackFile";
import { list, ParsedArgs, str } from "./args";
import { Io, OpsError } from "./commands";
import { expandHome, RemoteTarget, runScript, sshCommandFor } from "./remote";
import { parseOpsResult, restoreHint } from "./remoteScripts";
import { adminTarget, keyFileFor, loadStack, targetFor } from "./stack";
import { driftScript, lbConfPath, LbDriftArgs } from "./driftScripts";
import { rke2PlannedNodes } from "../../components/rke2/nodeArgs";
import { compareRke2Node, rke2NodeExpectation } from "./rke2Drift";
import { rke2DriftScript } from "./rke2Scripts";
import {
    DriftResult, emptyResult, merge, onHost, reportField, reportFields, reportedFile, sha256, unifiedDiff,
} from "./driftReport";
import type { DriftFinding, ReportedFile } from "./driftReport";

type Opts = ParsedArgs["options"];

export type { DriftFinding, DriftResult, ReportedFile };
export { emptyResult, merge, reportField, reportFields, reportedFile, sha256, unifiedDiff };

/** What a fix line needs to know about the stack. */
export interface FixContext {
    stack: string;
    /** The Pulumi project name (Pulumi.yaml), part of the URNs. */
    project: string;
}

/**
 * URN of the LB stage's remote command (index.ts names the component "lb"). `pulumi up` runs that command only
 * when its inputs change, so a host edited by hand is put back with `--replace`, which runs its delete (remove our
 * container/config, or put the distro's nginx.conf back) and then its apply.
 */
export function lbCommandUrn(c: FixContext): string {
    return `urn:pulumi:${c.stack}::${c.project}::rancher-ha:loadBalancer:NginxLoadBalancer$command:remote:Command::lb-nginx`;
}

export function lbReapplyFix(c: FixContext): string {
    return `pulumi up --stack ${c.stack} --replace '${lbCommandUrn(c)}'   ` +
        "(a plain pulumi up does not re-run the LB step while the stack is unchanged; --replace re-installs the stack's config and restarts nginx: a few seconds without the LB)";
}

/** Makes the next pulumi up run the rke-up step again without running rke (see RkeCluster, admin.stateSync). */
export function stateSyncFix(stack: string): string {
    return `pulumi config set --stack ${stack} --path rancher-ha:admin.stateSync "$(date +%Y%m%d%H%M%S)" && pulumi up --stack ${stack}`;
}

export interface LbExpected extends FixContext {
    /** How findings name the host. */
    where: string;
    mode: "docker" | "system";
    /** The nginx.conf the stack renders. */
    conf: string;
    /** Where the LB stage keeps it on the host. */
    confPath: string;
    containerName: string;
    /** docker mode: the spec label our container carries (image, ports, mount). */
    spec?: string;
    /** `ssh -p 22 user@host`, for fix commands run on the host. */
    ssh?: string;
    /** The SSH user is root: no sudo in fix commands. */
    root: boolean;
}

/** LB host: the config file (sha256, diff) and whether nginx (or its container) runs. */
export function compareLb(lines: string[], e: LbExpected): DriftResult {
    const r = emptyResult();
    const sudo = e.root ? "" : "sudo ";
    const want = sha256(e.conf);
    const f = reportedFile(lines, "lb-conf");
    if (f.state === "present") {
        if (f.sha256 === want) {
            r.ok.push(`${e.where}: ${e.confPath} is the stack's (sha256 ${want.slice(0, 12)})`);
        } else {
            r.findings.push({
                where: e.where,
                what: `${e.confPath} differs from the nginx.conf the stack renders (host sha256 ${f.sha256.slice(0, 12)}, stack ${want.slice(0, 12)})` +
                    (f.text === undefined ? "; too large to show a diff" : ""),
                fix: lbReapplyFix(e),
                diff: f.text === undefined ? undefined : unifiedDiff(f.text, e.conf, `${e.where}:${e.confPath}`, "stack"),
            });
        }
    } else if (f.state === "missing") {
        r.findings.push({ where: e.where, what: `${e.confPath} is missing: nginx has no rancher-ha config`, fix: lbReapplyFix(e) });
    } else {
        r.problems.push(`${e.where}: ${e.confPath} could not be read (${f.state}; the SSH user needs read access or sudo -n)`);
    }

    if (e.mode === "docker") {
        const d = reportField(lines, "lb-docker") ?? [];
        if (d[0] === "missing") {
            r.findings.push({ where: e.where, what: "docker is not installed, so the LB container cannot run", fix: `install Docker on the LB host, then ${lbReapplyFix(e)}` });
            return r;
        }
        if (d[0] !== "ok") {
            r.problems.push(`${e.where}: docker is not usable by ${e.where.split(" ")[1] ?? "the SSH user"} (not in the docker group and no sudo -n): the container was not checked`);
            return r;
        }
        const docker = `${d[1] === "sudo" ? "sudo " : ""}docker`;
        const states = new Map(reportFields(lines, "lb-container").map(w => [w[0], w.slice(1)]));
        const main = states.get(e.containerName) ?? ["absent"];
        const [running, restarting, label] = main;
        if (running === "absent") {
            r.findings.push({ where: e.where, what: `the nginx container ${e.containerName} does not exist`, fix: lbReapplyFix(e) });
        } else if (label === undefined || label === "<no" || label === "") {
            r.findings.push({
                where: e.where, what: `a container named ${e.containerName} exists that rancher-ha did not create (no ${"io.rancher-ha.lb-spec"} label)`,
                fix: `remove or rename it (${onHost(e.ssh, `${docker} rename ${e.containerName} ${e.containerName}-manual`)}), then ${lbReapplyFix(e)}`,
            });
        } else {
            if (e.spec !== undefined && label !== e.spec) {
                r.findings.push({
                    where: e.where, what: `the container ${e.containerName} was created from another spec (image, ports or mount: label ${label}, the stack's ${e.spec})`,
                    fix: lbReapplyFix(e),
                });
            }
            if (running !== "true") {
                r.findings.push({ where: e.where, what: `the nginx container ${e.containerName} is stopped: the LB serves nothing`, fix: onHost(e.ssh, `${docker} start ${e.containerName}`) });
            } else if (restarting === "true") {
                r.findings.push({
                    where: e.where, what: `the nginx container ${e.containerName} keeps restarting (nginx exits at once)`,
                    fix: `read why: ${onHost(e.ssh, `${docker} logs --tail 20 ${e.containerName}`)}; then ${lbReapplyFix(e)}`,
                });
            } else {
                r.ok.push(`${e.where}: container ${e.containerName} runs`);
            }
        }
        const prev = states.get(`${e.containerName}-previous`);
        if (prev && prev[0] !== "absent") {
            r.findings.push({
                where: e.where, what: `${e.containerName}-previous is left over from an interrupted container swap`,
                fix: `the LB step puts it right on its next run: ${lbReapplyFix(e)}`,
            });
        }
        return r;
    }

    const bin = (reportField(lines, "lb-nginx-bin") ?? ["-"])[0];
    const systemd = reportField(lines, "lb-systemd") ?? ["no"];
    const master = (reportField(lines, "lb-master") ?? ["none"])[0];
    if (bin === "-") {
        r.findings.push({ where: e.where, what: "nginx is not installed", fix: `install nginx with its stream module, then ${lbReapplyFix(e)}` });
        return r;
    }
    const running = (systemd[0] === "yes" && systemd[1] === "active") || master !== "none";
    if (running) {
        r.ok.push(`${e.where}: nginx runs${master !== "none" ? ` (master pid ${master})` : ""}`);
    } else {
        const start = systemd[0] === "yes" ? `${sudo}systemctl start nginx` : `${sudo}${bin} -c ${e.confPath}`;
        r.findings.push({
            where: e.where,
            what: `nginx is not running${systemd[0] === "yes" ? ` (systemd: ${systemd[1] ?? "unknown"})` : " (no nginx master process)"}: the LB serves nothing`,
            fix: onHost(e.ssh, start),
        });
    }
    return r;
}

/** Values ops cannot know (encrypted in the stack), masked on both sides before the yml is compared. */
export const MASKED = "<not compared: secret>";
export const MASKED_KEY = "<not compared: key not readable here>";

export interface YmlMasks {
    /** The stack has a registry password / S3 secret key (its value is unknown here). */
    registryPassword: boolean;
    s3SecretKey: boolean;
    /** Indexes of nodes whose key (keys/<keyId>) is unknown here; -1 for the bastion. */
    unknownKeys: number[];
}

export function ymlHasMasks(m: YmlMasks): boolean {
    return m.registryPassword || m.s3SecretKey || m.unknownKeys.length > 0;
}

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A cluster.yml object with the values ops cannot know replaced (a copy). Only where the value is present. */
export function maskClusterYml(doc: unknown, m: YmlMasks): unknown {
    if (!isObj(doc)) {
        return doc;
    }
    const d: Obj = JSON.parse(JSON.stringify(doc));
    if (m.registryPassword && Array.isArray(d.private_registries)) {
        for (const r of d.private_registries) {
            if (isObj(r) && r.password !== undefined) {
                r.password = MASKED;
            }
        }
    }
    const s3 = d.services?.etcd?.backup_config?.s3backupconfig;
    if (m.s3SecretKey && isObj(s3) && s3.secret_key !== undefined) {
        s3.secret_key = MASKED;
    }
    const maskKey = (o: unknown) => {
        if (isObj(o) && typeof o.ssh_key_path === "string" && /\/keys\/[0-9a-f]{16}$/.test(o.ssh_key_path)) {
            o.ssh_key_path = o.ssh_key_path.replace(/[0-9a-f]{16}$/, MASKED_KEY);
        }
    };
    for (const i of m.unknownKeys) {
        maskKey(i === -1 ? d.bastion_host : Array.isArray(d.nodes) ? d.nodes[i] : undefined);
    }
    return d;
}

function dumpYml(o: unknown): string {
    return yaml.dump(o, { lineWidth: -1, noRefs: true, sortKeys: false, quotingType: "\"" });
}

export interface YmlComparison {
    equal: boolean;
    /** Equal in data but not byte for byte (comments, formatting); only known when nothing was masked. */
    formattingOnly?: boolean;
    diff?: string;
    invalid?: string;
}

/**
 * The host's rancher-cluster.yml against the stack's render: byte for byte when nothing is masked, else as data with
 * the masked values replaced on both sides (the diff then shows the masked, re-dumped documents).
 */
export function compareClusterYml(hostText: string, stackText: string, m: YmlMasks, where: string): YmlComparison {
    if (!ymlHasMasks(m) && hostText === stackText) {
        return { equal: true };
    }
    let hostDoc: unknown;
    try {
        hostDoc = yaml.load(hostText);
    } catch (e) {
        return {
            equal: false, invalid: String((e as Error).message).split("\n")[0],
            diff: ymlHasMasks(m) ? undefined : unifiedDiff(hostText, stackText, where, "stack"),
        };
    }
    const a = dumpYml(maskClusterYml(hostDoc, m));
    const b = dumpYml(maskClusterYml(yaml.load(stackText), m));
    if (a === b) {
        return ymlHasMasks(m) ? { equal: true } : { equal: true, formattingOnly: true };
    }
    return {
        equal: false,
        diff: ymlHasMasks(m) ? unifiedDiff(a, b, `${where} (secrets masked)`, "stack (secrets masked)") : unifiedDiff(hostText, stackText, where, "stack"),
    };
}

export interface AdminExpected extends FixContext {
    where: string;
    workDir: string;
    /** rancher-cluster.yml as the stack renders it (unknown secrets as placeholders). */
    yml: string;
    /** rancher-cluster.plan as the stack renders it (for .rancher-ha-last-up). */
    plan: string;
    masks: YmlMasks;
    /** keys/<keyId> the yml needs, for the keys known here. */
    keyIds: string[];
    /** `ssh ... user@admin`, undefined for admin.host local. */
    ssh?: string;
}

/** Admin work dir: yml, state file vs the last one reported to Pulumi, keys/, leftovers, the last rke up. */
export function compareAdmin(lines: string[], e: AdminExpected): DriftResult {
    const r = emptyResult();
    const F = RKE_FILES;
    const dir = e.workDir.replace(/\/+$/, "");
    const sync = stateSyncFix(e.stack);
    if ((reportField(lines, "admin-workdir") ?? [])[0] !== "present") {
        r.findings.push({
            where: e.where, what: `the admin work dir ${e.workDir} does not exist (lost disk, or another admin host?)`,
            fix: `pulumi stack output --stack ${e.stack} --show-secrets rkeState | npm run ops -- restore-workdir --stack ${e.stack}`,
        });
        return r;
    }
    const job = reportField(lines, "admin-rke-job");
    if (job) {
        r.ok.push(`${e.where}: note: an rke up is running now (pid ${job[1] ?? "?"}); what follows may change when it ends`);
    }

    const yml = reportedFile(lines, "admin-yml");
    if (yml.state === "present") {
        if (yml.text === undefined) {
            r.problems.push(`${e.where}: ${dir}/${F.config} is too large to compare`);
        } else {
            const c = compareClusterYml(yml.text, e.yml, e.masks, `${e.where}:${dir}/${F.config}`);
            if (c.equal) {
                r.ok.push(`${e.where}: ${F.config} is the stack's${ymlHasMasks(e.masks) ? " (secret values and unknown key ids not compared)" : c.formattingOnly ? " in data (comments or formatting differ)" : ""}`);
            } else {
                r.findings.push({
                    where: e.where,
                    what: c.invalid ? `${dir}/${F.config} is not valid YAML (${c.invalid})` : `${dir}/${F.config} differs from the one the stack renders (edited by hand?)`,
                    fix: `${sync}   (re-runs the rke-up step, which writes the stack's ${F.config} and keys back; rke itself runs only if the stack's config differs from its last run)`,
                    diff: c.diff,
                });
            }
        }
    } else if (yml.state === "missing") {
        r.findings.push({ where: e.where, what: `${dir}/${F.config} is missing`, fix: `npm run ops -- restore-workdir --stack ${e.stack} (with the state piped in), or: ${sync}` });
    } else {
        r.problems.push(`${e.where}: ${dir}/${F.config} could not be read (${yml.state})`);
    }

    const state = reportField(lines, "admin-state") ?? [];
    const reported = (reportField(lines, "admin-reported") ?? [])[0];
    if (state[0] === "present") {
        if (reported === state[1]) {
            r.ok.push(`${e.where}: ${F.state} is the one last reported to the stack`);
        } else {
            r.findings.push({
                where: e.where,
                what: reported && /^[0-9a-f]{64}$/.test(reported)
                    ? `${F.state} changed since it was last reported to Pulumi (sha256 ${state[1].slice(0, 12)}, reported ${reported.slice(0, 12)}): an ops command (snapshot-restore, cert-rotate) or rke by hand changed it, and the stack's rkeState/kubeconfig outputs are stale`
                    : `${F.state} was never reported to Pulumi from this host (recovered or restored by ops?): the stack's rkeState/kubeconfig outputs may be stale`,
                fix: `set admin.stateSync so the next pulumi up reads it back without running rke: ${sync}`,
            });
        }
    } else if (state[0] === "missing") {
        r.findings.push({
            where: e.where, what: `${dir}/${F.state} is missing: rke cannot work on the cluster without it`,
            fix: restoreHint({ workDir: e.workDir, stack: e.stack, sshToAdmin: e.ssh }),
        });
    } else {
        r.problems.push(`${e.where}: ${dir}/${F.state} could not be read`);
    }

    if ((reportField(lines, "admin-from-stack") ?? [])[0] === "present") {
        r.findings.push({
            where: e.where,
            what: `${dir}/${F.fromStack} is left from a refused rke up: the state here differs from the newer one in the stack (written by another admin host)`,
            fix: `choose one. The stack's is right (the usual case): ${onHost(e.ssh, `mv ${dir}/${F.fromStack} ${dir}/${F.state}`)}; ` +
                `this host's is right (an ops command changed it here): ${onHost(e.ssh, `rm ${dir}/${F.fromStack}`)} then ${sync}`,
        });
    }

    if ((reportField(lines, "admin-keys") ?? [])[0] !== "present") {
        r.findings.push({ where: e.where, what: `${dir}/${F.keys}/ is missing: rke cannot reach the nodes`, fix: `${sync}   (the rke-up step writes keys/ back)` });
    } else {
        const have = new Map(reportFields(lines, "admin-key").map(w => [w[1], w[0]]));
        const missing = e.keyIds.filter(k => have.get(k) !== "ok");
        if (missing.length > 0) {
            r.findings.push({
                where: e.where, what: `SSH key file(s) the stack's ${F.config} names are missing or unreadable: ${missing.map(k => `${F.keys}/${k}`).join(", ")}`,
                fix: `${sync}   (the rke-up step writes keys/ back)`,
            });
        } else if (e.keyIds.length > 0) {
            r.ok.push(`${e.where}: ${F.keys}/ holds the stack's keys`);
        }
    }
    const badRefs = reportFields(lines, "admin-keyref").filter(w => w[0] !== "ok").map(w => w.slice(1).join(" "));
    const ownPaths = new Set(e.keyIds.map(k => `${dir}/${F.keys}/${k}`));
    const otherBad = badRefs.filter(p => !ownPaths.has(p));
    if (otherBad.length > 0) {
        r.findings.push({ where: e.where, what: `the ${F.config} on the host names key files that are not readable: ${otherBad.join(", ")}`, fix: `${sync}   (the stack's ${F.config} and keys/ are written back)` });
    }

    if (!ymlHasMasks(e.masks)) {
        const lastUp = (reportField(lines, "admin-last-up") ?? [])[0];
        const want = sha256(e.yml + e.plan);
        if (lastUp === want) {
            r.ok.push(`${e.where}: the last successful rke up ran the stack's config`);
        } else {
            r.findings.push({
                where: e.where,
                what: lastUp ? "the last successful rke up ran another config than the stack's (a pulumi up failed or has not run since the stack changed)"
                    : "no successful rke up through Pulumi is recorded here (recovered or restored work dir, or the first pulumi up has not finished)",
                fix: `pulumi preview --stack ${e.stack} && pulumi up --stack ${e.stack}`,
            });
        }
    }
    return r;
}

/** A Helm release as its `sh.helm.release.v1.<name>.v<N>` Secrets say. */
export interface ObservedRelease {
    /** Chart version of the deployed revision. */
    deployedVersion?: string;
    deployedRevision?: number;
    /** The newest revision and its status (e.g. failed, pending-upgrade). */
    latestRevision?: number;
    latestStatus?: string;
}

/** Helm's release record: base64 (Kubernetes) of base64 (Helm) of gzip of JSON. */
export function decodeHelmRelease(data: string): Obj {
    let b = Buffer.from(Buffer.from(data, "base64").toString("utf8"), "base64");
    if (b[0] === 0x1f && b[1] === 0x8b) {
        b = zlib.gunzipSync(b);
    }
    return JSON.parse(b.toString("utf8")) as Obj;
}

/** What `kubectl get secret -l owner=helm,name=<release> -o json` says about a release. */
export function observedRelease(secretListJson: string): ObservedRelease {
    const items = ((JSON.parse(secretListJson) as Obj).items ?? []) as Obj[];
    const o: ObservedRelease = {};
    for (const s of items) {
        const labels = (s.metadata?.labels ?? {}) as Record<string, string>;
        const rev = Number(labels.version);
        if (o.latestRevision === undefined || rev > o.latestRevision) {
            o.latestRevision = rev;
            o.latestStatus = labels.status;
        }
        if (labels.status === "deployed" && (o.deployedRevision === undefined || rev > o.deployedRevision)) {
            o.deployedRevision = rev;
            const rel = typeof s.data?.release === "string" ? decodeHelmRelease(s.data.release) : {};
            o.deployedVersion = rel.chart?.metadata?.version;
        }
    }
    return o;
}

export interface ExpectedRelease {
    name: string;
    namespace: string;
    /** versions.certManager / versions.rancher. */
    version: string;
}

const sameVersion = (a: string, b: string) => a.replace(/^v/, "") === b.replace(/^v/, "");

export function compareRelease(o: ObservedRelease, e: ExpectedRelease, c: FixContext): DriftResult {
    const r = emptyResult();
    const where = "cluster";
    const fix = `pulumi up --refresh --stack ${c.stack}   (refresh reads the release as it is, then the stack's version is applied)`;
    if (o.latestRevision === undefined) {
        r.findings.push({ where, what: `no Helm release ${e.namespace}/${e.name} (no sh.helm.release.v1.${e.name}.v* Secret)`, fix });
    } else if (o.deployedVersion === undefined) {
        r.findings.push({ where, what: `Helm release ${e.namespace}/${e.name} has no deployed revision (revision ${o.latestRevision} is ${o.latestStatus ?? "unknown"})`, fix });
    } else if (!sameVersion(o.deployedVersion, e.version)) {
        r.findings.push({ where, what: `Helm release ${e.namespace}/${e.name} runs chart ${o.deployedVersion} (revision ${o.deployedRevision}), the stack says ${e.version}`, fix });
    } else {
        r.ok.push(`${where}: ${e.namespace}/${e.name} is chart ${o.deployedVersion} (revision ${o.deployedRevision})`);
        if (o.latestRevision !== o.deployedRevision) {
            r.findings.push({ where, what: `Helm release ${e.namespace}/${e.name}: revision ${o.latestRevision} after the deployed one is ${o.latestStatus ?? "unknown"} (an upgrade failed or is stuck)`, fix });
        }
    }
    return r;
}

/** The report as users read it: each finding with its fix (and diff), then the checks that passed. */
export function formatDrift(res: DriftResult, stack: string): string {
    const out: string[] = [];
    for (const f of res.findings) {
        out.push(`DRIFT [${f.where}] ${f.what}`, `  fix: ${f.fix}`);
        if (f.diff) {
            out.push(...f.diff.replace(/\n$/, "").split("\n").map(l => `    ${l}`));
        }
    }
    for (const o of res.ok) {
        out.push(`ok    [${o.replace(/: /, "] ")}`);
    }
    out.push(res.findings.length > 0
        ? `${res.findings.length} difference(s) between the hosts and stack ${stack}.`
        : res.problems.length > 0 ? `no drift found in what could be checked of stack ${stack} (see the errors).` : `no drift: the hosts run what stack ${stack} applies.`);
    return out.join("\n") + "\n";
}

// ------------------------------------------------------------------------------------------------- the command

function stackSettingsHints(s: StackSettings): { masks: YmlMasks; keyIds: string[] } {
    const unknown = keyId(secretPlaceholder("sshPrivateKey"));
    const unknownKeys = s.nodes.map((n, i) => (n.keyId === unknown ? i : -2)).filter(i => i !== -2);
    if (s.bastion && s.bastion.keyId === unknown) {
        unknownKeys.push(-1);
    }
    const keyIds = [...new Set([...s.nodes.map(n => n.keyId), ...(s.bastion ? [s.bastion.keyId] : [])].filter(k => k !== unknown))];
    return {
        masks: { registryPassword: s.privateRegistry?.password !== undefined, s3SecretKey: s.etcdSnapshots.s3?.secretKey !== undefined, unknownKeys },
        keyIds,
    };
}

/** What the stack renders for the admin work dir (unknown secrets as placeholders, masked when compared). */
export function adminExpectation(s: StackSettings, c: FixContext, where: string, ssh?: string): AdminExpected {
    const { masks, keyIds } = stackSettingsHints(s);
    const args = rkeYamlArgs(s, lbClientAddress(s.loadBalancer), {
        registryPassword: masks.registryPassword ? MASKED : undefined, s3SecretKey: masks.s3SecretKey ? MASKED : undefined,
    });
    return { ...c, where, workDir: s.admin.workDir, yml: rkeClusterYaml(args), plan: rkeUpPlan(args), masks, keyIds, ssh };
}

/** What the stack renders for the LB host. */
export function lbExpectation(s: StackSettings, c: FixContext, where: string, lbArgs: LbDriftArgs, ssh?: string): LbExpected {
    const lb = s.loadBalancer;
    const conf = lbNginxConf(lb, s.nodes);
    const spec = lb.mode === "docker" ? /^SPEC=([0-9a-f]{16})$/m.exec(lbApplyScript(lbScriptOptions(lb, sha256(conf))))?.[1] : undefined;
    return {
        ...c, where, mode: lb.mode, conf, confPath: lbConfPath(lbArgs), containerName: lbArgs.containerName ?? LB_SCRIPT_DEFAULTS.containerName,
        spec, ssh, root: lb.user === "root",
    };
}

/** kubectl here, with the user's kubeconfig file (its path only on the command line). */
function kubectl(kubeconfig: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn("kubectl", ["--kubeconfig", kubeconfig, "--request-timeout=20s", ...args], { stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", d => { stdout += d; });
        child.stderr.on("data", d => { stderr += d; });
        child.on("error", reject);
        child.on("close", code => resolve({ code: code ?? -1, stdout, stderr }));
    });
}

async function checkReleases(s: StackSettings, kubeconfig: string, c: FixContext): Promise<DriftResult> {
    const res = emptyResult();
    const expected: ExpectedRelease[] = [
        ...(needsCertManager(s.tls.source) ? [{ name: "cert-manager", namespace: CERT_MANAGER_NAMESPACE, version: s.versions.certManager }] : []),
        { name: "rancher", namespace: RANCHER_NAMESPACE, version: s.versions.rancher },
    ];
    for (const e of expected) {
        let r;
        try {
            r = await kubectl(kubeconfig, ["get", "secret", "-n", e.namespace, "-l", `owner=helm,name=${e.name}`, "-o", "json"]);
        } catch (err) {
            res.problems.push(`cluster: kubectl could not run (${(err as Error).message}); install kubectl to check the Helm releases`);
            return res;
        }
        if (r.code !== 0) {
            res.problems.push(`cluster: kubectl get secret -n ${e.namespace} failed: ${r.stderr.trim().split("\n").pop() ?? `exit ${r.code}`}`);
            continue;
        }
        try {
            merge(res, compareRelease(observedRelease(r.stdout), e, c));
        } catch (err) {
            res.problems.push(`cluster: the Helm release ${e.namespace}/${e.name} could not be decoded: ${(err as Error).message}`);
        }
    }
    return res;
}

/** One host's check: its script over SSH (or here), its report lines; undefined (with a problem) when it failed. */
async function runCheck(target: RemoteTarget | "local", label: string, scriptText: string, sshOptions: string[], io: Io, res: DriftResult): Promise<string[] | undefined> {
    let r;
    try {
        r = await runScript(target, scriptText, "", { sshOptions, progress: io.err, timeoutMs: 120000 });
    } catch (e) {
        res.problems.push(`${label}: ${(e as Error).message}`);
        return undefined;
    }
    if (r.code !== 0) {
        const last = r.stderr.trim().split("\n").pop() ?? "";
        res.problems.push(`${label}: the check could not run (exit ${r.code}${r.code === 255 ? ": SSH failed, host unreachable or its key not the pinned one" : ""}): ${last}`);
        return undefined;
    }
    try {
        return parseOpsResult(r.stdout).lines;
    } catch (e) {
        res.problems.push(`${label}: ${(e as Error).message}`);
        return undefined;
    }
}

/** Paths on the hosts, as the stages use them; tests point them elsewhere. */
export interface DriftPaths {
    lb?: Partial<LbDriftArgs>;
}

/** `npm run ops -- drift`. */
export async function drift(o: Opts, io: Io, paths: DriftPaths = {}): Promise<number> {
    const stack = str(o, "stack");
    if (!stack) {
        throw new OpsError("--stack <name> is required (the Pulumi stack, as in Pulumi.<name>.yaml)");
    }
    const cwd = path.resolve(str(o, "cwd") ?? process.cwd());
    const kubeconfig = str(o, "kubeconfig");
    if (kubeconfig && !fs.existsSync(expandHome(kubeconfig))) {
        throw new OpsError(`--kubeconfig ${kubeconfig}: no such file`);
    }
    const { file, settings: s } = loadStack(cwd, stack);
    const c: FixContext = { stack, project: file.project };
    const identity = str(o, "identity");
    const sshOptions = list(o, "ssh-option");
    const res = emptyResult();

    const lbRaw = (typeof file.raw.loadBalancer === "object" && file.raw.loadBalancer !== null ? file.raw.loadBalancer : {}) as Record<string, unknown>;
    const lbTarget: RemoteTarget = { ...targetFor(s, file.raw, s.loadBalancer, identity), keyFile: keyFileFor(file.raw, lbRaw, identity) };
    const admin = adminTarget(s, file.raw, identity);
    const lbArgs: LbDriftArgs = { mode: s.loadBalancer.mode, ...paths.lb };
    const lbWhere = `lb ${describeTarget(s.loadBalancer)}`;
    const adminWhere = admin === "local" ? "admin local" : `admin ${admin.user}@${admin.address}:${admin.port}`;
    const lbExp = lbExpectation(s, c, lbWhere, lbArgs, sshCommandFor(lbTarget));

    // One script per host: the LB host that is also the admin host is checked in one session. The hosts are checked
    // at the same time; results are printed in a fixed order (LB, admin or the RKE2 nodes, cluster).
    const together = admin !== "local" && admin.address === lbTarget.address && admin.port === lbTarget.port && admin.user === lbTarget.user;
    const check = async (target: RemoteTarget | "local", label: string, text: string, compare: (lines: string[]) => DriftResult[]) => {
        const r = emptyResult();
        const lines = await runCheck(target, label, text, sshOptions, io, r);
        return lines ? compare(lines).reduce(merge, r) : r;
    };
    // Every LB host runs the same config (both of a pair): each is checked.
    const lbHostsRaw = Array.isArray(lbRaw.hosts) ? lbRaw.hosts as Record<string, unknown>[] : [lbRaw];
    const lbChecks = (from = 0) => lbHosts(s.loadBalancer).map((h, i) => ({ h, i })).filter(({ i }) => i >= from).map(({ h, i }) => {
        if (i === 0) {
            return check(lbTarget, lbWhere, driftScript({ hostLabel: describeTarget(s.loadBalancer), lb: lbArgs }), lines => [compareLb(lines, lbExp)]);
        }
        const target: RemoteTarget = { ...targetFor(s, file.raw, h, identity), keyFile: keyFileFor(file.raw, lbHostsRaw[i] ?? lbRaw, identity) };
        const where = `lb ${describeTarget(h)}`;
        const exp = lbExpectation(s, c, where, lbArgs, sshCommandFor(target));
        return check(target, where, driftScript({ hostLabel: describeTarget(h), lb: lbArgs }), lines => [compareLb(lines, exp)]);
    });
    // RKE2 has no admin host: each node's files, unit and release are checked instead (rke2Drift.ts).
    const rke2Checks = () => rke2PlannedNodes(s).map(({ node, kind, first }) => {
        const target = targetFor(s, file.raw, node, identity);
        const where = `${kind} ${describeTarget(node)}`;
        const e = rke2NodeExpectation(s, node, kind, first, stack, where, sshCommandFor(target));
        return check(target, where, rke2DriftScript({ kind, hostLabel: `${kind} ${node.address}` }), lines => [compareRke2Node(lines, e)]);
    });
    const adminExp = () => adminExpectation(s, c, adminWhere, admin === "local" ? undefined : sshCommandFor(admin));
    const checks: Promise<DriftResult>[] = s.distribution === "rke2" ? [...lbChecks(), ...rke2Checks()] : together
        ? [check(lbTarget, `${lbWhere} (also the admin host)`,
            driftScript({ hostLabel: describeTarget(s.loadBalancer), lb: lbArgs, admin: { workDir: s.admin.workDir } }),
            lines => [compareLb(lines, lbExp), compareAdmin(lines, adminExp())]), ...lbChecks(1)]
        : [
            ...lbChecks(),
            check(admin, adminWhere, driftScript({ hostLabel: adminWhere.slice(6), admin: { workDir: s.admin.workDir } }), lines => [compareAdmin(lines, adminExp())]),
        ];
    if (kubeconfig) {
        checks.push(checkReleases(s, expandHome(kubeconfig), c));
    }
    (await Promise.all(checks)).reduce(merge, res);

    io.out(formatDrift(res, stack));
    for (const p of res.problems) {
        io.err(`rancher-ha ops drift: ${p}\n`);
    }
    return res.problems.length > 0 ? 1 : res.findings.length > 0 ? 3 : 0;
}
