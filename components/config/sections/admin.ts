// admin: where `rke up` runs and keeps its files.
import { AdminSettings, DEFAULTS, NodeSettings, STATE_SYNC_PATTERN } from "../types";
import { ConfigReader } from "../reader";
import { shown, suggest } from "../names";

/**
 * Directories other users or the system own: the rke script makes the work directory its own (chmod 700) and keeps
 * keys and state there, so none of these (nor a path that normalises to one) can be it.
 */
const SHARED_DIRS = [
    "/", "/tmp", "/var/tmp", "/opt", "/usr", "/etc", "/var", "/home", "/root", "~",
    "/bin", "/boot", "/dev", "/lib", "/lib32", "/lib64", "/media", "/mnt", "/proc", "/run", "/sbin", "/srv", "/sys",
    "/usr/bin", "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/sbin", "/usr/share",
    "/var/cache", "/var/lib", "/var/log", "/var/opt", "/var/run", "/var/spool", "/etc/ssh", "~/.ssh",
];

/** A work directory as the shell sees it: no empty or `.` components, no trailing slash (`~/` and `~/.` are `~`). */
export function normaliseWorkDir(p: string): string {
    const abs = p.startsWith("/");
    const parts = p.split("/").filter(c => c !== "" && c !== ".");
    return abs ? `/${parts.join("/")}` : parts.join("/");
}

export function parseAdmin(r: ConfigReader, raw: Record<string, unknown>, nodes: NodeSettings[]): AdminSettings | undefined {
    const o = r.obj(raw, "admin");
    const hostName = r.str(o, "host", { key: "admin.host" });
    const workDir = r.str(o, "workDir", { key: "admin.workDir" }) ?? DEFAULTS.workDir;
    const rkePath = r.str(o, "rkePath", { key: "admin.rkePath" }) ?? DEFAULTS.rkePath;
    checkWorkDir(r, workDir);
    const stateSync = r.str(o, "stateSync", { key: "admin.stateSync" });
    // Removing the cluster is never a side effect: only this explicit setting lets a delete run rke remove.
    const removeClusterOnDestroy = r.bool(o, "removeClusterOnDestroy", "admin.removeClusterOnDestroy") ?? false;
    if (stateSync !== undefined && !STATE_SYNC_PATTERN.test(stateSync)) {
        r.err("admin.stateSync", `${shown(stateSync)} must be a plain token (letters, digits, . _ : -, up to 64), ` +
            "e.g. the date: `pulumi config set --path rancher-ha:admin.stateSync $(date +%Y%m%d%H%M%S)`");
    }
    if (hostName === "local") {
        return { host: "local", workDir, rkePath, stateSync, removeClusterOnDestroy };
    }
    const etcd = nodes.find(n => n.roles.includes("etcd"));
    const host = hostName === undefined ? etcd : nodes.find(n => n.address === hostName);
    if (hostName !== undefined && !host) {
        r.err("admin.host", `${shown(hostName)} is not one of the nodes' addresses; ` +
            `use a node address${suggest(hostName, nodes.map(n => n.address))} or "local"`);
        return undefined;
    }
    if (!host) {
        return undefined; // no etcd node: already reported
    }
    const { address, port, user, privateKey, keyId, hostKey } = host;
    return { host: { address, port, user, privateKey, keyId, hostKey }, workDir, rkePath, stateSync, removeClusterOnDestroy };
}

function checkWorkDir(r: ConfigReader, workDir: string): void {
    const fix = `use a directory of its own, e.g. ${DEFAULTS.workDir}`;
    if (!/^[A-Za-z0-9_~./-]+$/.test(workDir) || workDir.includes("..")) {
        r.err("admin.workDir", `${shown(workDir)} must be a plain path (letters, digits, _ ~ . / -, no ".."); ${fix}`);
        return;
    }
    if (/^~[^/]/.test(workDir)) {
        // shellPath expands only a leading `~` or `~/`: `~user/x` would be a directory named "~user".
        r.err("admin.workDir", `${shown(workDir)}: "~" is only understood as the first character, followed by "/" ` +
            `(the SSH user's home directory); ${fix}`);
        return;
    }
    const normal = normaliseWorkDir(workDir);
    if (normal === "") {
        r.err("admin.workDir", `${shown(workDir)} is the login directory itself; ${fix}`);
    } else if (SHARED_DIRS.includes(normal)) {
        r.err("admin.workDir", `${shown(workDir)} is ${normal === "~" ? "the home directory" : `the shared system directory ${normal}`}; ` +
            `rke's files (SSH keys, cluster state) go there and the directory is made private (chmod 700); ${fix}`);
    }
}
