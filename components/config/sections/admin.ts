// admin: where `rke up` runs and keeps its files.
import { AdminSettings, DEFAULTS, NodeSettings, STATE_SYNC_PATTERN } from "../types";
import { ConfigReader } from "../reader";
import { suggest } from "../names";

export function parseAdmin(r: ConfigReader, raw: Record<string, unknown>, nodes: NodeSettings[]): AdminSettings | undefined {
    const o = r.obj(raw, "admin");
    const hostName = r.str(o, "host", { key: "admin.host" });
    const workDir = r.str(o, "workDir", { key: "admin.workDir" }) ?? DEFAULTS.workDir;
    const rkePath = r.str(o, "rkePath", { key: "admin.rkePath" }) ?? DEFAULTS.rkePath;
    if (!/^[A-Za-z0-9_~./-]+$/.test(workDir) || workDir.includes("..")) {
        r.err("admin.workDir", `"${workDir}" must be a plain path (letters, digits, _ ~ . / -), e.g. ~/rancher-ha`);
    }
    const stateSync = r.str(o, "stateSync", { key: "admin.stateSync" });
    if (stateSync !== undefined && !STATE_SYNC_PATTERN.test(stateSync)) {
        r.err("admin.stateSync", `"${stateSync}" must be a plain token (letters, digits, . _ : -, up to 64), ` +
            "e.g. the date: `pulumi config set --path rancher-ha:admin.stateSync $(date +%Y%m%d%H%M%S)`");
    }
    if (hostName === "local") {
        return { host: "local", workDir, rkePath, stateSync };
    }
    const etcd = nodes.find(n => n.roles.includes("etcd"));
    const host = hostName === undefined ? etcd : nodes.find(n => n.address === hostName);
    if (hostName !== undefined && !host) {
        r.err("admin.host", `"${hostName}" is not one of the nodes' addresses; ` +
            `use a node address${suggest(hostName, nodes.map(n => n.address))} or "local"`);
        return undefined;
    }
    if (!host) {
        return undefined; // no etcd node: already reported
    }
    const { address, port, user, privateKey, keyId } = host;
    return { host: { address, port, user, privateKey, keyId }, workDir, rkePath, stateSync };
}
