// Shell building blocks shared by every remote script.
//
// Conventions (all remote scripts follow them):
// - a script is POSIX sh, passed as the command string; the remote login shell runs it with `sh -c` semantics;
// - secrets and file contents never appear in the command string: they travel on stdin as a file bundle
//   (see fileBundle/UNPACK_BUNDLE_SH) so they are neither in process listings nor in Pulumi's diff;
// - every value interpolated into a script goes through shellQuote.
import * as crypto from "crypto";

/** Quotes a value for POSIX sh: 'it'\''s' */
export function shellQuote(value: string): string {
    if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) {
        return value;
    }
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A path for sh where a leading `~/` means the remote user's home (quoted, but `~` still expands). */
export function shellPath(p: string): string {
    return p === "~" ? `"$HOME"` : p.startsWith("~/") ? `"$HOME"/${shellQuote(p.slice(2))}` : shellQuote(p);
}

export interface BundleFile {
    /** Plain file name, no directories. */
    name: string;
    /** Octal permission bits, e.g. "600". */
    mode: string;
    content: string;
}

/** stdin payload carrying files: one line per file, `<name> <mode> <base64 content>`. Deterministic. */
export function fileBundle(files: BundleFile[]): string {
    const seen = new Set<string>();
    return files.map(f => {
        if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(f.name) || seen.has(f.name)) {
            throw new Error(`fileBundle: bad or duplicate file name "${f.name}"`);
        }
        if (!/^[0-7]{3,4}$/.test(f.mode)) {
            throw new Error(`fileBundle: bad mode "${f.mode}" for ${f.name}`);
        }
        seen.add(f.name);
        return `${f.name} ${f.mode} ${Buffer.from(f.content, "utf8").toString("base64")}\n`;
    }).join("");
}

/**
 * `unpack_bundle DIR`: writes the files of a stdin bundle into DIR (each written to a temp name, chmod-ed,
 * then renamed, so a reader never sees a half-written file or a key with loose permissions).
 */
export const UNPACK_BUNDLE_SH = `unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "\${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}`;

/** Sets $SUDO to "" for root, else "sudo -n" (never prompts: a missing sudo right fails fast). */
export const SUDO_SH = `if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi`;

/** Joins script parts under a strict header. */
export function script(...parts: string[]): string {
    return ["set -eu", ...parts].join("\n") + "\n";
}

/** sha256 hex of a text: change triggers and file names derive from content, so they are stable across runs. */
export function sha256(text: string): string {
    return crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * sh: one run at a time on this host, on fd 9: sets LOCK to `lockFile` (a shell word: a quoted path or "$VAR/...") and
 * waits up to 2 minutes for another run holding it, then fails naming it. The file is root's, writable by the login
 * user (who may not be root) so that flock can open it. Needs $SUDO and fail(); a daemon the script starts must not
 * inherit fd 9 (9>&-).
 */
export function hostLockSh(lockFile: string): string {
    return `LOCK=${lockFile}
$SUDO mkdir -p "$(dirname "$LOCK")"
$SUDO touch "$LOCK"
$SUDO chmod 666 "$LOCK"
exec 9>>"$LOCK" || fail "cannot open the lock file $LOCK"
if command -v flock >/dev/null 2>&1; then flock -w 120 9 || fail "another run holds $LOCK for 2 minutes; try again when it ends"; fi`;
}
