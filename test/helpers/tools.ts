// Tests that drive real tools (nginx, sshd, kubectl) skip on a developer machine that lacks them, with the
// reason; under .ci/run (RANCHER_HA_REQUIRE_REAL_TOOLS=1) a missing tool is a failure, never a silent skip.
import { spawnSync } from "child_process";
import * as fs from "fs";

export function requireTool(ctx: Mocha.Context, why: string | undefined): void {
    if (why === undefined) {
        return;
    }
    if (process.env.RANCHER_HA_REQUIRE_REAL_TOOLS === "1") {
        throw new Error(`required tool missing: ${why}`);
    }
    // eslint-disable-next-line no-console
    console.warn(`      skipped: ${why}`);
    ctx.skip();
}

/** Why a command is unusable here, or undefined when `cmd args` runs. */
export function toolMissing(cmd: string, args: string[] = ["--version"]): string | undefined {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    return r.error ? `${cmd} not found (${(r.error as NodeJS.ErrnoException).code}); .ci/run installs it` : undefined;
}

/** Debian's nginx and its dynamic stream module, as the LB tests run them. */
export const NGINX = "/usr/sbin/nginx";
export const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

/** Why the real nginx + stream module cannot run here, or undefined when they can. */
export function nginxUnavailable(): string | undefined {
    if (spawnSync(NGINX, ["-v"]).error) {
        return `${NGINX} missing: install nginx-light (.ci/run does)`;
    }
    return fs.existsSync(STREAM_MODULE) ? undefined : `${STREAM_MODULE} missing: install libnginx-mod-stream (.ci/run does)`;
}
