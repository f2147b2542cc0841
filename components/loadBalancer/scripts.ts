// Remote scripts that install, update and remove the nginx load balancer on the LB host.
//
// One `apply` script serves as both `create` and `update` (it is idempotent), and `delete` undoes only what
// apply made. The config itself travels on stdin (lbBundle); the command strings carry only paths, names, ports
// and the config's sha256, which the host checks before using what arrived on stdin.
//
// Every run prints one status line that tests and users can rely on:
//   rancher-ha-lb: unchanged | reloaded | started | recreated | restored | removed
import { fileBundle, hostLockSh, script, sha256, shellQuote, SUDO_SH, UNPACK_BUNDLE_SH } from "../shared/shell";
import { MANAGED_MARKER } from "./nginxConf";
import type { LoadBalancerSettings } from "../config/types";
import { describeTarget } from "../shared/ssh";
import { LbOwnership, lbOwnerSh, lbOwnerSteps } from "./owner";

export type LbRunMode = "docker" | "system";

export interface LbScriptOptions {
    /** `system`: the distro's nginx owns the main config. `docker`: an nginx container with the config mounted. */
    mode: LbRunMode;
    /** sha256 of the nginx.conf sent on stdin (see lbBundle). */
    configHash: string;
    /** `user@host:port` of the LB, for error messages. */
    hostLabel: string;
    /**
     * The stack this LB host serves, and the stacks it may take the host over from (owner.ts). Default: no check
     * (the host belongs to whoever applies).
     */
    owner?: LbOwnership;
    /** Directory of the lock that keeps two runs on one host apart. Default /run/rancher-ha. */
    runDir?: string;

    // ---- system mode ----
    /** Main nginx config to own. Default /etc/nginx/nginx.conf. */
    confPath?: string;
    /** pid file the config names (must match the renderer's pidPath). Default /run/nginx.pid. */
    pidPath?: string;

    // ---- docker mode ----
    /** Image to run (loadBalancer.image). Required in docker mode. */
    image?: string;
    /** Container name. Default rancher-ha-lb. */
    containerName?: string;
    /** Host directory holding nginx.conf, mounted read-only into the container. Default /etc/rancher-ha/lb. */
    configDir?: string;
    /** Ports published as host:container (same number on both sides). Required in docker mode. */
    publishPorts?: number[];
    /**
     * The container's open-files limit (soft and hard, `--ulimit nofile=N:N`): at least nginx's worker_rlimit_nofile,
     * which nginx can raise itself only up to the container's hard limit (docker mode). Default: docker's.
     */
    nofileLimit?: number;
    /**
     * Seconds a new container must stay up before it counts as started and the container it replaces is
     * removed (docker mode). Default 5.
     */
    confirmSeconds?: number;
}

export const LB_SCRIPT_DEFAULTS = {
    runDir: "/run/rancher-ha",
    confPath: "/etc/nginx/nginx.conf",
    pidPath: "/run/nginx.pid",
    containerName: "rancher-ha-lb",
    configDir: "/etc/rancher-ha/lb",
    confirmSeconds: 5,
};

/** Where the config directory appears inside the container. */
export const CONTAINER_CONF_DIR = "/etc/nginx/rancher-ha";

/** Label that marks our container and records the spec it was created from (image, ports, mount). */
export const SPEC_LABEL = "io.rancher-ha.lb-spec";

/** stdin for apply: the config as a one-file bundle. */
export function lbBundle(nginxConf: string): string {
    return fileBundle([{ name: "nginx.conf", mode: "644", content: nginxConf }]);
}

/** Suffixes next to the live config: the candidate under test, and the distro's original (system mode). */
export const CANDIDATE_SUFFIX = ".rancher-ha-new";
export const ORIGINAL_SUFFIX = ".rancher-ha-orig";

const COMMON_SH = (o: LbScriptOptions) => [
    SUDO_SH,
    `LB_HOST=${shellQuote(o.hostLabel)}`,
    `MARKER=${shellQuote(MANAGED_MARKER)}`,
    `say() { echo "rancher-ha-lb: $*"; }`,
    `fail() { echo "rancher-ha: load balancer on $LB_HOST: $*" >&2; exit 1; }`,
    `file_hash() { $SUDO sha256sum "$1" | cut -d' ' -f1; }`,
    // Ours when the first line carries the marker; a file someone else wrote is never removed.
    `ours() { $SUDO test -f "$1" && $SUDO head -n 1 "$1" | grep -qF "$MARKER"; }`,
    // One run at a time on this host (two stacks, a second pulumi up, ops).
    hostLockSh(shellQuote(`${checkAbs(o.runDir ?? LB_SCRIPT_DEFAULTS.runDir, "runDir")}/rancher-ha-lb-nginx.lock`)),
    ...(o.owner ? [lbOwnerSh(o.owner)] : []),
].join("\n");

/** Receives nginx.conf from stdin into $TMP and checks it against the expected hash. */
const RECEIVE_SH = (o: LbScriptOptions) => [
    UNPACK_BUNDLE_SH,
    `WANT=${shellQuote(checkHash(o.configHash))}`,
    `TMP=$(mktemp -d)`,
    `trap 'rm -rf "$TMP"' EXIT`,
    `unpack_bundle "$TMP"`,
    `if [ ! -f "$TMP/nginx.conf" ] || [ "$(sha256sum "$TMP/nginx.conf" | cut -d' ' -f1)" != "$WANT" ]; then`,
    `  fail "the nginx.conf sent on stdin is missing or does not match its hash $WANT (interrupted transfer?); run pulumi up again"`,
    `fi`,
].join("\n");

/** create and update: install or update the LB so it runs exactly the config on stdin. */
export function lbApplyScript(o: LbScriptOptions): string {
    return o.mode === "system" ? systemApply(o) : dockerApply(o);
}

/** delete: remove what apply made (system: restore the distro config; docker: remove the container and config). */
export function lbDeleteScript(o: LbScriptOptions): string {
    return o.mode === "system" ? systemDelete(o) : dockerDelete(o);
}

// ---------------------------------------------------------------- system mode

const SYSTEM_VARS_SH = (o: LbScriptOptions) => {
    const conf = o.confPath ?? LB_SCRIPT_DEFAULTS.confPath;
    return [
        `CONF=${shellQuote(checkAbs(conf, "confPath"))}`,
        `CAND=${shellQuote(conf + CANDIDATE_SUFFIX)}`,
        `ORIG=${shellQuote(conf + ORIGINAL_SUFFIX)}`,
        `PIDFILE=${shellQuote(checkAbs(o.pidPath ?? LB_SCRIPT_DEFAULTS.pidPath, "pidPath"))}`,
        // Non-root login shells often lack /usr/sbin on PATH; sudo's secure_path has it, our lookup must too.
        `find_nginx() { ( PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; command -v nginx ) || true; }`,
        `NGINX=$(find_nginx)`,
        // systemd runs nginx only for the distro's own config path; a custom confPath is always run directly.
        `systemd_nginx() { [ -d /run/systemd/system ] && [ "$CONF" = /etc/nginx/nginx.conf ] && command -v systemctl >/dev/null 2>&1 && systemctl cat nginx.service >/dev/null 2>&1; }`,
        // A stale pid file can name some other process by now: only an nginx process counts.
        `running() { PID=$($SUDO cat "$PIDFILE" 2>/dev/null) && [ -n "$PID" ] && [ "$(cat "/proc/$PID/comm" 2>/dev/null)" = nginx ]; }`,
        `signal() { running && $SUDO kill -"$1" "$PID"; }`,
    ].join("\n");
};

function systemApply(o: LbScriptOptions): string {
    return script(
        COMMON_SH(o),
        SYSTEM_VARS_SH(o),
        RECEIVE_SH(o),
        lbOwnerSteps(o.owner).check,
        `if [ -z "$NGINX" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-stream >/dev/null; } ||
      fail "installing nginx and libnginx-mod-stream with apt-get failed (above); install them by hand and run pulumi up again"
  elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y -q nginx nginx-mod-stream >/dev/null || fail "installing nginx and nginx-mod-stream with dnf failed (above)"
  elif command -v yum >/dev/null 2>&1; then
    $SUDO yum install -y -q nginx nginx-mod-stream >/dev/null || fail "installing nginx and nginx-mod-stream with yum failed (above)"
  else
    fail "nginx is not installed and there is no apt-get, dnf or yum; install nginx with its stream module, or set loadBalancer.mode to docker"
  fi
  NGINX=$(find_nginx)
  [ -n "$NGINX" ] || fail "nginx is still not on PATH after installing it"
  say "installed nginx"
fi`,
        `CHANGED=1
if $SUDO test -f "$CONF" && [ "$(file_hash "$CONF")" = "$WANT" ]; then CHANGED=0; fi`,
        // The candidate is tested in place (same directory, so relative includes resolve the same) and only
        // then renamed over the live config: a config nginx rejects is never live, never reloaded.
        `if [ "$CHANGED" = 1 ]; then
  $SUDO cp "$TMP/nginx.conf" "$CAND"
  $SUDO chmod 644 "$CAND"
  if ! out=$($SUDO "$NGINX" -t -q -c "$CAND" 2>&1); then
    $SUDO rm -f "$CAND"
    printf '%s\\n' "$out" >&2
    case "$out" in
      *'unknown directive "stream"'*)
        fail "nginx has no stream module; install it (Debian/Ubuntu: libnginx-mod-stream, RHEL/Fedora: nginx-mod-stream) and run pulumi up again" ;;
    esac
    fail "nginx -t rejected the new config (above), so it was not installed and nginx still runs the previous one; check the loadBalancer settings and node addresses, then run pulumi up again"
  fi
  # The first time, keep the distro's config: delete puts it back.
  if $SUDO test -f "$CONF" && ! ours "$CONF" && ! $SUDO test -e "$ORIG"; then
    $SUDO cp -p "$CONF" "$ORIG"
  fi
  $SUDO mv -f "$CAND" "$CONF"
fi`,
        `if systemd_nginx; then
  if systemctl is-active --quiet nginx; then
    if [ "$CHANGED" = 1 ]; then
      $SUDO systemctl reload nginx || fail "systemctl reload nginx failed; see journalctl -u nginx"
      say reloaded
    else
      say unchanged
    fi
  else
    $SUDO systemctl enable --quiet nginx >/dev/null 2>&1 || true
    $SUDO systemctl start nginx || fail "nginx did not start; see journalctl -u nginx (a port already in use?)"
    say started
  fi
elif running; then
  if [ "$CHANGED" = 1 ]; then
    signal HUP
    say reloaded
  else
    say unchanged
  fi
else
  # 9>&-: nginx must not hold this run's lock (sudo closes it anyway; root runs have no sudo).
  $SUDO "$NGINX" -c "$CONF" 9>&- || fail "nginx did not start (above; a port already in use, or another nginx running with a different pid file?)"
  say started
fi`,
        lbOwnerSteps(o.owner).claim,
    );
}

function systemDelete(o: LbScriptOptions): string {
    return script(
        COMMON_SH(o),
        SYSTEM_VARS_SH(o),
        lbOwnerSteps(o.owner).leaveOthers,
        `$SUDO rm -f "$CAND"
if ! ours "$CONF"; then
  say "$CONF is not managed by rancher-ha; left in place"
  exit 0
fi`,
        `stop_nginx() {
  if systemd_nginx; then $SUDO systemctl stop nginx || true
  elif running; then signal TERM || true
  fi
}
reload_nginx() {
  if systemd_nginx; then
    if systemctl is-active --quiet nginx; then $SUDO systemctl reload nginx; fi
  elif running; then
    signal HUP
  fi
}`,
        // With the distro config back, nginx goes on serving whatever that config serves; without one
        // there is nothing left for it to run.
        `if $SUDO test -f "$ORIG"; then
  $SUDO mv -f "$ORIG" "$CONF"
  if [ -n "$NGINX" ] && $SUDO "$NGINX" -t -q -c "$CONF" >/dev/null 2>&1; then
    reload_nginx
    say restored
  else
    stop_nginx
    say "restored (the restored $CONF fails nginx -t, so nginx was stopped)"
  fi
else
  $SUDO rm -f "$CONF"
  stop_nginx
  say removed
fi`,
        lbOwnerSteps(o.owner).release,
    );
}

// ---------------------------------------------------------------- docker mode

/** Name the replaced container carries while its successor proves itself (see dockerApply). */
export const PREVIOUS_NAME_SUFFIX = "-previous";
/** Next to the live config during a container swap: the config the previous container ran (docker mode). */
export const PREVIOUS_SUFFIX = ".rancher-ha-previous";

function dockerSpec(o: LbScriptOptions): { name: string; dir: string; image: string; ports: number[]; nofile?: number; spec: string } {
    const name = o.containerName ?? LB_SCRIPT_DEFAULTS.containerName;
    const dir = checkAbs(o.configDir ?? LB_SCRIPT_DEFAULTS.configDir, "configDir");
    const image = o.image;
    const ports = o.publishPorts ?? [];
    if (!image || !/^[A-Za-z0-9][A-Za-z0-9._\/:@-]*$/.test(image)) {
        throw new Error(`lbScripts: docker mode needs an image reference, got ${JSON.stringify(image)}`);
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
        throw new Error(`lbScripts: bad container name ${JSON.stringify(name)}`);
    }
    if (ports.length === 0 || ports.some(p => !Number.isInteger(p) || p < 1 || p > 65535)) {
        throw new Error(`lbScripts: docker mode needs the ports to publish, got ${JSON.stringify(ports)}`);
    }
    const nofile = o.nofileLimit;
    if (nofile !== undefined && (!Number.isInteger(nofile) || nofile < 1024 || nofile > 1048576)) {
        throw new Error(`lbScripts: nofileLimit must be a whole number from 1024 to 1048576, got ${JSON.stringify(nofile)}`);
    }
    // Everything `docker create` is given, hashed: a change to any of it means a new container.
    const spec = sha256(JSON.stringify(nofile === undefined ? { name, dir, image, ports } : { name, dir, image, ports, nofile })).slice(0, 16);
    return { name, dir, image, ports, nofile, spec };
}

/**
 * The registry an image reference is pulled from, by docker's own rule: the first path component when it looks
 * like a host (has a dot or a port, or is localhost), else Docker Hub.
 */
export function imageRegistry(image: string): string {
    const slash = image.indexOf("/");
    const first = slash < 0 ? "" : image.slice(0, slash);
    return first && (first.includes(".") || first.includes(":") || first === "localhost") ? first : "docker.io";
}

/** The docker mode's variables; the image, its spec and the mount only where a container is started. */
const DOCKER_VARS_SH = (o: LbScriptOptions, starts: boolean) => {
    const d = dockerSpec(o);
    const confirm = o.confirmSeconds ?? LB_SCRIPT_DEFAULTS.confirmSeconds;
    if (!Number.isInteger(confirm) || confirm < 0 || confirm > 300) {
        throw new Error(`lbScripts: confirmSeconds must be a whole number of seconds (0-300), got ${JSON.stringify(confirm)}`);
    }
    return [
        `NAME=${shellQuote(d.name)}`,
        `PREV=${shellQuote(d.name + PREVIOUS_NAME_SUFFIX)}`,
        `DIR=${shellQuote(d.dir)}`,
        ...(starts ? [
            `IMAGE=${shellQuote(d.image)}`,
            `REGISTRY=${shellQuote(imageRegistry(d.image))}`,
            `SPEC=${shellQuote(d.spec)}`,
            `MOUNT="$DIR:${CONTAINER_CONF_DIR}:ro"`,
            `CONFIRM=${confirm}`,
        ] : []),
        // Users in the docker group need no sudo; everyone else goes through it.
        `if command -v docker >/dev/null 2>&1; then
  if [ -z "$SUDO" ] || docker info >/dev/null 2>&1; then D=docker; else D="$SUDO docker"; fi
else
  D=""
fi`,
        // "<running> <spec label>" of container $1, or empty when there is no such container.
        `container_state() { $D inspect -f '{{.State.Running}} {{index .Config.Labels "${SPEC_LABEL}"}}' "$1" 2>/dev/null || true; }`,
        // A container without our label was made by someone else: never replaced, renamed or removed.
        `not_ours() { case "$1" in *" <no value>"|*" ") return 0 ;; esac; return 1; }`,
    ].join("\n");
};

function dockerApply(o: LbScriptOptions): string {
    const d = dockerSpec(o);
    const publish = d.ports.map(p => `-p ${p}:${p}`).join(" ") + (d.nofile === undefined ? "" : ` --ulimit nofile=${d.nofile}:${d.nofile}`);
    const conf = `"$DIR/nginx.conf"`;
    const cand = `"$DIR/nginx.conf${CANDIDATE_SUFFIX}"`;
    const prevConf = `"$DIR/nginx.conf${PREVIOUS_SUFFIX}"`;
    return script(
        COMMON_SH(o),
        DOCKER_VARS_SH(o, true),
        `[ -n "$D" ] || fail "docker is not installed; install Docker (the RKE nodes need it too) or set loadBalancer.mode to system"`,
        RECEIVE_SH(o),
        lbOwnerSteps(o.owner).check,
        // The last non-empty line of a command's output: docker's own error, for the one-line failure message.
        `last_line() { printf '%s\\n' "$1" | sed '/^[[:space:]]*$/d' | tail -n 1; }
restore_config() { if $SUDO test -f ${prevConf}; then $SUDO mv -f ${prevConf} ${conf}; fi; }`,
        `$SUDO mkdir -p "$DIR"
$SUDO chmod 755 "$DIR"`,
        // A run cut off in the middle of a container swap (lost connection) leaves the previous container under
        // $PREV. If its successor runs, the swap had succeeded but for the clean-up; otherwise the previous
        // container (and its config) is put back and started at once, before anything else is tried.
        `PSTATE=$(container_state "$PREV")
if [ -n "$PSTATE" ]; then
  if not_ours "$PSTATE"; then
    fail "a container named $PREV exists that rancher-ha did not create; remove or rename it and run pulumi up again"
  fi
  NSTATE=$(container_state "$NAME")
  if not_ours "$NSTATE"; then
    fail "a container named $NAME exists that rancher-ha did not create; remove or rename it and run pulumi up again"
  fi
  case "$NSTATE" in
    "true "*)
      $D rm -f "$PREV" >/dev/null ;;
    *)
      [ -z "$NSTATE" ] || $D rm -f "$NAME" >/dev/null
      restore_config
      $D rename "$PREV" "$NAME" >/dev/null ||
        fail "docker could not rename $PREV, left behind by an interrupted run, back to $NAME (above); rename it by hand and run pulumi up again"
      $D start "$NAME" >/dev/null || true
      echo "rancher-ha: load balancer on $LB_HOST: put back the previous container $NAME, left behind by an interrupted run" >&2 ;;
  esac
fi
# Without a $PREV container, a saved previous config is left over from a cut-off clean-up.
$SUDO rm -f ${prevConf}`,
        `CHANGED=1
if $SUDO test -f ${conf} && [ "$(file_hash ${conf})" = "$WANT" ]; then CHANGED=0; fi
STATE=$(container_state "$NAME")
case "$STATE" in
  "") ACTION=create ;;
  "true $SPEC") if [ "$CHANGED" = 1 ]; then ACTION=reload; else ACTION=none; fi ;;
  "false $SPEC") ACTION=start ;;
  *" <no value>"|*" ")
    fail "a container named $NAME exists that rancher-ha did not create; remove or rename it and run pulumi up again" ;;
  *) ACTION=replace ;;
esac`,
        // The image first, on its own: a pull that fails is reported as what it is (docker's error, the image,
        // the registry) before anything on the host changed. An image already present is not pulled again.
        `if [ "$CHANGED" = 1 ] || [ "$ACTION" = create ] || [ "$ACTION" = replace ]; then
  if ! $D image inspect "$IMAGE" >/dev/null 2>&1; then
    rc=0; out=$($D pull "$IMAGE" 2>&1) || rc=$?
    if [ "$rc" != 0 ]; then
      printf '%s\\n' "$out" >&2
      fail "docker pull $IMAGE from $REGISTRY failed: $(last_line "$out"); nothing was changed (the LB container, if any, runs on as before); check loadBalancer.image and that the LB host can reach $REGISTRY (and is logged in to it if it is private), then run pulumi up again"
    fi
  fi
fi`,
        // The candidate is tested by nginx -t in the image that will run it, then renamed over the live config.
        // The directory is mounted, not the file: a renamed-in file is a new inode, which a single-file bind
        // mount would never show to the running container. docker's own failures (exit 125-127: daemon error,
        // no nginx in the image) are not nginx rejecting the config, and are not reported as such.
        `if [ "$CHANGED" = 1 ]; then
  $SUDO cp "$TMP/nginx.conf" ${cand}
  $SUDO chmod 644 ${cand}
  rc=0; out=$($D run --rm --entrypoint nginx -v "$MOUNT" "$IMAGE" -t -q -c ${CONTAINER_CONF_DIR}/nginx.conf${CANDIDATE_SUFFIX} 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then
    $SUDO rm -f ${cand}
    printf '%s\\n' "$out" >&2
    case "$rc" in
      125|126|127)
        fail "docker could not run nginx -t in $IMAGE (exit $rc: $(last_line "$out")), so the new config was not installed and the LB container, if any, runs on as before; check that loadBalancer.image is an nginx image and that docker works on the LB host, then run pulumi up again" ;;
    esac
    fail "nginx -t (in $IMAGE) rejected the new config (above), so it was not installed and the container still runs the previous one; check the loadBalancer settings and node addresses, then run pulumi up again"
  fi
  # A container swap keeps the previous config, for the previous container should the new one fail.
  if [ "$ACTION" = replace ] && $SUDO test -f ${conf}; then $SUDO cp -p ${conf} ${prevConf}; fi
  $SUDO mv -f ${cand} ${conf}
fi`,
        `create_container() {
  $D create --name "$NAME" --restart=unless-stopped --label "${SPEC_LABEL}=$SPEC" ${publish} -v "$MOUNT" "$IMAGE" \\
    nginx -c ${CONTAINER_CONF_DIR}/nginx.conf -g 'daemon off;'
}`,
        // Starts $NAME and watches it for $CONFIRM seconds: it must run, not be restarting, and not have been
        // restarted (--restart=unless-stopped would otherwise hide an nginx that dies at once). On failure,
        // docker's error or the container's log is on stderr and $WHY says what happened, in one line.
        `start_confirmed() {
  rc=0; out=$($D start "$NAME" 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then
    printf '%s\\n' "$out" >&2
    WHY="docker could not start it: $(last_line "$out")"
    return 1
  fi
  _i=0
  while :; do
    if [ "$($D inspect -f '{{.State.Running}} {{.State.Restarting}} {{.RestartCount}}' "$NAME" 2>/dev/null || true)" != "true false 0" ]; then
      $D logs --tail 20 "$NAME" >&2 2>&1 || true
      _exit=$($D inspect -f '{{.State.ExitCode}} {{.State.Error}}' "$NAME" 2>/dev/null | sed 's/[[:space:]]*$//' || true)
      WHY="it exited right after starting (exit code \${_exit:-unknown}; its log is above)"
      return 1
    fi
    [ "$_i" -lt "$CONFIRM" ] || return 0
    sleep 1
    _i=$((_i + 1))
  done
}`,
        // Back to the previous container after a failed swap: the new one is removed first (it may hold the
        // ports), then the previous one starts with its own config and takes its name back.
        `rollback() {
  $D rm -f "$NAME" >/dev/null 2>&1 || true
  restore_config
  rc=0; out=$($D start "$PREV" 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then
    printf '%s\\n' "$out" >&2
    fail "the new nginx container ($IMAGE) failed: $1; and the previous container $PREV did not start again either: $(last_line "$out"); the LB is down: free its ports and run docker start $PREV, docker rename $PREV $NAME (or run pulumi up again)"
  fi
  $D rename "$PREV" "$NAME" >/dev/null ||
    fail "the new nginx container ($IMAGE) failed: $1; the previous one runs again but could not get its name back (above): run docker rename $PREV $NAME"
}`,
        // Replacing the container (image, ports or mount changed). Two containers cannot publish the same host
        // ports at once, so the old one must stop before the new one can start; everything that can fail
        // without an outage is done first, while the old one still serves:
        //   pulled image, nginx -t in it (above); old renamed to $PREV (a rename does not touch a running
        //   container); new one created under $NAME (create binds no ports, so it cannot conflict)
        // and only then the outage, as short as docker allows: stop $PREV (2 s grace: long-lived streams such as
        // API watches would never drain, and clients reconnect anyway), start $NAME. Once $NAME has run for
        // $CONFIRM seconds, $PREV is removed; if it does not start or dies, it is removed and $PREV started
        // again (rollback) and the run fails with the true reason. Host networking would not avoid the
        // conflict (both nginx would bind the same ports without reuseport) and would change what the LB
        // exposes, so the published ports stay.
        `case "$ACTION" in
  none)
    say unchanged ;;
  reload)
    $D kill -s HUP "$NAME" >/dev/null
    say reloaded ;;
  start)
    start_confirmed || fail "the stopped nginx container $NAME could not be started again: $WHY; fix the cause and run pulumi up again"
    say started ;;
  create)
    rc=0; out=$(create_container 2>&1) || rc=$?
    if [ "$rc" != 0 ]; then
      printf '%s\\n' "$out" >&2
      fail "docker could not create the nginx container $NAME ($IMAGE): $(last_line "$out")"
    fi
    if ! start_confirmed; then
      $D rm -f "$NAME" >/dev/null 2>&1 || true
      fail "the new nginx container $NAME ($IMAGE) failed: $WHY; it was removed; fix the cause (a port already in use?) and run pulumi up again"
    fi
    say started ;;
  replace)
    if ! $D rename "$NAME" "$PREV" >/dev/null; then
      restore_config
      fail "docker could not rename $NAME to $PREV (above), so the container was not replaced and runs on as before"
    fi
    rc=0; out=$(create_container 2>&1) || rc=$?
    if [ "$rc" != 0 ]; then
      printf '%s\\n' "$out" >&2
      restore_config
      $D rename "$PREV" "$NAME" >/dev/null || true
      fail "docker could not create the new nginx container ($IMAGE): $(last_line "$out"); the previous container runs on as before"
    fi
    # Should the stop fail, the old one holds the ports: the new one cannot start, and the rollback below runs.
    $D stop -t 2 "$PREV" >/dev/null || true
    if ! start_confirmed; then
      REASON=$WHY
      rollback "$REASON"
      fail "the new nginx container ($IMAGE) failed: $REASON; it was removed and the previous container $NAME was started again with its previous config; fix the cause and run pulumi up again"
    fi
    $D rm -f "$PREV" >/dev/null
    $SUDO rm -f ${prevConf}
    say recreated ;;
esac`,
        lbOwnerSteps(o.owner).claim,
    );
}

function dockerDelete(o: LbScriptOptions): string {
    return script(
        COMMON_SH(o),
        DOCKER_VARS_SH(o, false),
        lbOwnerSteps(o.owner).leaveOthers,
        `if [ -n "$D" ]; then
  for c in "$NAME" "$PREV"; do
    STATE=$(container_state "$c")
    if [ -z "$STATE" ]; then
      :
    elif not_ours "$STATE"; then
      say "container $c was not created by rancher-ha; left in place"
    else
      $D rm -f "$c" >/dev/null
    fi
  done
fi
$SUDO rm -f "$DIR/nginx.conf" "$DIR/nginx.conf${CANDIDATE_SUFFIX}" "$DIR/nginx.conf${PREVIOUS_SUFFIX}"
$SUDO rmdir "$DIR" 2>/dev/null || true
say removed`,
        lbOwnerSteps(o.owner).release,
    );
}

// ---------------------------------------------------------------- checks

function checkHash(h: string): string {
    if (!/^[0-9a-f]{64}$/.test(h)) {
        throw new Error(`lbScripts: configHash must be a sha256 hex digest, got ${JSON.stringify(h)}`);
    }
    return h;
}

function checkAbs(p: string, what: string): string {
    if (!p.startsWith("/") || p.includes("..")) {
        throw new Error(`lbScripts: ${what} must be an absolute path without "..", got ${JSON.stringify(p)}`);
    }
    return p;
}

/** The scripts' options for an LB host from its settings, its config's hash and the stack it serves. */
export function lbScriptOptions(lb: LoadBalancerSettings, configHash: string, owner?: LbOwnership): LbScriptOptions {
    return {
        ...(owner ? { owner } : {}),
        mode: lb.mode,
        configHash,
        hostLabel: describeTarget(lb),
        image: lb.image,
        publishPorts: [lb.ports.http, lb.ports.https, lb.ports.kubeApi, ...(lb.ports.supervisor === undefined ? [] : [lb.ports.supervisor])],
        // nginx raises its own limit to worker_rlimit_nofile only up to the container's hard limit.
        nofileLimit: lb.mode === "docker" ? Math.min(Math.max(lb.workerRlimitNofile, 1024), 1048576) : undefined,
    };
}
