// rkeOverrides: cluster.yml keys the stack has no setting for.
import { ConfigReader } from "../reader";
import { suggest } from "../names";
import { rkeYamlKeyProblems, secretYamlPaths } from "../../rke/rkeKeys";

/**
 * rkeOverrides: a map in cluster.yml's own spelling, checked against RKE's keys (rke/rkeKeyMap.json). Keys the
 * stack renders from its settings, one-off actions and secrets are refused, each with the key to use instead.
 */
export function parseRkeOverrides(r: ConfigReader, raw: Record<string, unknown>): Record<string, unknown> | undefined {
    const v = raw.rkeOverrides;
    if (v === undefined || v === null) {
        return undefined;
    }
    if (typeof v !== "object" || Array.isArray(v)) {
        r.err("rkeOverrides", "must be a map of cluster.yml keys (snake_case, as RKE writes them), e.g. {services: {kubelet: {extra_args: {max-pods: \"250\"}}}}");
        return undefined;
    }
    const o = v as Record<string, unknown>;
    const instead: Record<string, string> = {
        nodes: "use nodes", kubernetes_version: "use versions.kubernetes", private_registries: "use privateRegistry",
        bastion_host: "use bastion", ssh_key_path: "rancher-ha manages SSH keys", ssh_cert_path: "rancher-ha manages SSH keys",
        ssh_agent_auth: "rancher-ha manages SSH keys", restore: "restore with `npm run ops -- snapshot-restore`",
        rotate_certificates: "rotate with `npm run ops -- cert-rotate`", rotate_encryption_key: "a one-off action, not a setting",
    };
    const before = r.errorCount;
    for (const k of Object.keys(o).filter(x => instead[x] !== undefined)) {
        r.err(`rkeOverrides.${k}`, `not allowed here: ${instead[k]}`);
    }
    const rest = Object.fromEntries(Object.entries(o).filter(([k]) => instead[k] === undefined));
    for (const problem of rkeYamlKeyProblems(rest, "rkeOverrides.", suggest)) {
        r.problem(problem);
    }
    for (const p of secretYamlPaths(rest)) {
        r.err(`rkeOverrides.${p}`, "holds a secret, and rkeOverrides is plain text in Pulumi.<stack>.yaml; " +
            "configure it with the stack's secret keys where one exists, or outside rancher-ha");
    }
    return r.errorCount === before ? o : undefined;
}
