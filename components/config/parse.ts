// The whole stack config, section by section: raw values in, StackSettings (or every problem at once) out.
// Pure apart from reading SSH key files, which ParseOptions.readFile replaces in tests.
import { rkeConfigProblems } from "../rke/clusterYml";
import { rke2SnapshotProblems } from "../rke2/configYaml";
import { compatibilityProblems } from "./compatibility";
import { ConfigError, ConfigReader, ReaderOptions } from "./reader";
import { hasUpperCase, isHostname, isIp, shown } from "./names";
import { DEFAULTS, DISTRIBUTIONS, HostAliasesSettings, lbClientAddress, Rke2Settings, SIZING, StackSettings } from "./types";
import { hostKeyDefaults, sshTarget } from "./sshKeys";
import { parseAdmin } from "./sections/admin";
import { parseCluster } from "./sections/cluster";
import { parseSnapshots } from "./sections/etcdSnapshots";
import { parseLoadBalancer } from "./sections/loadBalancer";
import { parseNodes } from "./sections/nodes";
import { parseRancher } from "./sections/rancher";
import { airGapProblems, parseCharts } from "./sections/charts";
import { parseRancherSetup } from "./sections/rancherSetup";
import { parseBackup, restoreConflicts } from "./sections/backup";
import { parseRegistry } from "./sections/registry";
import { parseRkeOverrides } from "./sections/rkeOverrides";
import { parseTls } from "./sections/tls";
import { parseVersions } from "./sections/versions";
import { checkRke2Nodes, parseRke2, rkeOnlyKeys } from "./sections/rke2";

export type ParseOptions = ReaderOptions;

export interface ParseResult {
    settings: StackSettings;
    /** Not errors, but worth saying: even etcd count, sizing. */
    warnings: string[];
}

/**
 * Turns the raw stack config (key without the project prefix -> parsed value) into StackSettings,
 * or throws a ConfigError listing every problem.
 */
export function parseConfig(raw: Record<string, unknown>, opts: ParseOptions = {}): ParseResult {
    const r = new ConfigReader(opts);
    const settings = parseStack(r, r.root(raw));
    r.checkUnknownKeys();
    if (r.errorCount > 0 || settings === undefined) {
        throw new ConfigError(r.errors);
    }
    return { settings, warnings: r.warnings };
}

function parseStack(r: ConfigReader, raw: Record<string, unknown>): StackSettings | undefined {
    const distribution = r.enumOf(raw, "distribution", DISTRIBUTIONS) ?? "rke";
    const rke2 = distribution === "rke2";
    const hostname = r.str(raw, "hostname", { required: true });
    if (hostname !== undefined) {
        if (isIp(hostname)) {
            r.err("hostname", `${shown(hostname)} is an IP address; Rancher needs a DNS name (e.g. rancher.example.com) ` +
                `for its certificate and ingress. Use hostAliases if your site has no internal DNS.`);
        } else if (!isHostname(hostname) || !hostname.includes(".")) {
            r.err("hostname", `${shown(hostname)} is not a fully qualified host name; set it to e.g. rancher.example.com`);
        } else if (hasUpperCase(hostname)) {
            // Rancher's ingress host, its certificate and server-url are matched in lower case (RFC 1123).
            r.err("hostname", `${shown(hostname)} has upper-case letters; Rancher's host name must be lower case: ` +
                `use ${shown(hostname.toLowerCase())}`);
        }
    }

    const ssh = r.obj(raw, "ssh");
    const sshDefaults = {
        user: r.str(ssh, "user", { key: "ssh.user" }),
        port: r.port(ssh, "port", "ssh.port") ?? DEFAULTS.sshPort,
        keyPath: r.str(ssh, "keyPath", { key: "ssh.keyPath" }) ?? DEFAULTS.sshKeyPath,
        key: r.secretStr(raw, "sshPrivateKey"),
        ...hostKeyDefaults(r, ssh),
    };

    const nodes = parseNodes(r, raw, sshDefaults);
    if (rke2) {
        checkRke2Nodes(r, nodes);
        for (const { key, fix } of rkeOnlyKeys(raw)) {
            r.err(key, `only used with distribution rke: ${fix}`);
        }
    } else if (raw.rke2 !== undefined || raw.rke2Token !== undefined) {
        r.err(raw.rke2 !== undefined ? "rke2" : "rke2Token", "only used with distribution rke2; set distribution: rke2, or remove it");
    }
    const lb = parseLoadBalancer(r, raw, sshDefaults, nodes);
    if (lb && rke2) {
        // Nodes join through the LB on RKE2's supervisor port (servers only behind it).
        lb.ports.supervisor = DEFAULTS.rke2.supervisorPort;
    }
    const bastion = raw.bastion === undefined ? undefined : sshTarget(r, r.obj(raw, "bastion"), "bastion", sshDefaults);
    const admin = parseAdmin(r, raw, nodes);
    const versions = parseVersions(r, raw, distribution);
    const tls = parseTls(r, raw);
    const cluster = parseCluster(r, raw, distribution, versions.kubernetes);
    const ingressClass = cluster.ingressProvider === "traefik" ? DEFAULTS.rancher.traefikIngressClass : DEFAULTS.rancher.nginxIngressClass;
    const rancher = parseRancher(r, raw, nodes, ingressClass, versions.rancher);
    const charts = parseCharts(r, raw);
    const rancherSetup = parseRancherSetup(r, raw);
    const { backup, restoreFrom } = parseBackup(r, raw, versions.rancher);
    if (restoreFrom) {
        restoreConflicts(r, tls, rancherSetup);
    }
    const airGapped = r.bool(raw, "airGapped", "airGapped") ?? false;
    const privateRegistry = parseRegistry(r, raw);
    const etcdSnapshots = parseSnapshots(r, raw);
    const rkeOverrides = rke2 ? undefined : parseRkeOverrides(r, raw);
    const rke2Settings: Rke2Settings | undefined = rke2
        ? parseRke2(r, raw, versions.kubernetes, privateRegistry?.isDefault ?? false) : undefined;

    const ha = r.obj(raw, "hostAliases");
    const haIp = r.str(ha, "ip", { key: "hostAliases.ip" });
    if (haIp !== undefined && !isIp(haIp)) {
        r.err("hostAliases.ip", `${shown(haIp)} is not an IP address; set the address the Rancher hostname should resolve to`);
    }
    const hostAliases: HostAliasesSettings = {
        enabled: r.bool(ha, "enabled", "hostAliases.enabled") ?? false,
        ip: haIp ?? (lb ? lbClientAddress(lb) : ""),
    };
    if (hostAliases.enabled && haIp === undefined && lb && !isIp(lbClientAddress(lb))) {
        // /etc/hosts needs an address; the default (the LB) is a name here.
        r.err("hostAliases.ip", `required when hostAliases.enabled is true and loadBalancer.address (${shown(lb.address)}) ` +
            "is a host name; set it to the IP that name resolves to");
    }

    const nodeSize = r.enumOf(raw, "nodeSize", ["S", "M", "L", "XL"] as const);
    if (nodeSize !== undefined && nodes.length > 0) {
        // The sizing table is about nodes Rancher manages; a local cluster bigger than it says the same.
        const limit = SIZING[nodeSize];
        if (nodes.length > limit.nodes) {
            r.warn(`nodeSize: ${nodes.length} nodes exceed what size ${nodeSize} ` +
                `(${limit.vcpu} vCPU, ${limit.memoryGb} GB) is sized for (${limit.nodes} nodes); use a larger nodeSize`);
        }
    }

    // What RKE would only report half-way through `rke up` (rke/clusterYml owns the rules).
    if (!rke2) {
        for (const problem of rkeConfigProblems({ kubernetesVersion: versions.kubernetes, networkPlugin: cluster.networkPlugin, etcdSnapshots })) {
            r.problem(problem);
        }
    } else if (etcdSnapshots.enabled) {
        // RKE2 schedules snapshots with cron and keeps a count (rke2/configYaml owns the conversion).
        rke2SnapshotProblems(etcdSnapshots.creation, etcdSnapshots.retention).forEach(p => r.err(p.key, p.message));
    }
    // Which versions work together (components/config/compatibility.ts): refused before Helm or rke would.
    const compat = compatibilityProblems({
        distribution, kubernetes: versions.kubernetes, rancher: versions.rancher, certManager: versions.certManager, today: r.today,
    });
    compat.errors.forEach(e => r.problem(e));
    compat.warnings.forEach(w => r.warn(w));

    if (!hostname || !lb || !admin) {
        return undefined;
    }
    const settings: StackSettings = {
        distribution, hostname, nodes, loadBalancer: lb, admin, versions, tls, rancher, privateRegistry, bastion,
        etcdSnapshots, cluster, hostAliases, nodeSize, rkeOverrides, rke2: rke2Settings, charts, airGapped, rancherSetup,
        ...(backup ? { backup } : {}), ...(restoreFrom ? { restoreFrom } : {}),
    };
    if (airGapped) {
        // What would still reach out, checked on the whole stack (sections/charts.ts owns the rules).
        airGapProblems(settings).forEach(p => r.err(p.key, p.message));
    }
    return r.errorCount > 0 ? undefined : settings;
}
