set -eu
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
command -v kubectl >/dev/null 2>&1 || { echo "rancher-ha: kubectl is not on PATH on the machine running pulumi; install kubectl, or set hostAliases.enabled to false" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/rancher-ha-agents.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
unpack_bundle "$work"
kc() { kubectl --kubeconfig "$work/kubeconfig" --cache-dir "$work/cache" --request-timeout=15s "$@"; }
last_error=""
# present API_PATH: 0 when the object exists, 1 when not (yet). Only the API's own NotFound means absent;
# any other error (unreachable API, missing credential plugin) is kept in last_error and reported.
present() {
  if _err=$(kc get --raw "$1" 2>&1 >/dev/null); then last_error=""; return 0; fi
  case "$_err" in *"(NotFound)"*) last_error="" ;; *) last_error=$(printf '%s' "$_err" | tail -n 1) ;; esac
  return 1
}
if present /apis/apps/v1/namespaces/cattle-system/deployments/cattle-cluster-agent; then
  if kc apply --server-side --field-manager=rancher-ha --force-conflicts --validate=false -f "$work/deployment-cattle-cluster-agent.release.json" >/dev/null; then
    echo "released deployment/cattle-cluster-agent"
  else
    echo "rancher-ha: could not remove hostAliases from deployment/cattle-cluster-agent; remove them by hand if needed" >&2
  fi
elif [ -n "$last_error" ]; then
  echo "rancher-ha: could not reach the cluster to remove hostAliases from deployment/cattle-cluster-agent: $last_error" >&2
fi
if present /apis/apps/v1/namespaces/cattle-system/daemonsets/cattle-node-agent; then
  if kc apply --server-side --field-manager=rancher-ha --force-conflicts --validate=false -f "$work/daemonset-cattle-node-agent.release.json" >/dev/null; then
    echo "released daemonset/cattle-node-agent"
  else
    echo "rancher-ha: could not remove hostAliases from daemonset/cattle-node-agent; remove them by hand if needed" >&2
  fi
elif [ -n "$last_error" ]; then
  echo "rancher-ha: could not reach the cluster to remove hostAliases from daemonset/cattle-node-agent: $last_error" >&2
fi
