// Remote scripts of `npm run ops` on RKE2 stacks (distribution: rke2), one node at a time; scripts/ops/rke2Commands.ts
// runs them in the documented order across the nodes. Pure renderers, same rules as every remote script (CONTRIBUTING.md):
// POSIX sh, values through shellQuote, results on stdout in one framed block (parseOpsResult), progress on stderr.
//
// Each script that changes a node runs as root through the stage's wrapper (rke2WrapperScript: `sudo -n` unless the
// SSH user is root; the root part is its own sh text in a quoted heredoc) and takes the SAME node lock as the stage's
// scripts (rke2NodeLockSh: flock on /var/lib/rancher/rancher-ha/lock, a bounded wait naming the holder), so an ops
// command and a `pulumi up` never work on one node at once. Read-only scripts (cert-status, drift, finding a snapshot,
// waiting for Ready) take no lock. Every loop is bounded in count and time. No secret is ever sent: none of these
// scripts needs one (RKE2 reads its token from the node's own config.yaml).
import { RKE2_PATHS, RKE2_UNITS } from "../../components/rke2/paths";
import { RKE2_LOCK_WAIT_SECONDS, RKE2_NODE_HELPERS_SH, RKE2_STATE, rke2NodeLockSh, rke2WrapperScript } from "../../components/rke2/scripts";
import { script, shellQuote, SUDO_SH } from "../../components/shared/shell";
import { DRIFT_MAX_FILE_BYTES } from "./driftScripts";
import { FRAME_BEGIN, FRAME_END } from "./remoteScripts";

/** What rke2 prints when a cluster reset (with or without a restore) is done; older releases begin "Etcd is running, ". */
export const CLUSTER_RESET_DONE = "restart without --cluster-reset flag now";

/** The file RKE2 leaves after a cluster reset until its next normal start; a second reset is refused while it exists. */
export const RESET_FLAG = `${RKE2_PATHS.serverDb}/reset-flag`;

/** Defaults of the bounds (seconds). */
export const RKE2_OPS_BOUNDS = {
    /** `rke2 etcd-snapshot save`. */
    snapshotSave: 900,
    /** `rke2 server --cluster-reset ...` until it reports the reset. */
    clusterReset: 1800,
    /** `systemctl stop`. */
    stop: 300,
    /** `rke2 certificate rotate`. */
    certRotate: 300,
    /** Seconds between Ready checks. */
    poll: 3,
} as const;

/** The node every script runs on. */
export interface Rke2OpsNodeArgs {
    kind: "server" | "agent";
    /** How messages name the node, e.g. "server 192.0.2.11" (as the stage names it). */
    hostLabel: string;
    /** The Pulumi stack, named in the lock. */
    stack: string;
    /** Seconds to wait for another run holding the node's lock. Default RKE2_LOCK_WAIT_SECONDS. */
    lockWaitSeconds?: number;
}

/** Scripts that wait until a node is Ready. */
export interface Rke2ReadyArgs {
    /** rke2.nodeReadyTimeout. */
    nodeReadyTimeoutSeconds: number;
    /** Default RKE2_OPS_BOUNDS.poll. */
    pollSeconds?: number;
}

/** RKE2 snapshot names (`rke2 etcd-snapshot save --name`): RKE2 appends -<node>-<unix time> to it. */
export function rke2SnapshotNameProblem(name: string): string | undefined {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(name)) {
        return `"${name}" is not a usable snapshot name: letters, digits and _ . - only, starting with a letter or digit, at most 100`;
    }
    return undefined;
}

function assertName(name: string): void {
    const problem = rke2SnapshotNameProblem(name);
    if (problem) {
        throw new Error(problem);
    }
}

function checkNode(a: Rke2OpsNodeArgs, want?: "server"): void {
    if (want !== undefined && a.kind !== want) {
        throw new Error(`rke2 ops: ${a.hostLabel}: this script runs on a server`);
    }
    const wait = a.lockWaitSeconds ?? RKE2_LOCK_WAIT_SECONDS;
    if (!Number.isInteger(wait) || wait < 1) {
        throw new Error(`rke2 ops: lockWaitSeconds must be a positive integer, got ${wait}`);
    }
}

function checkReady(r: Rke2ReadyArgs): void {
    for (const [k, v] of Object.entries({ nodeReadyTimeoutSeconds: r.nodeReadyTimeoutSeconds, pollSeconds: r.pollSeconds ?? 1 })) {
        if (!Number.isInteger(v) || v < 1) {
            throw new Error(`rke2 ops: ${k} must be a positive integer, got ${v}`);
        }
    }
}

type Constant = "STACK" | "UNIT" | "STATE";

/** HOST, the constants a root part uses (only those, so none is unused), fail(). */
function constantsSh(a: Rke2OpsNodeArgs, names: Constant[]): string {
    const values: Record<Constant, string> = { STACK: shellQuote(a.stack), UNIT: RKE2_UNITS[a.kind], STATE: RKE2_PATHS.stateDir };
    return [`HOST=${shellQuote(a.hostLabel)}`, ...names.map(n => `${n}=${values[n]}`),
        `fail() { echo "rancher-ha ops: $HOST: $*" >&2; exit 1; }`, "umask 077"].join("\n");
}

/**
 * Root part of a script that changes the node: constants, the node's lock, rke2 found (in $BIN when `bin`), the
 * node's name in $NAME.
 */
function lockedRoot(a: Rke2OpsNodeArgs, what: string, bin: boolean, ...body: string[]): string {
    checkNode(a);
    return script(
        constantsSh(a, ["STACK", "UNIT", "STATE"]),
        `mkdir -p "$STATE"
chmod 700 "$STATE"
# The stage's node lock: never at the same time as a pulumi up's job (or another ops command) on this node.
${rke2NodeLockSh(a.lockWaitSeconds ?? RKE2_LOCK_WAIT_SECONDS)}
echo ${shellQuote(`npm run ops -- ${what}`)}", stack $STACK, pid $$, since $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$STATE/${RKE2_STATE.lockOwner}"`,
        RKE2_NODE_HELPERS_SH,
        `${bin ? "BIN=$(find_rke2)" : "find_rke2 >/dev/null"} || fail "RKE2 is not installed on this node (no rke2 in ${RKE2_PATHS.installPrefix}/bin or /opt/rke2/bin): is it a node of stack $STACK? pulumi up installs it"
NAME=$(cat "$STATE/${RKE2_STATE.nodeName}" 2>/dev/null || node_name)`,
        ...body,
    );
}

/** Root part of a read-only script: no lock; fails where RKE2 is not installed. `unit`: the script uses $UNIT. */
function readOnlyRoot(a: Rke2OpsNodeArgs, unit: boolean, ...body: string[]): string {
    checkNode(a);
    return script(
        constantsSh(a, unit ? ["STACK", "UNIT"] : ["STACK"]),
        RKE2_NODE_HELPERS_SH,
        `find_rke2 >/dev/null || fail "RKE2 is not installed on this node (no rke2 in ${RKE2_PATHS.installPrefix}/bin or /opt/rke2/bin): is it a node of stack $STACK?"`,
        ...body,
    );
}

const frame = (...lines: string[]) => [`echo ${shellQuote(FRAME_BEGIN)}`, ...lines, `echo ${shellQuote(FRAME_END)}`].join("\n");

/** stop_unit: stops the node's unit (bounded) and checks it is down. */
const STOP_UNIT_SH = `stop_unit() {
  if systemctl is-active --quiet "$UNIT"; then
    echo "rancher-ha ops: $HOST: stopping $UNIT" >&2
    timeout ${RKE2_OPS_BOUNDS.stop} systemctl stop "$UNIT" || fail "systemctl stop $UNIT failed or took over ${RKE2_OPS_BOUNDS.stop} s"
  else
    echo "rancher-ha ops: $HOST: $UNIT is not running" >&2
  fi
  if systemctl is-active --quiet "$UNIT"; then fail "$UNIT is still active after systemctl stop"; fi
}`;

/** start_unit: starts the unit without blocking (RKE2's units have TimeoutStartSec=0: the wait is ours). */
const START_UNIT_SH = `start_unit() {
  echo "rancher-ha ops: $HOST: starting $UNIT" >&2
  systemctl start --no-block "$UNIT" || fail "systemctl start $UNIT failed"
}`;

/** wait_ready NAME: until node NAME is Ready by this server's own kubeconfig (bounded), or the unit failed. */
function waitReadySh(r: Rke2ReadyArgs): string {
    checkReady(r);
    const poll = r.pollSeconds ?? RKE2_OPS_BOUNDS.poll;
    const t = r.nodeReadyTimeoutSeconds;
    return `KUBECTL=${RKE2_PATHS.binDir}/kubectl
KC=${RKE2_PATHS.kubeconfig}
journal_tail() {
  echo "rancher-ha ops: $HOST: last lines of journalctl -u $UNIT:" >&2
  journalctl -u "$UNIT" -n 30 --no-pager 2>&1 | sed 's/^/  | /' >&2 || true
}
wait_ready() {
  echo "rancher-ha ops: $HOST: waiting up to ${t} s for node $1 to be Ready" >&2
  end=$(( $(date +%s) + ${t} ))
  while :; do
    r=""
    if [ -x "$KUBECTL" ] && [ -s "$KC" ]; then
      r=$("$KUBECTL" --kubeconfig "$KC" --request-timeout=10s get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
    fi
    [ "$r" = True ] && break
    if systemctl is-failed --quiet "$UNIT"; then journal_tail; fail "$UNIT failed to start (see the journal above)"; fi
    if [ "$(date +%s)" -ge "$end" ]; then journal_tail; fail "node $1 is not Ready after ${t} s (rke2.nodeReadyTimeout; Ready=\${r:-unknown}); see the journal above"; fi
    sleep ${poll}
  done
  echo "rancher-ha ops: $HOST: node $1 is Ready" >&2
}`;
}

// ---------------------------------------------------------------- snapshots

export interface Rke2SnapshotSaveArgs extends Rke2OpsNodeArgs {
    name: string;
}

/**
 * `rke2 etcd-snapshot save --name <name>` on a (the first) server: the snapshot in its snapshots directory and, when
 * config.yaml carries etcd-s3-*, in S3. Result: `snapshot <path>` for each new file.
 */
export function rke2SnapshotSaveScript(a: Rke2SnapshotSaveArgs): string {
    checkNode(a, "server");
    assertName(a.name);
    const t = RKE2_OPS_BOUNDS.snapshotSave;
    return rke2WrapperScript(lockedRoot(a, "snapshot-save", true,
        `SNAPS=${RKE2_PATHS.snapshotsDir}
SNAP=${shellQuote(a.name)}
systemctl is-active --quiet "$UNIT" || fail "$UNIT is not running: rke2 etcd-snapshot save needs this server's etcd; start it (sudo systemctl start $UNIT) and run again"
BEFORE=$(ls -1 "$SNAPS" 2>/dev/null || true)
echo "rancher-ha ops: $HOST: rke2 etcd-snapshot save --name $SNAP" >&2
timeout ${t} "$BIN" etcd-snapshot save --name "$SNAP" >&2 || fail "rke2 etcd-snapshot save failed or took over ${t} s (its output is above)"
NEW=""
for f in "$SNAPS/$SNAP"-*; do
  [ -f "$f" ] || continue
  if printf '%s\\n' "$BEFORE" | grep -qxF "\${f##*/}"; then continue; fi
  NEW="$NEW $f"
done
[ -n "$NEW" ] || fail "rke2 etcd-snapshot save succeeded, but no new $SNAP-* is in $SNAPS; see its output above"`,
        frame(`echo "node-name $NAME"`, `for f in $NEW; do echo "snapshot $f"; done`),
    ));
}

export interface Rke2SnapshotFindArgs extends Rke2OpsNodeArgs {
    /** A file name in the snapshots directory, or the --name given to snapshot-save (its files are <name>-<node>-<time>). */
    name: string;
    /** etcdSnapshots.s3 is set: a name not found here is taken from S3. */
    s3: boolean;
}

/**
 * Read-only, on the first server: which snapshot a restore of `name` uses. Result `local <path>` (the file of that
 * name, or the one file <name>-*), or `s3 <name>` when it is not here and the stack has S3. Fails listing the
 * newest local snapshots when neither, or when <name>-* matches several files.
 */
export function rke2SnapshotFindScript(a: Rke2SnapshotFindArgs): string {
    checkNode(a, "server");
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/.test(a.name)) {
        throw new Error(`"${a.name}" is not a snapshot name: letters, digits and _ . - only`);
    }
    return rke2WrapperScript(readOnlyRoot(a, false,
        `SNAPS=${RKE2_PATHS.snapshotsDir}
SNAP=${shellQuote(a.name)}
S3=${a.s3 ? "1" : "0"}
# shellcheck disable=SC2012 # names RKE2 gave (no newlines), newest first: what ls -t does
newest() { ls -1t "$SNAPS" 2>/dev/null | head -n 10 | sed 's/^/  /' | tr '\\n' ' '; }
FOUND=""
COUNT=0
if [ -f "$SNAPS/$SNAP" ]; then
  FOUND="$SNAPS/$SNAP"; COUNT=1
else
  for f in "$SNAPS/$SNAP"-*; do
    [ -f "$f" ] || continue
    COUNT=$((COUNT + 1)); FOUND="$FOUND $f"
    [ "$COUNT" -le 50 ] || break
  done
fi
if [ "$COUNT" -gt 1 ]; then
  fail "several snapshots here start with $SNAP-:$FOUND; pass the whole file name with --name"
elif [ "$COUNT" = 1 ]; then
  RESULT="local \${FOUND# }"
elif [ "$S3" = 1 ]; then
  RESULT="s3 $SNAP"
else
  fail "no snapshot $SNAP or $SNAP-* in $SNAPS on this server (the newest here: $(newest)); etcdSnapshots.s3 is not set, so there is nowhere else to look"
fi`,
        frame(`echo "$RESULT"`),
    ));
}

/** Stops the node's unit (rke2-server or rke2-agent), under the node lock. Result `stopped <unit>`. */
export function rke2StopScript(a: Rke2OpsNodeArgs & { what: string }): string {
    return rke2WrapperScript(lockedRoot(a, a.what, false, STOP_UNIT_SH, "stop_unit", frame(`echo "node-name $NAME"`, `echo "stopped $UNIT"`)));
}

export interface Rke2ClusterResetArgs extends Rke2OpsNodeArgs, Rke2ReadyArgs {
    /** From rke2SnapshotFindScript: a file here, or a snapshot name in S3. */
    snapshot: { local: string } | { s3: string };
    /** etcdSnapshots.s3 is set (config.yaml carries etcd-s3): a local file then needs --etcd-s3=false (RKE2 docs). */
    s3Configured: boolean;
    /** Seconds the reset may take. Default RKE2_OPS_BOUNDS.clusterReset. */
    resetTimeoutSeconds?: number;
}

/**
 * On the first server, its unit stopped: `rke2 server --cluster-reset --cluster-reset-restore-path=<snapshot>` in the
 * background, its log read until it says the membership was reset (bounded), then the unit started and the node
 * waited for until Ready. The log stays in /var/lib/rancher/rancher-ha/cluster-reset.log.
 */
export function rke2ClusterResetScript(a: Rke2ClusterResetArgs): string {
    checkNode(a, "server");
    const path = "local" in a.snapshot ? a.snapshot.local : a.snapshot.s3;
    if (!/^[A-Za-z0-9_./-]+$/.test(path) || path.includes("..")) {
        throw new Error(`rke2 ops: "${path}" is not a snapshot path or name`);
    }
    // With etcd-s3 in config.yaml, RKE2 looks for the path in S3 unless told otherwise.
    const s3Off = "local" in a.snapshot && a.s3Configured ? " --etcd-s3=false" : "";
    const t = a.resetTimeoutSeconds ?? RKE2_OPS_BOUNDS.clusterReset;
    return rke2WrapperScript(lockedRoot(a, "snapshot-restore", true,
        STOP_UNIT_SH, START_UNIT_SH, waitReadySh(a),
        `RESTORE=${shellQuote(path)}
LOG="$STATE/cluster-reset.log"
if [ -e ${RESET_FLAG} ]; then
  fail "${RESET_FLAG} exists: an earlier cluster reset on this node was not followed by a normal start of $UNIT, and RKE2 refuses another reset until then. If that reset was this restore's, start the server (sudo systemctl start $UNIT) and go on by hand (docs/operations.md#rke2); else remove the file and run again"
fi
${"local" in a.snapshot ? `[ -f "$RESTORE" ] || fail "the snapshot $RESTORE is not on this server any more"\n` : ""}stop_unit
: > "$LOG"
chmod 600 "$LOG"
echo "rancher-ha ops: $HOST: rke2 server --cluster-reset --cluster-reset-restore-path=$RESTORE${s3Off} (log: $LOG, up to ${t} s)" >&2
"$BIN" server --cluster-reset --cluster-reset-restore-path="$RESTORE"${s3Off} >> "$LOG" 2>&1 &
PID=$!
END=$(( $(date +%s) + ${t} ))
DONE=""
while :; do
  if grep -qF -- ${shellQuote(CLUSTER_RESET_DONE)} "$LOG"; then DONE=1; break; fi
  kill -0 "$PID" 2>/dev/null || break
  [ "$(date +%s)" -lt "$END" ] || break
  sleep 2
done
# rke2 exits by itself after the message: give it 30 s, then stop it.
i=0
while kill -0 "$PID" 2>/dev/null && [ "$i" -lt 30 ]; do sleep 1; i=$((i + 1)); done
if kill -0 "$PID" 2>/dev/null; then kill "$PID" 2>/dev/null || true; sleep 2; kill -9 "$PID" 2>/dev/null || true; fi
wait "$PID" 2>/dev/null || true
tail -n 15 "$LOG" | sed 's/^/  | /' >&2
[ -n "$DONE" ] || fail "rke2 did not report the reset ('${CLUSTER_RESET_DONE}') within ${t} s; its last lines are above ($LOG). $UNIT stays stopped on every server; fix the cause and run snapshot-restore again"
echo "rancher-ha ops: $HOST: etcd restored from $RESTORE and reset to this one member" >&2
start_unit
wait_ready "$NAME"`,
        frame(`echo "node-name $NAME"`, `echo "restored $RESTORE"`),
    ));
}

/**
 * On each other server after the reset, its unit stopped: its datastore moved aside (renamed to db.bak-<UTC time>,
 * never deleted; its local snapshots are in there too), then the unit started and the node waited for until Ready:
 * it joins the restored cluster as a new etcd member. Result `moved <dir>`.
 */
export function rke2RejoinServerScript(a: Rke2OpsNodeArgs & Rke2ReadyArgs): string {
    checkNode(a, "server");
    const db = RKE2_PATHS.serverDb;
    return rke2WrapperScript(lockedRoot(a, "snapshot-restore", false,
        STOP_UNIT_SH, START_UNIT_SH, waitReadySh(a),
        `stop_unit
MOVED=""
if [ -d ${db} ]; then
  MOVED=${db}.bak-$(date -u +%Y%m%dT%H%M%SZ)
  [ ! -e "$MOVED" ] || fail "$MOVED exists already; run again in a second"
  mv ${db} "$MOVED"
  echo "rancher-ha ops: $HOST: moved ${db} aside to $MOVED (this node's local snapshots are in it)" >&2
fi
start_unit
wait_ready "$NAME"`,
        frame(`echo "node-name $NAME"`, `[ -z "$MOVED" ] || echo "moved $MOVED"`),
    ));
}

/** Starts the node's unit (an agent after a restore), under the node lock. Result `node-name <name>`. */
export function rke2StartScript(a: Rke2OpsNodeArgs & { what: string }): string {
    return rke2WrapperScript(lockedRoot(a, a.what, false, START_UNIT_SH,
        `if systemctl is-active --quiet "$UNIT"; then echo "rancher-ha ops: $HOST: $UNIT is running" >&2; else start_unit; fi`,
        frame(`echo "node-name $NAME"`)));
}

/** Read-only, on a server: waits (bounded) until every named node is Ready, by the server's own kubeconfig. */
export function rke2WaitNodesReadyScript(a: Rke2OpsNodeArgs & Rke2ReadyArgs & { nodeNames: string[] }): string {
    checkNode(a, "server");
    for (const n of a.nodeNames) {
        if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(n)) {
            throw new Error(`rke2 ops: "${n}" is not a Kubernetes node name`);
        }
    }
    return rke2WrapperScript(readOnlyRoot(a, true, waitReadySh(a),
        `for n in ${a.nodeNames.join(" ")}; do wait_ready "$n"; done`,
        frame(...a.nodeNames.map(n => `echo "ready ${n}"`))));
}

// ---------------------------------------------------------------- certificates

/**
 * One server: its unit stopped, `rke2 certificate rotate` (every component certificate, same CAs), the unit started,
 * the node waited for until Ready. Result `rotated`.
 */
export function rke2CertRotateScript(a: Rke2OpsNodeArgs & Rke2ReadyArgs): string {
    checkNode(a, "server");
    const t = RKE2_OPS_BOUNDS.certRotate;
    return rke2WrapperScript(lockedRoot(a, "cert-rotate", true,
        STOP_UNIT_SH, START_UNIT_SH, waitReadySh(a),
        `stop_unit
echo "rancher-ha ops: $HOST: rke2 certificate rotate" >&2
if ! timeout ${t} "$BIN" certificate rotate >&2; then
  echo "rancher-ha ops: $HOST: rke2 certificate rotate failed or took over ${t} s; starting $UNIT again with its certificates as they are" >&2
  start_unit
  fail "rke2 certificate rotate failed (its output is above); $UNIT was started again"
fi
start_unit
wait_ready "$NAME"`,
        frame(`echo "node-name $NAME"`, `echo "rotated"`),
    ));
}

/** Where the certificates cert-status reads live, relative to RKE2_PATHS.dataDir. */
export const RKE2_CERT_GLOBS = ["server/tls/*.crt", "server/tls/etcd/*.crt", "agent/*.crt"] as const;

/**
 * Read-only: the expiry of every certificate of the node (servers: server/tls and server/tls/etcd; every node: agent/),
 * read with openssl. Result lines `cert <path under the data dir> <ca|leaf> <notAfter as openssl prints it>` (ca:
 * subject = issuer), `unreadable <path>` for a file openssl cannot read.
 */
export function rke2CertStatusScript(a: Rke2OpsNodeArgs): string {
    const dir = RKE2_PATHS.dataDir;
    return rke2WrapperScript(readOnlyRoot(a, false,
        `command -v openssl >/dev/null 2>&1 || fail "openssl is not installed on this node; install it (apt-get install openssl / dnf install openssl) to read the certificates' expiry"
DIR=${dir}`,
        frame(`n=0
for f in ${RKE2_CERT_GLOBS.map(g => `"$DIR"/${g}`).join(" ")}; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  [ "$n" -le 500 ] || break
  END=$(openssl x509 -noout -enddate -in "$f" 2>/dev/null | sed -n 's/^notAfter=//p')
  if [ -z "$END" ]; then echo "unreadable \${f#"$DIR"/}"; continue; fi
  S=$(openssl x509 -noout -subject -in "$f" 2>/dev/null | sed 's/^subject= *//')
  I=$(openssl x509 -noout -issuer -in "$f" 2>/dev/null | sed 's/^issuer= *//')
  if [ "$S" = "$I" ]; then CA=ca; else CA=leaf; fi
  echo "cert \${f#"$DIR"/} $CA $END"
done`),
    ));
}

// ---------------------------------------------------------------- drift

/**
 * Lines the drift check never reads off a node: the token (and agent-token) and the S3 secret key of config.yaml,
 * the password of registries.yaml. Removed on the node before anything is hashed or sent, and removed the same way
 * from the stack's (redacted) render before the comparison.
 */
export const RKE2_DRIFT_MASKS = {
    config: { grep: "^(token|agent-token|etcd-s3-secret-key):", js: /^(token|agent-token|etcd-s3-secret-key):/ },
    registries: { grep: "^[[:space:]]*password:", js: /^\s*password:/ },
} as const;

/** A text as `grep -v -E <mask>` leaves it: matching lines out, every line ending in a newline. */
export function maskSecretLines(text: string, mask: keyof typeof RKE2_DRIFT_MASKS): string {
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") {
        lines.pop();
    }
    return lines.filter(l => !RKE2_DRIFT_MASKS[mask].js.test(l)).map(l => `${l}\n`).join("");
}

/**
 * Read-only drift check of one node, run as the SSH user (root's files through `sudo -n`, nothing written, no lock):
 * `node-config` and `node-registries` (`present <sha256> <base64|->` of the file with the secret lines removed ON
 * THE NODE, `missing`, `unreadable`), `node-unit <systemctl is-active>`, `node-version <rke2 version|->`, and
 * `node-job running <pid>` while a pulumi up's node job runs.
 */
export function rke2DriftScript(a: Pick<Rke2OpsNodeArgs, "kind" | "hostLabel">): string {
    const P = RKE2_PATHS;
    return script(
        `HOST=${shellQuote(a.hostLabel)}
UNIT=${RKE2_UNITS[a.kind]}
STATE=${P.stateDir}`,
        SUDO_SH,
        `for t in sha256sum base64 grep; do
  command -v "$t" >/dev/null 2>&1 || { echo "rancher-ha ops: $HOST: $t is needed for the drift check" >&2; exit 1; }
done
# masked_report KEY PATH MASK: the file without the lines matching MASK (secrets never leave the node).
masked_report() {
  if [ -f "$2" ] && [ -r "$2" ]; then R=""
  elif [ -n "$SUDO" ] && $SUDO test -f "$2" 2>/dev/null; then R="$SUDO"
  elif [ -n "$SUDO" ] && $SUDO true 2>/dev/null; then
    # sudo works: root can tell a missing file from one it is not (RKE2's config dir is 0700).
    if $SUDO test -e "$2"; then echo "$1 unreadable"; else echo "$1 missing"; fi; return 0
  elif [ -e "$2" ] || { [ -d "$(dirname "$2")" ] && ! [ -x "$(dirname "$2")" ]; }; then echo "$1 unreadable"; return 0
  else echo "$1 missing"; return 0
  fi
  SIZE=$($R cat "$2" | grep -v -E -- "$3" | wc -c)
  printf '%s present %s ' "$1" "$($R cat "$2" | grep -v -E -- "$3" | sha256sum | cut -d ' ' -f 1)"
  if [ "$SIZE" -le ${DRIFT_MAX_FILE_BYTES} ]; then $R cat "$2" | grep -v -E -- "$3" | base64 | tr -d '\\n'; echo; else echo -; fi
}`,
        RKE2_NODE_HELPERS_SH,
        frame(`masked_report node-config ${P.config} ${shellQuote(RKE2_DRIFT_MASKS.config.grep)}
masked_report node-registries ${P.registries} ${shellQuote(RKE2_DRIFT_MASKS.registries.grep)}
echo "node-unit $(systemctl is-active "$UNIT" 2>/dev/null || true)"
if BIN=$(find_rke2); then
  echo "node-version $("$BIN" --version 2>/dev/null | sed -n 's/^rke2 version \\([^ ]*\\).*/\\1/p' | head -n 1)"
else
  echo "node-version -"
fi
PID=$($SUDO cat "$STATE/${RKE2_STATE.job}/pid" 2>/dev/null || true)
case "$PID" in ''|*[!0-9]*) PID="" ;; esac
if [ -n "$PID" ] && ! $SUDO test -e "$STATE/${RKE2_STATE.job}/rc" && [ -d "/proc/$PID" ]; then echo "node-job running $PID"; fi`),
    );
}
