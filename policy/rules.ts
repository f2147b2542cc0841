// The checks of the rancher-ha-safety policy pack as pure functions: plain resource inputs in, violation messages
// out. No imports, so the Pulumi program (and its tests) can import CLUSTER_REMOVAL_OPT_IN_MARKER and
// CLUSTER_REMOVAL_RE from here without pulling in @pulumi/policy. policies.ts wires them into the pack.

/** Resource types as the program registers them. */
export const TYPES = {
    remoteCommand: "command:remote:Command",
    localCommand: "command:local:Command",
    copyToRemote: "command:remote:CopyToRemote",
    copyFile: "command:remote:CopyFile",
    k8sProvider: "pulumi:providers:kubernetes",
    k8sSecret: "kubernetes:core/v1:Secret",
    helmRelease: "kubernetes:helm.sh/v3:Release",
    helmChartV4: "kubernetes:helm.sh/v4:Chart",
    rancher2Provider: "pulumi:providers:rancher2",
    rancher2Bootstrap: "rancher2:index/bootstrap:Bootstrap",
} as const;

/** Command types that run scripts (create/update/delete, stdin, addPreviousOutputInEnv). */
export const COMMAND_TYPES: readonly string[] = [TYPES.remoteCommand, TYPES.localCommand];
/** Types that open an SSH connection (`connection` input). */
export const SSH_TYPES: readonly string[] = [TYPES.remoteCommand, TYPES.copyToRemote, TYPES.copyFile];
export const HELM_TYPES: readonly string[] = [TYPES.helmRelease, TYPES.helmChartV4];

/**
 * The line a Command's delete script must contain when it removes the cluster on purpose (pulumi destroy wipes
 * the nodes). The program writes it only when admin.removeClusterOnDestroy is true.
 */
export const CLUSTER_REMOVAL_OPT_IN_MARKER = "# rancher-ha: cluster removal opted in (admin.removeClusterOnDestroy)";

/**
 * A script that removes a cluster: `rke [flags] remove` (rke called by name, by path, or through a variable such
 * as "$RKE"; any flags before or after `remove`), or the RKE2/K3s uninstall and kill-all scripts. The words between
 * the rke binary and `remove` stay on one line (shell line continuations allowed), so `rke up` on one line and
 * `rm` on the next is no match.
 */
export const CLUSTER_REMOVAL_RE = new RegExp(
    String.raw`(?:(?<![\w.-])rke(?![\w-])|\$\{?(?:RKE|rke)(?:_\w+)?\}?)["']?` + // the rke binary
    String.raw`(?:(?:[ \t]|\\\n)+[^\s;&|()]+)*?` + // flags (--force, --config x, ...)
    String.raw`(?:[ \t]|\\\n)+["']?remove(?![\w-])` + // the subcommand
    String.raw`|(?<![\w-])(?:rke2-uninstall|rke2-killall|k3s-uninstall|k3s-agent-uninstall|k3s-killall)\.sh\b`,
);

/**
 * The line an RKE2 node's delete carries: it uninstalls that one node when it leaves a cluster that stays. The
 * program registers such a resource `deletedWith` the cluster's record, so `pulumi destroy` (which deletes the
 * record too) skips it. A policy pack cannot see deletedWith (@pulumi/policy 1.21's PolicyResourceOptions has no
 * such field): the line states the contract, and the program's own test (test/index.test.ts) checks that every
 * resource carrying it is deletedWith the record.
 */
export const NODE_REMOVAL_MARKER = "# rancher-ha: removes this node only; deletedWith the cluster record, so pulumi destroy skips it";

const MARKER_LINE_RE = new RegExp(`^[ \\t]*${escapeRe(CLUSTER_REMOVAL_OPT_IN_MARKER)}[ \\t]*\\r?$`, "m");
const NODE_MARKER_LINE_RE = new RegExp(`^[ \\t]*${escapeRe(NODE_REMOVAL_MARKER)}[ \\t]*\\r?$`, "m");

function escapeRe(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** True when the script removes a cluster (see CLUSTER_REMOVAL_RE). */
export function removesCluster(script: unknown): boolean {
    return typeof script === "string" && CLUSTER_REMOVAL_RE.test(script);
}

/** True when the script carries NODE_REMOVAL_MARKER as a line of its own. */
export function isNodeRemoval(script: unknown): boolean {
    return typeof script === "string" && NODE_MARKER_LINE_RE.test(script);
}

/** True when the script carries CLUSTER_REMOVAL_OPT_IN_MARKER as a line of its own. */
export function hasClusterRemovalOptIn(script: unknown): boolean {
    return typeof script === "string" && MARKER_LINE_RE.test(script);
}

type Props = Record<string, any>;

function isObject(v: unknown): v is Record<string, any> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): v is string {
    return typeof v === "string" && v.trim() !== "";
}

/** 1. no-cluster-removal-on-delete (command:local:Command, command:remote:Command). */
export function checkClusterRemoval(props: Props): string[] {
    const script = props.delete;
    if (!removesCluster(script) || hasClusterRemovalOptIn(script) || isNodeRemoval(script)) {
        return [];
    }
    const what = (CLUSTER_REMOVAL_RE.exec(script as string) as RegExpExecArray)[0].replace(/\s+/g, " ");
    return [
        `the delete script removes the cluster (found "${what}"), so pulumi destroy (or a replacement of this ` +
        "resource) would wipe the nodes and all cluster data. Remove that step from delete, or, if destroying the " +
        "cluster is intended, set admin.removeClusterOnDestroy: true so the program writes the line " +
        `"${CLUSTER_REMOVAL_OPT_IN_MARKER}" into the delete script.`,
    ];
}

/** 2. ssh-host-key-pinned (command:remote:Command, CopyToRemote, CopyFile). */
export function checkHostKeyPinned(props: Props): string[] {
    const conn = props.connection;
    const out: string[] = [];
    if (!isObject(conn)) {
        return ["connection is missing, so the SSH host key cannot be pinned; set connection.hostKey to the " +
            "host's public key (a line of ssh-keyscan or /etc/ssh/ssh_host_ed25519_key.pub)."];
    }
    if (!nonEmptyString(conn.hostKey)) {
        out.push(`connection.hostKey is not set for ${describeHost(conn)}, so the SSH host is not authenticated ` +
            "(anyone on the path can impersonate it and receive the key and scripts). Set connection.hostKey to " +
            "the host's public key (e.g. from ssh-keyscan or /etc/ssh/ssh_host_ed25519_key.pub).");
    }
    const proxy = conn.proxy;
    if (proxy !== undefined && proxy !== null && !(isObject(proxy) && nonEmptyString(proxy.hostKey))) {
        out.push(`connection.proxy is set but connection.proxy.hostKey is not (bastion ${describeHost(isObject(proxy) ? proxy : {})}), ` +
            "so the jump host is not authenticated. Set connection.proxy.hostKey to the bastion's public host key.");
    }
    return out;
}

function describeHost(c: Record<string, any>): string {
    return typeof c.host === "string" && c.host !== "" ? `host ${c.host}` : "this host";
}

/** 3. no-previous-output-in-env (command:local:Command, command:remote:Command). */
export function checkNoPreviousOutputInEnv(props: Props): string[] {
    if (props.addPreviousOutputInEnv === false) {
        return [];
    }
    const now = props.addPreviousOutputInEnv === undefined ? "unset (the provider default is true)" :
        JSON.stringify(props.addPreviousOutputInEnv);
    return [`addPreviousOutputInEnv is ${now}: the previous stdout/stderr (which may hold kubeconfigs or keys) ` +
        "would be put into PULUMI_COMMAND_STDOUT/STDERR of the next run. Set addPreviousOutputInEnv: false."];
}

/** 4. kubernetes-provider-cluster-identifier (pulumi:providers:kubernetes). */
export function checkClusterIdentifier(props: Props): string[] {
    if (nonEmptyString(props.clusterIdentifier)) {
        return [];
    }
    return ["clusterIdentifier is not set, so a changed kubeconfig (rotated certificate, new LB address) replaces " +
        "this provider and every Kubernetes resource it manages. Set clusterIdentifier to a stable name of the " +
        "cluster (e.g. the stack and cluster name)."];
}

/** 6. helm-chart-version-pinned (kubernetes:helm.sh/v3:Release, kubernetes:helm.sh/v4:Chart). */
export function checkHelmVersionPinned(props: Props): string[] {
    const chart = typeof props.chart === "string" && props.chart !== "" ? `chart ${props.chart}` : "the chart";
    const v = props.version;
    if (!nonEmptyString(v)) {
        return [`version is not set, so ${chart} floats to whatever the repository serves as latest. ` +
            "Set version to an exact chart version (e.g. \"1.15.3\")."];
    }
    if (!isExactVersion(v)) {
        return [`version "${v}" is a range, not an exact version, so ${chart} can change without a code change. ` +
            "Set version to one exact chart version (e.g. \"1.15.3\", no ^ ~ > < = * x, spaces or ||)."];
    }
    return [];
}

/** An exact (semver-like) chart version: optional v, digits with dots, optional -prerelease / +build. */
export function isExactVersion(v: string): boolean {
    return /^v?\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(v.trim()) && v.trim() === v;
}

/** Answers whether the input at `path` (or a containing object) is a secret. */
export type IsSecret = (path: readonly string[]) => boolean;

function present(v: unknown): boolean {
    if (v === undefined || v === null || v === "") {
        return false;
    }
    return !(isObject(v) && Object.keys(v).length === 0);
}

/** The secret inputs of a resource type that are set: [path, what to say]. */
export function secretInputPaths(type: string, props: Props): string[][] {
    const paths: string[][] = [];
    if (SSH_TYPES.includes(type) && isObject(props.connection)) {
        for (const k of ["privateKey", "password", "privateKeyPassword"]) {
            if (present(props.connection[k])) {
                paths.push(["connection", k]);
            }
        }
        const proxy = props.connection.proxy;
        if (isObject(proxy)) {
            for (const k of ["privateKey", "password", "privateKeyPassword"]) {
                if (present(proxy[k])) {
                    paths.push(["connection", "proxy", k]);
                }
            }
        }
    }
    if (COMMAND_TYPES.includes(type) && present(props.stdin)) {
        paths.push(["stdin"]);
    }
    if (type === TYPES.k8sProvider && present(props.kubeconfig)) {
        paths.push(["kubeconfig"]);
    }
    // Rancher's admin token and passwords (first-run setup).
    const fields: Record<string, string[]> = {
        [TYPES.rancher2Provider]: ["tokenKey", "secretKey"],
        [TYPES.rancher2Bootstrap]: ["initialPassword", "password"],
    };
    for (const k of fields[type] ?? []) {
        if (present(props[k])) {
            paths.push([k]);
        }
    }
    if (HELM_TYPES.includes(type) && isObject(props.repositoryOpts) && present(props.repositoryOpts.password)) {
        paths.push(["repositoryOpts", "password"]);
    }
    if (type === TYPES.k8sSecret) {
        for (const k of ["data", "stringData"]) {
            if (present(props[k])) {
                paths.push([k]);
            }
        }
    }
    return paths;
}

/**
 * 5. secrets-are-secret. `props` are the plain inputs (secrets unwrapped); `isSecret` says whether an input or an
 * object containing it was a secret. A map (Secret data/stringData) also passes when each of its entries is secret.
 */
export function checkSecretsAreSecret(type: string, props: Props, isSecret: IsSecret): string[] {
    const out: string[] = [];
    for (const path of secretInputPaths(type, props)) {
        if (isSecret(path)) {
            continue;
        }
        const value = path.reduce<any>((o, k) => (isObject(o) ? o[k] : undefined), props);
        if (isObject(value) && Object.keys(value).every(k => isSecret([...path, k]))) {
            continue;
        }
        const name = path.join(".");
        out.push(`${name} is a plain (non-secret) input, so it is stored unencrypted in the state and shown in ` +
            `diffs. Wrap it with pulumi.secret(...) (or read it with config.requireSecret) so ${name} is a secret.`);
    }
    return out;
}
