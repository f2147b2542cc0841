// `npm run ops -- cert-status`: expiry of the cluster's component certificates, read from RKE1's state file
// (currentState.certificatesBundle.<name>.certificatePEM), the CA first; on RKE2 from what openssl read on each node
// (rke2CertificatesFrom). Pure: certificates and a clock in, a report out.
import { CERT_WARN_DAYS, CertExpiry } from "../../components/rke/certificates";

export { CERT_WARN_DAYS, stateCertificates } from "../../components/rke/certificates";

/** Exit code when a certificate expires within CERT_WARN_DAYS (or already has). */
export const CERT_EXPIRING_EXIT = 3;

export interface CertReport {
    lines: string[];
    /** 0, or CERT_EXPIRING_EXIT when one expires within warnDays. */
    exitCode: number;
}

/** The fix a warning names for a certificate that expires soon. Default: RKE1's (rke cert rotate on the admin host). */
export type CertFix = (c: CertExpiry, stack: string) => string;

const rkeFix: CertFix = (c, stack) => (c.isCa
    ? `rotate the CA: \`npm run ops -- cert-rotate --rotate-ca --stack ${stack}\` (every kubeconfig and agent must then be updated)`
    : `rotate: \`npm run ops -- cert-rotate --stack ${stack}\` (rke cert rotate on the admin host), then pulumi up with a new admin.stateSync`);

/** One line per certificate (days left, expiry date) and the warnings, with the fix. */
export function certStatusReport(certs: CertExpiry[], now: Date, warnDays = CERT_WARN_DAYS, stack = "<stack>", fix: CertFix = rkeFix): CertReport {
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
                fix(c, stack));
        }
    }
    if (certs.length === 0) {
        warnings.push(fix === rkeFix ? "warning: the state file holds no certificates" : "warning: no certificates were read");
    }
    return { lines: [...lines, ...warnings], exitCode: warnings.length > 0 ? CERT_EXPIRING_EXIT : 0 };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** openssl's notAfter (`Dec 31 23:59:59 2027 GMT`) as a Date; undefined when it is not that. */
export function opensslDate(text: string): Date | undefined {
    const m = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4}) GMT$/.exec(text.trim());
    const month = m ? MONTHS.indexOf(m[1]) : -1;
    if (!m || month < 0) {
        return undefined;
    }
    return new Date(Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
}

/**
 * An RKE2 node's certificates from the lines rke2CertStatusScript printed (`cert <path> <ca|leaf> <notAfter>`), named
 * `<node label>: <path>`, CAs first, then by path. Lines it cannot read are returned as problems.
 */
export function rke2CertificatesFrom(nodeLabel: string, lines: string[]): { certs: CertExpiry[]; problems: string[] } {
    const certs: CertExpiry[] = [];
    const problems: string[] = [];
    for (const l of lines) {
        const m = /^cert (\S+) (ca|leaf) (.+)$/.exec(l);
        const notAfter = m ? opensslDate(m[3]) : undefined;
        if (m && notAfter) {
            certs.push({ name: `${nodeLabel}: ${m[1]}`, subject: "", notAfter, isCa: m[2] === "ca" });
        } else if (l.startsWith("unreadable ")) {
            problems.push(`${nodeLabel}: openssl cannot read ${l.slice(11)}`);
        } else {
            problems.push(`${nodeLabel}: unexpected line from the node: ${l}`);
        }
    }
    certs.sort((a, b) => (a.isCa === b.isCa ? a.name.localeCompare(b.name) : a.isCa ? -1 : 1));
    return { certs, problems };
}

/**
 * RKE2's fixes: a server's component certificate is rotated by cert-rotate; an agent's is renewed by RKE2 itself
 * when rke2-agent starts close to its expiry; a CA (RKE2's last ten years) by rke2 certificate rotate-ca, by hand.
 */
export const rke2CertFix: CertFix = (c, stack) => {
    if (c.isCa) {
        return "a CA of the cluster: rotating it is `rke2 certificate rotate-ca` with new CA files, a manual procedure " +
            "(docs.rke2.io, certificate management) that every kubeconfig and agent must follow; plan it before it expires";
    }
    if (c.name.startsWith("agent ")) {
        return "an agent's certificate: RKE2 renews the certificates close to their expiry whenever it starts; restart it on " +
            `that node (sudo systemctl restart rke2-agent), then check again with npm run ops -- cert-status --stack ${stack}`;
    }
    return `rotate: \`npm run ops -- cert-rotate --stack ${stack} --yes\` (rke2 certificate rotate, server by server), ` +
        "then pulumi up with a new admin.stateSync";
};
