// `npm run ops -- cert-status`: expiry of the cluster's component certificates, read from RKE1's state file
// (currentState.certificatesBundle.<name>.certificatePEM), the CA first. Pure: state text and a clock in, a report out.
import { CERT_WARN_DAYS, CertExpiry } from "../../components/rke/certificates";

export { CERT_WARN_DAYS, stateCertificates } from "../../components/rke/certificates";

/** Exit code when a certificate expires within CERT_WARN_DAYS (or already has). */
export const CERT_EXPIRING_EXIT = 3;

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
