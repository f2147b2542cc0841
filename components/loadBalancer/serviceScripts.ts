// Remote scripts that run a daemon of ours on an LB host: the active health checker and keepalived (LB pair).
//
// Both are host-level in either LB mode: the checker's routing rules live in the host's network namespace, which
// also routes a docker-mode container's connects to the nodes, and keepalived puts the virtual IP on the host's
// interface. A systemd unit of our own (rancher-ha-*.service) runs each one, so a distro unit of the same
// program (keepalived.service) and its config are never touched. A host without systemd (a container, a minimal
// image) gets the same daemon detached with setsid and a pid file, so it survives the SSH session.
//
// The daemon's files travel on stdin as one bundle whose sha256 is in the command: the files are replaced (and the
// daemon restarted, or sent SIGHUP) only when that hash changes. A lock serialises concurrent runs on one host.
// Every run prints one status line:  rancher-ha-lb-service <name>: started | restarted | reloaded | unchanged | removed
import { fileBundle, BundleFile, hostLockSh, script, sha256, shellQuote, SUDO_SH, UNPACK_BUNDLE_SH } from "../shared/shell";
import { LbOwnership, lbOwnerSh, lbOwnerSteps } from "./owner";

/** A command the daemon needs, and the package that provides it (installed when missing). */
export interface LbServiceNeed {
    command: string;
    /** Debian/Ubuntu package. */
    apt: string;
    /** RHEL/Fedora/SUSE package. */
    rpm: string;
}

export interface LbServiceOptions {
    /** Service and unit name, `rancher-ha-<something>`. Required. */
    name: string;
    /** The unit's Description. Required. */
    description: string;
    /** `user@host:port` of the LB host, for error messages. Required. */
    hostLabel: string;
    /** sha256 of the stdin bundle (lbServiceBundle): a change replaces the files and restarts or reloads. Required. */
    bundleHash: string;
    /** The daemon's argv; `{dir}` stands for the directory holding its files. Runs as root. Required. */
    exec: string[];
    /** How a changed bundle reaches a running daemon: `restart`, or `hup` (a daemon that reloads on SIGHUP). */
    onChange: "restart" | "hup";
    /** Commands it needs, installed with the host's package manager when missing. Default none. */
    needs?: LbServiceNeed[];
    /** Directory of its files. Default /etc/rancher-ha/lb/<name>. */
    dir?: string;
    /**
     * sh run after changed files are in $DIR and before the daemon (re)starts or reloads: fills in what only the host
     * knows, and tests the result. A failure fails the run; the files count as not installed, so the next run
     * retries. Default none.
     */
    afterInstall?: string;
    /** Seconds it must keep running after a (re)start before the run counts as good. Default 3. */
    confirmSeconds?: number;
    /**
     * The stack the LB host serves (owner.ts): apply refuses a host another stack serves unless it takes it over, and
     * delete leaves such a host alone. The nginx apply records the owner. Default: no check.
     */
    owner?: LbOwnership;
}

export const LB_SERVICE_DEFAULTS = { baseDir: "/etc/rancher-ha/lb", confirmSeconds: 3, logDir: "/var/log/rancher-ha", runDir: "/run/rancher-ha" };

/** First line of the unit files and the marker file we write: only what carries it is ever removed. */
export const SERVICE_MARKER = "# Managed by rancher-ha (Pulumi): LB host service";

/** stdin for apply: the daemon's files. */
export function lbServiceBundle(files: BundleFile[]): string {
    return fileBundle(files);
}

interface Resolved {
    name: string;
    dir: string;
    exec: string;
    unit: string;
    confirm: number;
}

function resolve(o: LbServiceOptions): Resolved {
    if (!/^rancher-ha-[a-z0-9-]+$/.test(o.name)) {
        throw new Error(`lbService: the name must be rancher-ha-<lower-case words>, got ${JSON.stringify(o.name)}`);
    }
    const dir = o.dir ?? `${LB_SERVICE_DEFAULTS.baseDir}/${o.name}`;
    if (!/^\/[A-Za-z0-9_./-]+$/.test(dir) || dir.includes("..")) {
        throw new Error(`lbService: dir must be an absolute path, got ${JSON.stringify(dir)}`);
    }
    if (!/^[0-9a-f]{64}$/.test(o.bundleHash)) {
        throw new Error(`lbService: bundleHash must be a sha256 (64 hex digits)`);
    }
    if (o.exec.length === 0) {
        throw new Error("lbService: exec is empty");
    }
    const confirm = o.confirmSeconds ?? LB_SERVICE_DEFAULTS.confirmSeconds;
    if (!Number.isInteger(confirm) || confirm < 0 || confirm > 120) {
        throw new Error(`lbService: confirmSeconds must be a whole number from 0 to 120, got ${confirm}`);
    }
    const argv = o.exec.map(a => a.split("{dir}").join(dir));
    return { name: o.name, dir, exec: argv.map(shellQuote).join(" "), unit: lbServiceUnit(o, argv), confirm };
}

/** The systemd unit: restarted whenever it stops, after the network and the LB's nginx (either mode). */
export function lbServiceUnit(o: LbServiceOptions, argv?: string[]): string {
    const dir = o.dir ?? `${LB_SERVICE_DEFAULTS.baseDir}/${o.name}`;
    const exec = (argv ?? o.exec.map(a => a.split("{dir}").join(dir))).map(a => /[\s"\\]/.test(a) ? JSON.stringify(a) : a).join(" ");
    return [
        SERVICE_MARKER,
        "[Unit]",
        `Description=${o.description}`,
        "Wants=network-online.target",
        "After=network-online.target nginx.service docker.service",
        "",
        "[Service]",
        "Type=simple",
        `ExecStart=${exec}`,
        ...(o.onChange === "hup" ? ["ExecReload=/bin/kill -HUP $MAINPID"] : []),
        "Restart=always",
        "RestartSec=2",
        // Stop TERMs the daemon itself: the checker's EXIT trap then puts every node back before it goes.
        "KillMode=mixed",
        "TimeoutStopSec=15",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

const COMMON_SH = (o: LbServiceOptions, r: Resolved) => [
    SUDO_SH,
    `NAME=${shellQuote(r.name)}`,
    `DIR=${shellQuote(r.dir)}`,
    `UNIT=/etc/systemd/system/${r.name}.service`,
    `RUN=${LB_SERVICE_DEFAULTS.runDir}`,
    `PIDF="$RUN/${r.name}.pid"`,
    `LB_HOST=${shellQuote(o.hostLabel)}`,
    `MARKER=${shellQuote(SERVICE_MARKER)}`,
    `say() { echo "rancher-ha-lb-service $NAME: $*"; }`,
    // Non-root login shells often lack the sbin directories (ip, keepalived live there).
    `PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"`,
    `fail() { echo "rancher-ha: $NAME on $LB_HOST: $*" >&2; exit 1; }`,
    // systemd when it runs this host; otherwise the daemon is detached with a pid file.
    `use_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }`,
    // A stale pid file can name some other process by now: only a process started from $DIR counts.
    `running() { PID=$($SUDO cat "$PIDF" 2>/dev/null) && [ -n "$PID" ] && $SUDO tr '\\0' ' ' < "/proc/$PID/cmdline" 2>/dev/null | grep -qF "$DIR/"; }`,
    // The detached daemon (no systemd): TERM, up to 15 s to go (the checker puts every node back), then KILL.
    `stop_detached() {
  running || return 0
  $SUDO kill -TERM "$PID" 2>/dev/null || true
  i=0
  while running && [ "$i" -lt 30 ]; do sleep 0.5; i=$((i + 1)); done
  if running; then $SUDO kill -KILL "$PID" 2>/dev/null || true; fi
}`,
    // One run at a time on this host (a second pulumi up, ops).
    hostLockSh(`"$RUN/$NAME.lock"`),
    ...(o.owner ? [lbOwnerSh(o.owner)] : []),
].join("\n");

/** create and update: the daemon runs exactly the files on stdin, started on boot. */
export function lbServiceApplyScript(o: LbServiceOptions): string {
    const r = resolve(o);
    const installs = (o.needs ?? []).map(n =>
        `command -v ${shellQuote(n.command)} >/dev/null 2>&1 || install_pkg ${shellQuote(n.apt)} ${shellQuote(n.rpm)} ${shellQuote(n.command)}`);
    return script(
        COMMON_SH(o, r),
        UNPACK_BUNDLE_SH,
        `WANT=${shellQuote(o.bundleHash)}
CONFIRM=${r.confirm}
ON_CHANGE=${o.onChange === "hup" ? "hup" : "restart"}
LOG=${LB_SERVICE_DEFAULTS.logDir}/${r.name}.log
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/bundle"
[ "$(sha256sum < "$TMP/bundle" | cut -d' ' -f1)" = "$WANT" ] || fail "the files sent on stdin do not match their hash $WANT (interrupted transfer?); run pulumi up again"
mkdir "$TMP/files"
unpack_bundle "$TMP/files" < "$TMP/bundle"`,
        lbOwnerSteps(o.owner).check,
        `install_pkg() {
  if command -v apt-get >/dev/null 2>&1; then
    { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; } || fail "installing $1 with apt-get failed (above); install it by hand and run pulumi up again"
  elif command -v dnf >/dev/null 2>&1; then $SUDO dnf install -y -q "$2" >/dev/null || fail "installing $2 with dnf failed (above)"
  elif command -v yum >/dev/null 2>&1; then $SUDO yum install -y -q "$2" >/dev/null || fail "installing $2 with yum failed (above)"
  elif command -v zypper >/dev/null 2>&1; then $SUDO zypper -q -n install "$2" >/dev/null || fail "installing $2 with zypper failed (above)"
  else fail "$3 is not installed and there is no apt-get, dnf, yum or zypper; install $1 by hand"
  fi
  say "installed $1"
}`,
        ...installs,
        `after_install() {\n${o.afterInstall ?? "  :"}\n}`,
        // Files first (each renamed into place), then the hash that says they are complete.
        `CHANGED=0
if [ "$($SUDO cat "$DIR/.bundle-sha256" 2>/dev/null)" != "$WANT" ]; then
  CHANGED=1
  $SUDO mkdir -p "$DIR"
  $SUDO chmod 755 "$DIR"
  for f in "$TMP/files"/*; do
    $SUDO cp -p "$f" "$DIR/.$(basename "$f").new"
    $SUDO chown root:root "$DIR/.$(basename "$f").new" 2>/dev/null || true
    $SUDO mv -f "$DIR/.$(basename "$f").new" "$DIR/$(basename "$f")"
  done
  $SUDO rm -f "$DIR/.bundle-sha256"
  after_install || fail "the new files were not taken into use (above); the running $NAME keeps its previous ones"
  printf '%s\\n' "$WANT" | $SUDO tee "$DIR/.bundle-sha256" >/dev/null
  printf '%s\\n' "$MARKER" | $SUDO tee "$DIR/.managed" >/dev/null
fi`,
        `wait_running() {
  i=0
  while [ "$i" -lt "$CONFIRM" ]; do sleep 1; i=$((i + 1)); done
  if use_systemd; then
    systemctl is-active --quiet "$NAME" && return 0
    $SUDO journalctl -u "$NAME" -n 30 --no-pager >&2 2>/dev/null || true
  else
    running && return 0
    $SUDO tail -n 30 "$LOG" >&2 2>/dev/null || true
  fi
  fail "$NAME stopped within $CONFIRM s of starting (its log is above)"
}`,
        `if use_systemd; then
  UNIT_CHANGED=0
  TMPUNIT="$TMP/unit"
  cat > "$TMPUNIT" <<'END_OF_UNIT'
${r.unit}END_OF_UNIT
  if ! $SUDO cmp -s "$TMPUNIT" "$UNIT"; then
    $SUDO cp "$TMPUNIT" "$UNIT.new" && $SUDO chmod 644 "$UNIT.new" && $SUDO mv -f "$UNIT.new" "$UNIT"
    $SUDO systemctl daemon-reload || fail "systemctl daemon-reload failed"
    UNIT_CHANGED=1
  fi
  $SUDO systemctl enable --quiet "$NAME" 2>/dev/null || fail "systemctl enable $NAME failed"
  if systemctl is-active --quiet "$NAME"; then
    if [ "$UNIT_CHANGED" = 1 ] || { [ "$CHANGED" = 1 ] && [ "$ON_CHANGE" = restart ]; }; then
      $SUDO systemctl restart "$NAME" || fail "systemctl restart $NAME failed; see journalctl -u $NAME"
      wait_running; say restarted
    elif [ "$CHANGED" = 1 ]; then
      $SUDO systemctl reload "$NAME" || fail "systemctl reload $NAME failed; see journalctl -u $NAME"
      wait_running; say reloaded
    else
      say unchanged
    fi
  else
    $SUDO systemctl start "$NAME" || fail "$NAME did not start; see journalctl -u $NAME"
    wait_running; say started
  fi
else
  start() {
    $SUDO mkdir -p ${LB_SERVICE_DEFAULTS.logDir}
    # setsid: its own session, so the end of this SSH session does not end it.
    # 9>&-: the daemon must not hold this run's lock (sudo closes it anyway; root runs have no sudo).
    # shellcheck disable=SC2016 # expanded by the inner sh, which gets the values through env
    $SUDO env PIDF="$PIDF" LOG="$LOG" sh -c 'cd / && setsid "$@" >>"$LOG" 2>&1 </dev/null 9>&- & echo $! > "$PIDF"' sh ${r.exec}
  }
  if running; then
    if [ "$CHANGED" = 1 ] && [ "$ON_CHANGE" = hup ]; then
      $SUDO kill -HUP "$PID"; wait_running; say reloaded
    elif [ "$CHANGED" = 1 ]; then
      stop_detached; start; wait_running; say restarted
    else
      say unchanged
    fi
  else
    start; wait_running; say started
  fi
fi`,
    );
}

/** delete: stop the daemon and remove its unit and files (only ours). */
export function lbServiceDeleteScript(o: LbServiceOptions): string {
    const r = resolve(o);
    return script(
        COMMON_SH(o, r),
        lbOwnerSteps(o.owner).leaveOthers,
        `if use_systemd && $SUDO test -f "$UNIT" && $SUDO head -n 1 "$UNIT" | grep -qF "$MARKER"; then
  $SUDO systemctl disable --now "$NAME" >/dev/null 2>&1 || $SUDO systemctl stop "$NAME" || true
  $SUDO rm -f "$UNIT"
  $SUDO systemctl daemon-reload || true
else
  stop_detached
fi
$SUDO rm -f "$PIDF"
if $SUDO test -f "$DIR/.managed" && $SUDO grep -qF "$MARKER" "$DIR/.managed"; then $SUDO rm -rf "$DIR"; fi
say removed`,
    );
}

/** A daemon ready to install: its script options and the stdin bundle they carry the hash of. */
export interface LbServiceSpec {
    options: LbServiceOptions;
    /** stdin of the apply script. */
    bundle: string;
}

/** The spec of a daemon with these files (bundleHash computed here). */
export function lbServiceSpec(options: Omit<LbServiceOptions, "bundleHash">, files: BundleFile[]): LbServiceSpec {
    const bundle = lbServiceBundle(files);
    return { options: { ...options, bundleHash: sha256(bundle) }, bundle };
}
