// Remote scripts of the day-2 operations (`npm run ops`, scripts/ops.ts). Pure renderers, same rules as every
// remote script here (CONTRIBUTING.md): POSIX sh, values through shellQuote, files and secrets on stdin, results on
// stdout in one framed block (base64), progress on stderr.
//
// snapshot-save / snapshot-restore / cert-rotate run rke in the admin work dir the RkeCluster stage keeps
//   (rancher-cluster.yml, rancher-cluster.rkestate, keys/), so rke finds exactly the files `rke up` used. A missing
//   file is reported with the command that puts it back, never guessed.
// recover-state runs on a controlplane node and prints the kube-system/full-cluster-state object RKE keeps in the
//   cluster, read with the node's own kubeconfig (kubecfg-kube-node.yaml) like RKE itself does.
// install-recovered writes a recovered state, kubeconfig, cluster.yml and key into the work dir (0600), never
//   replacing a different file unless asked, and then only after keeping a copy.
import {
    CLUSTER_REMOVAL_OPT_IN_MARKER, RKE_FILES, RKE_HAVE_SH, rkeRemoveWarning, takeLockSh, unpackIntoWorkDirSh, WIPE_WORKDIR_SH,
} from "../../components/rke/scripts";
import { fileBundle, script, shellPath, shellQuote, SUDO_SH } from "../../components/shared/shell";

/** The framed result block every ops script prints last (parseOpsResult reads it). */
export const FRAME_BEGIN = "-----BEGIN RANCHER-HA OPS RESULT-----";
export const FRAME_END = "-----END RANCHER-HA OPS RESULT-----";
const FULL_STATE = "full-cluster-state";
/**
 * Ours: the work dir was written by `npm run ops -- recover` (holds the command that writes it again). Until the first
 * successful rke up through pulumi (.rancher-ha-last-up), the stack has no rkeState output to restore files from.
 */
export const RECOVERED_MARKER = ".rancher-ha-recovered";

/** Ours: what ops did in the work dir (rke's output of each run, and the snapshots saved through ops). */
export const OPS_FILES = {
    log: "ops.log",
    snapshots: "snapshots.log",
} as const;

/** RKE's `rke cert rotate --service` values (cmd/cert.go: the service container names). */
export const ROTATABLE_SERVICES = ["etcd", "kubelet", "kube-apiserver", "kube-proxy", "kube-scheduler", "kube-controller-manager"] as const;

/** Snapshot names as RKE uses them in file names (/opt/rke/etcd-snapshots/<name>.zip), without the extension. */
export function snapshotNameProblem(name: string): string | undefined {
    if (name.endsWith(".zip")) {
        return `snapshot names are given without the .zip extension (RKE adds it): use ${name.slice(0, -4)}`;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$/.test(name)) {
        return `"${name}" is not a usable snapshot name: letters, digits and _ . : + - only, starting with a letter or digit`;
    }
    return undefined;
}

function assertSnapshotName(name: string): void {
    const problem = snapshotNameProblem(name);
    if (problem) {
        throw new Error(problem);
    }
}

export interface OpsWorkDirArgs {
    workDir: string;
    rkePath: string;
    /** Expected `rke --version` (versions.rke). */
    rkeVersion: string;
    /** How messages name the admin host, e.g. rancher@192.0.2.11:22 or "local". */
    hostLabel: string;
    /** Shell command that writes stdin to a file on the admin host, for restore instructions (see restoreHint). */
    stack: string;
    /** `ssh user@host -p port` prefix for the restore instructions, or undefined for a local admin host. */
    sshToAdmin?: string;
    /** Seconds to wait for another run (pulumi up's rke, another ops command) holding the work dir lock. */
    lockWaitSeconds?: number;
}

/** How to put lost work dir files back, as exact commands (the state from Pulumi, the rest rendered again). */
export function restoreHint(a: Pick<OpsWorkDirArgs, "workDir" | "stack" | "sshToAdmin">): string {
    const target = `${a.workDir.replace(/\/+$/, "")}/${RKE_FILES.state}`;
    const put = a.sshToAdmin
        ? `| ${a.sshToAdmin} ${shellQuote(`umask 077; mkdir -p ${a.workDir} && cat > ${target}`)}`
        : `> ${target}`;
    return `the state file comes back from the stack: pulumi stack output --stack ${a.stack} --show-secrets rkeState ${put}; ` +
        `rancher-cluster.yml and keys/ come back with: npm run ops -- restore-workdir --stack ${a.stack}`;
}

/** Checks and lock shared by the work dir operations; defines run_rke and result helpers. */
function workDirPrelude(a: OpsWorkDirArgs): string {
    const F = RKE_FILES;
    return `WORK=${shellPath(a.workDir)}
RKE=${shellPath(a.rkePath)}
HOST=${shellQuote(a.hostLabel)}
STACK=${shellQuote(a.stack)}
HINT=${shellQuote(restoreHint(a))}
fail() { echo "rancher-ha ops: $HOST: $*" >&2; exit 1; }
${takeLockSh(a.lockWaitSeconds)}
[ -d "$WORK" ] || fail "the admin work dir $WORK does not exist (lost disk or another admin host?); $HINT"
cd "$WORK"
# A work dir adopted with recover: the stack has no rkeState output until its first pulumi up; recover writes it again.
if [ -s ${RECOVERED_MARKER} ] && [ ! -e ${F.lastUp} ]; then
  HINT="this work dir was written by npm run ops -- recover and the stack has no rkeState output until its first pulumi up (pulumi stack output has nothing to restore yet): write the files again with $(head -n 1 ${RECOVERED_MARKER}) (add --replace where a file differs)"
fi
MISSING=""
[ -s ${F.config} ] || MISSING="$MISSING ${F.config}"
[ -s ${F.state} ] || MISSING="$MISSING ${F.state}"
if [ -s ${F.config} ]; then
  for k in $(awk '$1 == "ssh_key_path:" || ($1 == "-" && $2 == "ssh_key_path:") { print $NF }' ${F.config} | tr -d '"' | sort -u); do
    # shellcheck disable=SC2088 # a literal ~/ in the yml, expanded here
    case "$k" in "~/"*) k="$HOME/\${k#"~/"}" ;; esac
    [ -r "$k" ] || MISSING="$MISSING $k"
  done
fi
[ -z "$MISSING" ] || fail "missing in $WORK:$MISSING; rke cannot work on the cluster without them. $HINT"
# One run at a time in this work dir: the lock pulumi up's rke runs take too.
take_lock "npm run ops"
TMP=$(mktemp -d "$WORK/.ops.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' HUP INT TERM
WANT=${shellQuote(a.rkeVersion)}
command -v "$RKE" >/dev/null 2>&1 || fail "rke not found (admin.rkePath: $RKE); install rke $WANT on the admin host"
${RKE_HAVE_SH}
[ "$HAVE" = "$WANT" ] || fail "$RKE is rke \${HAVE:-of unknown version}, but versions.rke is $WANT; run ops with the rke that manages this cluster"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
# run_rke ARGS...: rke in the work dir, output to stderr and ops.log; fails with its last lines.
run_rke() {
  echo "rancher-ha ops: $HOST: rke $*" >&2
  echo "=== $STAMP rke $*" >> ${OPS_FILES.log}
  { if "$RKE" "$@" 2>&1; then echo 0 > "$TMP/rc"; else echo $? > "$TMP/rc"; fi; } | tee -a ${OPS_FILES.log} >&2
  if [ "$(cat "$TMP/rc")" != 0 ]; then
    fail "rke $1 $2 failed (exit $(cat "$TMP/rc")); the output above is in $WORK/${OPS_FILES.log}; docs/troubleshooting.md lists the common causes"
  fi
}
# backup FILE: a dated copy next to it (0600), printed in the result.
backup() {
  if [ -s "$1" ]; then cp -p "$1" "$1.$2-$STAMP"; echo "backup $1.$2-$STAMP" >> "$TMP/result"; fi
}
: > "$TMP/result"`;
}

/** The framed result block: lines of TMP/result, then the state and kubeconfig when asked. */
function resultBlock(withFiles: boolean): string {
    const F = RKE_FILES;
    return `echo ${shellQuote(FRAME_BEGIN)}
cat "$TMP/result"
${withFiles ? `printf 'rkestate '; base64 < ${F.state} | tr -d '\\n'; echo
if [ -s ${F.kubeconfig} ]; then printf 'kubeconfig '; base64 < ${F.kubeconfig} | tr -d '\\n'; echo; fi` : ""}
echo ${shellQuote(FRAME_END)}`;
}

export interface SnapshotSaveArgs extends OpsWorkDirArgs {
    name: string;
    /** Save again under a name ops already used. */
    overwrite?: boolean;
}

/** `rke etcd snapshot-save --name`: a one-off snapshot on every etcd node (and S3 when backup_config has it). */
export function snapshotSaveScript(a: SnapshotSaveArgs): string {
    assertSnapshotName(a.name);
    const F = RKE_FILES;
    return script(
        workDirPrelude(a),
        `NAME=${shellQuote(a.name)}
OVERWRITE=${a.overwrite ? "1" : "0"}
if [ "$OVERWRITE" = 0 ] && awk -v n="$NAME" '$1 == n { found = 1 } END { exit !found }' ${OPS_FILES.snapshots} 2>/dev/null; then
  fail "a snapshot named $NAME was saved before ($(awk -v n="$NAME" '$1 == n { print $2 }' ${OPS_FILES.snapshots} | tail -n 1)); saving again replaces it on every etcd node: choose another --name, or pass --overwrite"
fi
run_rke etcd snapshot-save --config ${F.config} --name "$NAME"
K8S=$(awk '$1 == "kubernetes_version:" { print $2; exit }' ${F.config} | tr -d '"')
echo "$NAME $STAMP kubernetes=$K8S rke=$HAVE" >> ${OPS_FILES.snapshots}
chmod 600 ${OPS_FILES.snapshots} ${OPS_FILES.log}
echo "snapshot $NAME" >> "$TMP/result"`,
        resultBlock(false),
    );
}

export interface SnapshotRestoreArgs extends OpsWorkDirArgs {
    name: string;
}

/**
 * `rke etcd snapshot-restore --name`: rolls the whole cluster back to the snapshot (RKE removes the Kubernetes
 * containers and etcd data on every node, restores etcd, then runs the equivalent of rke up). The state file and
 * kubeconfig are copied aside first; the new ones are returned so the caller can keep them.
 */
export function snapshotRestoreScript(a: SnapshotRestoreArgs): string {
    assertSnapshotName(a.name);
    const F = RKE_FILES;
    return script(
        workDirPrelude(a),
        `NAME=${shellQuote(a.name)}
awk -v n="$NAME" '$1 == n { found = 1 } END { exit !found }' ${OPS_FILES.snapshots} 2>/dev/null ||
  echo "rancher-ha ops: $HOST: $NAME was not saved through ops (not in ${OPS_FILES.snapshots}); rke looks for it on the etcd nodes (/opt/rke/etcd-snapshots) and in S3" >&2
backup ${F.state} before-restore
backup ${F.kubeconfig} before-restore
run_rke etcd snapshot-restore --config ${F.config} --name "$NAME"
echo "restored $NAME" >> "$TMP/result"`,
        resultBlock(true),
    );
}

/**
 * The admin host's state file, read only (no lock, nothing written): for `npm run ops -- cert-status`, which reads
 * the certificates' expiry out of it.
 */
export function readStateScript(a: Pick<OpsWorkDirArgs, "workDir" | "hostLabel" | "stack" | "sshToAdmin">): string {
    return script(
        `WORK=${shellPath(a.workDir)}
HOST=${shellQuote(a.hostLabel)}
fail() { echo "rancher-ha ops: $HOST: $*" >&2; exit 1; }
[ -s "$WORK/${RKE_FILES.state}" ] || fail "no $WORK/${RKE_FILES.state}; ${restoreHint(a)}"
echo ${shellQuote(FRAME_BEGIN)}
printf 'rkestate '; base64 < "$WORK/${RKE_FILES.state}" | tr -d '\n'; echo
echo ${shellQuote(FRAME_END)}`,
    );
}

export interface RemoveClusterArgs extends OpsWorkDirArgs {
    /** Node addresses, for the message saying what is wiped. */
    nodes: string[];
}

/**
 * `npm run ops -- remove-cluster`: rke remove --force with the work dir's own files (pulumi destroy kept them), then
 * every file rancher-ha left there. The one way to remove a cluster unless the stack opted in to removal on destroy.
 */
export function removeClusterScript(a: RemoveClusterArgs): string {
    return script(
        CLUSTER_REMOVAL_OPT_IN_MARKER.replace("(admin.removeClusterOnDestroy)", "(npm run ops -- remove-cluster --yes)"),
        workDirPrelude(a),
        `echo ${shellQuote(`rancher-ha ops: ${rkeRemoveWarning(a.nodes)}`)} >&2
run_rke remove --force --config ${RKE_FILES.config}
${WIPE_WORKDIR_SH}
rm -f ${RECOVERED_MARKER}
echo ${shellQuote(FRAME_BEGIN)}
echo "removed"
echo ${shellQuote(FRAME_END)}`,
    );
}

export interface CertRotateArgs extends OpsWorkDirArgs {
    /** Services to rotate (empty: all service certificates). */
    services: string[];
    /** Also rotate the cluster CA (every certificate, kubeconfigs and service account tokens change). */
    rotateCa: boolean;
}

/** `rke cert rotate [--service s]... [--rotate-ca]`; state and kubeconfig copied aside first, the new ones returned. */
export function certRotateScript(a: CertRotateArgs): string {
    const bad = a.services.filter(s => !(ROTATABLE_SERVICES as readonly string[]).includes(s));
    if (bad.length > 0) {
        throw new Error(`unknown service ${bad.join(", ")}; rke cert rotate --service takes ${ROTATABLE_SERVICES.join(", ")}`);
    }
    const F = RKE_FILES;
    const flags = [...a.services.flatMap(s => ["--service", s]), ...(a.rotateCa ? ["--rotate-ca"] : [])];
    return script(
        workDirPrelude(a),
        `backup ${F.state} before-rotate
backup ${F.kubeconfig} before-rotate
run_rke cert rotate --config ${F.config}${flags.map(f => ` ${shellQuote(f)}`).join("")}
echo "rotated ${a.rotateCa ? "ca+all" : a.services.length > 0 ? a.services.join(",") : "all"}" >> "$TMP/result"`,
        resultBlock(true),
    );
}

export interface OpsResult {
    /** Plain lines of the result (e.g. "snapshot nightly", "backup rancher-cluster.rkestate.before-restore-..."). */
    lines: string[];
    rkeState?: string;
    kubeconfig?: string;
    /** recover-state: the full-cluster-state object as `kubectl get -o json` printed it. */
    object?: string;
    /** recover-state: `kubectl get nodes -o json`, or why it failed (nodesError). */
    nodes?: string;
    nodesError?: string;
}

/** Extracts the framed result; base64 fields decoded. */
export function parseOpsResult(stdout: string): OpsResult {
    const start = stdout.indexOf(FRAME_BEGIN);
    const end = stdout.indexOf(FRAME_END, start);
    if (start < 0 || end < 0) {
        throw new Error("the remote script printed no result block (it failed before the end; its messages are above)");
    }
    const r: OpsResult = { lines: [] };
    const b64 = (v: string, what: string) => {
        if (!/^[A-Za-z0-9+/]*=*$/.test(v)) {
            throw new Error(`result block: ${what} is not base64`);
        }
        return Buffer.from(v, "base64").toString("utf8");
    };
    for (const line of stdout.slice(start + FRAME_BEGIN.length, end).split("\n").map(l => l.trim()).filter(Boolean)) {
        const [k, ...rest] = line.split(" ");
        const v = rest.join(" ");
        if (k === "rkestate") {
            r.rkeState = b64(v, k);
        } else if (k === "kubeconfig") {
            r.kubeconfig = b64(v, k);
        } else if (k === "object") {
            r.object = b64(v, k);
        } else if (k === "nodes") {
            r.nodes = b64(v, k);
        } else if (k === "nodes-error") {
            r.nodesError = b64(v, k).trim();
        } else {
            r.lines.push(line);
        }
    }
    return r;
}

// ---- recovery ----

export interface RecoverStateArgs {
    /** How messages name the node, e.g. root@192.0.2.21:22. */
    nodeLabel: string;
    /** RKE's prefix_path, when the cluster was built with one. Default "/". */
    prefixPath?: string;
}

/**
 * On a controlplane node: prints kube-system/full-cluster-state (Secret, else the ConfigMap older RKE releases wrote)
 * as `object <Kind> <base64 JSON>` in the result block. kubectl runs from the kubelet container's image with the
 * node's own kubeconfig, as RKE does (services/controlplane.go RunGetStateFileFromConfigMap); a kubectl on the node
 * (run with sudo: the node certificates are root's) is the fallback. The state holds every key of the cluster: it
 * only ever goes to stdout, never to the log.
 */
export function recoverStateScript(a: RecoverStateArgs): string {
    const k8sDir = `${(a.prefixPath ?? "/").replace(/\/+$/, "")}/etc/kubernetes`;
    return script(
        `NODE=${shellQuote(a.nodeLabel)}
fail() { echo "rancher-ha ops: $NODE: $*" >&2; exit 1; }
${SUDO_SH}
KDIR=${shellQuote(k8sDir)}
KCFG=/etc/kubernetes/ssl/kubecfg-kube-node.yaml
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if command -v docker >/dev/null 2>&1 && IMAGE=$(docker inspect kubelet --format '{{.Config.Image}}' 2>/dev/null) && [ -n "$IMAGE" ]; then
  SRC=$(docker inspect kubelet --format '{{ range .Mounts }}{{ if eq .Destination "/etc/kubernetes" }}{{ .Source }}{{ end }}{{ end }}' 2>/dev/null || true)
  SRC=\${SRC:-$KDIR}
  echo "rancher-ha ops: $NODE: reading the cluster state with kubectl from the kubelet image $IMAGE" >&2
  kc() { docker run --rm --net=host -v "$SRC:/etc/kubernetes:ro" --entrypoint kubectl "$IMAGE" --kubeconfig "$KCFG" --request-timeout=20s "$@"; }
elif command -v kubectl >/dev/null 2>&1 && $SUDO test -r "$KDIR/ssl/kubecfg-kube-node.yaml"; then
  echo "rancher-ha ops: $NODE: reading the cluster state with the node's kubectl" >&2
  kc() { $SUDO kubectl --kubeconfig "$KDIR/ssl/kubecfg-kube-node.yaml" --request-timeout=20s "$@"; }
else
  fail "no kubelet container here and no kubectl with $KDIR/ssl/kubecfg-kube-node.yaml: this is not an RKE node, or $(id -un) cannot use Docker (sudo usermod -aG docker $(id -un)); run recover --from a controlplane node"
fi
LAST=""
FOUND=""
for kind in secret configmap; do
  if kc -n kube-system get "$kind" ${FULL_STATE} -o json > "$TMP/object" 2> "$TMP/err"; then FOUND=$kind; break; fi
  LAST=$(tail -n 1 "$TMP/err")
  case "$LAST" in *NotFound*|*"not found"*) ;; *) break ;; esac
done
if [ -z "$FOUND" ]; then
  case "$LAST" in
    *NotFound*|*"not found"*)
      fail "the API server has neither a Secret nor a ConfigMap kube-system/${FULL_STATE} ($LAST): the cluster was not built by RKE (or not by RKE >= 0.2, which keeps it there), or this node belongs to another cluster; run recover --from a controlplane node of the RKE cluster you adopt" ;;
    *Forbidden*|*Unauthorized*|*"(403)"*|*"(401)"*|*"must be logged in"*)
      fail "the API server refused this node's credentials ($KCFG): $LAST; that is about credentials and RBAC, not the API server's health: check that the node's certificate has not expired (openssl x509 -enddate -noout -in $KDIR/ssl/kube-node.pem; rke cert rotate renews it) and that RKE's RBAC bindings for the nodes are in place, or run recover --from another controlplane node" ;;
    *InternalError*|*"an error on the server"*|*"Internal error"*|*ServiceUnavailable*|*"(500)"*|*"(503)"*)
      fail "the API server failed the request itself: $LAST; check its health and etcd's (docker logs --tail 50 kube-apiserver; docker logs --tail 50 etcd), then run recover again" ;;
    *refused*|*"Unable to connect"*|*timeout*|*"no route"*)
      fail "kube-apiserver does not answer on this node: $LAST; check that it runs here (docker ps --filter name=kube-apiserver) or run recover --from another controlplane node" ;;
    *)
      fail "could not read kube-system/${FULL_STATE} (Secret or ConfigMap): \${LAST:-no output}; check kube-apiserver on this node (docker ps --filter name=kube-apiserver; docker logs --tail 50 kube-apiserver) and that --from is a controlplane node of the RKE cluster" ;;
  esac
fi
# The nodes the cluster has, to compare with the state's (a failure here only leaves the comparison out).
NODES_OK=0
if kc get nodes -o json > "$TMP/nodes" 2> "$TMP/nodes-err"; then NODES_OK=1; fi
echo ${shellQuote(FRAME_BEGIN)}
printf 'object '; base64 < "$TMP/object" | tr -d '\n'; echo
if [ "$NODES_OK" = 1 ]; then
  printf 'nodes '; base64 < "$TMP/nodes" | tr -d '\n'; echo
else
  printf 'nodes-error '; tail -n 1 "$TMP/nodes-err" | base64 | tr -d '\n'; echo
fi
echo ${shellQuote(FRAME_END)}`,
    );
}

export interface InstallRecoveredArgs {
    workDir: string;
    hostLabel: string;
    /** Replace files that differ (each kept as <file>.replaced-<time>). */
    replace: boolean;
    /** The stack, named in the work dir lock. */
    stack?: string;
    /**
     * `npm run ops -- recover ...`: the files come from recover (kept in RECOVERED_MARKER, for the hint of later ops
     * commands); undefined (restore-workdir: the files come from the stack's outputs) removes the marker.
     */
    recoverCommand?: string;
}

export interface RecoveredFiles {
    rkeState: string;
    kubeconfig?: string;
    clusterYml?: string;
    /** SSH keys the yml names (keys/<keyId>). */
    keys?: { keyId: string; privateKey: string }[];
}

/** stdin of installRecoveredScript (secret: holds the state and maybe a key). */
export function installRecoveredBundle(f: RecoveredFiles): string {
    const F = RKE_FILES;
    const keys = [...new Map((f.keys ?? []).map(k => [k.keyId, k])).values()];
    for (const k of keys) {
        if (!/^[0-9a-f]{16}$/.test(k.keyId)) {
            throw new Error(`installRecoveredBundle: keyId "${k.keyId}" is not 16 hex characters`);
        }
    }
    return fileBundle([
        { name: F.state, mode: "600", content: f.rkeState },
        ...(f.kubeconfig ? [{ name: F.kubeconfig, mode: "600", content: f.kubeconfig }] : []),
        ...(f.clusterYml ? [{ name: F.config, mode: "600", content: f.clusterYml }] : []),
        ...keys.map(k => ({ name: `key-${k.keyId}`, mode: "600", content: k.privateKey })),
    ]);
}

/**
 * Puts recovered files into the admin work dir: absent -> written, identical -> left, different -> refused (all
 * checked before anything is written) unless `replace`, which keeps the old file aside first. Afterwards the first
 * `pulumi up` runs rke up (the markers of the last run are removed) and exports the state to the stack.
 */
export function installRecoveredScript(a: InstallRecoveredArgs): string {
    const F = RKE_FILES;
    return script(
        `WORK=${shellPath(a.workDir)}
HOST=${shellQuote(a.hostLabel)}
STACK=${shellQuote(a.stack ?? "")}
fail() { echo "rancher-ha ops: $HOST: $*" >&2; exit 1; }
${takeLockSh()}
${unpackIntoWorkDirSh("recovered")}
[ -s "$IN/${F.state}" ] || fail "no state file on stdin (rancher-ha internal error)"
cd "$WORK"
take_lock "npm run ops -- recover"
# target of an incoming file: keys go to keys/<keyId>
dest() { case "$1" in key-*) echo "${F.keys}/\${1#key-}" ;; *) echo "$1" ;; esac; }
CONFLICTS=""
for f in "$IN"/*; do
  n=\${f##*/}; d=$(dest "$n")
  if [ -e "$d" ] && ! cmp -s "$f" "$d"; then CONFLICTS="$CONFLICTS $d"; fi
done
REPLACE=${a.replace ? "1" : "0"}
if [ -n "$CONFLICTS" ] && [ "$REPLACE" = 0 ]; then
  fail "$WORK already has different:$CONFLICTS; nothing was written. If the recovered files are the right ones (the work dir is stale), run recover again with --replace: the current files are kept as <file>.replaced-<time>"
fi
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
CHANGED=0
echo ${shellQuote(FRAME_BEGIN)}
for f in "$IN"/*; do
  n=\${f##*/}; d=$(dest "$n")
  if [ -e "$d" ] && cmp -s "$f" "$d"; then echo "kept $d"; continue; fi
  if [ -e "$d" ]; then cp -p "$d" "$d.replaced-$STAMP"; echo "backup $d.replaced-$STAMP"; fi
  mv -f "$f" "$d"; chmod 600 "$d"; CHANGED=1
  echo "wrote $d"
done
# The next rke up through Pulumi must run (and export this state), whatever ran in this directory before.
if [ "$CHANGED" = 1 ]; then rm -f ${F.lastUp} ${F.lastPlan}; fi
${a.recoverCommand ? `echo ${shellQuote(a.recoverCommand)} > ${RECOVERED_MARKER}; chmod 600 ${RECOVERED_MARKER}` : `rm -f ${RECOVERED_MARKER}`}
echo ${shellQuote(FRAME_END)}`,
    );
}
