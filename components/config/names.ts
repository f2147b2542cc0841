// Name rules and "did you mean" suggestions.
import * as net from "net";

// ---- helpers, exported for other modules and tests ----

export function isIp(s: string): boolean {
    return net.isIP(s) !== 0;
}

/** RFC 1123 host name (labels of letters, digits and hyphens). */
export function isHostname(s: string): boolean {
    if (s.length === 0 || s.length > 253 || /^[\d.]+$/.test(s)) {
        return false;
    }
    return s.split(".").every(l => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(l));
}

/** ` (did you mean "x"?)` for a close match, else "". */
export function suggest(given: string, candidates: readonly string[]): string {
    let best: string | undefined;
    let bestDist = Infinity;
    for (const c of candidates) {
        const d = levenshtein(given.toLowerCase(), c.toLowerCase());
        if (d < bestDist) {
            best = c;
            bestDist = d;
        }
    }
    return best !== undefined && bestDist <= Math.max(2, Math.floor(given.length / 3)) ? ` (did you mean "${best}"?)` : "";
}

function levenshtein(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
        let prev = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const tmp = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
            prev = tmp;
        }
    }
    return row[b.length];
}
