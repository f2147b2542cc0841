// Renders rancher-cluster.yml from stack config entries exactly as `pulumi up` would (config parser, yamlArgs,
// renderer), for `recover`: what the stack makes of recovered entries is compared with what the cluster runs.
import { lbClientAddress, ParseOptions } from "../../components/config";
import { rkeYamlArgs } from "../../components/rke/clusterYml";
import { rkeClusterConfig } from "../../components/rke/clusterYml";
import { StackRenderer } from "./rkeRecovery";
import { StackFile, toolSettings, withoutHostKeyCheck } from "../stackFile";

/** Keys whose recovered value is merged into the stack's (the others replace it). */
const MERGED = ["versions", "cluster"];

/** The stack's raw config with recovered entries put in (what `--write` writes, minus secrets). */
export function withEntries(raw: Record<string, unknown>, entries: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = { ...raw };
    for (const [k, v] of Object.entries(entries)) {
        const old = out[k];
        out[k] = MERGED.includes(k) && typeof old === "object" && old !== null && !Array.isArray(old)
            ? { ...(old as Record<string, unknown>), ...(v as Record<string, unknown>) } : v;
    }
    return out;
}

/** A StackRenderer over a stack file: secrets still to be set are stood in for by placeholders. */
export function stackRenderer(file: StackFile, opts: ParseOptions = {}): StackRenderer {
    return (entries, pendingSecrets) => {
        const raw = withEntries(file.raw, entries);
        for (const k of pendingSecrets) {
            raw[k] = raw[k] ?? `<pending:${k}>`;
        }
        // Host keys do not change the yml, and recovered nodes have none pinned yet.
        const { settings } = toolSettings({ ...file, raw: withoutHostKeyCheck(raw) }, opts);
        return rkeClusterConfig(rkeYamlArgs(settings, lbClientAddress(settings.loadBalancer), { registryPassword: "<secret>", s3SecretKey: "<secret>" }));
    };
}
