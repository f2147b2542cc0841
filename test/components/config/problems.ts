// The problems a stack config is refused with, for the config tests (each file passes its own ParseOptions).
import { strict as assert } from "assert";
import { ConfigError, parseConfig, ParseOptions } from "../../../components/config";

/** Every problem of a config that must be refused (fails the test when it is accepted or fails otherwise). */
export function problemsOf(raw: Record<string, any>, opts: ParseOptions): string[] {
    try {
        parseConfig(raw, opts);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
        return (e as ConfigError).problems;
    }
    assert.fail("expected the config to be rejected");
}

/** The config is refused with a problem for the full key (`rancher-ha:...`) matching `pattern`. */
export function assertProblem(raw: Record<string, any>, opts: ParseOptions, key: string, pattern: RegExp): void {
    const ps = problemsOf(raw, opts);
    const hit = ps.find(p => p.startsWith(`${key}: `));
    assert.ok(hit, `no problem for ${key} in:\n${ps.join("\n")}`);
    assert.match(hit!, pattern);
}

/** A valid stack: 1 LB + 3 all-role nodes, as Pulumi.dev.yaml (host keys from ~/.ssh/known_hosts). A fresh object per call. */
export function validStack(): Record<string, any> {
    return {
        hostname: "rancher.example.com",
        ssh: { user: "rancher", knownHostsFile: "~/.ssh/known_hosts" },
        loadBalancer: { address: "192.0.2.10" },
        nodes: [1, 2, 3].map(i => ({ address: `192.0.2.1${i}`, roles: ["controlplane", "etcd", "worker"] })),
    };
}

/** ParseOptions whose files are `files` (home /home/op); reading any other path fails with ENOENT. */
export function fakeFileOpts(files: Record<string, string>): ParseOptions {
    return {
        homeDir: "/home/op",
        readFile: (p: string) => {
            if (files[p] === undefined) {
                throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
            }
            return files[p];
        },
    };
}
