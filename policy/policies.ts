// The rancher-ha-safety policies: rules.ts's pure checks wired to @pulumi/policy. index.ts serves them as a
// PolicyPack; tests import this module directly (constructing a PolicyPack starts a gRPC server).
//
// How a policy sees secretness, in @pulumi/policy 1.21.0 (pinned in package.json):
// - The engine sends the analyzer every input with its secret marker (sdk/go/common/resource/plugin/
//   analyzer_plugin.go, Analyze: MarshalProperties(..., KeepUnknowns: true, KeepSecrets: true)), at any depth.
// - @pulumi/policy's Analyze handler (server.js makeAnalyzeRpcFun) deserializes them with
//   deserializeProperties(props, /*proxySecrets*/ false) (deserialize.js): every secret is replaced by its plain
//   value, so validateResource cannot tell a secret input from a plain one, at the top level or nested.
// - Only its Remediate handler (makeRemediateRpcFun, for enforcementLevel "remediate") passes proxySecrets = true:
//   secrets become `Secret` instances (policy.js) inside a secretsPreservingProxy (secret.js) that unwraps them on
//   read. The proxies define no getOwnPropertyDescriptor trap, so Object.getOwnPropertyDescriptor(props, k).value
//   is the stored value: a Secret instance for a secret.
// So that the secrets policy can stay "mandatory" (a validateResource), installSecretnessHook() makes the Analyze
// handler deserialize the way Remediate does (proxySecrets = true). Policies read props exactly as before (the
// proxy unwraps secrets; unknown values still throw during preview); secretnessOf() reads the Secret markers
// through property descriptors. If the hook is not in effect (another @pulumi/policy), the secrets policy reports
// that it cannot see secretness instead of passing silently.
import { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, Secret } from "@pulumi/policy";
import {
    checkClusterIdentifier, checkClusterRemoval, checkHelmVersionPinned, checkHostKeyPinned,
    checkNoPreviousOutputInEnv, checkSecretsAreSecret, COMMAND_TYPES, HELM_TYPES, IsSecret, SSH_TYPES, TYPES,
} from "./rules";

let hookCalls = 0;
let hookInstalled = false;

/** Makes @pulumi/policy keep secret markers (as Secret instances) in validateResource's props. Idempotent. */
export function installSecretnessHook(): boolean {
    if (hookInstalled) {
        return true;
    }
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require("@pulumi/policy/deserialize") as { deserializeProperties?: (s: unknown, proxySecrets: boolean) => unknown };
    const original = mod.deserializeProperties;
    if (typeof original !== "function") {
        return false;
    }
    const hooked = (struct: unknown, _proxySecrets: boolean): unknown => {
        hookCalls++;
        return original(struct, true);
    };
    try {
        mod.deserializeProperties = hooked;
    } catch {
        return false;
    }
    hookInstalled = mod.deserializeProperties === hooked;
    return hookInstalled;
}

/** For tests: whether Analyze went through the hook at least once. */
export function secretnessHookCalls(): number {
    return hookCalls;
}

/**
 * Plain inputs (secrets unwrapped, unknowns left as their sentinel strings, nothing throws) plus the paths that
 * are secret, read from the stored values through property descriptors (see the top of this file).
 */
export function secretnessOf(props: Record<string, any>): { plain: Record<string, any>; secretPaths: Set<string>; sawSecretMarker: boolean } {
    const secretPaths = new Set<string>();
    let sawSecretMarker = false;
    const walk = (holder: any, path: string[], depth: number): any => {
        if (depth > 64) {
            return undefined;
        }
        const out: any = Array.isArray(holder) ? [] : {};
        for (const key of Object.keys(holder)) {
            const d = Object.getOwnPropertyDescriptor(holder, key);
            let v = d && "value" in d ? d.value : undefined;
            const p = [...path, key];
            if (v instanceof Secret) {
                sawSecretMarker = true;
                secretPaths.add(JSON.stringify(p));
                v = v.value;
            }
            out[key] = v !== null && typeof v === "object" && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype)
                ? walk(v, p, depth + 1) : v;
        }
        return out;
    };
    const plain = walk(props, [], 0);
    return { plain, secretPaths, sawSecretMarker };
}

/** IsSecret over a set of secret paths: a path is secret when it or a containing object is. */
export function isSecretIn(secretPaths: Set<string>): IsSecret {
    return path => {
        for (let i = 1; i <= path.length; i++) {
            if (secretPaths.has(JSON.stringify(path.slice(0, i)))) {
                return true;
            }
        }
        return false;
    };
}

function forTypes(types: readonly string[], check: (args: ResourceValidationArgs, report: ReportViolation) => void) {
    return (args: ResourceValidationArgs, report: ReportViolation): void => {
        if (types.includes(args.type)) {
            check(args, report);
        }
    };
}

const reportAll = (report: ReportViolation, messages: string[]) => messages.forEach(m => report(m));

export const noClusterRemovalOnDelete: ResourceValidationPolicy = {
    name: "no-cluster-removal-on-delete",
    description: "A command's delete script must not remove a cluster (rke remove, rke2/k3s uninstall or kill-all " +
        "scripts) unless the script carries the opt-in line written for admin.removeClusterOnDestroy.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps: "Drop the cluster removal from the Command's delete, or set admin.removeClusterOnDestroy: true.",
    validateResource: forTypes(COMMAND_TYPES, (args, report) => reportAll(report, checkClusterRemoval(args.props))),
};

export const sshHostKeyPinned: ResourceValidationPolicy = {
    name: "ssh-host-key-pinned",
    description: "Every SSH connection of a remote command or copy pins the host key (connection.hostKey), and the " +
        "bastion's (connection.proxy.hostKey) when a proxy is used.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: forTypes(SSH_TYPES, (args, report) => reportAll(report, checkHostKeyPinned(args.props))),
};

export const noPreviousOutputInEnv: ResourceValidationPolicy = {
    name: "no-previous-output-in-env",
    description: "Commands set addPreviousOutputInEnv: false, so earlier output (kubeconfigs, keys) is not passed " +
        "to later runs through the environment (the provider default is true).",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: forTypes(COMMAND_TYPES, (args, report) => reportAll(report, checkNoPreviousOutputInEnv(args.props))),
};

export const kubernetesProviderClusterIdentifier: ResourceValidationPolicy = {
    name: "kubernetes-provider-cluster-identifier",
    description: "Every Kubernetes provider sets a non-empty clusterIdentifier, so a kubeconfig change does not " +
        "replace the provider and everything deployed through it.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: forTypes([TYPES.k8sProvider], (args, report) => reportAll(report, checkClusterIdentifier(args.props))),
};

export const secretsAreSecret: ResourceValidationPolicy = {
    name: "secrets-are-secret",
    description: "SSH private keys and passwords (also of the proxy), command stdin, the Kubernetes provider's " +
        "kubeconfig and Kubernetes Secret data/stringData are secret inputs.",
    enforcementLevel: "mandatory",
    severity: "critical",
    validateResource: forTypes(
        [...new Set([...SSH_TYPES, ...COMMAND_TYPES, TYPES.k8sProvider, TYPES.k8sSecret])],
        (args, report) => {
            const { plain, secretPaths, sawSecretMarker } = secretnessOf(args.props);
            const messages = checkSecretsAreSecret(args.type, plain, isSecretIn(secretPaths));
            // Without the hook no input ever looks secret: say so rather than blame the program.
            if (messages.length > 0 && hookCalls === 0 && !sawSecretMarker) {
                report("this policy pack cannot see which inputs are secret (the @pulumi/policy deserializer hook " +
                    "is not in effect; policy/package.json pins @pulumi/policy 1.21.0 and policy/index.ts installs " +
                    "the hook). Fix the policy pack installation (cd policy && npm ci) and run again.");
                return;
            }
            reportAll(report, messages);
        },
    ),
};

export const helmChartVersionPinned: ResourceValidationPolicy = {
    name: "helm-chart-version-pinned",
    description: "Every Helm release or chart sets an exact chart version (no ranges such as ^, ~, >=, * or x).",
    enforcementLevel: "mandatory",
    severity: "medium",
    validateResource: forTypes(HELM_TYPES, (args, report) => reportAll(report, checkHelmVersionPinned(args.props))),
};

export const policies: ResourceValidationPolicy[] = [
    noClusterRemovalOnDelete,
    sshHostKeyPinned,
    noPreviousOutputInEnv,
    kubernetesProviderClusterIdentifier,
    secretsAreSecret,
    helmChartVersionPinned,
];
