// Remote scripts of the RKE2 stage, and the parser of what a node reports back. Pure: arguments in, sh text out.
//
// A node's script has three layers, each its own POSIX sh text (so shellcheck reads each):
//   wrapper  (the SSH user)  unpacks the stdin bundle into a private temp dir, runs the root layer with sudo -n;
//   root     (root)          takes the node's lock, starts the job detached from the SSH session (or reattaches to
//                            the same job left running by a lost session), waits for it, prints the framed outputs;
//   job      (root, setsid)  the work: install or upgrade RKE2, write config.yaml, (re)start the unit only when
//                            something changed, wait until the node is Ready; or, on delete, drain and uninstall.
// Everything lives in /var/lib/rancher/rancher-ha on the node (RKE2_PATHS.stateDir): lock, job, log.
import { BundleFile, fileBundle, script, shellQuote, SUDO_SH, UNPACK_BUNDLE_SH } from "../shared/shell";
import { CLUSTER_REMOVAL_OPT_IN_MARKER } from "../rke/scripts";
import { STATE_SYNC_PATTERN } from "../config/types";
import { RKE2_PATHS, RKE2_UNITS } from "./paths";

/** Names inside the stdin bundle (and the job's copy of it). */
export const RKE2_BUNDLE = {
    config: "config.yaml",
    registries: "registries.yaml",
    etcdS3Ca: "etcd-s3-ca.pem",
    /** Agents: the admin kubeconfig (server = the LB), to wait for Ready and to drain on removal. */
    kubeconfig: "admin-kubeconfig",
} as const;

/** rancher-ha's files in RKE2_PATHS.stateDir. */
export const RKE2_STATE = {
    lock: "lock",
    lockOwner: "lock.owner",
    job: "job",
    log: "node.log",
    /** The Kubernetes node name this node registered as (read by removal and `npm run ops`). */
    nodeName: "node-name",
} as const;

/** The first line of the header the stage writes in every file it owns on the node. */
export const RKE2_OWNED_FILE_HEADER = "# Written by rancher-ha";

const FRAME_BEGIN = "-----BEGIN RANCHER-HA RKE2 NODE-----";
const FRAME_END = "-----END RANCHER-HA RKE2 NODE-----";

/** Seconds a run waits for another one holding the node's lock before it gives up, naming the holder. */
export const RKE2_LOCK_WAIT_SECONDS = 600;

export interface Rke2NodeBundleArgs {
    configYaml: string;
    registriesYaml?: string;
    etcdS3Ca?: string;
    kubeconfig?: string;
}

/** The node's stdin: every file it gets, 0600 (config.yaml holds the token; the kubeconfig is cluster-admin). */
export function rke2NodeBundle(a: Rke2NodeBundleArgs): string {
    const files: BundleFile[] = [{ name: RKE2_BUNDLE.config, mode: "600", content: a.configYaml }];
    if (a.registriesYaml !== undefined) {
        files.push({ name: RKE2_BUNDLE.registries, mode: "600", content: a.registriesYaml });
    }
    if (a.etcdS3Ca !== undefined) {
        files.push({ name: RKE2_BUNDLE.etcdS3Ca, mode: "600", content: a.etcdS3Ca });
    }
    if (a.kubeconfig !== undefined) {
        files.push({ name: RKE2_BUNDLE.kubeconfig, mode: "600", content: a.kubeconfig });
    }
    return fileBundle(files);
}

export interface Rke2NodeScriptArgs {
    kind: "server" | "agent";
    /** The RKE2 release, e.g. v1.36.3+rke2r1. */
    version: string;
    /** artifacts: remoteDir (relative to the SSH user's home) holds install.sh and the release files. */
    install: { method: "artifacts"; remoteDir: string } | { method: "script"; scriptUrl: string };
    /** Seconds the node may take to become Ready after its unit (re)starts. */
    nodeReadyTimeoutSeconds: number;
    /** How messages name the node, e.g. "server 192.0.2.21". */
    hostLabel: string;
    /** The Pulumi stack, named in the lock. */
    stack: string;
    /** admin.removeClusterOnDestroy: the delete uninstalls without draining (the whole cluster goes). */
    removeClusterOnDestroy: boolean;
    /** Seconds between Ready checks. Default 5. */
    pollSeconds?: number;
    /** Seconds to wait for another run holding the lock. Default RKE2_LOCK_WAIT_SECONDS. */
    lockWaitSeconds?: number;
    /** Seconds `kubectl drain` may take on removal. Default 600. */
    drainTimeoutSeconds?: number;
    /**
     * admin.stateSync (the first server only): a new value makes Pulumi run the script again, which changes nothing
     * on the node and reports its current kubeconfig back to the stack (after `npm run ops` rotated certificates or
     * restored a snapshot).
     */
    stateSync?: string;
}

/** The Command's create/update: install or upgrade, configure, (re)start when changed, wait until Ready. */
export function rke2NodeScript(a: Rke2NodeScriptArgs): string {
    checkArgs(a);
    const body = rke2WrapperScript(rootScript(a, "install", rke2InstallJobScript(a), true));
    return a.stateSync === undefined ? body : `# admin.stateSync: ${a.stateSync} (report the node's kubeconfig again)\n${body}`;
}

/**
 * The Command's delete. Without the opt-in (a node leaving a cluster that stays): refuse the last server, drain
 * (bounded, no --force), `kubectl delete node` (never forced), delete its node-password secret (or it cannot
 * rejoin under its name), then rke2-uninstall.sh. With admin.removeClusterOnDestroy: uninstall only.
 */
export function rke2RemoveNodeScript(a: Rke2NodeScriptArgs): string {
    checkArgs(a);
    const body = rke2WrapperScript(rootScript(a, "removal", rke2RemoveJobScript(a), false));
    return a.removeClusterOnDestroy ? `${CLUSTER_REMOVAL_OPT_IN_MARKER}\n${body}` : body;
}

function checkArgs(a: Rke2NodeScriptArgs): void {
    if (a.stateSync !== undefined && !STATE_SYNC_PATTERN.test(a.stateSync)) {
        throw new Error(`rke2 scripts: stateSync "${a.stateSync}" must match ${STATE_SYNC_PATTERN}`);
    }
    if (!/^v1\.\d+\.\d+\+rke2r\d+$/.test(a.version)) {
        throw new Error(`rke2 scripts: "${a.version}" is not an RKE2 release (v1.36.3+rke2r1)`);
    }
    for (const [k, v] of Object.entries({ nodeReadyTimeoutSeconds: a.nodeReadyTimeoutSeconds, pollSeconds: a.pollSeconds ?? 5,
        lockWaitSeconds: a.lockWaitSeconds ?? 1, drainTimeoutSeconds: a.drainTimeoutSeconds ?? 1 })) {
        if (!Number.isInteger(v) || v < 1) {
            throw new Error(`rke2 scripts: ${k} must be a positive integer, got ${v}`);
        }
    }
    if (a.install.method === "artifacts" && !/^[A-Za-z0-9._\/-]+$/.test(a.install.remoteDir)) {
        throw new Error(`rke2 scripts: remoteDir "${a.install.remoteDir}" must be a plain relative path`);
    }
}

/**
 * The SSH user's part: stdin into a private temp dir, then the root layer (sudo -n unless root) as its own sh text
 * in a quoted heredoc (`<<'RANCHER_HA_ROOT'`), run as `sh root.sh <temp dir> <user's home>`. `npm run ops` runs its
 * RKE2 scripts through it too.
 */
export function rke2WrapperScript(root: string): string {
    return script(
        SUDO_SH,
        UNPACK_BUNDLE_SH,
        `umask 077
IN=$(mktemp -d "\${TMPDIR:-/tmp}/rancher-ha-rke2.XXXXXX")
trap 'rm -rf "$IN"' EXIT
unpack_bundle "$IN"
cat > "$IN/root.sh" <<'RANCHER_HA_ROOT'
${root}RANCHER_HA_ROOT
$SUDO sh "$IN/root.sh" "$IN" "$HOME"`,
    );
}

/**
 * Takes the node's lock on file descriptor 9 (flock on RKE2_PATHS.stateDir/lock): waits up to `lockWaitSeconds` for
 * another run holding it (a pulumi up's node job, an `npm run ops` command), naming the holder from lock.owner, then
 * fails. Needs $STATE, $HOST and fail(). The lock goes with the process holding fd 9 (and what it starts).
 */
export function rke2NodeLockSh(lockWaitSeconds: number): string {
    const S = RKE2_STATE;
    return `command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is not installed on this node; install it (apt-get install util-linux / dnf install util-linux)"
exec 9>>"$STATE/${S.lock}"
if ! flock -n 9; then
  echo "rancher-ha: $HOST: waiting up to ${lockWaitSeconds} s for another run on this node: $(cat "$STATE/${S.lockOwner}" 2>/dev/null || echo unknown)" >&2
  flock -w ${lockWaitSeconds} 9 || fail "another rancher-ha run holds $STATE/${S.lock}: $(cat "$STATE/${S.lockOwner}" 2>/dev/null || echo unknown); wait for it to finish and run again (the lock goes with its process)"
fi`;
}

/**
 * find_rke2 (the installed rke2 binary) and node_name (the Kubernetes node name this node registers as), for the
 * stage's jobs and `npm run ops`.
 */
export const RKE2_NODE_HELPERS_SH = `# install.sh unpacks into /usr/local, or /opt/rke2 where /usr/local is read-only.
find_rke2() {
  for p in ${RKE2_PATHS.installPrefix}/bin/rke2 /opt/rke2/bin/rke2; do
    if [ -x "$p" ]; then echo "$p"; return 0; fi
  done
  return 1
}
# The node name RKE2 registers: config.yaml's node-name, else the host name in lower case.
node_name() {
  n=$(sed -n 's/^node-name: *"\\{0,1\\}\\([^"]*\\)"\\{0,1\\} *$/\\1/p' ${RKE2_PATHS.config} 2>/dev/null | head -n 1)
  [ -n "$n" ] || n=$(hostname | tr '[:upper:]' '[:lower:]')
  echo "$n"
}`;

type Constant = "HOST" | "STACK" | "KIND" | "WANT" | "UNIT" | "STATE" | "KUBECTL";

/** The constants a root-side layer uses (only those, so none is unused), then fail(). */
function constantsSh(a: Rke2NodeScriptArgs, names: Constant[]): string {
    const values: Record<Constant, string> = {
        HOST: shellQuote(a.hostLabel),
        STACK: shellQuote(a.stack),
        KIND: a.kind,
        WANT: shellQuote(a.version),
        UNIT: RKE2_UNITS[a.kind],
        STATE: RKE2_PATHS.stateDir,
        KUBECTL: `${RKE2_PATHS.binDir}/kubectl`,
    };
    return [...names.map(n => `${n}=${values[n]}`), `fail() { echo "rancher-ha: $HOST: $*" >&2; exit 1; }`].join("\n");
}

/**
 * The root layer: lock, detached job, wait, outputs. `what` names the job in messages and the lock; `outputs`:
 * print the framed block after success (create/update), or nothing (delete).
 */
function rootScript(a: Rke2NodeScriptArgs, what: string, job: string, outputs: boolean): string {
    const S = RKE2_STATE;
    const lockWait = a.lockWaitSeconds ?? RKE2_LOCK_WAIT_SECONDS;
    // The job's own bound plus room for the install and the drain: the wait ends only on the job's status.
    const waitSeconds = a.nodeReadyTimeoutSeconds + (a.drainTimeoutSeconds ?? 600) + 1800;
    const files = Object.values(RKE2_BUNDLE).join(" ");
    return script(
        `IN=$1
USER_HOME=$2
${constantsSh(a, ["HOST", "STACK", "KIND", "WANT", "STATE"])}
umask 077
mkdir -p "$STATE"
chmod 700 "$STATE"
JOB="$STATE/${S.job}"
LOG="$STATE/${S.log}"
# The job's identity: what it does with which inputs. A run with the same identity reattaches to it.
NEW=$({ echo ${shellQuote(what)} "$KIND" "$WANT"; for f in ${files}; do [ -f "$IN/$f" ] && { echo "$f"; cat "$IN/$f"; }; done; } | sha256sum | cut -d ' ' -f 1)
job_running() { [ -s "$JOB/pid" ] && [ ! -e "$JOB/rc" ] && kill -0 "$(cat "$JOB/pid")" 2>/dev/null; }
# wait_job: streams the job's log to stderr until it has written its exit status (bounded).
wait_job() {
  off=$(cat "$JOB/log-offset" 2>/dev/null || echo 0)
  end=$(( $(date +%s) + ${waitSeconds} ))
  while [ ! -e "$JOB/rc" ]; do
    size=$(wc -c < "$LOG" 2>/dev/null || echo 0)
    if [ "$size" -gt "$off" ]; then tail -c +$((off + 1)) "$LOG" | head -c $((size - off)) >&2; off=$size; fi
    if ! kill -0 "$(cat "$JOB/pid" 2>/dev/null || echo 0)" 2>/dev/null && [ ! -e "$JOB/rc" ]; then
      fail "the detached RKE2 ${what} (pid $(cat "$JOB/pid" 2>/dev/null)) ended without an exit status (killed?); see $LOG and run pulumi up again"
    fi
    [ "$(date +%s)" -lt "$end" ] || fail "the RKE2 ${what} is still running after ${waitSeconds} s (pid $(cat "$JOB/pid")); it goes on in the background: follow $LOG, then run pulumi up again"
    sleep 1
  done
  size=$(wc -c < "$LOG" 2>/dev/null || echo 0)
  [ "$size" -le "$off" ] || tail -c +$((off + 1)) "$LOG" >&2
}
# The same job still running (the SSH session of an earlier pulumi up was lost): wait for it, then go on as usual
# (it left nothing to redo, so the run below changes nothing).
if job_running && [ "$(cat "$JOB/hash" 2>/dev/null)" = "$NEW" ]; then
  echo "rancher-ha: $HOST: the same RKE2 ${what} started earlier is still running (pid $(cat "$JOB/pid")); waiting for it" >&2
  wait_job
fi
${rke2NodeLockSh(lockWait)}
# The job's inputs: a copy it owns (this session's temp dir goes with the session). Removed when it ends.
rm -rf "$JOB"
mkdir -m 700 "$JOB" "$JOB/in"
for f in ${files}; do
  if [ -f "$IN/$f" ]; then cp "$IN/$f" "$JOB/in/$f"; fi
done
echo "$NEW" > "$JOB/hash"
cat > "$JOB/run.sh" <<'RANCHER_HA_JOB'
${job}RANCHER_HA_JOB
touch "$LOG"
chmod 600 "$LOG"
wc -c < "$LOG" | tr -d ' ' > "$JOB/log-offset"
# Its own session (setsid), stdin from /dev/null, output to the log: a dropped SSH session never stops it half-way.
# It inherits fd 9, so it holds the node's lock until it ends; its exit status lands in $JOB/rc.
# shellcheck disable=SC2016 # $1 and $2 are the inner sh's arguments
setsid sh -c 'sh "$1/run.sh" "$1" "$2"; echo $? > "$1/rc.tmp"; mv "$1/rc.tmp" "$1/rc"' rancher-ha "$JOB" "$USER_HOME" < /dev/null >> "$LOG" 2>&1 &
echo $! > "$JOB/pid"
echo "RKE2 ${what}, stack $STACK, pid $!, since $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$STATE/${S.lockOwner}"
wait_job
RC=$(cat "$JOB/rc")
[ "$RC" = 0 ] || fail "the RKE2 ${what} failed (exit $RC); its output is above (and in $LOG); fix the cause and run pulumi up again"`,
        ...(outputs ? [`# Outputs for Pulumi (secret): one framed block on stdout.
echo ${shellQuote(FRAME_BEGIN)}
echo "node-name $(cat "$STATE/${S.nodeName}")"
echo "version $WANT"
if [ "$KIND" = server ]; then
  printf 'kubeconfig '; base64 < ${RKE2_PATHS.kubeconfig} | tr -d '\\n'; echo
fi
echo ${shellQuote(FRAME_END)}`] : []),
    );
}

/** Helpers the jobs share: where rke2 is, its version, the node name. */
function jobPreludeSh(a: Rke2NodeScriptArgs, names: Constant[]): string {
    const home = a.install.method === "artifacts" && names.includes("WANT") ? "\nUSER_HOME=$2" : "";
    return `JOB=$1${home}
${constantsSh(a, ["HOST", "STATE", ...names])}
trap 'rm -rf "$JOB/in"' EXIT
${RKE2_NODE_HELPERS_SH}`;
}

/** The install job: version policy, install, files, unit, Ready. */
export function rke2InstallJobScript(a: Rke2NodeScriptArgs): string {
    const B = RKE2_BUNDLE;
    const P = RKE2_PATHS;
    const poll = a.pollSeconds ?? 5;
    const install = a.install.method === "artifacts"
        ? `ART="$USER_HOME"/${shellQuote(a.install.remoteDir)}
  [ -f "$ART/install.sh" ] || fail "no install.sh in $ART (rke2.artifactsDir, copied over SSH); put RKE2's install.sh into rke2.artifactsDir"
  echo "rancher-ha: $HOST: installing RKE2 $WANT ($KIND) from the artifacts in $ART"
  INSTALL_RKE2_ARTIFACT_PATH="$ART" INSTALL_RKE2_TYPE=$KIND sh "$ART/install.sh" || fail "install.sh failed (its output is above)"`
        : `URL=${shellQuote(a.install.scriptUrl)}
  command -v curl >/dev/null 2>&1 || fail "curl is not installed; install it, or set rke2.artifactsDir to install from files copied over SSH"
  echo "rancher-ha: $HOST: installing RKE2 $WANT ($KIND) with the install script from $URL"
  curl -fsSL --retry 3 --connect-timeout 20 --max-time 300 -o "$JOB/install.sh" "$URL" || fail "could not download $URL (rke2.installScriptUrl); check the node's access to it, or use rke2.artifactsDir"
  INSTALL_RKE2_VERSION="$WANT" INSTALL_RKE2_TYPE=$KIND sh "$JOB/install.sh" || fail "install.sh failed (its output is above)"`;
    return script(
        jobPreludeSh(a, ["KIND", "WANT", "UNIT", "KUBECTL"]),
        `version_of() { "$1" --version 2>/dev/null | sed -n 's/^rke2 version \\([^ ]*\\).*/\\1/p' | head -n 1; }
journal_tail() {
  echo "rancher-ha: $HOST: last lines of journalctl -u $UNIT:"
  journalctl -u "$UNIT" -n 30 --no-pager 2>&1 | sed 's/^/  | /' || true
}
echo "rancher-ha: $HOST: RKE2 $KIND $WANT, job started $(date -u +%Y-%m-%dT%H:%M:%SZ)"
minor() { echo "$1" | sed -n 's/^v1\\.\\([0-9][0-9]*\\)\\..*/\\1/p'; }
HAVE=""
if BIN=$(find_rke2); then HAVE=$(version_of "$BIN"); fi
# RKE2 supports upgrades one minor at a time and no downgrades (a downgrade is an etcd snapshot restore).
if [ -n "$HAVE" ] && [ "$HAVE" != "$WANT" ]; then
  HM=$(minor "$HAVE")
  WM=$(minor "$WANT")
  if [ -z "$HM" ] || [ -z "$WM" ]; then fail "cannot read the minor version of the installed $HAVE or of $WANT"; fi
  if [ "$(printf '%s\\n%s\\n' "$HAVE" "$WANT" | sort -V | head -n 1)" = "$WANT" ]; then
    fail "RKE2 $HAVE is installed and versions.kubernetes is $WANT, an older release: RKE2 cannot be downgraded; set versions.kubernetes back to $HAVE (to go back, restore an etcd snapshot taken before the upgrade: docs/rke2.md)"
  fi
  if [ "$WM" -gt $((HM + 1)) ]; then
    fail "RKE2 $HAVE is installed and versions.kubernetes $WANT skips a minor version: upgrade one minor at a time (set versions.kubernetes to the newest v1.$((HM + 1)) release, pulumi up, then go on)"
  fi
  echo "rancher-ha: $HOST: upgrading RKE2 $HAVE -> $WANT"
fi
UPGRADED=""
if [ "$HAVE" != "$WANT" ]; then
  ${install}
  BIN=$(find_rke2) || fail "install.sh ran, but there is no rke2 in ${P.installPrefix}/bin or /opt/rke2/bin"
  GOT=$(version_of "$BIN")
  [ "$GOT" = "$WANT" ] || fail "the installed RKE2 is \${GOT:-of unknown version}, but versions.kubernetes is $WANT (the release files in rke2.artifactsDir are of another release?)"
  systemctl daemon-reload
  UPGRADED=1
fi
# The files: replaced only when they differ (atomic rename, 0600); a change restarts the unit below.
CHANGED=""
put() {
  if ! cmp -s "$1" "$2"; then
    cp "$1" "$2.rancher-ha.tmp"
    chmod 600 "$2.rancher-ha.tmp"
    mv -f "$2.rancher-ha.tmp" "$2"
    CHANGED="$CHANGED \${2##*/}"
  fi
}
# A file of ours the stack no longer sets (its first line is our header): removed.
drop() {
  if [ -f "$1" ] && head -n 1 "$1" | grep -q '^${RKE2_OWNED_FILE_HEADER}'; then rm -f "$1"; CHANGED="$CHANGED -\${1##*/}"; fi
}
mkdir -p ${P.configDir}
put "$JOB/in/${B.config}" ${P.config}
if [ -f "$JOB/in/${B.registries}" ]; then put "$JOB/in/${B.registries}" ${P.registries}; else drop ${P.registries}; fi
if [ -f "$JOB/in/${B.etcdS3Ca}" ]; then
  { echo "${RKE2_OWNED_FILE_HEADER} (etcdSnapshots.s3.customCa)"; cat "$JOB/in/${B.etcdS3Ca}"; } > "$JOB/in/ca.pem"
  put "$JOB/in/ca.pem" ${P.etcdS3Ca}
else
  drop ${P.etcdS3Ca}
fi
systemctl enable "$UNIT" >/dev/null 2>&1 || systemctl enable "$UNIT" || fail "systemctl enable $UNIT failed"
if [ -n "$UPGRADED$CHANGED" ] || ! systemctl is-active --quiet "$UNIT"; then
  # --no-block: RKE2's units have TimeoutStartSec=0, so a blocking start could wait forever; the wait is ours.
  REASON="not running"
  [ -z "$CHANGED" ] || REASON="changed:$CHANGED"
  [ -z "$UPGRADED" ] || REASON="upgraded to $WANT"
  echo "rancher-ha: $HOST: (re)starting $UNIT ($REASON)"
  systemctl restart --no-block "$UNIT" || fail "systemctl restart $UNIT failed"
else
  echo "rancher-ha: $HOST: RKE2 $WANT installed, config unchanged and $UNIT running: nothing to restart"
fi
if [ "$KIND" = server ]; then KC=${P.kubeconfig}; else KC="$JOB/in/${B.kubeconfig}"; fi
NAME=$(node_name)
echo "rancher-ha: $HOST: waiting up to ${a.nodeReadyTimeoutSeconds} s for node $NAME to be Ready"
END=$(( $(date +%s) + ${a.nodeReadyTimeoutSeconds} ))
while :; do
  READY=""
  if [ -x "$KUBECTL" ] && [ -s "$KC" ]; then
    READY=$("$KUBECTL" --kubeconfig "$KC" --request-timeout=10s get node "$NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  fi
  [ "$READY" = True ] && break
  if systemctl is-failed --quiet "$UNIT"; then
    journal_tail
    fail "$UNIT failed to start (see the journal above)"
  fi
  if [ "$(date +%s)" -ge "$END" ]; then
    journal_tail
    fail "node $NAME is not Ready after ${a.nodeReadyTimeoutSeconds} s (rke2.nodeReadyTimeout; Ready=\${READY:-unknown}); see the journal above"
  fi
  sleep ${poll}
done
echo "$NAME" > "$STATE/${RKE2_STATE.nodeName}"
echo "rancher-ha: $HOST: node $NAME is Ready (RKE2 $WANT)"`,
    );
}

/** The removal job (a node's delete). */
export function rke2RemoveJobScript(a: Rke2NodeScriptArgs): string {
    const P = RKE2_PATHS;
    const drainTimeout = a.drainTimeoutSeconds ?? 600;
    const k8sSteps = a.removeClusterOnDestroy
        ? `echo "rancher-ha: $HOST: admin.removeClusterOnDestroy: the whole cluster goes, so $NAME is uninstalled without a drain"`
        : `if [ "$KIND" = server ]; then KC=${P.kubeconfig}; else KC="$JOB/in/${RKE2_BUNDLE.kubeconfig}"; fi
if [ ! -x "$KUBECTL" ] || [ ! -s "$KC" ]; then fail "no kubectl or kubeconfig here to drain $NAME with ($KUBECTL, $KC); is the cluster running? Fix it and run pulumi up again"; fi
k() { "$KUBECTL" --kubeconfig "$KC" --request-timeout=30s "$@"; }
if [ "$KIND" = server ]; then
  SERVERS=$(k get nodes -l node-role.kubernetes.io/etcd=true -o name) || fail "cannot list the cluster's servers; is the cluster up?"
  COUNT=$(echo "$SERVERS" | grep -c . || true)
  if [ "$COUNT" -le 1 ]; then
    fail "$NAME is the cluster's last server: removing it removes the cluster. Keep it in the stack; to remove the whole cluster on purpose: npm run ops -- remove-cluster --stack $STACK --yes"
  fi
fi
if k get node "$NAME" >/dev/null 2>&1; then
  echo "rancher-ha: $HOST: draining $NAME (up to ${drainTimeout} s; pods with a PodDisruptionBudget are evicted as it allows)"
  k drain "$NAME" --ignore-daemonsets --delete-emptydir-data --timeout=${drainTimeout}s || fail "kubectl drain $NAME failed (a PodDisruptionBudget, or pods without a controller?); the node stays cordoned and installed. Fix it and run pulumi up again, or kubectl uncordon $NAME to keep it"
  k delete node "$NAME" --timeout=120s || fail "kubectl delete node $NAME failed; run pulumi up again"
else
  echo "rancher-ha: $HOST: node $NAME is not in the cluster (already deleted)"
fi
# RKE2 keeps a node's password in kube-system; a leftover one refuses a new node of the same name.
k -n kube-system delete secret "$NAME.node-password.rke2" --ignore-not-found >/dev/null || echo "rancher-ha: $HOST: could not delete the secret $NAME.node-password.rke2; delete it before a node of this name rejoins"`;
    return script(
        jobPreludeSh(a, a.removeClusterOnDestroy ? [] : ["KIND", "STACK", "KUBECTL"]),
        `if ! BIN=$(find_rke2); then
  echo "rancher-ha: $HOST: RKE2 is not installed here; nothing to remove"
  rm -f "$STATE/${RKE2_STATE.nodeName}"
  exit 0
fi
NAME=$(cat "$STATE/${RKE2_STATE.nodeName}" 2>/dev/null || node_name)
${k8sSteps}
UNINSTALL=$(dirname "$BIN")/rke2-uninstall.sh
[ -x "$UNINSTALL" ] || fail "$UNINSTALL is missing; uninstall RKE2 by hand (the node is out of the cluster)"
echo "rancher-ha: $HOST: running $UNINSTALL"
"$UNINSTALL" || fail "$UNINSTALL failed (output above); run it again by hand"
rm -f "$STATE/${RKE2_STATE.nodeName}"
echo "rancher-ha: $HOST: RKE2 removed from this node"`,
    );
}

export interface Rke2NodeOutput {
    nodeName: string;
    version: string;
    /** Servers: /etc/rancher/rke2/rke2.yaml (server https://127.0.0.1:6443). */
    kubeconfig?: string;
}

/** Reads the framed block the node script printed on stdout. */
export function parseRke2NodeOutput(stdout: string): Rke2NodeOutput {
    const begin = stdout.lastIndexOf(FRAME_BEGIN);
    const end = stdout.indexOf(FRAME_END, begin);
    if (begin < 0 || end < 0) {
        throw new Error("rke2: the node script printed no outputs block (its stderr says why)");
    }
    const fields = new Map<string, string>();
    for (const line of stdout.slice(begin + FRAME_BEGIN.length, end).split("\n")) {
        const m = /^([a-z-]+) (.*)$/.exec(line.trim());
        if (m !== null) {
            fields.set(m[1], m[2]);
        }
    }
    const nodeName = fields.get("node-name");
    const version = fields.get("version");
    if (!nodeName || !version) {
        throw new Error("rke2: the node's outputs block lacks node-name or version");
    }
    const kc = fields.get("kubeconfig");
    return { nodeName, version, kubeconfig: kc ? Buffer.from(kc, "base64").toString("utf8") : undefined };
}
