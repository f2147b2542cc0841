// Options of the project's command-line tools (`npm run ops`, `npm run render`): `--name value`, `--name=value`
// and flags; unknown options are errors (typos must not be ignored).

export interface OptionSpec {
    /** takes a value; repeatable options collect every value */
    value?: boolean;
    repeat?: boolean;
}

export type Options = Record<string, string | string[] | boolean>;

/** Parses `args` (options only) against `specs`; `what` names the command in messages. */
export function parseOptions(args: string[], specs: Record<string, OptionSpec>, what: string): Options {
    const options: Options = {};
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(a);
        if (!m) {
            throw new Error(`unexpected argument "${a}" (options start with --)`);
        }
        const [, name, inline] = m;
        const spec = specs[name];
        if (!spec) {
            throw new Error(`unknown option --${name} for ${what}; it takes ${Object.keys(specs).map(k => `--${k}`).join(", ")}`);
        }
        if (!spec.value) {
            if (inline !== undefined) {
                throw new Error(`--${name} takes no value`);
            }
            options[name] = true;
            continue;
        }
        const v = inline ?? args[++i];
        if (v === undefined || v === "" || (inline === undefined && v.startsWith("--"))) {
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
    return options;
}

export function str(o: Options, k: string): string | undefined {
    const v = o[k];
    return typeof v === "string" ? v : undefined;
}

export function list(o: Options, k: string): string[] {
    const v = o[k];
    return Array.isArray(v) ? v : [];
}

export function flag(o: Options, k: string): boolean {
    return o[k] === true;
}
