// Remote scripts that install, update and remove the nginx load balancer on the LB host.
//
// One `apply` script serves as both `create` and `update` (it is idempotent), and `delete` undoes only what
// apply made. The config itself travels on stdin (lbBundle); the command strings carry only paths, names, ports
// and the config's sha256, which the host checks before using what arrived on stdin.
//
// Every run prints one status line that tests and users can rely on:
//   rancher-ha-lb: unchanged | reloaded | started | recreated | restored | removed
import { fileBundle, script, sha256, shellQuote, SUDO_SH, UNPACK_BUNDLE_SH } from "../shared/shell";
import { MANAGED_MARKER } from "./nginxConf";
import type { LoadBalancerSettings } from "../config/types";
import { describeTarget } from "../shared/ssh";

export type LbRunMode = "docker" | "system";

export interface LbScriptOptions {
    /** `system`: the distro's nginx owns the main config. `docker`: an nginx container with the config mounted. */
    mode: LbRunMode;
    /** sha256 of the nginx.conf sent on stdin (see lbBundle). */
    configHash: string;
    /** `user@host:port` of the LB, for error messages. */
    hostLabel: string;

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
}

export const LB_SCRIPT_DEFAULTS = {
    confPath: "/etc/nginx/nginx.conf",
    pidPath: "/run/nginx.pid",
    containerName: "rancher-ha-lb",
    configDir: "/etc/rancher-ha/lb",
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
  $SUDO "$NGINX" -c "$CONF" || fail "nginx did not start (above; a port already in use, or another nginx running with a different pid file?)"
  say started
fi`,
    );
}

function systemDelete(o: LbScriptOptions): string {
    return script(
        COMMON_SH(o),
        SYSTEM_VARS_SH(o),
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
    );
}

// ---------------------------------------------------------------- docker mode

function dockerSpec(o: LbScriptOptions): { name: string; dir: string; image: string; ports: number[]; spec: string } {
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
    // Everything `docker run` is given, hashed: a change to any of it means a new container.
    const spec = sha256(JSON.stringify({ name, dir, image, ports })).slice(0, 16);
    return { name, dir, image, ports, spec };
}

/** The docker mode's variables; the image, its spec and the mount only where a container is started. */
const DOCKER_VARS_SH = (o: LbScriptOptions, starts: boolean) => {
    const d = dockerSpec(o);
    return [
        `NAME=${shellQuote(d.name)}`,
        `DIR=${shellQuote(d.dir)}`,
        ...(starts ? [`IMAGE=${shellQuote(d.image)}`, `SPEC=${shellQuote(d.spec)}`, `MOUNT="$DIR:${CONTAINER_CONF_DIR}:ro"`] : []),
        // Users in the docker group need no sudo; everyone else goes through it.
        `if command -v docker >/dev/null 2>&1; then
  if [ -z "$SUDO" ] || docker info >/dev/null 2>&1; then D=docker; else D="$SUDO docker"; fi
else
  D=""
fi`,
        // "<running> <spec label>", or empty when there is no such container.
        `container_state() { $D inspect -f '{{.State.Running}} {{index .Config.Labels "${SPEC_LABEL}"}}' "$NAME" 2>/dev/null || true; }`,
    ].join("\n");
};

function dockerApply(o: LbScriptOptions): string {
    const d = dockerSpec(o);
    const publish = d.ports.map(p => `-p ${p}:${p}`).join(" ");
    return script(
        COMMON_SH(o),
        DOCKER_VARS_SH(o, true),
        `[ -n "$D" ] || fail "docker is not installed; install Docker (the RKE nodes need it too) or set loadBalancer.mode to system"`,
        RECEIVE_SH(o),
        `$SUDO mkdir -p "$DIR"
$SUDO chmod 755 "$DIR"
CHANGED=1
if $SUDO test -f "$DIR/nginx.conf" && [ "$(file_hash "$DIR/nginx.conf")" = "$WANT" ]; then CHANGED=0; fi`,
        // The directory is mounted, not the file: a renamed-in file is a new inode, which a single-file bind
        // mount would never show to the running container.
        `if [ "$CHANGED" = 1 ]; then
  $SUDO cp "$TMP/nginx.conf" "$DIR/nginx.conf${CANDIDATE_SUFFIX}"
  $SUDO chmod 644 "$DIR/nginx.conf${CANDIDATE_SUFFIX}"
  if ! out=$($D run --rm --entrypoint nginx -v "$MOUNT" "$IMAGE" -t -q -c ${CONTAINER_CONF_DIR}/nginx.conf${CANDIDATE_SUFFIX} 2>&1); then
    $SUDO rm -f "$DIR/nginx.conf${CANDIDATE_SUFFIX}"
    printf '%s\\n' "$out" >&2
    fail "nginx -t (in $IMAGE) rejected the new config (above), so it was not installed and the container still runs the previous one; check the loadBalancer settings and node addresses, then run pulumi up again"
  fi
  $SUDO mv -f "$DIR/nginx.conf${CANDIDATE_SUFFIX}" "$DIR/nginx.conf"
fi`,
        `run_container() {
  $D run -d --name "$NAME" --restart=unless-stopped --label "${SPEC_LABEL}=$SPEC" ${publish} -v "$MOUNT" "$IMAGE" \\
    nginx -c ${CONTAINER_CONF_DIR}/nginx.conf -g 'daemon off;' >/dev/null ||
    fail "docker could not start the nginx container $NAME (above; a port already in use, or the image cannot be pulled?)"
}
STATE=$(container_state)
case "$STATE" in
  "")
    run_container
    say started ;;
  "true $SPEC")
    if [ "$CHANGED" = 1 ]; then
      $D kill -s HUP "$NAME" >/dev/null
      say reloaded
    else
      say unchanged
    fi ;;
  "false $SPEC")
    $D start "$NAME" >/dev/null
    say started ;;
  *" <no value>"|*" ")
    fail "a container named $NAME exists that rancher-ha did not create; remove or rename it and run pulumi up again" ;;
  *)
    $D rm -f "$NAME" >/dev/null
    run_container
    say recreated ;;
esac`,
    );
}

function dockerDelete(o: LbScriptOptions): string {
    return script(
        COMMON_SH(o),
        DOCKER_VARS_SH(o, false),
        `if [ -n "$D" ]; then
  STATE=$(container_state)
  case "$STATE" in
    "") ;;
    *" <no value>"|*" ") say "container $NAME was not created by rancher-ha; left in place" ;;
    *) $D rm -f "$NAME" >/dev/null ;;
  esac
fi
$SUDO rm -f "$DIR/nginx.conf" "$DIR/nginx.conf${CANDIDATE_SUFFIX}"
$SUDO rmdir "$DIR" 2>/dev/null || true
say removed`,
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

/** The scripts' options for an LB host from its settings and its config's hash. */
export function lbScriptOptions(lb: LoadBalancerSettings, configHash: string): LbScriptOptions {
    return {
        mode: lb.mode,
        configHash,
        hostLabel: describeTarget(lb),
        image: lb.image,
        publishPorts: [lb.ports.http, lb.ports.https, lb.ports.kubeApi],
    };
}
