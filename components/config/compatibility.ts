// Which versions work together, checked offline before any resource: distribution x Kubernetes x Rancher x
// cert-manager. Each row says where it comes from. An impossible combination is a config error naming the key at
// fault and a combination that works; a combination past its end of life is a warning. Pure.
//
// Only bounds read in a source are here: a Rancher line without a verified row is not checked (and says so).

import type { Distribution, RancherChannel } from "./types";

export type { Distribution };

/** [major, minor, patch] of `v1.30.14-rancher1-1`, `v1.35.3+rke2r1`, `2.11.16`, `v1.15.3`. */
export function versionParts(v: string): [number, number, number] | undefined {
    const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v.trim());
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

const minorOf = (v: string) => {
    const p = versionParts(v);
    return p ? p[0] * 1000 + p[1] : undefined;
};
const minor = (major: number, min: number) => major * 1000 + min;
const show = (m: number) => `${Math.floor(m / 1000)}.${m % 1000}`;

interface RancherLine {
    /** Rancher minor line, e.g. 2.11. */
    line: number;
    /** The chart's kubeVersion: Kubernetes below this minor. */
    kubeBelow: number;
    /** Whether its local cluster may run on RKE1. */
    rke1: boolean;
    /** End of life, when known (YYYY-MM). */
    eol?: string;
    /** A version of this line to suggest. */
    example: string;
    source: string;
    /**
     * The last community (non-Prime) patch of the line; later patches are Rancher Prime releases (chart in the Prime
     * repository, images on registry.rancher.com). Unset for the newest line, whose releases are all community.
     */
    lastCommunity?: string;
}

/** Rancher chart lines (shared/reference/facts-2026-12.md: each chart's Chart.yaml kubeVersion at the tag). */
export const RANCHER_LINES: RancherLine[] = [
    // rancher/rancher chart/Chart.yaml at v2.8.x: kubeVersion "< 1.29.0-0".
    { line: minor(2, 8), kubeBelow: minor(1, 29), rke1: true, eol: "2025-06", example: "2.8.x", source: "rancher chart v2.8.x Chart.yaml", lastCommunity: "2.8.5" },
    // v2.9.2: "< 1.31.0-0".
    { line: minor(2, 9), kubeBelow: minor(1, 31), rke1: true, eol: "2025-10", example: "2.9.2", source: "rancher chart v2.9.2 Chart.yaml", lastCommunity: "2.9.3" },
    // v2.10.0-v2.10.12: "< 1.32.0-0" (EOL 2026-06, shared/reference/facts-2026-12.md).
    { line: minor(2, 10), kubeBelow: minor(1, 32), rke1: true, eol: "2026-06", example: "2.10.12", source: "rancher chart v2.10.12 Chart.yaml", lastCommunity: "2.10.3" },
    // v2.11.16: "< 1.33.0-0"; 2.11 is the last line that runs on RKE1 (EOL 2026-10).
    { line: minor(2, 11), kubeBelow: minor(1, 33), rke1: true, eol: "2026-10", example: "2.11.16", source: "rancher chart v2.11.16 Chart.yaml; Rancher support matrix", lastCommunity: "2.11.3" },
    // v2.12.0-v2.12.12: "< 1.34.0-0"; the first line whose pre-upgrade hook refuses RKE1 (rancher#51003).
    { line: minor(2, 12), kubeBelow: minor(1, 34), rke1: false, example: "2.12.12", source: "rancher chart v2.12.12 Chart.yaml; rancher#51003", lastCommunity: "2.12.3" },
    // v2.13.0-v2.13.8: "< 1.35.0-0".
    { line: minor(2, 13), kubeBelow: minor(1, 35), rke1: false, example: "2.13.8", source: "rancher chart v2.13.8 Chart.yaml", lastCommunity: "2.13.3" },
    // v2.14.4: "< 1.36.0-0"; from 2.12 a pre-upgrade hook refuses RKE1 (rancher#51003).
    { line: minor(2, 14), kubeBelow: minor(1, 36), rke1: false, example: "2.14.4", source: "rancher chart v2.14.4 Chart.yaml; rancher#51003", lastCommunity: "2.14.3" },
    // v2.15.0: "< 1.37.0-0"; warns below cert-manager 1.15.
    { line: minor(2, 15), kubeBelow: minor(1, 37), rke1: false, example: "2.15.0", source: "rancher chart v2.15.0 Chart.yaml" },
];

// lastCommunity: once a Rancher minor is out, new patches of the older lines are Prime-only (maintainer, rancher#46614);
// the last community patch of each line is its last tag before the next minor's .0 (tag dates in rancher/rancher),
// which matches rancher#49334 (2.8.5 is 2.8's last community release) and rancher#48149 (no 2.9.4 in the community
// repositories). The newest line (2.15) is all community; when 2.16 ships, 2.15 gets its lastCommunity.

/** Rancher 2.12 and later cannot run on an RKE1 local cluster (API aggregation is mandatory; rancher#51003). */
export const RANCHER_FIRST_WITHOUT_RKE1 = minor(2, 12);

interface CertManagerLine {
    line: number;
    kubeFrom: number;
    kubeTo: number;
    eol?: string;
    source: string;
}

/** cert-manager's supported Kubernetes ranges (cert-manager.io/docs/releases). */
export const CERT_MANAGER_LINES: CertManagerLine[] = [
    { line: minor(1, 15), kubeFrom: minor(1, 25), kubeTo: minor(1, 32), eol: "2025-02", source: "cert-manager releases page" },
    // cert-manager/website content/docs/releases/README.md (2026-03): 1.18 EOL at the release of 1.20.
    { line: minor(1, 18), kubeFrom: minor(1, 29), kubeTo: minor(1, 33), eol: "2026-03", source: "cert-manager releases page" },
    { line: minor(1, 19), kubeFrom: minor(1, 31), kubeTo: minor(1, 35), source: "cert-manager releases page" },
    { line: minor(1, 20), kubeFrom: minor(1, 32), kubeTo: minor(1, 35), source: "cert-manager releases page" },
    { line: minor(1, 21), kubeFrom: minor(1, 33), kubeTo: minor(1, 36), source: "cert-manager releases page" },
];

/** Kubernetes end of life per minor (kubernetes.io/releases). */
export const KUBERNETES_EOL: Record<number, string> = {
    [minor(1, 30)]: "2025-07-15",
    // kubernetes.io/releases/1.31 (2025-10-28, also in Scaleway's support table), /1.33.
    [minor(1, 31)]: "2025-10-28",
    [minor(1, 33)]: "2026-06-28",
    [minor(1, 34)]: "2026-10-27",
    [minor(1, 35)]: "2027-02-28",
    [minor(1, 36)]: "2027-06-28",
};

/** RKE1 reached end of life on 2025-07-31 (rancher/rancher#46376); rancher/rke was archived on 2026-08-31. */
export const RKE1_EOL = "2025-07-31";

export interface CompatInput {
    distribution: Distribution;
    kubernetes: string;
    rancher: string;
    certManager: string;
    /** Today, YYYY-MM-DD (for end-of-life warnings); injectable for tests. */
    today: string;
}

export interface CompatResult {
    /** `key: message` lines, each naming the key at fault and a combination that works. */
    errors: string[];
    warnings: string[];
}

export function compatibilityProblems(c: CompatInput): CompatResult {
    const errors: string[] = [];
    const warnings: string[] = [];
    const k8s = minorOf(c.kubernetes);
    const rancher = minorOf(c.rancher);
    const cm = minorOf(c.certManager);
    if (k8s === undefined || rancher === undefined || cm === undefined) {
        return { errors, warnings }; // malformed versions are reported by the versions section
    }
    const line = RANCHER_LINES.find(l => l.line === rancher);

    if (c.distribution === "rke" && rancher >= RANCHER_FIRST_WITHOUT_RKE1) {
        errors.push(`versions.rancher: Rancher ${c.rancher} cannot run on an RKE1 cluster (from 2.12 the API aggregation ` +
            "layer is mandatory and the chart refuses RKE1; rancher#51003); use Rancher 2.11.16 on distribution rke, " +
            "or move to RKE2 for a newer Rancher");
    }
    if (line && k8s >= line.kubeBelow) {
        const fits = RANCHER_LINES.filter(l => k8s < l.kubeBelow && (c.distribution !== "rke" || l.rke1));
        errors.push(`versions.kubernetes: Kubernetes ${show(k8s)} is past what the Rancher ${c.rancher} chart allows ` +
            `(kubeVersion < ${show(line.kubeBelow)}, ${line.source}); Helm would refuse it. Use Kubernetes ` +
            `${show(line.kubeBelow - 1)} or older with this Rancher` +
            (fits.length > 0 ? `, or Rancher ${fits[0].example}` : ""));
    }
    if (!line) {
        warnings.push(`versions.rancher: Rancher ${show(rancher)} has no verified row in rancher-ha's compatibility table ` +
            "(components/config/compatibility.ts); its Kubernetes bound is not checked before the Helm install");
    }
    const cmLine = CERT_MANAGER_LINES.find(l => l.line === cm);
    if (cmLine && (k8s < cmLine.kubeFrom || k8s > cmLine.kubeTo)) {
        warnings.push(`versions.certManager: cert-manager ${show(cm)} supports Kubernetes ${show(cmLine.kubeFrom)} to ` +
            `${show(cmLine.kubeTo)} (${cmLine.source}), not ${show(k8s)}; pick a cert-manager release for ${show(k8s)}`);
    }
    if (rancher >= minor(2, 15) && cm < minor(1, 15)) {
        warnings.push(`versions.certManager: Rancher ${c.rancher} warns below cert-manager 1.15; use 1.15 or newer`);
    }
    // End of life: still works, but no more fixes.
    if (c.distribution === "rke") {
        warnings.push(`distribution: RKE1 reached end of life on ${RKE1_EOL} (rancher/rancher#46376) and rancher/rke is ` +
            "archived: no more security fixes. Plan the move to RKE2 (a new stack, then migrate Rancher with rancher-backup).");
    }
    if (line?.eol && line.eol < c.today.slice(0, 7)) {
        warnings.push(`versions.rancher: Rancher ${show(rancher)} is past its end of life (${line.eol}); upgrade within what the cluster allows`);
    }
    const k8sEol = KUBERNETES_EOL[k8s];
    if (k8sEol && k8sEol < c.today) {
        warnings.push(`versions.kubernetes: Kubernetes ${show(k8s)} is past its end of life (${k8sEol})` +
            (c.distribution === "rke" ? "; on RKE1 no newer free line exists: 1.30 is the last" : ""));
    }
    if (cmLine?.eol && cmLine.eol < c.today.slice(0, 7)) {
        warnings.push(`versions.certManager: cert-manager ${show(cm)} is past its end of life (${cmLine.eol})`);
    }
    return { errors, warnings };
}


export interface RancherChannelChoice {
    channel: RancherChannel;
    /** `rancher.chartRepo: ...` when the given channel cannot serve the version. */
    error?: string;
    /** Said on every run when the channel was chosen for the version, not given. */
    note?: string;
}

/**
 * The chart channel for a Rancher version. Given one is kept (and refused when it cannot have the version); else a
 * Prime-only patch takes `prime`, an older line's community patch `stable`, the newest line `latest` (a new minor
 * reaches `stable` only weeks after its release, rancher#43780).
 */
export function rancherChannelFor(version: string, given?: RancherChannel): RancherChannelChoice {
    const m = minorOf(version);
    const line = RANCHER_LINES.find(l => l.line === m);
    const prime = line?.lastCommunity !== undefined && compareVersions(version, line.lastCommunity) > 0;
    if (given !== undefined) {
        if (given !== "prime" && prime) {
            return {
                channel: given,
                error: `rancher.chartRepo: Rancher ${version} is a Rancher Prime release (community builds of ${show(m!)} ` +
                    `end at ${line!.lastCommunity}; later patches are Prime-only, rancher#46614), so the ${given} repository ` +
                    `does not have it; set rancher.chartRepo: prime (chart from charts.rancher.com, images from ` +
                    `registry.rancher.com), or versions.rancher: ${line!.lastCommunity}`,
            };
        }
        return { channel: given };
    }
    if (prime) {
        return {
            channel: "prime",
            note: `versions.rancher: ${version} is a Rancher Prime release (community builds of ${show(m!)} end at ` +
                `${line!.lastCommunity}, rancher#46614), so its chart comes from Rancher Prime (charts.rancher.com) and its ` +
                "images from registry.rancher.com; set rancher.chartRepo: prime to say so, or a community version",
        };
    }
    const newest = Math.max(...RANCHER_LINES.map(l => l.line));
    return { channel: m !== undefined && m >= newest ? "latest" : "stable" };
}

/** -1, 0 or 1: a compared with b, both x.y.z (a leading v and a pre-release suffix ignored). */
function compareVersions(a: string, b: string): number {
    const pa = versionParts(a) ?? [0, 0, 0];
    const pb = versionParts(b) ?? [0, 0, 0];
    for (let i = 0; i < 3; i++) {
        if (pa[i] !== pb[i]) {
            return pa[i] > pb[i] ? 1 : -1;
        }
    }
    return 0;
}
