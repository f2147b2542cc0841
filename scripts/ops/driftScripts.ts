// The read-only remote script of `npm run ops -- drift` (scripts/ops/drift.ts compares what it reports with what
// the stack renders). One script per host: the LB part, the admin work dir part, or both when one host is both.
// Pure renderer, same rules as every remote script (CONTRIBUTING.md): POSIX sh, values through shellQuote/shellPath,
// nothing written anywhere (no temp file, no lock: a drift check must never wait for nor disturb a running
// `pulumi up`), `$SUDO` (sudo -n) only to read what the user cannot (the LB config in system mode), results on
// stdout in one framed block, one `<key> <value...>` line each. File contents travel base64 in the block; the state
// file never does (its sha256 only).
import { LB_SCRIPT_DEFAULTS, PREVIOUS_NAME_SUFFIX, SPEC_LABEL } from "../../components/loadBalancer/scripts";
import { RKE_FILES } from "../../components/rke/scripts";
import { script, shellPath, shellQuote, SUDO_SH } from "../../components/shared/shell";

/** The frame of every ops result block (the same strings remoteScripts.ts parses with parseOpsResult). */
import { FRAME_BEGIN as DRIFT_FRAME_BEGIN, FRAME_END as DRIFT_FRAME_END } from "./remoteScripts";

export { DRIFT_FRAME_BEGIN, DRIFT_FRAME_END };

/** Files larger than this are reported by their sha256 only (no diff). */
export const DRIFT_MAX_FILE_BYTES = 1 << 20;

export interface LbDriftArgs {
    mode: "docker" | "system";
    /** system mode: the main nginx config. Default /etc/nginx/nginx.conf (what the LB stage owns). */
    confPath?: string;
    /** system mode: nginx's pid file. Default /run/nginx.pid. */
    pidPath?: string;
    /** docker mode: the container. Default rancher-ha-lb. */
    containerName?: string;
    /** docker mode: the host directory holding nginx.conf. Default /etc/rancher-ha/lb. */
    configDir?: string;
}

export interface AdminDriftArgs {
    /** admin.workDir (`~/` allowed). */
    workDir: string;
}

export interface DriftScriptArgs {
    /** How messages name the host. */
    hostLabel: string;
    lb?: LbDriftArgs;
    admin?: AdminDriftArgs;
}

/** Where the LB config lives on the host, for a mode (as components/loadBalancer/scripts.ts writes it). */
export function lbConfPath(a: LbDriftArgs): string {
    return a.mode === "system"
        ? a.confPath ?? LB_SCRIPT_DEFAULTS.confPath
        : `${(a.configDir ?? LB_SCRIPT_DEFAULTS.configDir).replace(/\/+$/, "")}/nginx.conf`;
}

function checkAbs(p: string, what: string): string {
    if (!p.startsWith("/") || p.includes("..")) {
        throw new Error(`driftScript: ${what} must be an absolute path without "..", got ${JSON.stringify(p)}`);
    }
    return p;
}

// file_report KEY PATH: "KEY present <sha256> <base64|->", "KEY missing" or "KEY unreadable". Reads as the user,
// else through $SUDO; never writes.
const FILE_REPORT_SH = `file_report() {
  if [ -f "$2" ] && [ -r "$2" ]; then R=""
  elif [ -n "$SUDO" ] && $SUDO test -f "$2" 2>/dev/null; then R="$SUDO"
  elif [ -e "$2" ] || { [ -d "$(dirname "$2")" ] && ! [ -x "$(dirname "$2")" ]; }; then echo "$1 unreadable"; return 0
  else echo "$1 missing"; return 0
  fi
  SIZE=$($R cat "$2" | wc -c)
  printf '%s present %s ' "$1" "$($R cat "$2" | sha256sum | cut -d ' ' -f 1)"
  if [ "$SIZE" -le ${DRIFT_MAX_FILE_BYTES} ]; then $R cat "$2" | base64 | tr -d '\\n'; echo; else echo -; fi
}`;

function lbPart(a: LbDriftArgs): string {
    const conf = checkAbs(lbConfPath(a), "the LB config path");
    if (a.mode === "system") {
        const pid = checkAbs(a.pidPath ?? LB_SCRIPT_DEFAULTS.pidPath, "pidPath");
        return `echo "lb-mode system"
file_report lb-conf ${shellQuote(conf)}
CONF=${shellQuote(conf)}
NGINX=$( ( PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; command -v nginx ) || true)
echo "lb-nginx-bin \${NGINX:--}"
# As the LB stage decides: systemd runs nginx only for the distro's own config path.
if [ -d /run/systemd/system ] && [ "$CONF" = /etc/nginx/nginx.conf ] && command -v systemctl >/dev/null 2>&1 && systemctl cat nginx.service >/dev/null 2>&1; then
  echo "lb-systemd yes $(systemctl is-active nginx 2>/dev/null || true)"
else
  echo "lb-systemd no"
fi
PIDFILE=${shellQuote(pid)}
PID=$(cat "$PIDFILE" 2>/dev/null || $SUDO cat "$PIDFILE" 2>/dev/null || true)
case "$PID" in ''|*[!0-9]*) PID="" ;; esac
# A stale pid file can name another process by now: only an nginx process counts.
if [ -n "$PID" ] && [ "$(cat "/proc/$PID/comm" 2>/dev/null || true)" = nginx ]; then echo "lb-master $PID"; else echo "lb-master none"; fi`;
    }
    const name = a.containerName ?? LB_SCRIPT_DEFAULTS.containerName;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
        throw new Error(`driftScript: bad container name ${JSON.stringify(name)}`);
    }
    return `echo "lb-mode docker"
file_report lb-conf ${shellQuote(conf)}
# Users in the docker group need no sudo; others read through it (never a prompt).
D=""
if ! command -v docker >/dev/null 2>&1; then
  echo "lb-docker missing"
elif docker info >/dev/null 2>&1; then
  D=docker; echo "lb-docker ok plain"
elif [ -n "$SUDO" ] && $SUDO docker info >/dev/null 2>&1; then
  D="$SUDO docker"; echo "lb-docker ok sudo"
else
  echo "lb-docker denied"
fi
if [ -n "$D" ]; then
  for c in ${shellQuote(name)} ${shellQuote(name + PREVIOUS_NAME_SUFFIX)}; do
    ST=$($D inspect -f '{{.State.Running}} {{.State.Restarting}} {{index .Config.Labels "${SPEC_LABEL}"}}' "$c" 2>/dev/null || true)
    echo "lb-container $c \${ST:-absent}"
  done
fi`;
}

function adminPart(a: AdminDriftArgs): string {
    const F = RKE_FILES;
    return `WORK=${shellPath(a.workDir)}
if [ ! -d "$WORK" ]; then
  echo "admin-workdir missing"
else
  echo "admin-workdir present"
  cd "$WORK"
  file_report admin-yml ${F.config}
  if [ -f ${F.state} ] && [ -r ${F.state} ]; then
    echo "admin-state present $(sha256sum < ${F.state} | cut -d ' ' -f 1)"
  elif [ -e ${F.state} ]; then
    echo "admin-state unreadable"
  else
    echo "admin-state missing"
  fi
  echo "admin-reported $(head -n 1 ${F.reported} 2>/dev/null || true)"
  echo "admin-last-up $(head -n 1 ${F.lastUp} 2>/dev/null || true)"
  if [ -e ${F.fromStack} ]; then echo "admin-from-stack present"; else echo "admin-from-stack absent"; fi
  if [ -d ${F.keys} ]; then
    echo "admin-keys present"
    for f in ${F.keys}/*; do
      [ -e "$f" ] || continue
      if [ -f "$f" ] && [ -r "$f" ] && [ -s "$f" ]; then echo "admin-key ok \${f#${F.keys}/}"; else echo "admin-key unreadable \${f#${F.keys}/}"; fi
    done
  else
    echo "admin-keys missing"
  fi
  # The key files the yml on the host names, checked as rke would open them.
  if [ -r ${F.config} ]; then
    for k in $(awk '$1 == "ssh_key_path:" || ($1 == "-" && $2 == "ssh_key_path:") { print $NF }' ${F.config} | tr -d '"' | sort -u); do
      p=$k
      # shellcheck disable=SC2088 # a literal ~/ in the yml, expanded here
      case "$k" in "~/"*) p="$HOME/\${k#"~/"}" ;; esac
      if [ -r "$p" ]; then echo "admin-keyref ok $k"; else echo "admin-keyref missing $k"; fi
    done
  fi
  JOB=${F.job}
  if [ -s "$JOB/pid" ] && [ ! -e "$JOB/rc" ] && kill -0 "$(cat "$JOB/pid")" 2>/dev/null; then echo "admin-rke-job running $(cat "$JOB/pid")"; fi
fi`;
}

/**
 * The drift check of one host: what the LB runs (config file, nginx or its container) and/or the admin work dir's
 * files (yml, state hash against the last one reported to Pulumi, keys, leftovers). Read-only; exit 0 whenever it
 * could look (differences are data, not failures).
 */
export function driftScript(a: DriftScriptArgs): string {
    if (!a.lb && !a.admin) {
        throw new Error("driftScript: nothing to check (neither lb nor admin)");
    }
    return script(
        `HOST=${shellQuote(a.hostLabel)}`,
        SUDO_SH,
        FILE_REPORT_SH,
        `for t in sha256sum base64; do
  command -v "$t" >/dev/null 2>&1 || { echo "rancher-ha ops: $HOST: $t (coreutils) is needed for the drift check" >&2; exit 1; }
done`,
        `echo ${shellQuote(DRIFT_FRAME_BEGIN)}`,
        ...(a.lb ? [lbPart(a.lb)] : []),
        ...(a.admin ? [adminPart(a.admin)] : []),
        `echo ${shellQuote(DRIFT_FRAME_END)}`,
    );
}
