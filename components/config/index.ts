// Stack configuration: parsed once into one typed object, validated before any resource exists.
//
// Layout: types.ts (settings and defaults), reader.ts (typed getters, problems, unknown keys), sections/ (one
// parser per config section), sshKeys.ts, names.ts, parse.ts (the whole stack). `parseConfig` is pure apart from
// reading key files (injectable) so every message is unit tested; `loadConfig` is the thin Pulumi wrapper that
// index.ts calls.
import * as pulumi from "@pulumi/pulumi";
import { parseConfig, ParseOptions, ParseResult } from "./parse";
import { ConfigError } from "./reader";
import { NodeSettings, Role, SECRET_KEYS, StackSettings } from "./types";
import { kubeconfigSecretKeys } from "./sections/rancherSetup";

export * from "./types";
export { ConfigError } from "./reader";
export { parseConfig, ParseOptions, ParseResult } from "./parse";
export { isHostname, isIp, suggest } from "./names";
export { keyId, privateKeyText } from "./sshKeys";

/** Roles as the node list uses them, for outputs. */
export function nodeSummary(nodes: NodeSettings[]): { address: string; internalAddress?: string; roles: Role[] }[] {
    return nodes.map(n => ({ address: n.address, internalAddress: n.internalAddress, roles: n.roles }));
}

/**
 * Reads this project's stack config (all `<project>:*` keys), parses and validates it; logs warnings.
 * A bad config throws, before any resource is created, a pulumi.RunError with the ConfigError's message (every
 * problem, one a line): the language host prints a RunError's message alone, not as an unhandled exception with a
 * stack trace.
 */
export function loadConfig(opts: ParseOptions = {}): StackSettings {
    const project = pulumi.getProject();
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
        if (k.startsWith(`${project}:`)) {
            const name = k.slice(project.length + 1);
            raw[name] = SECRET_KEYS.includes(name) ? v : parseConfigValue(v);
        }
    }
    // Secret keys the stack names itself (importedClusters[].kubeconfigSecret): text, never parsed as JSON.
    for (const name of kubeconfigSecretKeys(raw)) {
        const v = pulumi.runtime.allConfig()[`${project}:${name}`];
        if (v !== undefined) {
            raw[name] = v;
        }
    }
    let parsed: ParseResult;
    try {
        parsed = parseConfig(raw, { stack: pulumi.getStack(), ...opts });
    } catch (e) {
        if (e instanceof ConfigError) {
            throw new pulumi.RunError(e.message);
        }
        throw e;
    }
    const { settings, warnings } = parsed;
    for (const w of warnings) {
        pulumi.log.warn(`${project}:${w}`);
    }
    return settings;
}

/** Pulumi hands structured values over as JSON text and scalars as plain text. */
export function parseConfigValue(v: string): unknown {
    const t = v.trim();
    if (t.startsWith("{") || t.startsWith("[") || t === "true" || t === "false" || /^-?\d+$/.test(t)) {
        try {
            return JSON.parse(t);
        } catch {
            return v;
        }
    }
    return v;
}