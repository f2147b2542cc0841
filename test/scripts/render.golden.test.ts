// Golden files: the whole review render (`npm run render`) of each fixture stack in test/fixtures/stacks/, byte
// for byte. A change to any script, config or chart value shows up here as a diff, for review. After an
// intended change: `npm run golden:update`, then read the diff of test/golden/ before committing it.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { readStackFile, toolSettings } from "../../scripts/stackFile";
import { reviewArtifacts } from "../../scripts/render/reviewArtifacts";
import { FIXTURES, ROOT } from "../helpers/paths";

const STACKS = path.join(FIXTURES, "stacks");
const GOLDEN = path.join(ROOT, "test", "golden");
const UPDATE = process.env.RANCHER_HA_UPDATE_GOLDEN === "1";

/** Every file under dir, relative, `/`-separated, sorted. */
function walk(dir: string, prefix = ""): string[] {
    if (!fs.existsSync(dir)) {
        return [];
    }
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap(e => e.isDirectory()
        ? walk(path.join(dir, e.name), `${prefix}${e.name}/`)
        : [`${prefix}${e.name}`]).sort();
}

/** The render of a fixture stack, with no file of the machine read (keys are `secure:` in the fixtures). */
function render(stack: string) {
    const file = readStackFile(STACKS, stack);
    const { settings, warnings } = toolSettings(file, {
        readFile: p => { throw new Error(`golden render must not read ${p}`); },
        homeDir: "/home/golden",
        today: "2026-12-02",   // end-of-life warnings are in the index: a fixed day keeps the golden copy stable
    });
    return reviewArtifacts({ stack, project: file.project, settings, warnings, encryptedKeys: file.encryptedKeys });
}

const stacks = fs.readdirSync(STACKS)
    .map(f => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();

describe("golden render of the fixture stacks (test/golden/<stack>/)", () => {
    it("has fixture stacks", () => assert.ok(stacks.length >= 2, `fixture stacks: ${stacks.join(", ")}`));

    for (const stack of stacks) {
        it(`${stack}: every file renders as its golden copy`, () => {
            const dir = path.join(GOLDEN, stack);
            const artifacts = render(stack);
            if (UPDATE) {
                fs.rmSync(dir, { recursive: true, force: true });
                for (const a of artifacts) {
                    fs.mkdirSync(path.dirname(path.join(dir, a.path)), { recursive: true });
                    fs.writeFileSync(path.join(dir, a.path), a.content);
                }
            }
            assert.deepEqual(artifacts.map(a => a.path).sort(), walk(dir),
                `the set of rendered files changed; run npm run golden:update and review the diff of ${dir}`);
            for (const a of artifacts) {
                assert.equal(a.content, fs.readFileSync(path.join(dir, a.path), "utf8"),
                    `${stack}/${a.path} differs from its golden copy; run npm run golden:update and review the diff`);
            }
        });
    }
});
