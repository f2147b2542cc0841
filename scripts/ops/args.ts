// Command line of `npm run ops -- <command> --stack <name> [options]`.

export interface OptionSpec {
    /** takes a value; repeatable options collect every value */
    value?: boolean;
    repeat?: boolean;
}

export interface ParsedArgs {
    command: string;
    options: Record<string, string | string[] | boolean>;
}

/** Options every command takes. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
    stack: { value: true },
    cwd: { value: true },
    identity: { value: true },
    "ssh-option": { value: true, repeat: true },
    help: {},
};

/** Parses `--name value`, `--name=value` and flags; unknown options are errors (typos must not be ignored). */
export function parseArgs(argv: string[], specs: Record<string, OptionSpec>): ParsedArgs {
    const [command = "help", ...rest] = argv;
    const options: ParsedArgs["options"] = {};
    const all = { ...COMMON_OPTIONS, ...specs };
    for (let i = 0; i < rest.length; i++) {
        const a = rest[i];
        const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(a);
        if (!m) {
            throw new Error(`unexpected argument "${a}" (options start with --)`);
        }
        const [, name, inline] = m;
        const spec = all[name];
        if (!spec) {
            throw new Error(`unknown option --${name} for ${command}; it takes ${Object.keys(all).map(k => `--${k}`).join(", ")}`);
        }
        if (!spec.value) {
            if (inline !== undefined) {
                throw new Error(`--${name} takes no value`);
            }
            options[name] = true;
            continue;
        }
        const v = inline ?? rest[++i];
        if (v === undefined || (inline === undefined && v.startsWith("--"))) {
            throw new Error(`--${name} needs a value`);
        }
        if (spec.repeat) {
            options[name] = [...((options[name] as string[] | undefined) ?? []), v];
        } else if (options[name] !== undefined) {
            throw new Error(`--${name} given twice`);
        } else {
            options[name] = v;
        }
    }
    return { command, options };
}

export function str(o: ParsedArgs["options"], k: string): string | undefined {
    const v = o[k];
    return typeof v === "string" ? v : undefined;
}

export function list(o: ParsedArgs["options"], k: string): string[] {
    const v = o[k];
    return Array.isArray(v) ? v : [];
}

export function flag(o: ParsedArgs["options"], k: string): boolean {
    return o[k] === true;
}
