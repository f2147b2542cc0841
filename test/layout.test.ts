// The source layout's two rules, checked on the import graph (CONTRIBUTING.md, "Layout"):
// - no import circles among the program's and the tools' modules (type-only imports included);
// - renderers are pure: in the stage folders and components/shared, a file whose name starts with a lower-case
//   letter (the components are PascalCase, e.g. NginxLoadBalancer.ts) reaches, through its value imports, no
//   Pulumi SDK and no I/O module, so it turns settings into text the same way every time.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { ROOT } from "./helpers/paths";

/** Node modules a pure renderer may not reach (crypto, net and the like compute; these read, write or run). */
const IMPURE = [/^@pulumi\//, /^(node:)?(fs|os|child_process|http|https|http2|net\/server|dgram|cluster|worker_threads)$/];
const PURE_FOLDERS = ["loadBalancer", "rke", "certManager", "rancher", "hostAliases", "shared", "backup"];

interface Module {
    file: string;
    /** Resolved repository files this module imports, with whether the import is type-only. */
    local: { file: string; typeOnly: boolean }[];
    /** Package and node module names it imports for their values. */
    external: string[];
}

function tsFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap(e => {
        const f = path.join(dir, e.name);
        return e.isDirectory() ? tsFiles(f) : e.name.endsWith(".ts") ? [f] : [];
    });
}

function resolveLocal(from: string, spec: string): string | undefined {
    const base = path.resolve(path.dirname(from), spec);
    return [base, `${base}.ts`, path.join(base, "index.ts")].find(f => fs.existsSync(f) && fs.statSync(f).isFile());
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s+["']([^"']+)["']/gm;

function parse(file: string): Module {
    const text = fs.readFileSync(file, "utf8");
    const m: Module = { file, local: [], external: [] };
    for (const [, , typeKw, names, spec] of text.matchAll(IMPORT)) {
        const typeOnly = typeKw !== undefined || /^\{\s*(type\s+\w+\s*,?\s*)+\}$/.test(names);
        if (spec.startsWith(".")) {
            const target = resolveLocal(file, spec);
            if (target?.endsWith(".ts")) {
                m.local.push({ file: target, typeOnly });
            }
        } else if (!typeOnly) {
            m.external.push(spec);
        }
    }
    return m;
}

const sources = [
    path.join(ROOT, "index.ts"),
    ...tsFiles(path.join(ROOT, "components")),
    ...tsFiles(path.join(ROOT, "scripts")),
];
const modules = new Map(sources.map(f => [f, parse(f)]));
const rel = (f: string) => path.relative(ROOT, f);

describe("source layout", () => {
    it("has no import circles", () => {
        const state = new Map<string, "visiting" | "done">();
        const circles: string[] = [];
        const visit = (f: string, stack: string[]) => {
            if (state.get(f) === "done") {
                return;
            }
            if (state.get(f) === "visiting") {
                circles.push([...stack.slice(stack.indexOf(f)), f].map(rel).join(" -> "));
                return;
            }
            state.set(f, "visiting");
            for (const dep of modules.get(f)?.local ?? []) {
                visit(dep.file, [...stack, f]);
            }
            state.set(f, "done");
        };
        for (const f of modules.keys()) {
            visit(f, []);
        }
        assert.deepEqual(circles, []);
    });

    const pure = [...modules.keys()].filter(f => {
        const parts = rel(f).split(path.sep);
        return parts[0] === "components" && PURE_FOLDERS.includes(parts[1]) && /^[a-z]/.test(parts[parts.length - 1]);
    });

    it("finds the pure renderers of every stage folder", () => {
        for (const folder of PURE_FOLDERS) {
            assert.ok(pure.some(f => rel(f).startsWith(path.join("components", folder) + path.sep)), folder);
        }
    });

    for (const f of pure) {
        it(`${rel(f)} reaches no Pulumi SDK and no I/O module through its imports`, () => {
            const seen = new Set<string>();
            const offenders: string[] = [];
            const walk = (file: string, via: string[]) => {
                if (seen.has(file)) {
                    return;
                }
                seen.add(file);
                const m = modules.get(file) ?? parse(file);
                for (const ext of m.external) {
                    if (IMPURE.some(re => re.test(ext))) {
                        offenders.push(`${[...via, file].map(rel).join(" -> ")} imports ${ext}`);
                    }
                }
                for (const dep of m.local.filter(d => !d.typeOnly)) {
                    walk(dep.file, [...via, file]);
                }
            };
            walk(f, []);
            assert.deepEqual(offenders, []);
        });
    }
});
