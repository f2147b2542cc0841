// Everything `pulumi up` would apply for a stack, as files to attach to a pull request next to `pulumi preview`
// (`npm run render`, scripts/render.ts). Pure: settings in, an ordered list of {path, content} out.
//
// Secrets: this module never reads a secret Output. Where a stage would put a secret into what it applies (the
// registry password and the S3 key in rancher-cluster.yml, the bootstrap password in the Rancher values, the backup
// stages' S3 secret key and encryption key in their Secrets) the file gets `<redacted:key>` instead; SSH keys and
// kubeconfigs only ever travel on stdin, which is not rendered. So even settings that hold real secrets render to
// secret-free files.
//
// Scripts and configs are the exact text the stages hand to the hosts and the cluster (same renderers, same
// inputs), so two renders diff exactly like two deployments would.
import type { StackSettings } from "../../components/config";
import { lbClientAddress, lbHosts } from "../../components/config/types";
import { LbOwnership, lbOwnership } from "../../components/loadBalancer/owner";
import { lbHealthCheckService } from "../../components/loadBalancer/healthCheckService";
import { lbKeepalivedServices } from "../../components/loadBalancer/keepalivedService";
import { LbServiceSpec, lbServiceApplyScript, lbServiceDeleteScript, lbServiceUnit } from "../../components/loadBalancer/serviceScripts";
import { describeTarget } from "../../components/shared/ssh";
import { redacted } from "../redact";
import { AGENT_WAIT_SECONDS, agentHostAliasesScript, agentReleaseScript, agentTargets, AgentTarget } from "../../components/hostAliases/agentScripts";
import { CA_SECRET, INGRESS_SECRET, RANCHER_NAMESPACE, rancherRelease, rancherReleaseInput } from "../../components/rancher/release";
import { certManagerRelease } from "../../components/certManager/release";
import { chartRegistry } from "../../components/shared/helm";
import { hostAliasesApplyConfiguration, RANCHER_DEPLOYMENT } from "../../components/hostAliases/patches";
import { lbApplyScript, lbDeleteScript, lbScriptOptions } from "../../components/loadBalancer/scripts";
import { lbNginxConf } from "../../components/loadBalancer/nginxConf";
import { rkeClusterYaml, rkeYamlArgs } from "../../components/rke/clusterYml";
import { rkeStageScripts } from "../../components/rke/scripts";
import { sha256 } from "../../components/shared/shell";
import { rke2CoreDnsHostsConfig, RKE2_COREDNS_CHART } from "../../components/hostAliases/coreDns";
import { dumpYaml, fileSafe, releaseArtifacts, ReviewArtifact } from "./artifact";
import { rke2Artifacts } from "./rke2Artifacts";
import { backupArtifacts, restoreArtifacts } from "./backupArtifacts";

export type { ReviewArtifact };

export interface ReviewInput {
    /** Stack name (Pulumi.<stack>.yaml). */
    stack: string;
    /** Project name. Default rancher-ha. */
    project?: string;
    /** The validated stack (e.g. toolSettings(readStackFile(...)).settings). Secret Outputs are never read. */
    settings: StackSettings;
    /** Keys whose value is encrypted (`secure:`) in the stack file (StackFile.encryptedKeys). */
    encryptedKeys: string[];
    /** Secret keys set in plain text in the stack file: the index says to move them. Default none. */
    plainTextSecretKeys?: string[];
    /** Config warnings (ParseResult.warnings), repeated in the index. Default none. */
    warnings?: string[];
    /** What NginxLoadBalancer.address resolves to. Default settings.loadBalancer.address. */
    loadBalancerAddress?: string;
}

/** The index file, first in the list. */
export const INDEX_FILE = "README.md";

/** Folders per stage, numbered in the order `pulumi up` applies them. */
export const STAGE_DIRS = {
    loadBalancer: "1-load-balancer",
    rke: "2-rke",
    /** distribution rke2, in place of 2-rke. */
    rke2: "2-rke2",
    /** restoreFrom: the rancher-backup operator and the Restore, on the new cluster before cert-manager and Rancher. */
    restore: "2b-restore",
    certManager: "3-cert-manager",
    rancher: "4-rancher",
    hostAliases: "5-host-aliases",
    /** backup: the scheduled Backup and its Secrets, once Rancher runs (and the operator, when there is no restore). */
    backup: "6-backup",
} as const;

/** Every artifact of the stack, index first, then stage by stage. Deterministic: same input, same bytes. */
export function reviewArtifacts(input: ReviewInput): ReviewArtifact[] {
    const s = input.settings;
    const lbAddress = input.loadBalancerAddress ?? lbClientAddress(s.loadBalancer);
    const notes: string[] = [];
    const files = [
        ...loadBalancerArtifacts(s, lbOwnership(input.project ?? "rancher-ha", input.stack, s.loadBalancer.takeOverFrom)),
        ...(s.distribution === "rke2"
            ? rke2Artifacts(s, lbAddress, input.stack, STAGE_DIRS.rke2, notes)
            : rkeArtifacts(s, lbAddress, input.stack)),
        ...restoreArtifacts(s, STAGE_DIRS.restore, notes),
        ...certManagerArtifacts(s, notes),
        ...rancherArtifacts(s, notes),
        ...hostAliasesArtifacts(s, notes),
        ...backupArtifacts(s, STAGE_DIRS.backup, STAGE_DIRS.restore, notes),
    ];
    return [{ path: INDEX_FILE, about: "this index", content: indexText(input, files, notes) }, ...files];
}

// ---------------------------------------------------------------- stages
//
// Each stage's text comes from the same pure builders its component calls (lbNginxConf, rkeYamlArgs,
// rkeStageScripts, rke2NodeScriptArgsFor, certManagerRelease, rancherRelease, backupReleases, restoreParts, ...);
// test/scripts/render/reviewArtifacts.test.ts, rke2Artifacts.test.ts and backupArtifacts.test.ts also check every
// artifact against what the component registers under Pulumi mocks.

function loadBalancerArtifacts(s: StackSettings, owner: LbOwnership): ReviewArtifact[] {
    const dir = STAGE_DIRS.loadBalancer;
    const conf = lbNginxConf(s.loadBalancer, s.nodes);
    const scripts = lbScriptOptions(s.loadBalancer, sha256(conf), owner);
    const where = `${describeTarget(s.loadBalancer)} (${s.loadBalancer.mode} mode)`;
    const hosts = lbHosts(s.loadBalancer);
    const others = hosts.slice(1).map(h => `${describeTarget(h)}`);
    const out: ReviewArtifact[] = [
        { path: `${dir}/nginx.conf`, about: `nginx L4 config the LB host ${where} runs${others.length ? ` (and ${others.join(", ")}: the same)` : ""}`, content: conf },
        { path: `${dir}/apply.sh`, about: `creates/updates the LB over SSH on ${where}; nginx.conf arrives on stdin`, content: lbApplyScript(scripts) },
        { path: `${dir}/delete.sh`, about: "removes the LB (pulumi destroy)", content: lbDeleteScript(scripts) },
    ];
    if (s.loadBalancer.healthChecks?.enabled !== false) {
        const check = lbHealthCheckService(s.loadBalancer, s.nodes, describeTarget(s.loadBalancer));
        out.push(...serviceArtifacts(dir, "health-check", withOwner(check, owner), "the active health checker", hosts.length));
    }
    const vips = lbKeepalivedServices(s.loadBalancer);
    if (vips) {
        hosts.forEach((h, i) => out.push(...serviceArtifacts(dir, `keepalived-${fileSafe(h.address)}`, withOwner(vips(i, describeTarget(h)), owner),
            `keepalived on ${describeTarget(h)} (virtual IP ${lbClientAddress(s.loadBalancer)})`, 1)));
    }
    return out;
}

function withOwner(svc: LbServiceSpec, owner: LbOwnership): LbServiceSpec {
    return { ...svc, options: { ...svc.options, owner } };
}

/** An LB host service: each of its files, its systemd unit, and the scripts that install and remove it. */
function serviceArtifacts(dir: string, name: string, svc: LbServiceSpec, what: string, hosts: number): ReviewArtifact[] {
    const files = svc.bundle.trim().split("\n").map(l => l.split(" ")).map(([file, , data]) => ({ file, content: Buffer.from(data, "base64").toString("utf8") }));
    const on = hosts > 1 ? `each of the ${hosts} LB hosts` : "the LB host";
    return [
        ...files.map(f => ({ path: `${dir}/${name}/${f.file}`, about: `${what}: ${f.file}, installed in ${svc.options.dir ?? `/etc/rancher-ha/lb/${svc.options.name}`} on ${on}`, content: f.content })),
        { path: `${dir}/${name}/${svc.options.name}.service`, about: `${what}: the systemd unit that runs it`, content: lbServiceUnit(svc.options) },
        { path: `${dir}/${name}/apply.sh`, about: `installs/updates ${what} over SSH on ${on}; its files arrive on stdin`, content: lbServiceApplyScript(svc.options) },
        { path: `${dir}/${name}/delete.sh`, about: `removes ${what} (pulumi destroy)`, content: lbServiceDeleteScript(svc.options) },
    ];
}

function rkeArtifacts(s: StackSettings, lbAddress: string, stack: string): ReviewArtifact[] {
    const dir = STAGE_DIRS.rke;
    // Each secret the yml would hold is shown as its placeholder (the component unwraps the real ones).
    const args = rkeYamlArgs(s, lbAddress, {
        registryPassword: s.privateRegistry?.password !== undefined ? redacted("privateRegistryPassword") : undefined,
        s3SecretKey: s.etcdSnapshots.s3?.secretKey !== undefined ? redacted("etcdS3SecretKey") : undefined,
    });
    const scripts = rkeStageScripts(s, { stack });
    return [
        {
            path: `${dir}/rancher-cluster.yml`,
            about: `the cluster config \`rke up\` runs with, written to ${s.admin.workDir} on the admin host (${scripts.hostLabel})`,
            content: rkeClusterYaml(args),
        },
        ...s.nodes.map(n => ({
            path: `${dir}/preflight-${fileSafe(n.address)}.sh`,
            about: `checks ${describeTarget(n)} (${n.roles.join(", ")}) before rke up: docker, sshd forwarding, swap, ports`,
            content: scripts.preflight(n),
        })),
        {
            path: `${dir}/rke-up.sh`,
            about: `runs rke up on the admin host (${scripts.hostLabel}); the yml, SSH keys and state arrive on stdin`,
            content: scripts.up,
        },
        {
            path: `${dir}/rke-up-command.sh`,
            about: "the rke-up Command's create/update, where Pulumi runs: rke-up.sh on the admin host over ssh with the pinned host key",
            content: scripts.upCommand,
        },
        s.admin.removeClusterOnDestroy
            ? { path: `${dir}/destroy.sh`, about: "the rke-up Command's delete: admin.removeClusterOnDestroy is true, so pulumi destroy runs rke remove --force and WIPES the cluster", content: scripts.deleteCommand }
            : { path: `${dir}/destroy.sh`, about: "the rke-up Command's delete: forgets the cluster and keeps it (admin.removeClusterOnDestroy is false)", content: scripts.deleteCommand },
    ];
}

function certManagerArtifacts(s: StackSettings, notes: string[]): ReviewArtifact[] {
    const registry = chartRegistry(s.privateRegistry);
    const release = certManagerRelease(s.versions.certManager, s.tls.source, registry, s.charts?.certManager);
    if (!release) {
        notes.push(`cert-manager is not installed: tls.source is ${s.tls.source} (the certificate comes from a Secret).`);
        return [];
    }
    if (registry.pullSecret) {
        notes.push(`Secret \`${release.namespace}/${registry.pullSecret}\` (image pull login for ${registry.url}, from privateRegistry.user and privateRegistryPassword).`);
    }
    return releaseArtifacts(STAGE_DIRS.certManager, "cert-manager", release);
}

function rancherArtifacts(s: StackSettings, notes: string[]): ReviewArtifact[] {
    const registry = chartRegistry(s.privateRegistry);
    if (registry.pullSecret) {
        notes.push(`Secret \`${RANCHER_NAMESPACE}/${registry.pullSecret}\` (image pull login for ${registry.url}).`);
    }
    if (s.tls.source === "secret") {
        const from = s.tls.generateCa ? "a private CA and a server certificate that pulumi up generates and keeps in state"
            : "tlsCert and tlsKey" + (s.tls.caCert ? ", tlsCaCert" : "");
        notes.push(`Secret \`${RANCHER_NAMESPACE}/${INGRESS_SECRET}\`` +
            (s.tls.privateCa ? ` and \`${RANCHER_NAMESPACE}/${CA_SECRET}\`` : "") + ` (Rancher's certificate, from ${from}).`);
    }
    notes.push(s.rancher.bootstrapPassword ? "bootstrapPassword: set in the stack (redacted in the Rancher values)."
        : "bootstrapPassword: not set, so pulumi up generates one once and keeps it in state (`<redacted:bootstrapPassword>` in the values).");
    const release = rancherRelease(rancherReleaseInput(s, registry), redacted("bootstrapPassword"));
    return releaseArtifacts(STAGE_DIRS.rancher, "Rancher", release);
}

function hostAliasesArtifacts(s: StackSettings, notes: string[]): ReviewArtifact[] {
    if (!s.hostAliases.enabled) {
        notes.push("hostAliases are not added (hostAliases.enabled is false).");
        return [];
    }
    const dir = STAGE_DIRS.hostAliases;
    const { ip } = s.hostAliases;
    const targets = agentTargets(s.versions.rancher);
    const body = (t: AgentTarget) => ({
        path: `${dir}/${t.workload.kind.toLowerCase()}-${t.workload.name}.yaml`,
        about: `server-side apply body for ${t.workload.namespace}/${t.workload.name}, applied by agents-apply.sh ` +
            (t.required ? "(required: waited for)" : "(only when Rancher created it)"),
        content: dumpYaml(hostAliasesApplyConfiguration(t.workload, ip, s.hostname)),
    });
    return [
        {
            path: `${dir}/rancher-deployment-patch.yaml`,
            about: `hostAliases patch of the ${RANCHER_DEPLOYMENT.namespace}/${RANCHER_DEPLOYMENT.name} deployment (Pulumi DeploymentPatch, server-side apply)`,
            content: dumpYaml(hostAliasesApplyConfiguration(RANCHER_DEPLOYMENT, ip, s.hostname)),
        },
        ...targets.map(body),
        {
            path: `${dir}/agents-apply.sh`,
            about: "runs on the machine running pulumi: waits for Rancher's agents and patches those that exist; the kubeconfig arrives on stdin",
            content: agentHostAliasesScript({ targets, timeoutSeconds: AGENT_WAIT_SECONDS }),
        },
        { path: `${dir}/agents-release.sh`, about: "takes the agents' hostAliases back out (pulumi destroy)", content: agentReleaseScript(targets) },
        // RKE2: every other pod resolves the hostname through the cluster's CoreDNS (ClusterDnsHosts).
        ...(s.distribution === "rke2" ? [{
            path: `${dir}/helmchartconfig-${RKE2_COREDNS_CHART.name}.yaml`,
            about: `HelmChartConfig ${RKE2_COREDNS_CHART.namespace}/${RKE2_COREDNS_CHART.name}: RKE2's CoreDNS with a hosts block resolving ` +
                `${s.hostname} to ${ip} for every pod (deleting it puts the chart's defaults back)`,
            content: dumpYaml(rke2CoreDnsHostsConfig(ip, s.hostname)),
        }] : []),
    ];
}

// ---------------------------------------------------------------- index

function indexText(input: ReviewInput, files: ReviewArtifact[], notes: string[]): string {
    const project = input.project ?? "rancher-ha";
    const stackFile = `Pulumi.${input.stack}.yaml`;
    const list = (keys: string[]) => (keys.length === 0 ? "none" : keys.map(k => `\`${k}\``).join(", "));
    const placeholders = placeholderUses(files);
    const lines = [
        `# Render for review: stack \`${input.stack}\` (project ${project})`,
        "",
        `What \`pulumi up --stack ${input.stack}\` would apply, rendered from ${stackFile} by`,
        `\`npm run render -- --stack ${input.stack}\` without the Pulumi engine, the hosts or the cluster. Scripts and`,
        "configs are byte for byte what Pulumi hands to the hosts and the cluster; rendering twice gives the same bytes,",
        "so `diff -r` between the renders of two commits shows exactly what a change does. Review it next to",
        "`pulumi preview`, which shows which resources change.",
        "",
        "## Secrets",
        "",
        "No file holds a secret: each one appears as `<redacted:key>`, and SSH keys and kubeconfigs are never",
        "rendered (they travel on the SSH session's stdin, not in a command).",
        "",
        `- Encrypted in ${stackFile}: ${list(input.encryptedKeys)}.`,
    ];
    if ((input.plainTextSecretKeys ?? []).length > 0) {
        lines.push(`- **In plain text in ${stackFile}: ${list(input.plainTextSecretKeys!)}.** Encrypt each with ` +
            "`pulumi config set --secret <key>` before committing the stack file.");
    }
    lines.push(`- Placeholders in these files:${placeholders.length === 0 ? " none." : ""}`);
    for (const [key, paths] of placeholders) {
        lines.push(`  - \`${redacted(key)}\` in ${paths.map(p => `\`${p}\``).join(", ")}`);
    }
    if (input.settings.distribution !== "rke2") {
        lines.push(
            "- `ssh_key_path: <workDir>/keys/<id>` names each key by a hash of the key material. It matches the deployed",
            "  name only when this render read the same key file; for `sshPrivateKey` (never read here) it differs.",
        );
    }
    lines.push(
        "",
        "## Files",
        "",
        "| File | What it is |",
        "| --- | --- |",
        ...files.map(f => `| \`${f.path}\` | ${f.about.replace(/\|/g, "\\|")} |`),
        "",
        "## Notes",
        "",
        ...notes.map(n => `- ${n}`),
    );
    if ((input.warnings ?? []).length > 0) {
        lines.push("", "## Config warnings", "", ...input.warnings!.map(w => `- ${project}:${w}`));
    }
    return lines.join("\n") + "\n";
}

/** Which placeholder keys appear in which files, sorted by key. */
function placeholderUses(files: ReviewArtifact[]): [string, string[]][] {
    const uses = new Map<string, string[]>();
    for (const f of files) {
        for (const m of f.content.matchAll(/<redacted:([A-Za-z0-9_.[\]-]+)>/g)) {
            const paths = uses.get(m[1]) ?? [];
            if (!paths.includes(f.path)) {
                paths.push(f.path);
            }
            uses.set(m[1], paths);
        }
    }
    return [...uses.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---------------------------------------------------------------- checks and helpers

/**
 * Belt and braces for the writer: the secret values (key -> plain text) any artifact still contains, as
 * "path: key". A PEM also counts when one of its body lines shows up. Values under 8 characters are not
 * searched for (they would match by chance; config.ts requires 12+ for the bootstrap password).
 */
export function secretLeaks(artifacts: ReviewArtifact[], secrets: Record<string, string>): string[] {
    const found: string[] = [];
    for (const [key, value] of Object.entries(secrets)) {
        const needles = [value.trim(), ...value.split("\n").map(l => l.trim()).filter(l => l.length >= 16 && !l.startsWith("-----"))]
            .filter(n => n.length >= 8);
        for (const f of artifacts) {
            if (needles.some(n => f.content.includes(n))) {
                found.push(`${f.path}: ${key}`);
            }
        }
    }
    return found;
}
