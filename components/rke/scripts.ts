// Remote scripts of the RKE stage and the parser of what `rke up` reports back.
//
// rke-up    runs on the admin host: writes rancher-cluster.yml + keys from the stdin bundle, restores the state
//           file from the Pulumi stack when the host lacks it, runs `rke up` (retrying like users do by hand) and
//           prints the kubeconfig and state as one framed block on stdout. Progress goes to stderr.
// rke-remove runs `rke remove --force` with the same files (the Command's delete).
// preflight runs on every node before rke up: docker, sshd forwarding, swap, ports.
import { BundleFile, fileBundle, shellPath, shellQuote, SUDO_SH, UNPACK_BUNDLE_SH, script } from "../shared/shell";
import { NodeSettings, StackSettings, STATE_SYNC_PATTERN } from "../config/types";
import { describeTarget } from "../shared/ssh";
import { runOnHostScript, SshHop } from "../shared/sshCommand";
import { rkeClusterConfig, RkeRole, rkeYamlArgs } from "./clusterYml";

/** File names RKE derives from `--config rancher-cluster.yml` (cluster/state.go, pki/util.go). */
export const RKE_FILES = {
    config: "rancher-cluster.yml",
    state: "rancher-cluster.rkestate",
    kubeconfig: "kube_config_rancher-cluster.yml",
    /** Ours: the worker-only fingerprint shipped with the yml (see rkeUpPlan). */
    plan: "rancher-cluster.plan",
    /** Ours: sha256 of the yml and the plan of the last successful `rke up`. */
    lastUp: ".rancher-ha-last-up",
    lastPlan: ".rancher-ha-last-plan",
    log: "rke.log",
    keys: "keys",
    /** One rancher-ha run at a time in the work dir (flock), shared with `npm run ops`; the holder is in .owner. */
    lock: ".rancher-ha.lock",
    lockOwner: ".rancher-ha.lock.owner",
    /** The detached `rke up` run: its script, pid, the config hash it runs, and its exit status once done. */
    job: ".rancher-ha-rke-job",
    /** sha256 of the last state reported to Pulumi, and of the last state the stack sent that this host took in. */
    reported: ".rancher-ha-reported-state",
    seen: ".rancher-ha-seen-state",
    /** The stack's copy of the state, kept beside a different one found on the host (see the state check). */
    fromStack: "rancher-cluster.rkestate.from-stack",
} as const;

/**
 * The marker line a delete script carries when it removes a cluster (policy/rules.ts refuses any other): only
 * `admin.removeClusterOnDestroy: true` renders one.
 */
export const CLUSTER_REMOVAL_OPT_IN_MARKER = "# rancher-ha: cluster removal opted in (admin.removeClusterOnDestroy)";

/** Seconds a run waits for another one holding the work dir lock before it gives up, naming the holder. */
export const LOCK_WAIT_SECONDS = 600;

/** Names inside the stdin bundle. */
const IN = {
    restoreState: "restore.rkestate",
    clusterExists: "cluster-exists",
    keyPrefix: "key-",
};

const FRAME_BEGIN = "-----BEGIN RANCHER-HA RKE OUTPUTS-----";
const FRAME_END = "-----END RANCHER-HA RKE OUTPUTS-----";

export interface RkeBundleKey {
    keyId: string;
    privateKey: string;
}

/** The config part of the rke-up stdin: yml, plan and each distinct SSH key (mode 0600). */
export function rkeConfigBundle(yml: string, plan: string, keys: RkeBundleKey[]): string {
    const seen = new Set<string>();
    const files: BundleFile[] = [
        { name: RKE_FILES.config, mode: "600", content: yml },
        { name: RKE_FILES.plan, mode: "600", content: plan },
    ];
    for (const k of keys) {
        if (!/^[0-9a-f]{16}$/.test(k.keyId)) {
            throw new Error(`rkeConfigBundle: keyId "${k.keyId}" is not 16 hex characters`);
        }
        if (!seen.has(k.keyId)) {
            seen.add(k.keyId);
            files.push({ name: `${IN.keyPrefix}${k.keyId}`, mode: "600", content: k.privateKey });
        }
    }
    return fileBundle(files);
}

/**
 * The restore part of the rke-up stdin. `state`: the rkestate to put in place when the host has none.
 * `clusterExists`: Pulumi has run rke up before, so running it without a state file would regenerate the
 * cluster's certificates; the script refuses instead.
 */
export function rkeRestoreBundle(state: string | undefined, clusterExists: boolean): string {
    const files: BundleFile[] = [];
    if (state) {
        files.push({ name: IN.restoreState, mode: "600", content: state });
    }
    if (clusterExists) {
        files.push({ name: IN.clusterExists, mode: "600", content: "1\n" });
    }
    return fileBundle(files);
}

export interface RkeUpScriptArgs {
    /** Work directory on the admin host (`~/` allowed). */
    workDir: string;
    /** rke binary: a name on PATH or a path. */
    rkePath: string;
    /** Expected `rke --version`, e.g. v1.8.14. */
    rkeVersion: string;
    /** How messages name the admin host, e.g. rancher@192.0.2.11:22 or "local". */
    hostLabel: string;
    /** The Pulumi stack, named in the work dir lock. */
    stack: string;
    /** Seconds to wait for the detached rke up before giving up (it goes on). Default RKE_UP_WAIT_SECONDS. */
    waitSeconds?: number;
    /** Seconds to wait for another run holding the work dir lock. Default LOCK_WAIT_SECONDS. */
    lockWaitSeconds?: number;
    /** Tries of `rke up` before giving up. Default 3. */
    attempts?: number;
    /** Seconds between tries. Default 15. */
    retryDelaySeconds?: number;
    /**
     * admin.stateSync: any change makes Pulumi run this script again, which (config unchanged) reports the admin
     * host's current kubeconfig and state back to the stack after `npm run ops` changed them.
     */
    stateSync?: string;
}

/** Shell prelude shared by up and remove: variables, fail(), the lock function, stdin unpacked into $IN. */
function prelude(a: { workDir: string; rkePath: string; hostLabel: string; stack: string; lockWaitSeconds?: number }): string {
    return `WORK=${shellPath(a.workDir)}
RKE=${shellPath(a.rkePath)}
HOST=${shellQuote(a.hostLabel)}
STACK=${shellQuote(a.stack)}
fail() { echo "rancher-ha: $HOST: $*" >&2; exit 1; }
${takeLockSh(a.lockWaitSeconds)}
${unpackIntoWorkDirSh("incoming")}
[ -s "$IN/${RKE_FILES.config}" ] || fail "no ${RKE_FILES.config} on stdin (rancher-ha internal error)"
cd "$WORK"`;
}

/** Moves the yml and keys from $IN into place (under the lock). SSH keys: keys/<keyId>, 0600; unused ones removed. */
const INSTALL_FILES_SH = `KEEP=" "
for f in "$IN"/${IN.keyPrefix}*; do
  [ -e "$f" ] || continue
  id=\${f##*/${IN.keyPrefix}}
  KEEP="$KEEP$id "
  cmp -s "$f" "${RKE_FILES.keys}/$id" 2>/dev/null || mv -f "$f" "${RKE_FILES.keys}/$id"
  chmod 600 "${RKE_FILES.keys}/$id"
done
for f in ${RKE_FILES.keys}/*; do
  [ -e "$f" ] || continue
  case "$KEEP" in *" \${f##*/} "*) ;; *) rm -f "$f" ;; esac
done
cmp -s "$IN/${RKE_FILES.config}" ${RKE_FILES.config} 2>/dev/null || mv -f "$IN/${RKE_FILES.config}" ${RKE_FILES.config}
chmod 600 ${RKE_FILES.config}`;

function rkeBinaryCheck(version: string): string {
    return `WANT=${shellQuote(version)}
case $(uname -m) in aarch64|arm64) ARCH=arm64 ;; *) ARCH=amd64 ;; esac
INSTALL="install rke $WANT: curl -fsSLo /tmp/rke https://github.com/rancher/rke/releases/download/$WANT/rke_linux-$ARCH && sudo install -m 0755 /tmp/rke /usr/local/bin/rke (or point admin.rkePath at it)"
command -v "$RKE" >/dev/null 2>&1 || fail "rke not found (admin.rkePath: $RKE); $INSTALL"
${RKE_HAVE_SH}
[ "$HAVE" = "$WANT" ] || fail "$RKE is rke \${HAVE:-of unknown version}, but versions.rke is $WANT; $INSTALL, or set versions.rke to the installed one"`;
}

/** Sets $HAVE to the version `$RKE --version` reports (`rke version vX.Y.Z`), empty when it reports none. */
export const RKE_HAVE_SH = `HAVE=$("$RKE" --version 2>/dev/null | sed -n 's/^rke version \\([^ ]*\\).*/\\1/p' | head -n 1)`;

/**
 * Creates the admin work dir and its keys/ (0700, files 0600 by umask), then unpacks the stdin bundle into a
 * private temp dir $IN inside it (removed on exit), so files move into place with a rename. Needs $WORK.
 */
export function unpackIntoWorkDirSh(tmpName: string): string {
    return `${UNPACK_BUNDLE_SH}
umask 077
mkdir -p "$WORK/${RKE_FILES.keys}"
chmod 700 "$WORK" "$WORK/${RKE_FILES.keys}"
IN=$(mktemp -d "$WORK/.${tmpName}.XXXXXX")
trap 'rm -rf "$IN"' EXIT
unpack_bundle "$IN"`;
}

/**
 * `take_lock WHAT`: one rancher-ha run at a time in $WORK (rke up, rke remove and every `npm run ops` command):
 * an flock on $WORK/.rancher-ha.lock, held on fd 9 until the process (and anything it started in the background
 * that kept fd 9) exits, so a killed run never leaves a stale lock. A second run waits up to waitSeconds,
 * then fails naming the holder (stack, what, pid, since). Needs $WORK, $HOST, $STACK and fail().
 */
export function takeLockSh(waitSeconds = LOCK_WAIT_SECONDS): string {
    return `take_lock() {
  command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is not installed on this host; install it (apt-get install util-linux / dnf install util-linux)"
  exec 9>>"$WORK/${RKE_FILES.lock}"
  if ! flock -n 9; then
    echo "rancher-ha: $HOST: waiting up to ${waitSeconds} s for another run in $WORK: $(cat "$WORK/${RKE_FILES.lockOwner}" 2>/dev/null || echo unknown)" >&2
    flock -w ${waitSeconds} 9 || fail "another rancher-ha run holds $WORK/${RKE_FILES.lock}: $(cat "$WORK/${RKE_FILES.lockOwner}" 2>/dev/null || echo unknown); wait for it to finish and run again (the lock goes with its process: ps -p <pid>)"
  fi
  echo "$1, stack $STACK, pid $$, since $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$WORK/${RKE_FILES.lockOwner}"
}`;
}

/** Seconds the Command waits for a detached `rke up` (its customTimeouts allow 90 minutes). */
export const RKE_UP_WAIT_SECONDS = 85 * 60;

/**
 * `rke up` on the admin host. Idempotent: when the yml equals the one of the last successful run and both
 * output files exist, rke is not called and the files are reported again.
 *
 * rke runs detached from the SSH session (its own session, pid, log and exit status in the work dir): a dropped
 * connection, a cancelled or timed-out `pulumi up` never kills it half-way. The script waits for it; a later run
 * with the same config reattaches to it while it runs, or finds its result once done.
 */
export function rkeUpScript(a: RkeUpScriptArgs): string {
    const attempts = a.attempts ?? 3;
    const delay = a.retryDelaySeconds ?? 15;
    if (!Number.isInteger(attempts) || attempts < 1 || !Number.isInteger(delay) || delay < 0) {
        throw new Error(`rkeUpScript: attempts (${attempts}) must be >= 1 and retryDelaySeconds (${delay}) >= 0`);
    }
    const F = RKE_FILES;
    if (a.stateSync !== undefined && !STATE_SYNC_PATTERN.test(a.stateSync)) {
        throw new Error(`rkeUpScript: stateSync "${a.stateSync}" must match ${STATE_SYNC_PATTERN}`);
    }
    const waitSeconds = a.waitSeconds ?? RKE_UP_WAIT_SECONDS;
    return script(
        ...(a.stateSync ? [`# admin.stateSync: ${a.stateSync} (report the admin host's kubeconfig and state again)`] : []),
        prelude(a),
        rkeBinaryCheck(a.rkeVersion),
        `NEW=$(cat "$IN/${F.config}" "$IN/${F.plan}" | sha256sum | cut -d ' ' -f 1)
JOB="$WORK/${F.job}"
job_running() { [ -s "$JOB/pid" ] && [ ! -e "$JOB/rc" ] && kill -0 "$(cat "$JOB/pid")" 2>/dev/null; }
# wait_job: streams the job's log to stderr until it has written its exit status (bounded).
wait_job() {
  off=$(wc -c < ${F.log} 2>/dev/null || echo 0)
  end=$(( $(date +%s) + ${waitSeconds} ))
  while [ ! -e "$JOB/rc" ]; do
    size=$(wc -c < ${F.log} 2>/dev/null || echo 0)
    if [ "$size" -gt "$off" ]; then tail -c +$((off + 1)) ${F.log} | head -c $((size - off)) >&2; off=$size; fi
    if ! kill -0 "$(cat "$JOB/pid" 2>/dev/null || echo 0)" 2>/dev/null && [ ! -e "$JOB/rc" ]; then
      fail "the detached rke up (pid $(cat "$JOB/pid" 2>/dev/null)) ended without an exit status (killed?); see $WORK/${F.log} and run pulumi up again"
    fi
    [ "$(date +%s)" -lt "$end" ] || fail "rke up is still running after ${waitSeconds} s (pid $(cat "$JOB/pid")); it goes on in the background: follow $WORK/${F.log}, then run pulumi up again to collect its result"
    sleep 2
  done
  size=$(wc -c < ${F.log} 2>/dev/null || echo 0)
  [ "$size" -le "$off" ] || tail -c +$((off + 1)) ${F.log} >&2
}
# A run of this same config still going (the SSH session of an earlier pulumi up was lost): reattach.
if job_running && [ "$(cat "$JOB/hash" 2>/dev/null)" = "$NEW" ]; then
  echo "rancher-ha: $HOST: an rke up of this same config started earlier is still running (pid $(cat "$JOB/pid")); waiting for it" >&2
  wait_job
fi
take_lock "rke up"
${INSTALL_FILES_SH}
# The state file holds the cluster's CA and certificates: restore it from the stack, never overwrite it.
sum() { sha256sum < "$1" | cut -d ' ' -f 1; }
if [ -s "$IN/${IN.restoreState}" ]; then
  GIVEN=$(sum "$IN/${IN.restoreState}")
  if [ ! -s ${F.state} ]; then
    mv -f "$IN/${IN.restoreState}" ${F.state}
    chmod 600 ${F.state}
    echo "$GIVEN" > ${F.seen}
    echo "rancher-ha: $HOST: ${F.state} was missing; restored it from the Pulumi stack" >&2
  elif [ "$(sum ${F.state})" != "$GIVEN" ] && [ "$(cat ${F.reported} 2>/dev/null)" != "$GIVEN" ] && [ "$(cat ${F.seen} 2>/dev/null)" != "$GIVEN" ]; then
    # The stack's state is one this host never reported nor took in: it comes from another admin host (admin.host
    # moved away and back), so the copy here is older. Keep both and let the operator choose.
    cp "$IN/${IN.restoreState}" ${F.fromStack}
    chmod 600 ${F.fromStack}
    fail "the state file here ($WORK/${F.state}) differs from the newer one in the Pulumi stack, which another admin host wrote (admin.host moved away and back?). Both are kept; rke did not run. If the stack's is right (the usual case): mv $WORK/${F.fromStack} $WORK/${F.state}. If this host's is right (an npm run ops command changed it here since): rm $WORK/${F.fromStack}, and set admin.stateSync once the config is back as it was. Then run pulumi up again"
  else
    echo "$GIVEN" > ${F.seen}
  fi
elif [ ! -s ${F.state} ] && [ -e "$IN/${IN.clusterExists}" ]; then
  fail "the cluster exists (Pulumi ran rke up before) but neither $WORK/${F.state} nor the stack has its state file; rke up without it would create new certificates and break the cluster. Put the state file back (from a backup, or: pulumi stack output --show-secrets rkeState > ${F.state}) in $WORK and run pulumi up again"
fi
rm -f ${F.fromStack}
# Only worker-only nodes added or removed (same base fingerprint, no kept worker changed): rke up --update-only.
only_workers_changed() {
  awk 'FNR == NR { if ($1 == "base") ob = $2; else if ($1 == "worker") ow[$2] = $3; next }
       $1 == "base" { nb = $2 }
       $1 == "worker" && ($2 in ow) && ow[$2] != $3 { changed = 1 }
       END { exit !(ob != "" && ob == nb && !changed) }' "$1" "$2"
}
LAST=$(cat ${F.lastUp} 2>/dev/null || true)
if [ "$LAST" = "$NEW" ] && [ -s ${F.state} ] && [ -s ${F.kubeconfig} ]; then
  MODE=unchanged
  echo "rancher-ha: $HOST: ${F.config} is unchanged since the last successful rke up; not running rke" >&2
else
  MODE=full
  FLAGS=""
  if [ -s ${F.lastPlan} ] && [ -s ${F.state} ] && only_workers_changed ${F.lastPlan} "$IN/${F.plan}"; then
    MODE=update-only
    FLAGS="--update-only"
  fi
  # The detached run: retries like users do by hand, records success itself (so a result survives this session).
  rm -rf "$JOB"
  mkdir -m 700 "$JOB"
  cp "$IN/${F.plan}" "$JOB/plan"
  echo "$NEW" > "$JOB/hash"
  cat > "$JOB/run.sh" <<RANCHER_HA_JOB
echo \\$\\$ > "$JOB/pid"
n=1
while :; do
  echo "rancher-ha: $HOST: rke up $FLAGS --config ${F.config} (attempt \\$n of ${attempts})"
  if "$RKE" up $FLAGS --config ${F.config}; then rc=0; else rc=\\$?; fi
  [ "\\$rc" = 0 ] && break
  [ "\\$n" -ge ${attempts} ] && break
  n=\\$((n + 1))
  sleep ${delay}
done
if [ "\\$rc" = 0 ] && [ -s ${F.state} ] && [ -s ${F.kubeconfig} ]; then
  cp "$JOB/plan" ${F.lastPlan}
  echo "$NEW" > ${F.lastUp}
elif [ "\\$rc" = 0 ]; then
  echo "rancher-ha: $HOST: rke up succeeded but did not write ${F.state} and ${F.kubeconfig} in $WORK"
  rc=1
fi
echo "\\$n \\$rc" > "$JOB/rc.tmp" && mv "$JOB/rc.tmp" "$JOB/rc"
RANCHER_HA_JOB
  : > ${F.log}
  echo "rke up job, pid pending" > ${F.lockOwner}
  # Its own session (setsid), stdin from /dev/null, output to the log: nothing ties it to this SSH session. It
  # inherits fd 9, so it holds the work dir lock until it ends.
  if command -v setsid >/dev/null 2>&1; then
    setsid sh "$JOB/run.sh" < /dev/null >> ${F.log} 2>&1 &
  else
    nohup sh "$JOB/run.sh" < /dev/null >> ${F.log} 2>&1 &
  fi
  echo $! > "$JOB/pid"
  echo "rke up job, stack $STACK, pid $!, since $(date -u +%Y-%m-%dT%H:%M:%SZ)" > ${F.lockOwner}
  wait_job
  read -r TRIES RC < "$JOB/rc"
  if [ "$RC" != 0 ]; then
    echo "rancher-ha: $HOST: rke up failed $TRIES time(s); last lines of $WORK/${F.log}:" >&2
    tail -n 25 ${F.log} | sed 's/^/  | /' >&2
    fail "rke up failed (exit $RC) after $TRIES attempt(s); see the rke output above (docs/troubleshooting.md lists the common causes), fix it and run pulumi up again"
  fi
fi
sum ${F.state} > ${F.reported}
# Outputs for Pulumi (secret): one framed block, base64, on stdout.
echo ${shellQuote(FRAME_BEGIN)}
echo "mode $MODE"
printf 'kubeconfig '; base64 < ${F.kubeconfig} | tr -d '\\n'; echo
printf 'rkestate '; base64 < ${F.state} | tr -d '\\n'; echo
echo ${shellQuote(FRAME_END)}`,
    );
}

export interface RkeRemoveScriptArgs {
    workDir: string;
    rkePath: string;
    hostLabel: string;
    stack: string;
    /** Node addresses, for the message saying what is wiped. */
    nodes: string[];
}

/** What `rke remove` wipes (hosts/hosts.go CleanUpAll, services Remove*Plane; RKE docs for snapshots). */
export function rkeRemoveWarning(nodes: string[]): string {
    return `rke remove --force wipes the cluster on ${nodes.join(", ")}: the Kubernetes containers (etcd, ` +
        "kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, nginx-proxy) and the directories " +
        "/etc/kubernetes, /var/lib/etcd (all cluster data, Rancher data included), /etc/cni, /opt/cni, /var/lib/cni, " +
        "/var/run/calico; the RKE documentation says etcd snapshots (local and S3) are removed too, so copy any you want " +
        "to keep before destroying. Data that pods wrote to the nodes is not removed.";
}

/**
 * Removes everything rancher-ha and `npm run ops` wrote in the work dir (run in it, after rke remove): the yml
 * (registry password, S3 key), keys, states, kubeconfigs and their dated copies, logs. Only the lock file stays
 * (held until the script ends; it holds nothing).
 */
export const WIPE_WORKDIR_SH = `rm -rf ${RKE_FILES.keys} "$WORK/${RKE_FILES.job}"
for f in ${RKE_FILES.config} ${RKE_FILES.state}* ${RKE_FILES.kubeconfig}* ${RKE_FILES.lastUp} ${RKE_FILES.lastPlan} ${RKE_FILES.reported} ${RKE_FILES.seen} ${RKE_FILES.plan} ${RKE_FILES.log} ops.log snapshots.log ${RKE_FILES.lockOwner}; do
  rm -f "$f"
done`;

/**
 * `rke remove --force` with the files create wrote (re-written from stdin if lost), then every file rancher-ha and
 * `npm run ops` left in the work dir. Only rendered when the stack opted in (admin.removeClusterOnDestroy) or for
 * `npm run ops -- remove-cluster`; it carries CLUSTER_REMOVAL_OPT_IN_MARKER.
 */
export function rkeRemoveScript(a: RkeRemoveScriptArgs): string {
    const F = RKE_FILES;
    return script(
        CLUSTER_REMOVAL_OPT_IN_MARKER,
        prelude(a),
        `take_lock "rke remove"
${INSTALL_FILES_SH}
echo ${shellQuote(`rancher-ha: ${rkeRemoveWarning(a.nodes)}`)} >&2
command -v "$RKE" >/dev/null 2>&1 || fail "rke not found (admin.rkePath: $RKE), so the cluster cannot be removed; install rke and run again, or remove the nodes by hand"
{ if "$RKE" remove --force --config ${F.config} 2>&1; then echo 0 > "$IN/rc"; else echo $? > "$IN/rc"; fi; } | tee ${F.log} >&2
if [ "$(cat "$IN/rc")" != 0 ]; then
  fail "rke remove failed (exit $(cat "$IN/rc")); see the output above and $WORK/${F.log}, fix it and run again"
fi
${WIPE_WORKDIR_SH}
echo "rancher-ha: $HOST: cluster removed; $WORK holds no secrets any more" >&2`,
    );
}

/**
 * The delete of the rke-up Command by default: the cluster stays. Runs on the machine running Pulumi and reaches no
 * host; it says what stays where and how to remove the cluster on purpose.
 */
export function rkeForgetScript(a: { workDir: string; hostLabel: string; stack: string; nodes: string[] }): string {
    const msg = `rancher-ha: the Kubernetes cluster on ${a.nodes.join(", ")} is KEPT: pulumi destroy forgets it but never ` +
        `removes it unless admin.removeClusterOnDestroy is true. What stays: the cluster itself, and in ${a.workDir} on ` +
        `the admin host (${a.hostLabel}) its rancher-cluster.yml, SSH keys, state file and kubeconfig (with the dated ` +
        `copies npm run ops made), which are the admin credentials of the cluster. To remove the cluster on purpose: ` +
        `npm run ops -- remove-cluster --stack ${a.stack} --yes`;
    return script(`echo ${shellQuote(msg)} >&2`);
}


export interface RkePortCheck {
    port: number;
    /** What listens there once the cluster runs, e.g. "kube-apiserver". */
    use: string;
}

/**
 * Ports that must be free on a node that is not yet in the cluster. RKE itself checks the first three groups
 * with its port-listener containers (cluster/network.go: etcd 2379/2380, controlplane 6443, worker 10250); the
 * ingress controller binds 80/443 on every worker.
 */
export function rkeRequiredPorts(roles: RkeRole[], ingressProvider: string): RkePortCheck[] {
    const ports: RkePortCheck[] = [];
    if (roles.includes("etcd")) {
        ports.push({ port: 2379, use: "etcd client" }, { port: 2380, use: "etcd peer" });
    }
    if (roles.includes("controlplane")) {
        ports.push({ port: 6443, use: "kube-apiserver" });
    }
    // Every RKE node runs kubelet.
    ports.push({ port: 10250, use: "kubelet" });
    if (roles.includes("worker") && ingressProvider === "nginx") {
        ports.push({ port: 80, use: "ingress-nginx http" }, { port: 443, use: "ingress-nginx https" });
    }
    return ports;
}

export interface RkePreflightArgs {
    /** How messages name the node, e.g. rancher@192.0.2.11:22. */
    nodeLabel: string;
    roles: RkeRole[];
    /** Docker socket RKE uses on the node. Default /var/run/docker.sock. */
    dockerSocket?: string;
    ports: RkePortCheck[];
    /** services.kubelet.fail_swap_on as rendered. */
    failSwapOn: boolean;
    /** sshd config to check. Default /etc/ssh/sshd_config. */
    sshdConfig?: string;
    /** Where the swap table is read. Default /proc/swaps (tests point it at a file). */
    procSwaps?: string;
}

/** Checks a node before rke up; lists every failed check (node, problem, fix) and exits 1 if any failed. */
export function rkePreflightScript(a: RkePreflightArgs): string {
    const socket = a.dockerSocket ?? "/var/run/docker.sock";
    const ports = a.ports.map(p => `${p.port}:${p.use.replace(/[^A-Za-z0-9.-]+/g, "_")}`).join(" ");
    return script(
        `NODE=${shellQuote(a.nodeLabel)}
ROLES=${shellQuote(a.roles.join(","))}
SOCK=${shellQuote(socket)}
CFG=${shellPath(a.sshdConfig ?? "/etc/ssh/sshd_config")}
SWAPS=${shellPath(a.procSwaps ?? "/proc/swaps")}
FAIL_SWAP_ON=${a.failSwapOn ? "true" : "false"}
PORTS=${shellQuote(ports)}
ME=$(id -un)
${SUDO_SH}
PROBLEMS=""
problem() { PROBLEMS="$PROBLEMS$NODE ($ROLES): $1
"; }
note() { echo "rancher-ha preflight: $NODE: $1" >&2; }

# Docker, reachable by the SSH user (RKE talks to it through an SSH tunnel as this user).
DOCKER_OK=no
if ! command -v docker >/dev/null 2>&1; then
  problem "docker is not installed; fix: install a Docker version RKE supports (https://github.com/rancher/install-docker or your distribution's package), then: sudo usermod -aG docker $ME"
elif out=$(docker -H "unix://$SOCK" version --format '{{.Server.Version}}' 2>&1); then
  DOCKER_OK=yes
  note "docker $out reachable by $ME at $SOCK"
else
  case "$out" in
    *"permission denied"*|*"Permission denied"*)
      problem "user $ME cannot use the Docker socket $SOCK (permission denied), RKE fails with 'Unable to access the Docker socket'; fix: sudo usermod -aG docker $ME, then reconnect (on RHEL/CentOS use a non-root user)" ;;
    *)
      problem "the Docker daemon does not answer at $SOCK ($(printf '%s' "$out" | head -n 1)); fix: sudo systemctl enable --now docker, or set the node's dockerSocket" ;;
  esac
fi

# sshd must allow the forwarding RKE's tunnels use (seed article: AllowTcpForwarding yes).
SSHD=$(command -v sshd 2>/dev/null || echo /usr/sbin/sshd)
SPEC="user=$ME"
if [ -n "\${SSH_CONNECTION:-}" ]; then
  # shellcheck disable=SC2086 # split SSH_CONNECTION into client address, client port, server address, server port
  set -- $SSH_CONNECTION
  SPEC="$SPEC,addr=$1,host=$1,laddr=$3,lport=$4"
fi
if EFF=$($SUDO "$SSHD" -T -f "$CFG" -C "$SPEC" 2>/dev/null) || EFF=$($SUDO "$SSHD" -T -f "$CFG" 2>/dev/null); then
  TCP=$(printf '%s\\n' "$EFF" | awk '$1 == "allowtcpforwarding" { print $2; exit }')
  STREAM=$(printf '%s\\n' "$EFF" | awk '$1 == "allowstreamlocalforwarding" { print $2; exit }')
  DISABLED=$(printf '%s\\n' "$EFF" | awk '$1 == "disableforwarding" { print $2; exit }')
else
  # Without sudo: sshd uses the first value of a keyword, so read the first one before any Match block.
  first() { awk -v k="$1" 'tolower($1) == "match" { exit } tolower($1) == k { print tolower($2); exit }' "$CFG" 2>/dev/null || true; }
  TCP=$(first allowtcpforwarding)
  STREAM=$(first allowstreamlocalforwarding)
  DISABLED=$(first disableforwarding)
  note "could not run sshd -T (needs sudo); read $CFG without its Include files"
fi
case "\${TCP:-yes}" in
  yes|all|local) ;;
  *) problem "sshd has AllowTcpForwarding $TCP, RKE's health checks through the SSH tunnel fail ('ssh: rejected'); fix: set AllowTcpForwarding yes in $CFG and reload sshd (sudo systemctl reload sshd)" ;;
esac
case "\${STREAM:-yes}" in
  yes|all|local) ;;
  *) problem "sshd has AllowStreamLocalForwarding $STREAM, RKE cannot reach the Docker socket through SSH; fix: set AllowStreamLocalForwarding yes in $CFG and reload sshd" ;;
esac
[ "\${DISABLED:-no}" = yes ] && problem "sshd has DisableForwarding yes, RKE's SSH tunnels are refused; fix: remove DisableForwarding from $CFG and reload sshd"

# Swap: kubelet refuses to start with swap on unless fail_swap_on is false.
if [ -r "$SWAPS" ] && [ "$(awk 'NR > 1' "$SWAPS" | wc -l)" -gt 0 ]; then
  if [ "$FAIL_SWAP_ON" = true ]; then
    problem "swap is on and services.kubelet.fail_swap_on is true, so kubelet will not start; fix: sudo swapoff -a and remove the swap entries from /etc/fstab"
  else
    note "swap is on; kubelet runs with fail_swap_on: false (RKE's default), but memory limits are less predictable: consider swapoff -a"
  fi
fi

# Ports: must be free on a node RKE has not set up yet (its own containers hold them afterwards).
EXISTING=no
if [ "$DOCKER_OK" = yes ] && docker -H "unix://$SOCK" ps -a --format '{{.Names}}' 2>/dev/null | grep -qx -e kubelet -e etcd -e kube-apiserver; then
  EXISTING=yes
  note "RKE containers found: the node is already in the cluster, port check skipped"
fi
if [ "$EXISTING" = no ]; then
  if command -v ss >/dev/null 2>&1; then
    LISTEN=$(ss -ltn 2>/dev/null | awk 'NR > 1 { n = split($4, a, ":"); print a[n] }' | sort -u)
    for p in $PORTS; do
      port=\${p%%:*}
      use=$(printf '%s' "\${p#*:}" | tr _ ' ')
      if printf '%s\\n' "$LISTEN" | grep -qx "$port"; then
        problem "port $port ($use) is already in use; fix: stop what listens there (sudo ss -ltnp 'sport = :$port' shows it; the load balancer must not run on a cluster node) or give this role to another node"
      fi
    done
  else
    note "ss (iproute2) not found, port check skipped"
  fi
fi

if [ -n "$PROBLEMS" ]; then
  printf '%s' "$PROBLEMS" | sed 's/^/rancher-ha preflight failed: /' >&2
  echo "rancher-ha preflight: $NODE: $(printf '%s' "$PROBLEMS" | wc -l) check(s) failed; fix them and run pulumi up again" >&2
  exit 1
fi
echo "preflight ok: $NODE ($ROLES)"`,
    );
}

export interface RkeUpOutput {
    /** full | update-only | unchanged */
    mode: string;
    kubeconfig: string;
    rkeState: string;
}

/** Extracts the framed block rkeUpScript prints; anything around it is ignored. */
export function parseRkeUpOutput(stdout: string): RkeUpOutput {
    const start = stdout.indexOf(FRAME_BEGIN);
    const end = stdout.indexOf(FRAME_END, start);
    if (start < 0 || end < 0) {
        throw new Error("rke up output has no rancher-ha outputs block (expected the kubeconfig and the state file)");
    }
    const fields = new Map<string, string>();
    for (const line of stdout.slice(start + FRAME_BEGIN.length, end).split("\n")) {
        const m = /^(\w[\w-]*) ?(.*)$/.exec(line.trim());
        if (m) {
            fields.set(m[1], m[2]);
        }
    }
    const decode = (k: string) => {
        const v = fields.get(k);
        if (v === undefined || v === "" || !/^[A-Za-z0-9+/]+=*$/.test(v)) {
            throw new Error(`rke up outputs block: ${k} is missing or not base64`);
        }
        return Buffer.from(v, "base64").toString("utf8");
    };
    return { mode: fields.get("mode") ?? "", kubeconfig: decode("kubeconfig"), rkeState: decode("rkestate") };
}

/** What the previous deployment of the stack exported (undefined on the first run). */
export interface PreviousRkeOutputs {
    rkeConfigHash?: string;
    rkeState?: string;
    rkeRestorePayload?: string;
}

/**
 * The restore part of the stdin for this run, a pure function of the config hash and the previous outputs, so
 * an unchanged config gives byte-identical Command inputs (no diff, no rke up):
 * - same hash as last time: the payload that run was given, unchanged (the state has moved on since, but
 *   feeding it back would change the input and rerun rke up for nothing);
 * - different hash (the config changed, so rke up runs): the latest state, and the mark that the cluster exists;
 * - no previous run: nothing to restore.
 */
export function rkeRestorePayload(configHash: string, previous: PreviousRkeOutputs): string {
    if (previous.rkeConfigHash !== undefined && previous.rkeConfigHash === configHash) {
        return previous.rkeRestorePayload ?? "";
    }
    if (previous.rkeConfigHash === undefined && !previous.rkeState) {
        return "";
    }
    return rkeRestoreBundle(previous.rkeState, true);
}


/** The rke stage's scripts for a stack, as the RkeCluster component runs them (and the review render shows them). */
export interface RkeStageScripts {
    /** How messages name the admin host. */
    hostLabel: string;
    /** What runs on the admin host for the rke-up Command's create/update: rke up. */
    up: string;
    /** What runs on the admin host to remove the cluster (only with admin.removeClusterOnDestroy, or ops remove-cluster). */
    remove: string;
    /** The rke-up Command's create/update, run where Pulumi runs: `up` on the admin host over ssh (or here). */
    upCommand: string;
    /** The rke-up Command's delete: forget the cluster (default), or remove it when the stack opted in. */
    deleteCommand: string;
    /** The preflight check of one node. */
    preflight: (node: NodeSettings) => string;
}

/** The admin host as one SSH hop of runOnHostScript, or "local". */
export function adminHop(s: Pick<StackSettings, "admin">): SshHop | "local" {
    const h = s.admin.host;
    return h === "local" ? "local" : { address: h.address, port: h.port, user: h.user, keyId: h.keyId, hostKey: h.hostKey };
}

export function bastionHop(s: Pick<StackSettings, "bastion">): SshHop | undefined {
    const b = s.bastion;
    return b && { address: b.address, port: b.port, user: b.user, keyId: b.keyId, hostKey: b.hostKey };
}

export function rkeStageScripts(s: StackSettings, opts: { stack: string; attempts?: number; retryDelaySeconds?: number }): RkeStageScripts {
    const admin = s.admin;
    const hostLabel = admin.host === "local" ? "local" : describeTarget(admin.host);
    // Swap only blocks kubelet when the yml says fail_swap_on (rkeOverrides may): the kubelet settings do not
    // depend on the LB address, so the yml rendered without one tells.
    const services = (rkeClusterConfig(rkeYamlArgs(s, "")).services ?? {}) as { kubelet?: { fail_swap_on?: boolean } };
    const failSwapOn = services.kubelet?.fail_swap_on === true;
    const nodes = s.nodes.map(n => n.address);
    const up = rkeUpScript({
        workDir: admin.workDir, rkePath: admin.rkePath, rkeVersion: s.versions.rke, hostLabel, stack: opts.stack,
        attempts: opts.attempts, retryDelaySeconds: opts.retryDelaySeconds, stateSync: admin.stateSync,
    });
    const remove = rkeRemoveScript({ workDir: admin.workDir, rkePath: admin.rkePath, hostLabel, stack: opts.stack, nodes });
    const target = adminHop(s);
    const bastion = target === "local" ? undefined : bastionHop(s);
    return {
        hostLabel,
        up,
        remove,
        upCommand: runOnHostScript(target, up, bastion),
        deleteCommand: admin.removeClusterOnDestroy
            ? `${CLUSTER_REMOVAL_OPT_IN_MARKER}\n${runOnHostScript(target, remove, bastion)}`
            : rkeForgetScript({ workDir: admin.workDir, hostLabel, stack: opts.stack, nodes }),
        preflight: node => rkePreflightScript({
            nodeLabel: describeTarget(node),
            roles: node.roles,
            dockerSocket: node.dockerSocket,
            ports: rkeRequiredPorts(node.roles, s.cluster.ingressProvider),
            failSwapOn,
        }),
    };
}
