// npm run render -- --stack <name> [--out <dir>] [--project-dir <dir>]
//
// Writes every artifact the stack would apply (scripts/render/reviewArtifacts.ts) into a folder, secrets
// redacted, with no Pulumi engine and no network: for a pull request, next to `pulumi preview`.
// Exit codes: 0 written, 2 bad arguments / unknown stack / invalid stack config / an --out it must not touch,
// 1 anything else (I/O, or a secret found in the output, in which case nothing is written).
import * as fs from "fs";
import * as path from "path";
import { ConfigError, SECRET_KEYS } from "../components/config";
import { readStackFile, StackFile, toolSettings } from "./stackFile";
import { ReviewArtifact, reviewArtifacts, secretLeaks } from "./render/reviewArtifacts";
import { flag, parseOptions, str } from "./cliArgs";

const USAGE = "usage: npm run render -- --stack <name> [--out <dir>] [--project-dir <dir>]\n" +
    "  --stack        the stack to render (Pulumi.<name>.yaml in the project directory); required\n" +
    "  --out          output folder; default render-out/<stack> in the project directory\n" +
    "  --project-dir  directory holding Pulumi.yaml; default the current directory";

/** Lists what a previous run wrote, so a rerun removes exactly those files and nothing else. */
export const MANIFEST = ".rancher-ha-render.json";

class UsageError extends Error {}

interface Args {
    stack: string;
    out: string;
    projectDir: string;
}

function parseArgs(argv: string[], cwd: string): Args | "help" {
    if (argv.includes("-h")) {
        return "help";
    }
    const options = parseOptions(argv, { stack: { value: true }, out: { value: true }, "project-dir": { value: true }, help: {} }, "render");
    if (flag(options, "help")) {
        return "help";
    }
    const given = { stack: str(options, "stack"), out: str(options, "out"), "project-dir": str(options, "project-dir") };
    if (given.stack === undefined) {
        throw new UsageError("--stack is required");
    }
    // The name becomes part of a file name: no paths.
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(given.stack)) {
        throw new UsageError(`--stack ${JSON.stringify(given.stack)} is not a stack name (letters, digits, _ . -)`);
    }
    const projectDir = path.resolve(cwd, given["project-dir"] ?? ".");
    const out = given.out !== undefined ? path.resolve(cwd, given.out) : path.join(projectDir, "render-out", given.stack);
    return { stack: given.stack, out, projectDir };
}

/** Secret keys whose value sits in the stack file unencrypted, with the value (only to check the output). */
function plainTextSecrets(file: StackFile): Record<string, string> {
    const out: Record<string, string> = {};
    for (const key of SECRET_KEYS) {
        const v = file.raw[key];
        if (typeof v === "string" && !file.encryptedKeys.includes(key)) {
            out[key] = v;
        }
    }
    return out;
}

/** Paths a previous run listed in its manifest; refuses a non-empty folder without one. */
function previousFiles(out: string): string[] {
    if (!fs.existsSync(out)) {
        return [];
    }
    if (!fs.statSync(out).isDirectory()) {
        throw new UsageError(`--out ${out} exists and is not a directory`);
    }
    const manifest = path.join(out, MANIFEST);
    if (!fs.existsSync(manifest)) {
        if (fs.readdirSync(out).length > 0) {
            throw new UsageError(`--out ${out} is not empty and was not written by render (no ${MANIFEST}); ` +
                "choose a new or empty folder");
        }
        return [];
    }
    let listed: unknown;
    try {
        listed = (JSON.parse(fs.readFileSync(manifest, "utf8")) as { files?: unknown }).files;
    } catch (e) {
        throw new UsageError(`${manifest} is not a render manifest (${(e as Error).message}); remove it or choose a new --out`);
    }
    // Only plain relative paths inside the folder: a tampered manifest must not delete anything else.
    return Array.isArray(listed) ? listed.filter((p): p is string => typeof p === "string" && isInside(p)) : [];
}

function isInside(rel: string): boolean {
    const n = path.posix.normalize(rel);
    return n === rel && !path.posix.isAbsolute(n) && !n.startsWith("../") && n !== ".." && n !== "." && !rel.includes("\\");
}

function write(out: string, stack: string, artifacts: ReviewArtifact[]): void {
    const old = previousFiles(out);
    for (const rel of old) {
        fs.rmSync(path.join(out, rel), { force: true });
    }
    // Folders the old files lived in, deepest first, removed only when nothing else is left in them.
    const dirs = [...new Set(old.flatMap(rel => ancestors(rel)))].sort((a, b) => b.length - a.length);
    for (const d of dirs) {
        const full = path.join(out, d);
        if (fs.existsSync(full) && fs.readdirSync(full).length === 0) {
            fs.rmdirSync(full);
        }
    }
    for (const a of artifacts) {
        const file = path.join(out, a.path);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, a.content, { mode: 0o644 });
    }
    fs.writeFileSync(path.join(out, MANIFEST), JSON.stringify({ stack, files: artifacts.map(a => a.path) }, null, 2) + "\n");
}

function ancestors(rel: string): string[] {
    const parts = rel.split("/").slice(0, -1);
    return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}

/** Where a run writes its messages, and the home directory `~` in key paths stands for (tests pass their own). */
export interface RenderIo {
    out: (s: string) => void;
    err: (s: string) => void;
    homeDir?: string;
    /** Relative paths in the arguments are taken from here. Default: the process's working directory. */
    cwd?: string;
}

const processIo: RenderIo = { out: s => process.stdout.write(s), err: s => process.stderr.write(s) };

/** One render; the exit code. */
export function main(argv: string[], io: RenderIo = processIo): number {
    const cwd = io.cwd ?? process.cwd();
    let args: Args | "help";
    try {
        args = parseArgs(argv, cwd);
    } catch (e) {
        io.err(`render: ${(e as Error).message}\n${USAGE}\n`);
        return 2;
    }
    if (args === "help") {
        io.out(USAGE + "\n");
        return 0;
    }

    let file: StackFile;
    let artifacts: ReviewArtifact[];
    try {
        file = readStackFile(args.projectDir, args.stack);
        const { settings, warnings } = toolSettings(file, { homeDir: io.homeDir });
        artifacts = reviewArtifacts({
            stack: file.stack, project: file.project, settings, warnings,
            encryptedKeys: file.encryptedKeys, plainTextSecretKeys: Object.keys(plainTextSecrets(file)),
        });
        for (const w of warnings) {
            io.err(`warning: ${file.project}:${w}\n`);
        }
    } catch (e) {
        // Unknown stack, unreadable YAML, a config `pulumi up` would refuse (ConfigError lists every problem),
        // or one a renderer refuses: all fixed in the stack file, none a crash.
        const prefix = e instanceof ConfigError ? "" : `cannot render stack ${args.stack}: `;
        io.err(`render: ${prefix}${(e as Error).message}\n`);
        return 2;
    }

    const leaks = secretLeaks(artifacts, plainTextSecrets(file));
    if (leaks.length > 0) {
        io.err(`render: internal error, a secret reached the rendered files (${leaks.join("; ")}); nothing written\n`);
        return 1;
    }

    try {
        write(args.out, args.stack, artifacts);
    } catch (e) {
        io.err(`render: ${(e as Error).message}\n`);
        return e instanceof UsageError ? 2 : 1;
    }
    const rel = path.relative(cwd, args.out);
    const shown = rel === "" ? "." : rel.startsWith("..") ? args.out : rel;
    io.out(`rendered stack ${args.stack} into ${shown}/ (${artifacts.length} files, secrets redacted):\n`);
    const width = Math.max(...artifacts.map(a => a.path.length));
    for (const a of artifacts) {
        io.out(`  ${a.path.padEnd(width)}  ${a.about}\n`);
    }
    return 0;
}

if (require.main === module) {
    process.exitCode = main(process.argv.slice(2));
}
