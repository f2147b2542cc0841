// Runs a local process with a payload on stdin, as the local Command provider (and ssh) hand one over.
import { spawn } from "child_process";

export interface Ran {
    code: number | null;
    stdout: string;
    stderr: string;
    ms: number;
}

/** `cmd args` with `stdin` piped in and its output collected; killed after timeoutMs (default 30 s). */
export function runWithStdin(cmd: string, args: string[], stdin: string,
    opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Ran> {
    const start = Date.now();
    return new Promise(resolve => {
        const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", d => (stdout += d));
        child.stderr.on("data", d => (stderr += d));
        // The process may exit before reading stdin (a failed precondition): that is not the test's failure.
        child.stdin.on("error", () => undefined);
        const killer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30000);
        child.on("close", code => {
            clearTimeout(killer);
            resolve({ code, stdout, stderr, ms: Date.now() - start });
        });
        child.stdin.end(stdin);
    });
}

/** A script as @pulumi/command's local.Command runs it: `/bin/sh -c <script>`. */
export function runShellScript(script: string, stdin: string, env: NodeJS.ProcessEnv, timeoutMs?: number): Promise<Ran> {
    return runWithStdin("/bin/sh", ["-c", script], stdin, { env, timeoutMs });
}
