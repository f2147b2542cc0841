// agents-redeploy: Rancher's agents (cattle-cluster-agent, cattle-node-agent) only trust the Rancher server when the
// sha256 of the CA it serves equals their CATTLE_CA_CHECKSUM; after the CA changes they fail with "tls: bad
// certificate" / "Configured cacerts checksum (...) does not match" until they get the new checksum (seed:
// rancher-agent-tls-failure; Rancher docs, "Updating a Private CA Certificate", methods 2 and 3).
//
// The script runs kubectl on the machine running ops against ONE cluster (a downstream or imported cluster: Rancher's
// own cluster has no cattle agents since 2.5). Optionally it first re-applies the agent manifests the user downloaded
// from Rancher's import URL; then, for each agent workload, it compares every container's CATTLE_CA_CHECKSUM with the
// expected value and patches the ones that differ (a strategic merge patch of that one env var, which rolls the pods).
// Output, one line each: `applied manifest`, `ok|patched <kind>/<name> <container>`, `absent <kind>/<name>`.
import * as crypto from "crypto";
import { fileBundle, script, shellQuote, UNPACK_BUNDLE_SH } from "../../components/shared/shell";

export const AGENT_WORKLOADS = ["deployment/cattle-cluster-agent", "daemonset/cattle-node-agent"] as const;

/**
 * The checksum agents compare: sha256 of the `cacerts` setting as `curl .../v3/settings/cacerts | jq -r .value`
 * prints it (the value plus one newline); "" when Rancher serves no private CA (then agents must have it empty).
 */
export function agentCaChecksum(cacertsValue: string): string {
    const v = cacertsValue.replace(/\s+$/, "");
    return v === "" ? "" : crypto.createHash("sha256").update(`${v}\n`, "utf8").digest("hex");
}

export function agentRedeployBundle(kubeconfig: string, manifest?: string): string {
    return fileBundle([
        { name: "kubeconfig", mode: "600", content: kubeconfig },
        ...(manifest ? [{ name: "manifest.yaml", mode: "600", content: manifest }] : []),
    ]);
}

export interface AgentRedeployArgs {
    /** The checksum agents must carry (agentCaChecksum), "" for a publicly trusted certificate. */
    expectedChecksum: string;
    /** Report what differs, change nothing. */
    dryRun?: boolean;
}

export function agentRedeployScript(a: AgentRedeployArgs): string {
    if (!/^([0-9a-f]{64})?$/.test(a.expectedChecksum)) {
        throw new Error(`agentRedeployScript: "${a.expectedChecksum}" is not a sha256 hex checksum`);
    }
    const patch = (container: string) => JSON.stringify({
        spec: { template: { spec: { containers: [{ name: container, env: [{ name: "CATTLE_CA_CHECKSUM", value: a.expectedChecksum }] }] } } },
    });
    // The container name is spliced into the patch in sh; names are DNS labels, checked below before use.
    const [pre, post] = patch("@@C@@").split("@@C@@");
    return script(
        UNPACK_BUNDLE_SH,
        `command -v kubectl >/dev/null 2>&1 || { echo "rancher-ha ops: kubectl is not on PATH on this machine; install kubectl" >&2; exit 1; }`,
        `work=$(mktemp -d "\${TMPDIR:-/tmp}/rancher-ha-agents.XXXXXX")`,
        `trap 'rm -rf "$work"' EXIT`,
        `trap 'exit 1' HUP INT TERM`,
        `unpack_bundle "$work"`,
        `fail() { echo "rancher-ha ops: $*" >&2; exit 1; }`,
        `kc() { kubectl --kubeconfig "$work/kubeconfig" --cache-dir "$work/cache" --request-timeout=20s "$@"; }`,
        `EXPECTED=${shellQuote(a.expectedChecksum)}`,
        `DRY=${a.dryRun ? "1" : "0"}`,
        `if [ -s "$work/manifest.yaml" ]; then
  if [ "$DRY" = 1 ]; then echo "would apply manifest"; else
    kc apply -f "$work/manifest.yaml" >&2 || fail "kubectl apply of the agent manifest failed (output above)"
    echo "applied manifest"
  fi
fi`,
        `PRE=${shellQuote(pre)}`,
        `POST=${shellQuote(post)}`,
        // One line per container: <name>=<value>+ when it has CATTLE_CA_CHECKSUM ("+" tells "set to empty" from "unset").
        `JP='{range .spec.template.spec.containers[*]}{.name}{"="}{range .env[?(@.name=="CATTLE_CA_CHECKSUM")]}{.value}{"+"}{end}{"\\n"}{end}'`,
        `for w in ${AGENT_WORKLOADS.join(" ")}; do
  if ! kc -n cattle-system get "$w" -o jsonpath="$JP" > "$work/containers" 2> "$work/err"; then
    case "$(cat "$work/err")" in *NotFound*|*"not found"*) echo "absent $w"; continue ;; esac
    fail "could not read $w in cattle-system: $(tail -n 1 "$work/err")"
  fi
  while IFS='=' read -r c v; do
    case "$v" in *+) v=\${v%+} ;; *) continue ;; esac
    case "$c" in ''|*[!a-z0-9-]*) fail "unexpected container name in $w" ;; esac
    if [ "$v" = "$EXPECTED" ]; then echo "ok $w $c"; continue; fi
    if [ "$DRY" = 1 ]; then echo "would patch $w $c (has \${v:-an empty checksum})"; continue; fi
    kc -n cattle-system patch "$w" --type strategic -p "$PRE$c$POST" > /dev/null 2> "$work/err" ||
      fail "could not patch $w: $(tail -n 1 "$work/err")"
    echo "patched $w $c (had \${v:-an empty checksum})"
  done < "$work/containers"
done`,
    );
}
