// Reading raw config values: typed getters that collect every problem (key + fix) instead of stopping at the
// first, and the unknown-key check.
//
// There is no separate schema of the accepted keys: the reader records every key a section parser asks for on
// each object it reads (the root, and the objects handed out by `obj`/`item`), and a key present in the config
// that no parser asked for is unknown. So the parsers are the one description of the config's shape.
import * as fs from "fs";
import * as os from "os";
import { shown, shownKey, suggest } from "./names";

/** All problems found in the config, one per line, each naming the key and the fix. */
export class ConfigError extends Error {
    /** One line per problem, each starting with the full config key (`rancher-ha:nodes[0].roles: ...`). */
    readonly problems: string[];

    constructor(problems: string[], project = "rancher-ha") {
        const full = problems.map(p => (p.startsWith(`${project}:`) ? p : `${project}:${p}`));
        super(`invalid stack configuration (${full.length} problem${full.length === 1 ? "" : "s"}):\n` +
            full.map(p => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
        this.problems = full;
    }
}

export interface ReaderOptions {
    /** Reads an SSH key file; injectable for tests. */
    readFile?: (p: string) => string;
    /** Lists a directory (rke2.artifactsDir); injectable for tests. */
    listDir?: (p: string) => string[];
    /** Home directory used to expand `~`. */
    homeDir?: string;
    /** The stack's name, for the commands messages suggest. Default `<stack>`. */
    stack?: string;
    /** Today, YYYY-MM-DD, for end-of-life warnings. Default: the machine's date (tests and golden renders fix it). */
    today?: string;
}

type Raw = Record<string, unknown>;

/** An object of the config being read: where it sits, what it holds, which keys the parsers asked for. */
interface Tracked {
    /** Key prefix of its members: "" for the root, "loadBalancer.", "nodes[0].". */
    prefix: string;
    /** The config value itself (not an object when the user gave something else). */
    value: unknown;
    asked: string[];
}

export class ConfigReader {
    readonly errors: string[] = [];
    readonly warnings: string[] = [];
    readonly readFile: (p: string) => string;
    readonly listDir: (p: string) => string[];
    readonly home: string;
    readonly today: string;
    readonly stack: string;
    private readonly tracked: Tracked[] = [];

    constructor(opts: ReaderOptions = {}) {
        this.readFile = opts.readFile ?? (p => fs.readFileSync(p, "utf8"));
        this.listDir = opts.listDir ?? (p => fs.readdirSync(p));
        this.home = opts.homeDir ?? os.homedir();
        this.today = opts.today ?? new Date().toISOString().slice(0, 10);
        this.stack = opts.stack ?? "<stack>";
    }

    get errorCount(): number {
        return this.errors.length;
    }

    /** A problem with a key: `key: msg`, reported once. */
    err(key: string, msg: string): void {
        const line = `${key}: ${msg}`;
        if (!this.errors.includes(line)) {
            this.errors.push(line);
        }
    }

    /** A problem line that already names its key (from a shared checker). */
    problem(line: string): void {
        this.errors.push(line);
    }

    warn(line: string): void {
        this.warnings.push(line);
    }

    /** The root of the config: its top-level keys are checked like any section's. */
    root(raw: Raw): Raw {
        return this.track(raw, "");
    }

    /**
     * The object at `o[k]`, tracked under `key` (default k) so its unknown keys are reported. A missing value is
     * an empty object; a value that is not an object is reported (with the keys the parsers asked for) and read
     * as empty.
     */
    obj(o: Raw, k: string, key = k): Raw {
        return this.track(o[k], `${key}.`);
    }

    /** A list item that must be an object (e.g. a node), tracked under `key` (e.g. `nodes[1]`). */
    item(v: unknown, key: string): Raw {
        return this.track(v, `${key}.`);
    }

    /**
     * Every key present in a tracked object that no parser asked for, with a suggestion; and every tracked value
     * that should have been an object. Call once, after all sections were read.
     */
    checkUnknownKeys(): void {
        for (const t of this.tracked) {
            const where = t.prefix.replace(/\.$/, "");
            if (t.value === undefined || t.value === null) {
                continue;
            }
            if (typeof t.value !== "object" || Array.isArray(t.value)) {
                if (where !== "") {
                    this.err(where, `must be an object with keys ${t.asked.join(", ")}`);
                }
                continue;
            }
            for (const k of Object.keys(t.value)) {
                if (!t.asked.includes(k)) {
                    this.err(t.prefix + shownKey(k), `unknown key${suggest(k, t.asked)}; known keys here: ${t.asked.join(", ")}`);
                }
            }
        }
    }

    private track(value: unknown, prefix: string): Raw {
        const t: Tracked = { prefix, value, asked: [] };
        this.tracked.push(t);
        const target = (typeof value === "object" && value !== null && !Array.isArray(value) ? value : {}) as Raw;
        // Records each key asked for; the values themselves are handed out as they are (not wrapped).
        return new Proxy(target, {
            get: (obj, prop, receiver) => {
                if (typeof prop === "string" && !t.asked.includes(prop)) {
                    t.asked.push(prop);
                }
                return Reflect.get(obj, prop, receiver);
            },
            has: (obj, prop) => {
                if (typeof prop === "string" && !t.asked.includes(prop)) {
                    t.asked.push(prop);
                }
                return Reflect.has(obj, prop);
            },
        });
    }

    // ---- typed getters: each reports a bad value under `key` and returns undefined ----

    str(o: Raw, k: string, opt: { key?: string; required?: boolean } = {}): string | undefined {
        const v = o[k];
        const key = opt.key ?? k;
        if (v === undefined || v === null || v === "") {
            if (opt.required) {
                this.err(key, "missing; this key is required");
            }
            return undefined;
        }
        if (typeof v === "number") {
            return String(v);
        }
        if (typeof v !== "string") {
            this.err(key, `must be a string, got ${shown(v)}`);
            return undefined;
        }
        return v.trim() === v ? v : (this.err(key, `${shown(v)} has leading or trailing spaces`), undefined);
    }

    /** Secrets are read as strings and never echoed in messages. */
    secretStr(o: Raw, k: string): string | undefined {
        const v = o[k];
        if (v === undefined || v === null || v === "") {
            return undefined;
        }
        if (typeof v !== "string") {
            this.err(k, "must be a string (set it with `pulumi config set --secret`)");
            return undefined;
        }
        return v;
    }

    int(o: Raw, k: string, key: string, min: number, max: number): number | undefined {
        const v = o[k];
        if (v === undefined || v === null) {
            return undefined;
        }
        const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
        if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
            this.err(key, `${shown(v)} must be a whole number from ${min} to ${max}`);
            return undefined;
        }
        return n;
    }

    port(o: Raw, k: string, key: string): number | undefined {
        return this.int(o, k, key, 1, 65535);
    }

    bool(o: Raw, k: string, key: string): boolean | undefined {
        const v = o[k];
        if (v === undefined || v === null) {
            return undefined;
        }
        if (v === true || v === "true") {
            return true;
        }
        if (v === false || v === "false") {
            return false;
        }
        this.err(key, `${shown(v)} must be true or false`);
        return undefined;
    }

    enumOf<T extends string>(o: Raw, k: string, values: readonly T[], key = k): T | undefined {
        const v = o[k];
        if (v === undefined || v === null) {
            return undefined;
        }
        if (typeof v === "string" && (values as readonly string[]).includes(v)) {
            return v as T;
        }
        this.err(key, `unknown value ${shown(v)}${suggest(String(v), values)}; use one of ${values.join(", ")}`);
        return undefined;
    }
}
