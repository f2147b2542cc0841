// versions: Kubernetes, rke, cert-manager and Rancher.
import { DEFAULTS, Distribution, Versions } from "../types";
import { ConfigReader } from "../reader";
import { shown } from "../names";
import { versionAtLeast } from "../../shared/helm";

/** The versions each distribution starts from (types.ts DEFAULTS). */
export function defaultVersions(distribution: Distribution): Versions {
    return distribution === "rke2" ? DEFAULTS.rke2Versions : DEFAULTS.versions;
}

export function parseVersions(r: ConfigReader, raw: Record<string, unknown>, distribution: Distribution = "rke"): Versions {
    const o = r.obj(raw, "versions");
    const d = defaultVersions(distribution);
    const v: Versions = {
        kubernetes: r.str(o, "kubernetes", { key: "versions.kubernetes" }) ?? d.kubernetes,
        // With rke2 the key is refused (parse.ts); read here so it is a known key for both.
        rke: (distribution === "rke" ? r.str(o, "rke", { key: "versions.rke" }) : (void o.rke, undefined)) ?? d.rke,
        certManager: r.str(o, "certManager", { key: "versions.certManager" }) ?? d.certManager,
        rancher: r.str(o, "rancher", { key: "versions.rancher" }) ?? d.rancher,
    };
    if (distribution === "rke2") {
        if (!/^v\d+\.\d+\.\d+\+rke2r\d+$/.test(v.kubernetes)) {
            r.err("versions.kubernetes", `${shown(v.kubernetes)} is not an RKE2 release; use a tag of ` +
                `https://github.com/rancher/rke2/releases, e.g. ${d.kubernetes}` +
                (/-rancher\d/.test(v.kubernetes) ? " (this is an RKE1 version: RKE2 versions end in +rke2rN)" : ""));
        }
    } else if (!/^v\d+\.\d+\.\d+-rancher\d+(-\d+)?$/.test(v.kubernetes)) {
        r.err("versions.kubernetes", `${shown(v.kubernetes)} is not an RKE Kubernetes version; ` +
            `use one listed by \`rke config --list-version --all\`, e.g. ${DEFAULTS.versions.kubernetes}` +
            (/\+rke2r\d/.test(v.kubernetes) ? " (this is an RKE2 release: set distribution: rke2 to use it)" : ""));
    }
    if (distribution === "rke" && !/^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(v.rke)) {
        r.err("versions.rke", `${shown(v.rke)} is not an rke release tag; use e.g. ${DEFAULTS.versions.rke}`);
    }
    if (!/^v?\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(v.certManager)) {
        r.err("versions.certManager", `${shown(v.certManager)} is not a chart version; use e.g. ${d.certManager}`);
    } else if (!versionAtLeast(v.certManager, "v1.15.0") && tlsSource(raw) !== "secret") {
        // Charts before v1.15 only know installCRDs: the CRDs are plain release objects, without crds.keep.
        r.warn(`versions.certManager: ${v.certManager} installs its CRDs with installCRDs, which Helm deletes with the ` +
            "release: uninstalling or replacing the cert-manager release then deletes the CRDs and with them every " +
            `Certificate, Issuer and ClusterIssuer in the cluster; use v1.15.0 or later (crds.keep), e.g. ${d.certManager}`);
    }
    if (!/^v?\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(v.rancher)) {
        r.err("versions.rancher", `${shown(v.rancher)} is not a chart version; use e.g. ${d.rancher}`);
    }
    return v;
}

/** tls.source as given (the tls section validates it): cert-manager is installed unless it is `secret`. Untracked. */
function tlsSource(raw: Record<string, unknown>): unknown {
    const tls = raw.tls;
    return typeof tls === "object" && tls !== null ? (tls as Record<string, unknown>).source : undefined;
}
