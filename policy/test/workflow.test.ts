// Lints the pull-request workflow (docs/ci/github-actions-preview.yml) with actionlint, which also runs shellcheck
// on its run: blocks when shellcheck is on PATH. Any finding fails. Without actionlint the test is skipped, unless
// RANCHER_HA_REQUIRE_REAL_TOOLS=1 (CI), where a missing actionlint or shellcheck fails.
//   install: go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12   (and apt-get install shellcheck)
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
const WORKFLOW = path.join("docs", "ci", "github-actions-preview.yml");
const REQUIRED = process.env.RANCHER_HA_REQUIRE_REAL_TOOLS === "1";

function onPath(name: string): string | undefined {
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        const p = path.join(dir, name);
        if (dir !== "" && fs.existsSync(p)) {
            return p;
        }
    }
    return undefined;
}

/** $ACTIONLINT, then PATH, then where `go install` puts it ($GOBIN, $GOPATH/bin, ~/go/bin). */
function findActionlint(): string | undefined {
    const candidates = [process.env.ACTIONLINT, onPath("actionlint"), process.env.GOBIN && path.join(process.env.GOBIN, "actionlint")];
    try {
        const gopath = execFileSync("go", ["env", "GOPATH"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
        candidates.push(...gopath.split(path.delimiter).map(p => path.join(p, "bin", "actionlint")));
    } catch {
        // no go: fine
    }
    candidates.push(path.join(os.homedir(), "go", "bin", "actionlint"));
    return candidates.find((c): c is string => typeof c === "string" && c !== "" && fs.existsSync(c));
}

function skipOrFail(ctx: Mocha.Context, reason: string): void {
    if (REQUIRED) {
        assert.fail(`${reason} (RANCHER_HA_REQUIRE_REAL_TOOLS=1)`);
    }
    console.log(`      skipped: ${reason}`);
    ctx.skip();
}

describe("docs/ci/github-actions-preview.yml", () => {
    it("is clean under actionlint (with shellcheck on the run: blocks)", function () {
        this.timeout(60000);
        const actionlint = findActionlint();
        if (!actionlint) {
            skipOrFail(this, "actionlint not found; install it with `go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12`");
            return;
        }
        if (!onPath("shellcheck")) {
            skipOrFail(this, "shellcheck not on PATH, so actionlint would not check the run: blocks; apt-get install shellcheck");
            return;
        }
        // A file path argument lints that file even outside .github/workflows.
        const r = spawnSync(actionlint, ["-no-color", WORKFLOW], { cwd: ROOT, encoding: "utf8" });
        assert.strictEqual(r.error, undefined, String(r.error));
        const findings = `${r.stdout}${r.stderr}`.trim();
        assert.strictEqual(r.status, 0, `actionlint exit ${r.status}:\n${findings}`);
        assert.strictEqual(findings, "", findings);
    });

    it("previews with the policy pack and renders with the flags scripts/render.ts takes", () => {
        const text = fs.readFileSync(path.join(ROOT, WORKFLOW), "utf8");
        assert.match(text, /pulumi preview --stack "\$STACK" --diff --policy-pack policy/);
        assert.match(text, /npm run --silent render -- --stack "\$STACK" --out "\$2"/);
        const usage = fs.readFileSync(path.join(ROOT, "scripts", "render.ts"), "utf8");
        assert.match(usage, /--stack <name> \[--out <dir>\]/);
        assert.match(text, /^permissions: \{\}$/m);
        assert.strictEqual((text.match(/uses: marocchino\/sticky-pull-request-comment@[0-9a-f]{40} # v\d+\.\d+\.\d+/g) ?? []).length, 1);
        for (const m of text.matchAll(/uses: ([^\s@]+)@(\S+)/g)) {
            assert.match(m[2], /^[0-9a-f]{40}$/, `${m[1]} is not pinned to a commit`);
        }
    });
});
