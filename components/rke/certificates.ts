// The expiry of an RKE1 cluster's certificates, read from its state file (currentState.certificatesBundle.<name>
// .certificatePEM). Used by `pulumi up`/`preview` to warn early and by `npm run ops -- cert-status`. Pure.
import { X509Certificate } from "crypto";

/** Warn this many days before a certificate expires. */
export const CERT_WARN_DAYS = 30;
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
        throw new Error("the state file is not JSON (expected RKE1's cluster.rkestate)");
    }
    const bundle = state?.currentState?.certificatesBundle;
    if (typeof bundle !== "object" || bundle === null) {
        throw new Error("no currentState.certificatesBundle in the state file (not an RKE1 state, or rke up never finished)");
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

/**
 * Warnings for certificates that expired or expire within warnDays, each with the command that rotates them; none
 * for a state that is not an RKE1 state file (nothing to say rather than a failed deployment).
 */
export function certificateExpiryWarnings(stateJson: string, now: Date, stack: string, warnDays = CERT_WARN_DAYS): string[] {
    let certs: CertExpiry[];
    try {
        certs = stateCertificates(stateJson);
    } catch {
        return [];
    }
    const dayMs = 24 * 3600 * 1000;
    return certs.filter(c => c.notAfter.getTime() - now.getTime() < warnDays * dayMs).map(c => {
        const days = Math.floor((c.notAfter.getTime() - now.getTime()) / dayMs);
        return `the cluster certificate ${c.name} ${days < 0 ? `expired ${-days} day(s) ago` : `expires in ${days} day(s)`} ` +
            `(${c.notAfter.toISOString().slice(0, 10)}); a missed rotation stops the cluster: ` +
            `npm run ops -- cert-rotate --stack ${stack}${c.isCa ? " --rotate-ca --yes" : ""}, then set a new admin.stateSync`;
    });
}
