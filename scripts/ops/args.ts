// Command line of `npm run ops -- <command> --stack <name> [options]`.
import { OptionSpec, Options, parseOptions } from "../cliArgs";

export { flag, list, OptionSpec, str } from "../cliArgs";

export interface ParsedArgs {
    command: string;
    options: Options;
}

/** Options every command takes. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
    stack: { value: true },
    cwd: { value: true },
    identity: { value: true },
    "ssh-option": { value: true, repeat: true },
    help: {},
};

export function parseArgs(argv: string[], specs: Record<string, OptionSpec>): ParsedArgs {
    const [command = "help", ...rest] = argv;
    return { command, options: parseOptions(rest, { ...COMMON_OPTIONS, ...specs }, command) };
}
