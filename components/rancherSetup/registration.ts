// Importing an existing cluster into Rancher: the script a local Command runs on the machine running Pulumi once
// Rancher has created the imported cluster. Pure: arguments in, sh text out.
//
// It fetches the cluster's registration manifest from Rancher (the manifest URL holds the registration token, so it
// travels on stdin), applies it to the cluster with that cluster's own kubeconfig, makes sure the agent pins
// Rancher's CA (CATTLE_CA_CHECKSUM) when Rancher's certificate comes from a private CA, and waits (bounded) until
// Rancher's own cluster object reports Ready, read from Rancher's cluster with its kubeconfig. On timeout it prints
// the agent's last log lines, which is where every import failure shows (CA mismatch, DNS, proxy).
import { BundleFile, fileBundle, script, shellQuote, UNPACK_BUNDLE_SH } from "../shared/shell";

export const IMPORT_BUNDLE = {
    /** The imported cluster's own kubeconfig. */
    target: "target-kubeconfig",
    /** Rancher's (local) cluster kubeconfig: to read the management cluster object's status. */
    rancher: "rancher-kubeconfig",
    /** https://<rancher>/v3/import/<token>_<cluster id>.yaml (the token makes it a secret). */
    manifestUrl: "manifest-url",
    /** Rancher's CA, when private: curl trusts it to fetch the manifest. */
    ca: "rancher-ca.pem",
} as const;

/** The agent Rancher's manifest deploys into the imported cluster. */
export const CLUSTER_AGENT = { namespace: "cattle-system", deployment: "cattle-cluster-agent" } as const;

export interface ImportBundleArgs {
    targetKubeconfig: string;
    rancherKubeconfig: string;
    manifestUrl: string;
    caPem?: string;
}

/** The registration's stdin (secret: the caller keeps it secret). */
export function importBundle(a: ImportBundleArgs): string {
    const files: BundleFile[] = [
        { name: IMPORT_BUNDLE.target, mode: "600", content: a.targetKubeconfig },
        { name: IMPORT_BUNDLE.rancher, mode: "600", content: a.rancherKubeconfig },
        { name: IMPORT_BUNDLE.manifestUrl, mode: "600", content: a.manifestUrl },
    ];
    if (a.caPem !== undefined) {
        files.push({ name: IMPORT_BUNDLE.ca, mode: "600", content: a.caPem });
    }
    return fileBundle(files);
}

export interface ImportScriptArgs {
    /** The cluster's name in Rancher, for messages. */
    clusterName: string;
    /** Rancher's id of the cluster (c-xxxxx): the management cluster object's name. */
    clusterId: string;
    /** sha256 of Rancher's CA as agents compute it (Rancher's caChecksum), when the CA is private. */
    caChecksum?: string;
    /** Seconds to wait for Ready. */
    timeoutSeconds: number;
    /** Seconds between checks. Default 5. */
    pollSeconds?: number;
}

const PRELUDE = (name: string) => `NAME=${shellQuote(name)}
fail() { echo "rancher-ha: imported cluster $NAME: $*" >&2; exit 1; }
${UNPACK_BUNDLE_SH}
umask 077
T=$(mktemp -d "\${TMPDIR:-/tmp}/rancher-ha-import.XXXXXX")
trap 'rm -rf "$T"' EXIT
unpack_bundle "$T"
command -v kubectl >/dev/null 2>&1 || fail "kubectl is not on PATH of the machine running Pulumi; install it"
target() { kubectl --kubeconfig "$T/${IMPORT_BUNDLE.target}" --request-timeout=30s "$@"; }`;

/** The Command's create/update: register the cluster and wait until Rancher reports it Ready. */
export function importClusterScript(a: ImportScriptArgs): string {
    if (!/^[a-z0-9-]+$/.test(a.clusterId) || !Number.isInteger(a.timeoutSeconds) || a.timeoutSeconds < 1) {
        throw new Error(`importClusterScript: bad cluster id "${a.clusterId}" or timeout ${a.timeoutSeconds}`);
    }
    if (a.caChecksum !== undefined && !/^[0-9a-f]{64}$/.test(a.caChecksum)) {
        throw new Error(`importClusterScript: caChecksum "${a.caChecksum}" is not a sha256`);
    }
    const poll = a.pollSeconds ?? 5;
    const A = CLUSTER_AGENT;
    return script(
        PRELUDE(a.clusterName),
        `ID=${shellQuote(a.clusterId)}
command -v curl >/dev/null 2>&1 || fail "curl is not on PATH of the machine running Pulumi; install it"
CACERT=""
if [ -f "$T/${IMPORT_BUNDLE.ca}" ]; then CACERT="$T/${IMPORT_BUNDLE.ca}"; fi
# The manifest URL carries the registration token: read from a file (curl -K), never a command-line argument.
printf 'url = "%s"\\n' "$(cat "$T/${IMPORT_BUNDLE.manifestUrl}")" > "$T/curl.cfg"
if ! curl -fsS --max-time 60 --retry 3 \${CACERT:+--cacert "$CACERT"} -K "$T/curl.cfg" -o "$T/manifest.yaml"; then
  fail "could not fetch the registration manifest from Rancher (is Rancher's URL reachable from here, and its CA trusted?)"
fi
grep -q ${A.deployment} "$T/manifest.yaml" || fail "Rancher's registration manifest has no ${A.deployment}; see the Rancher UI for the cluster's state"
echo "rancher-ha: imported cluster $NAME ($ID): applying Rancher's registration manifest" >&2
# --validate=false: as for the agents (hostAliases/agentScripts.ts), the API server still validates every object.
target apply --validate=false -f "$T/manifest.yaml" >&2 || fail "kubectl apply of the registration manifest failed (output above); check the cluster's kubeconfig and that it is cluster-admin"`,
        ...(a.caChecksum === undefined ? [] : [`# A private CA: the agent must pin it (CATTLE_CA_CHECKSUM), or it refuses Rancher's certificate.
WANT_SUM=${a.caChecksum}
HAVE_SUM=$(target -n ${A.namespace} get deployment ${A.deployment} -o 'jsonpath={.spec.template.spec.containers[0].env[?(@.name=="CATTLE_CA_CHECKSUM")].value}' 2>/dev/null || true)
if [ "$HAVE_SUM" != "$WANT_SUM" ]; then
  echo "rancher-ha: imported cluster $NAME: setting CATTLE_CA_CHECKSUM on ${A.deployment} (was \${HAVE_SUM:-unset})" >&2
  target -n ${A.namespace} set env deployment/${A.deployment} CATTLE_CA_CHECKSUM="$WANT_SUM" >&2 || fail "could not set CATTLE_CA_CHECKSUM on ${A.deployment}"
fi`]),
        `# Rancher's view of the cluster: its management object's Ready condition, on Rancher's own cluster.
END=$(( $(date +%s) + ${a.timeoutSeconds} ))
while :; do
  READY=$(kubectl --kubeconfig "$T/${IMPORT_BUNDLE.rancher}" --request-timeout=30s get clusters.management.cattle.io "$ID" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  [ "$READY" = True ] && break
  if [ "$(date +%s)" -ge "$END" ]; then
    echo "rancher-ha: imported cluster $NAME: last lines of the agent's log:" >&2
    target -n ${A.namespace} logs deployment/${A.deployment} --tail=20 2>&1 | sed 's/^/  | /' >&2 || true
    fail "Rancher does not report the cluster Ready after ${a.timeoutSeconds} s (importedClusters[].activeTimeout; Ready=\${READY:-unknown}); the agent's log above says why"
  fi
  sleep ${poll}
done
echo "rancher-ha: imported cluster $NAME ($ID) is Ready in Rancher" >&2
echo "$ID"`,
    );
}

/**
 * The Command's delete. Without cleanupAgentsOnRemove it touches nothing (Rancher forgets the cluster when its
 * rancher2 Cluster goes; the agents stay, harmlessly disconnected, until removed on purpose). With it, Rancher's
 * agents and their namespace are deleted from the cluster.
 */
export function releaseClusterScript(a: { clusterName: string; cleanupAgents: boolean }): string {
    if (!a.cleanupAgents) {
        // The stored stdin (kubeconfigs) is read and dropped: nothing here uses it.
        return script("cat >/dev/null", `echo ${shellQuote(`rancher-ha: imported cluster ${a.clusterName}: removed from Rancher; its agents ` +
            "were left in the cluster (importedClusters[].cleanupAgentsOnRemove: true removes them)")} >&2`);
    }
    return script(
        PRELUDE(a.clusterName),
        `echo "rancher-ha: imported cluster $NAME: deleting Rancher's agents (${CLUSTER_AGENT.namespace}, cattle-admin bindings)" >&2
target delete clusterrolebinding cattle-admin-binding --ignore-not-found >&2
target delete clusterrole cattle-admin --ignore-not-found >&2
target delete namespace ${CLUSTER_AGENT.namespace} --ignore-not-found --wait=true --timeout=300s >&2 || fail "could not delete the ${CLUSTER_AGENT.namespace} namespace (output above)"`,
    );
}
