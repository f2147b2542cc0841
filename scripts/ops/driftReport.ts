// What every drift check reports and how it is read: findings, the report lines of a host's read-only script
// (`<key> <value...>`), file reports, and the unified diff shown for a file that differs. Pure; used by drift.ts (the
// LB, the admin work dir, the cluster) and rke2Drift.ts (the RKE2 nodes).
import * as crypto from "crypto";

/** One difference between the hosts and the stack. */
export interface DriftFinding {
    /** Which host or part: `lb rancher@192.0.2.10:22`, `admin local`, `cluster`. */
    where: string;
    what: string;
    /** The command (or the choice) that fixes it. */
    fix: string;
    /** A unified diff (host -> stack), when both sides could be read. */
    diff?: string;
}

export interface DriftResult {
    findings: DriftFinding[];
    /** Checks that could not run (exit 1). */
    problems: string[];
    /** What was checked and matched, one line each. */
    ok: string[];
}

export const emptyResult = (): DriftResult => ({ findings: [], problems: [], ok: [] });

/** Adds r's findings, problems and ok lines to into. */
export function merge(into: DriftResult, r: DriftResult): DriftResult {
    into.findings.push(...r.findings);
    into.problems.push(...r.problems);
    into.ok.push(...r.ok);
    return into;
}

/** The words after `key` on the first report line starting with it; undefined when there is no such line. */
export function reportField(lines: string[], key: string): string[] | undefined {
    const l = lines.find(x => x === key || x.startsWith(`${key} `));
    return l === undefined ? undefined : l.slice(key.length).trim().split(/\s+/).filter(Boolean);
}

/** The words after `key` on every report line starting with it. */
export function reportFields(lines: string[], key: string): string[][] {
    return lines.filter(x => x.startsWith(`${key} `)).map(l => l.slice(key.length).trim().split(/\s+/));
}

export type ReportedFile = { state: "present"; sha256: string; text?: string } | { state: "missing" | "unreadable" | "unknown" };

/** A `file_report` line: `<key> present <sha> <base64|->`, `<key> missing`, `<key> unreadable`. */
export function reportedFile(lines: string[], key: string): ReportedFile {
    const f = reportField(lines, key);
    if (!f || f.length === 0) {
        return { state: "unknown" };
    }
    if (f[0] === "present" && /^[0-9a-f]{64}$/.test(f[1] ?? "")) {
        const data = f[2];
        return { state: "present", sha256: f[1], text: data && data !== "-" ? Buffer.from(data, "base64").toString("utf8") : undefined };
    }
    return { state: f[0] === "missing" ? "missing" : f[0] === "unreadable" ? "unreadable" : "unknown" };
}

export function sha256(text: string): string {
    return crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * A unified diff of two texts (`---` a, `+++` b, hunks with `context` lines around each change); "" when equal.
 * Line-based LCS, for files of a few hundred lines; past 4000 lines a side it says so instead.
 */
export function unifiedDiff(a: string, b: string, aLabel: string, bLabel: string, context = 3): string {
    if (a === b) {
        return "";
    }
    const x = a.split("\n");
    const y = b.split("\n");
    if (x.length > 4000 || y.length > 4000) {
        return `--- ${aLabel}\n+++ ${bLabel}\n(too long to diff here: ${x.length} and ${y.length} lines)\n`;
    }
    // lcs[i][j]: length of the LCS of x[i..] and y[j..]
    const lcs: Uint16Array[] = Array.from({ length: x.length + 1 }, () => new Uint16Array(y.length + 1));
    for (let i = x.length - 1; i >= 0; i--) {
        for (let j = y.length - 1; j >= 0; j--) {
            lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
        }
    }
    type Op = { t: " " | "-" | "+"; s: string; ai: number; bi: number };
    const ops: Op[] = [];
    let i = 0;
    let j = 0;
    while (i < x.length || j < y.length) {
        if (i < x.length && j < y.length && x[i] === y[j]) {
            ops.push({ t: " ", s: x[i], ai: i++, bi: j++ });
        } else if (i < x.length && (j >= y.length || lcs[i + 1][j] >= lcs[i][j + 1])) {
            ops.push({ t: "-", s: x[i], ai: i++, bi: j });
        } else {
            ops.push({ t: "+", s: y[j], ai: i, bi: j++ });
        }
    }
    const out = [`--- ${aLabel}`, `+++ ${bLabel}`];
    let k = 0;
    while (k < ops.length) {
        if (ops[k].t === " ") {
            k++;
            continue;
        }
        // A hunk: from `context` lines before this change to `context` lines after the last change within reach.
        const start = Math.max(0, k - context);
        let end = k;
        let last = k;
        while (end < ops.length && end - last <= 2 * context) {
            if (ops[end].t !== " ") {
                last = end;
            }
            end++;
        }
        end = Math.min(ops.length, last + context + 1);
        const hunk = ops.slice(start, end);
        const aLen = hunk.filter(o => o.t !== "+").length;
        const bLen = hunk.filter(o => o.t !== "-").length;
        const aStart = aLen === 0 ? hunk[0].ai : hunk[0].ai + 1;
        const bStart = bLen === 0 ? hunk[0].bi : hunk[0].bi + 1;
        out.push(`@@ -${aStart},${aLen} +${bStart},${bLen} @@`, ...hunk.map(o => `${o.t}${o.s}`));
        k = end;
    }
    return out.join("\n") + "\n";
}

/** `ssh ... 'cmd'`, or the bare command for a local host. */
export function onHost(ssh: string | undefined, cmd: string): string {
    return ssh ? `${ssh} '${cmd.replace(/'/g, "'\\''")}'` : cmd;
}
