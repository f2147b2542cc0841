set -eu
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
hint_for() {
  if printf '%s' "$1" | grep -Eq 'check logs for exact error'; then printf '%s' 'the per-object errors are in the operator'\''s log (kubectl logs -n cattle-resources-system -l app.kubernetes.io/instance=rancher-backup --tail 200). "admission webhook ... denied the request" there means Rancher (or its webhook) was already installed on this cluster before the restore (backup-restore-operator#428, rancher#49354): restore onto a cluster without Rancher'
  elif printf '%s' "$1" | grep -Eq 'error decrypting encrypted resource|no encryption config provided'; then printf '%s' 'the encryption config does not match the backup'\''s: the restore needs the same file (same key and key name) as the backup, in a Secret of cattle-resources-system'
  elif printf '%s' "$1" | grep -Eq 'no encryptionConfig provided'; then printf '%s' 'the encryption config Secret has no key encryption-provider-config.yaml'
  elif printf '%s' "$1" | grep -Eq 'no backup files found with prefix'; then printf '%s' 'no such file in the bucket: backupFilename is relative to the folder, exactly as the Backup'\''s status.filename'
  elif printf '%s' "$1" | grep -Eq 's3 bucket \[.*\] not found|failed to check if s3 bucket'; then printf '%s' 'the bucket is unreachable or missing: check endpoint, region, endpointCA and the credentials'
  elif printf '%s' "$1" | grep -Eq 'resourcesets\.resources\.cattle\.io "[^"]*" not found'; then printf '%s' 'the chart has no such ResourceSet: before Rancher 2.11 it ships only rancher-resource-set, from 2.12 only rancher-resource-set-basic and -full (resourceSetFor)'
  elif printf '%s' "$1" | grep -Eq 'malformed secret'; then printf '%s' 'the S3 credential Secret needs the keys accessKey and secretKey'
  elif printf '%s' "$1" | grep -Eq 'secrets? "[^"]*" not found'; then printf '%s' 'a Secret the Backup or Restore names is missing (S3 credentials in credentialSecretNamespace, encryption config in cattle-resources-system)'
  fi
}
say() { echo "rancher-ha: $*" >&2; }
fail() { say "$*"; exit 1; }
command -v kubectl >/dev/null 2>&1 || fail "kubectl is not on PATH on the machine running pulumi; install it (the restore stage runs it)"
work=$(mktemp -d "${TMPDIR:-/tmp}/rancher-ha-restore.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
unpack_bundle "$work"
kc() { kubectl --kubeconfig "$work/kubeconfig" --cache-dir "$work/cache" --request-timeout=15s "$@"; }
NAME=rancher-ha-restore
FILE=rancher-ha-scheduled-0d4f6c1e-9a8b-4c2d-8e7f-1a2b3c4d5e6f-2026-08-07T12-00-00Z.tar.gz.enc
# read_field JSONPATH KIND NAME [ARGS..]: the value, empty when the object does not exist; an API error ends the run
# (callers add || exit 1: a failure inside $(...) or an if condition would not end it by itself).
read_field() {
  _path=$1; shift
  kc get "$@" --ignore-not-found -o "jsonpath=$_path" || fail "cannot read $1 $2 (see kubectl's error above); is the API reachable?"
}
exists() { _v=$(read_field '{.metadata.name}' "$@") || exit 1; [ -n "$_v" ]; }
rancher_installed() {
  exists deployment rancher -n cattle-system || exists validatingwebhookconfigurations rancher.cattle.io || exists mutatingwebhookconfigurations rancher.cattle.io
}

# 1. The Restore, once.
current=$(read_field '{.spec.backupFilename}' restores.resources.cattle.io "$NAME") || exit 1
if [ -n "$current" ] && [ "$current" != "$FILE" ]; then
  finished=$(read_field '{.status.restoreCompletionTs}' restores.resources.cattle.io "$NAME") || exit 1
  if [ -n "$finished" ]; then
    fail "this cluster was restored from $current (completed $finished); restoreFrom.backupFilename now names $FILE. A second restore over a restored Rancher mixes two backups: to restore $FILE, build a new cluster (a new stack), or set restoreFrom.backupFilename back to $current"
  fi
  say "replacing the unfinished Restore $NAME of $current with one of $FILE"
  kc delete restores.resources.cattle.io "$NAME" --wait=true --timeout=60s >/dev/null || fail "could not delete the unfinished Restore $NAME"
  current=""
fi
if [ -z "$current" ]; then
  if rancher_installed; then
    fail "Rancher (deployment cattle-system/rancher or its webhook rancher.cattle.io) is already on this cluster: a restore onto it loops on the webhook's denials (backup-restore-operator#428, rancher#49354). Restore onto a cluster without Rancher: a new cluster, or remove Rancher with rancher-cleanup first (Rancher docs, back-up-restore-usage-guide). If this stack restored this cluster before and the Restore $NAME was deleted since, the migration is done: remove restoreFrom from the stack"
  fi
  kc create --validate=false -f "$work/restore.json" >/dev/null || fail "could not create the Restore $NAME (see kubectl's error above)"
  say "Restore $NAME of $FILE created; waiting for the operator (at most 45 min)"
fi

# 2. Bounded wait: the operator retries a failing Restore forever.
deadline=$(( $(date +%s) + 2700 ))
reported=""
while :; do
  if state=$(kc get restores.resources.cattle.io "$NAME" -o 'jsonpath={.status.restoreCompletionTs}{"\n"}{.status.conditions[?(@.type=="Ready")].message}{"\n"}{.status.conditions[?(@.reason=="Error")].message}' 2>"$work/get.err"); then
    finished=$(printf '%s\n' "$state" | sed -n 1p)
    ready=$(printf '%s\n' "$state" | sed -n 2p)
    error=$(printf '%s\n' "$state" | sed -n '3,$p')
  else
    finished=""; ready=""; error="cannot read the Restore: $(tail -n 1 "$work/get.err")"
  fi
  if [ -n "$finished" ] && [ -z "$error" ]; then break; fi
  now_state="${error:-${ready:-in progress}}"
  if [ "$now_state" != "$reported" ]; then
    hint=$(hint_for "$error")
    say "Restore $NAME: $now_state${hint:+ ($hint)}"
    reported=$now_state
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "the operator's log (last 30 lines):"
    kc logs -n cattle-resources-system -l app.kubernetes.io/instance=rancher-backup --tail 30 >&2 || true
    fail "timed out after 45 min waiting for the Restore $NAME of $FILE: $now_state${hint:+ ($hint)}. The Restore stays and the operator keeps retrying: fix the cause (kubectl logs -n cattle-resources-system -l app.kubernetes.io/instance=rancher-backup --tail 200; kubectl get restores.resources.cattle.io $NAME -o yaml), then run pulumi up again, which waits again (raise restoreFrom.timeoutMinutes for a large backup)"
  fi
  sleep 10
done
echo "restored $FILE at $finished"

# 3. Before Rancher only: the local cluster object, and the old stack's backup-stage Secrets.
if rancher_installed; then
  echo "local cluster: left to Rancher (Rancher is installed)"
  exit 0
fi
driver=$(read_field '{.status.driver}' clusters.management.cattle.io local) || exit 1
provider=$(read_field '{.status.provider}' clusters.management.cattle.io local) || exit 1
label=$(read_field '{.metadata.labels.provider\.cattle\.io}' clusters.management.cattle.io local) || exit 1
if ! exists clusters.management.cattle.io local; then
  echo "local cluster: none in the backup"
else
  reset=""
  for v in "$driver" "$provider" "$label"; do
    case "$v" in ''|imported|rke2) ;; *) reset=yes ;; esac
  done
  if [ -z "$reset" ]; then
    echo "local cluster: fits rke2 (driver ${driver:--}, provider ${provider:--}, label ${label:--})"
  else
    kc patch clusters.management.cattle.io local --type merge -p '{"metadata":{"labels":{"provider.cattle.io":null},"annotations":{"management.cattle.io/current-cluster-controllers-version":null}},"spec":{"rke2Config":null,"k3sConfig":null}}' >/dev/null || fail "could not patch clusters.management.cattle.io local"
    if ! kc patch clusters.management.cattle.io local --subresource=status --type merge -p '{"status":{"driver":"imported","provider":null,"version":null}}' >/dev/null 2>"$work/patch.err"; then
      kc patch clusters.management.cattle.io local --type merge -p '{"status":{"driver":"imported","provider":null,"version":null}}' >/dev/null || fail "could not patch the status of clusters.management.cattle.io local"
    fi
    if exists clusters.provisioning.cattle.io local -n fleet-local; then
      kc patch clusters.provisioning.cattle.io local -n fleet-local --type merge -p '{"metadata":{"labels":{"provider.cattle.io":null}}}' >/dev/null || fail "could not patch clusters.provisioning.cattle.io fleet-local/local"
    fi
    now=$(read_field '{.status.driver}' clusters.management.cattle.io local) || exit 1
    [ "$now" = imported ] || fail "clusters.management.cattle.io local still has status.driver '$now' after the patch; edit it by hand before Rancher starts (kubectl edit clusters.management.cattle.io local: status.driver imported, no status.provider/status.version/label provider.cattle.io), then run pulumi up again"
    echo "local cluster: reset to imported (was driver ${driver:--}, provider ${provider:--}, label ${label:--}; rancher#41260)"
  fi
fi
for s in rancher-ha-backup-s3 rancher-ha-backup-encryption; do
  owner=$(read_field '{.metadata.labels.app\.kubernetes\.io/managed-by}' secret "$s" -n cattle-resources-system) || exit 1
  if [ "$owner" = rancher-ha ]; then
    kc delete secret "$s" -n cattle-resources-system >/dev/null || fail "could not delete the old stack's Secret cattle-resources-system/$s"
    say "removed cattle-resources-system/$s, which came from the old cluster (the backup stage of this stack makes its own)"
  fi
done
