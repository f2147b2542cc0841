// charts (+ the secret chartRepositoryPassword) and airGapped: where the Helm charts come from, and the check that
// an air-gapped stack reaches nothing outside the site.
import * as pulumi from "@pulumi/pulumi";
import { ChartSources, StackSettings } from "../types";
import { ConfigReader } from "../reader";
import { shown } from "../names";

/** A Helm repository (`https://host[:port]/path`) or an OCI registry path (`oci://host[:port]/path`). */
const REPO_URL = /^(https?|oci):\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~\/-]*)?$/;

export function parseCharts(r: ConfigReader, raw: Record<string, unknown>): ChartSources | undefined {
    const password = r.secretStr(raw, "chartRepositoryPassword");
    if (raw.charts === undefined) {
        if (password !== undefined) {
            r.err("chartRepositoryPassword", "set, but the charts section is not; set charts.rancher / charts.certManager " +
                "(and charts.user) or remove the password");
        }
        return undefined;
    }
    const o = r.obj(raw, "charts");
    const repo = (k: "rancher" | "certManager") => {
        const v = r.str(o, k, { key: `charts.${k}` });
        if (v !== undefined && !REPO_URL.test(v)) {
            r.err(`charts.${k}`, `${shown(v)} must be a Helm repository URL (https://charts.example.com/rancher) or an OCI ` +
                "registry path without the chart name (oci://registry.example.com/charts), without query or spaces");
        } else if (v?.startsWith("http://")) {
            r.warn(`charts.${k}: ${v} is plain HTTP: the chart (and charts.user's password) cross the network unencrypted; use https`);
        }
        return v;
    };
    const rancher = repo("rancher");
    const certManager = repo("certManager");
    const user = r.str(o, "user", { key: "charts.user" });
    if ((user === undefined) !== (password === undefined)) {
        r.err("charts.user", "charts.user and the secret chartRepositoryPassword go together; set both, or neither for " +
            "repositories that need no login");
    }
    const caFile = r.str(o, "caFile", { key: "charts.caFile" });
    if (caFile !== undefined) {
        try {
            if (!r.readFile(caFile).includes("-----BEGIN CERTIFICATE-----")) {
                r.err("charts.caFile", `${shown(caFile)} holds no PEM certificate; give the CA bundle that signed the repositories' certificates`);
            }
        } catch (e) {
            r.err("charts.caFile", `${shown(caFile)} cannot be read on the machine running Pulumi (${(e as NodeJS.ErrnoException).code ?? e}); ` +
                "Helm reads it there when it fetches the charts");
        }
    }
    if (rancher === undefined && certManager === undefined) {
        r.err("charts", "sets no repository; set charts.rancher and/or charts.certManager, or remove the section");
    }
    return { rancher, certManager, user, password: password === undefined ? undefined : pulumi.secret(password), caFile };
}

/**
 * What would still reach the internet in an air-gapped stack, one problem per key with its fix. Run on the parsed
 * stack (every section read), before any resource.
 */
export function airGapProblems(s: Omit<StackSettings, "airGapped">): { key: string; message: string }[] {
    const out: { key: string; message: string }[] = [];
    const why = "airGapped is true, so";
    if (s.privateRegistry === undefined || !s.privateRegistry.isDefault) {
        out.push({ key: "privateRegistry", message: `${why} every image must come from the site's registry: set privateRegistry.url ` +
            "with isDefault: true (mirror the images first: Rancher's rancher-images.txt and cert-manager's)" });
    }
    if (s.charts?.rancher === undefined) {
        out.push({ key: "charts.rancher", message: `${why} the Rancher chart must come from the site's chart repository: set ` +
            "charts.rancher (a Helm repository or oci:// path holding rancher-<versions.rancher>.tgz)" });
    }
    if (s.tls.source !== "secret" && s.charts?.certManager === undefined) {
        out.push({ key: "charts.certManager", message: `${why} the cert-manager chart must come from the site's chart ` +
            "repository: set charts.certManager (holding cert-manager-<versions.certManager>.tgz)" });
    }
    if (s.tls.source === "letsEncrypt") {
        out.push({ key: "tls.source", message: `${why} Let's Encrypt cannot reach the site (ACME needs the internet both ways); ` +
            "use rancher (Rancher's own CA) or secret (your certificate)" });
    }
    if (s.distribution === "rke2" && s.rke2?.install.method === "script") {
        out.push({ key: "rke2.artifactsDir", message: `${why} nodes cannot fetch RKE2's install script: set rke2.artifactsDir to ` +
            "the release files of versions.kubernetes (they are copied over SSH)" });
    }
    const registry = s.privateRegistry?.url;
    if (s.loadBalancer.mode === "docker" && (registry === undefined || !s.loadBalancer.image.startsWith(`${registry}/`))) {
        out.push({ key: "loadBalancer.image", message: `${why} the LB host cannot pull ${s.loadBalancer.image} from Docker Hub: ` +
            `give the image in the site's registry (${registry ?? "<registry>"}/library/nginx:...), or use loadBalancer.mode: system` });
    }
    return out;
}
