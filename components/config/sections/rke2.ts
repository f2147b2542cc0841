// rke2 (+ the secret rke2Token): how RKE2 is installed and what its config.yaml gets beyond the stack's settings.
// Read only with distribution rke2; with rke the section is refused (parse.ts).
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS, NodeSettings, Rke2Install, Rke2NodeKind, Rke2Settings, Role } from "../types";
import { ConfigReader } from "../reader";
import { shown, shownKey, suggest } from "../names";

/**
 * A node's part in RKE2: etcd and the control plane run together on a server, so a node with either role is a
 * server; a worker-only node is an agent.
 */
export function rke2NodeKind(roles: readonly Role[]): Rke2NodeKind {
    return roles.includes("etcd") || roles.includes("controlplane") ? "server" : "agent";
}

/**
 * config.yaml keys the stack renders from its own settings: refused in rke2.serverConfig/agentConfig, each with
 * the setting to use instead.
 */
export const RKE2_OWNED_KEYS: Record<string, string> = {
    "token": "the secret rke2Token (or leave it unset to have one generated)",
    "agent-token": "the secret rke2Token",
    "server": "rancher-ha joins every node through the load balancer",
    "tls-san": "hostname and loadBalancer.address are added",
    "node-ip": "nodes[].internalAddress",
    "node-external-ip": "nodes[].address",
    "node-name": "nodes[].hostnameOverride",
    "node-label": "nodes[].labels",
    "node-taint": "nodes[].taints",
    "cni": "cluster.networkPlugin",
    "ingress-controller": "cluster.ingressProvider",
    "system-default-registry": "privateRegistry",
    "private-registry": "privateRegistry",
    "etcd-disable-snapshots": "etcdSnapshots.enabled",
    "etcd-snapshot-schedule-cron": "etcdSnapshots.creation",
    "etcd-snapshot-retention": "etcdSnapshots.retention",
    "cluster-reset": "npm run ops -- snapshot-restore",
    "cluster-reset-restore-path": "npm run ops -- snapshot-restore",
    "data-dir": "rancher-ha's scripts and ops commands use RKE2's default /var/lib/rancher/rke2",
    "write-kubeconfig-mode": "the kubeconfig stays 0600, readable by root only",
};

/** The release files INSTALL_RKE2_ARTIFACT_PATH needs (rke2 install.sh), per architecture. */
export function rke2ArtifactFiles(arch: "amd64" | "arm64"): { tarball: string; checksums: string; images: string[] } {
    return {
        tarball: `rke2.linux-${arch}.tar.gz`,
        checksums: `sha256sum-${arch}.txt`,
        images: [`rke2-images.linux-${arch}.tar.zst`, `rke2-images.linux-${arch}.tar.gz`],
    };
}

export function parseRke2(r: ConfigReader, raw: Record<string, unknown>, version: string, registryIsDefault: boolean): Rke2Settings {
    const o = r.obj(raw, "rke2");
    const artifactsDir = r.str(o, "artifactsDir", { key: "rke2.artifactsDir" });
    const scriptUrl = r.str(o, "installScriptUrl", { key: "rke2.installScriptUrl" });
    let install: Rke2Install;
    if (artifactsDir !== undefined) {
        if (scriptUrl !== undefined) {
            r.err("rke2.installScriptUrl", "set together with rke2.artifactsDir; the artifacts include install.sh: " +
                "keep one (artifactsDir for air-gapped nodes, installScriptUrl where nodes reach it)");
        }
        checkArtifacts(r, artifactsDir, registryIsDefault);
        install = { method: "artifacts", artifactsDir };
    } else {
        const url = scriptUrl ?? DEFAULTS.rke2.scriptUrl;
        if (!/^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~\/-]*)?$/.test(url)) {
            r.err("rke2.installScriptUrl", `${shown(url)} must be an https URL of RKE2's install script ` +
                `(e.g. ${DEFAULTS.rke2.scriptUrl} or a mirror of it), without query or spaces`);
        }
        install = { method: "script", scriptUrl: url };
    }

    const token = r.secretStr(raw, "rke2Token");
    if (token !== undefined && (token.length < 16 || /\s/.test(token))) {
        r.err("rke2Token", "must be at least 16 characters without spaces; or unset it to have one generated " +
            "(set it only to adopt a cluster that has a token already: /var/lib/rancher/rke2/server/token on a server)");
    }
    return {
        version,
        install,
        token: token === undefined ? undefined : pulumi.secret(token),
        agentConcurrency: r.int(o, "agentConcurrency", "rke2.agentConcurrency", 1, 50) ?? DEFAULTS.rke2.agentConcurrency,
        nodeReadyTimeoutSeconds: r.int(o, "nodeReadyTimeout", "rke2.nodeReadyTimeout", 60, 7200)
            ?? DEFAULTS.rke2.nodeReadyTimeoutSeconds,
        serverConfig: extraConfig(r, o, "serverConfig"),
        agentConfig: extraConfig(r, o, "agentConfig"),
    };
}

/** rke2.serverConfig / agentConfig: config.yaml keys (RKE2's own spelling), plain values, none the stack owns. */
function extraConfig(r: ConfigReader, o: Record<string, unknown>, k: "serverConfig" | "agentConfig"): Record<string, unknown> {
    const v = o[k];
    const key = `rke2.${k}`;
    if (v === undefined || v === null) {
        return {};
    }
    if (typeof v !== "object" || Array.isArray(v)) {
        r.err(key, "must be a map of RKE2 config.yaml keys, e.g. {kube-apiserver-arg: [\"audit-log-maxage=30\"], profile: cis}");
        return {};
    }
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(v)) {
        const where = `${key}.${shownKey(name)}`;
        if (RKE2_OWNED_KEYS[name] !== undefined) {
            r.err(where, `not allowed here: set by rancher-ha from ${RKE2_OWNED_KEYS[name]}`);
            continue;
        }
        if (!/^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(name)) {
            r.err(where, `is not an RKE2 config key (lower-case words joined by -, as \`rke2 server --help\` spells them` +
                `${suggest(name.toLowerCase(), Object.keys(RKE2_OWNED_KEYS))})`);
            continue;
        }
        if (/token|secret|password|passwd|-key$|access-key/.test(name)) {
            r.err(where, "looks like a secret, and this map is plain text in Pulumi.<stack>.yaml; rancher-ha has no " +
                "secret key for it: configure it outside rancher-ha");
            continue;
        }
        const scalar = (x: unknown) => typeof x === "string" || typeof x === "number" || typeof x === "boolean";
        if (!scalar(value) && !(Array.isArray(value) && value.every(scalar))) {
            r.err(where, `must be a string, number, true/false or a list of them, got ${shown(value)}`);
            continue;
        }
        out[name] = value;
    }
    return out;
}

/** The artifacts directory must hold what install.sh's INSTALL_RKE2_ARTIFACT_PATH mode reads, for one architecture. */
function checkArtifacts(r: ConfigReader, dir: string, registryIsDefault: boolean): void {
    const abs = dir.startsWith("~/") ? path.join(r.home, dir.slice(2)) : path.resolve(dir);
    let files: string[];
    try {
        files = r.listDir(abs);
    } catch (e) {
        r.err("rke2.artifactsDir", `${shown(dir)} cannot be read on the machine running Pulumi ` +
            `(${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); download the release files of ` +
            "versions.kubernetes there (rke2.linux-amd64.tar.gz, sha256sum-amd64.txt, rke2-images.linux-amd64.tar.zst, " +
            "install.sh) from https://github.com/rancher/rke2/releases");
        return;
    }
    const arches = (["amd64", "arm64"] as const).filter(a => files.includes(rke2ArtifactFiles(a).tarball));
    if (arches.length === 0) {
        r.err("rke2.artifactsDir", `${shown(dir)} has no rke2.linux-amd64.tar.gz (or -arm64); put the release files of ` +
            "versions.kubernetes there, with sha256sum-<arch>.txt and install.sh");
        return;
    }
    const missing: string[] = [];
    for (const a of arches) {
        const f = rke2ArtifactFiles(a);
        if (!files.includes(f.checksums)) {
            missing.push(f.checksums);
        }
        if (!registryIsDefault && !f.images.some(i => files.includes(i))) {
            missing.push(`${f.images[0]} (or privateRegistry with isDefault: true)`);
        }
    }
    if (!files.includes("install.sh")) {
        missing.push("install.sh (https://get.rke2.io, saved as install.sh)");
    }
    if (missing.length > 0) {
        r.err("rke2.artifactsDir", `${shown(dir)} lacks ${missing.join(", ")}; download them from the release of ` +
            "versions.kubernetes at https://github.com/rancher/rke2/releases");
    }
}

/**
 * What RKE2 needs of the node list: servers run etcd and the control plane together (a node with one of them
 * only is refused), there is at least one server, and RKE2 has no Docker.
 */
export function checkRke2Nodes(r: ConfigReader, nodes: NodeSettings[]): void {
    nodes.forEach((n, i) => {
        const cp = n.roles.includes("controlplane");
        const etcd = n.roles.includes("etcd");
        if (cp !== etcd) {
            r.err(`nodes[${i}].roles`, `${shown(n.roles)}: an RKE2 server runs etcd and the control plane together; give ` +
                "the node [controlplane, etcd] (a server, plus worker to run workloads) or [worker] alone (an agent)");
        }
        if (n.dockerSocket !== undefined) {
            r.err(`nodes[${i}].dockerSocket`, "RKE2 runs its own containerd, not Docker; remove the key");
        }
    });
}

/** Keys of other sections that mean nothing with distribution rke2, each with what to do instead. */
export function rkeOnlyKeys(raw: Record<string, unknown>): { key: string; fix: string }[] {
    const out: { key: string; fix: string }[] = [];
    const admin = raw.admin;
    if (typeof admin === "object" && admin !== null) {
        for (const k of ["host", "workDir", "rkePath"]) {
            if ((admin as Record<string, unknown>)[k] !== undefined) {
                out.push({ key: `admin.${k}`, fix: "RKE2 needs no admin host (each node installs itself); remove the key" });
            }
        }
    }
    const versions = raw.versions;
    if (typeof versions === "object" && versions !== null && (versions as Record<string, unknown>).rke !== undefined) {
        out.push({ key: "versions.rke", fix: "there is no rke binary with RKE2; versions.kubernetes is the RKE2 release (e.g. v1.36.3+rke2r1)" });
    }
    if (raw.rkeOverrides !== undefined) {
        out.push({ key: "rkeOverrides", fix: "cluster.yml keys are RKE1's; use rke2.serverConfig / rke2.agentConfig" });
    }
    const cluster = raw.cluster;
    if (typeof cluster === "object" && cluster !== null) {
        for (const k of ["ignoreDockerVersion", "upgradeStrategy"]) {
            if ((cluster as Record<string, unknown>)[k] !== undefined) {
                out.push({ key: `cluster.${k}`, fix: "an RKE1 setting; RKE2 upgrades servers one at a time, then agents: remove the key" });
            }
        }
    }
    return out;
}
