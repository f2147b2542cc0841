// `npm run ops -- cert-status`: expiry of the cluster's component certificates, read from RKE1's state file
// (currentState.certificatesBundle.<name>.certificatePEM), the CA first. Pure: state text and a clock in, a report out.
import { X509Certificate } from "crypto";

/** Warn this many days before a certificate expires. */
export const CERT_WARN_DAYS = 30;
/** Exit code when a certificate expires within CERT_WARN_DAYS (or already has). */
export const CERT_EXPIRING_EXIT = 3;

export interface CertExpiry {
    /** The certificatesBundle key, e.g. kube-ca, kube-apiserver, kube-etcd-10-0-0-11. */
    name: string;
    subject: string;
    notAfter: Date;
    isCa: boolean;
}

/** Every certificate of an RKE1 state file (JSON text), the CA (kube-ca) first, then by name. */
export function stateCertificates(stateJson: string): CertExpiry[] {
    let state: any;
    try {
        state = JSON.parse(stateJson);
    } catch {
        throw new Error("cert-status: the state file is not JSON (expected RKE1's cluster.rkestate)");
    }
    const bundle = state?.currentState?.certificatesBundle;
    if (typeof bundle !== "object" || bundle === null) {
        throw new Error("cert-status: no currentState.certificatesBundle in the state file (not an RKE1 state, or rke up never finished)");
    }
    const out: CertExpiry[] = [];
    for (const [name, entry] of Object.entries(bundle as Record<string, any>)) {
        const pem = entry?.certificatePEM;
        if (typeof pem !== "string" || pem.trim() === "") {
            continue; // e.g. kube-service-account-token holds only a key
        }
        const cert = new X509Certificate(pem);
        out.push({ name, subject: cert.subject.replace(/\n/g, ", "), notAfter: new Date(cert.validTo), isCa: cert.ca });
    }
    return out.sort((a, b) => (a.name === "kube-ca" ? -1 : b.name === "kube-ca" ? 1 : a.name.localeCompare(b.name)));
}

export interface CertReport {
    lines: string[];
    /** 0, or CERT_EXPIRING_EXIT when one expires within warnDays. */
    exitCode: number;
}

/** One line per certificate (days left, expiry date) and the warnings, with the fix. */
export function certStatusReport(certs: CertExpiry[], now: Date, warnDays = CERT_WARN_DAYS, stack = "<stack>"): CertReport {
    const dayMs = 24 * 3600 * 1000;
    const lines: string[] = [];
    const warnings: string[] = [];
    const width = Math.max(0, ...certs.map(c => c.name.length));
    for (const c of certs) {
        const days = Math.floor((c.notAfter.getTime() - now.getTime()) / dayMs);
        const state = days < 0 ? "EXPIRED" : days < warnDays ? "EXPIRES SOON" : "ok";
        lines.push(`${c.name.padEnd(width)}  ${c.notAfter.toISOString().slice(0, 10)}  ${String(days).padStart(5)} days  ${state}${c.isCa ? "  (CA)" : ""}`);
        if (days < warnDays) {
            warnings.push(`warning: ${c.name} ${days < 0 ? `expired ${-days} day(s) ago` : `expires in ${days} day(s)`} (${c.notAfter.toISOString()}); ` +
                (c.isCa ? `rotate the CA: \`npm run ops -- cert-rotate --rotate-ca --stack ${stack}\` (every kubeconfig and agent must then be updated)`
                    : `rotate: \`npm run ops -- cert-rotate --stack ${stack}\` (rke cert rotate on the admin host), then pulumi up with a new admin.stateSync`));
        }
    }
    if (certs.length === 0) {
        warnings.push("warning: the state file holds no certificates");
    }
    return { lines: [...lines, ...warnings], exitCode: warnings.length > 0 ? CERT_EXPIRING_EXIT : 0 };
}
