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
    const limit = Math.max(2, Math.floor(given.length / 3));
    for (const c of candidates) {
        if (Math.abs(given.length - c.length) > limit) {
            continue; // too far apart to be a typo; and a 20 MB value is not compared letter by letter
        }
        const d = levenshtein(given.toLowerCase(), c.toLowerCase());
        if (d < bestDist) {
            best = c;
            bestDist = d;
        }
    }
    return best !== undefined && bestDist <= limit ? ` (did you mean "${best}"?)` : "";
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

// ---- echoing values in messages ----

/** Longest echo of a value in a message; a value longer than this is cut, with its full length said. */
export const SHOWN_MAX = 80;

/**
 * A config value as a message echoes it: JSON (a string in double quotes), at most SHOWN_MAX characters of it,
 * then `…" (N characters)` for a string or `… (N characters)` for anything else. A 20 MB value pasted by
 * mistake (or by a pull request) is named, never printed.
 */
export function shown(v: unknown, max = SHOWN_MAX): string {
    if (typeof v === "string") {
        return v.length <= max ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, max)).slice(0, -1)}…" (${v.length} characters)`;
    }
    let text: string;
    try {
        text = JSON.stringify(v) ?? String(v);
    } catch {
        text = String(v);
    }
    return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** A key of the user's (e.g. a label name, an unknown key) as a message names it: cut like shown(), without quotes. */
export function shownKey(k: string, max = SHOWN_MAX): string {
    return k.length <= max ? k : `${k.slice(0, max)}… (${k.length} characters)`;
}

/** True when the name has upper-case letters (host names and Kubernetes names must be lower case). */
export function hasUpperCase(s: string): boolean {
    return s !== s.toLowerCase();
}

// ---- Kubernetes names (apimachinery's validation rules) ----

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Why `key` is not a Kubernetes label (or taint) key, or undefined when it is one: an optional DNS-subdomain prefix
 * (lower case, at most 253 characters) and `/`, then a name of at most 63 characters (letters, digits, - _ .,
 * starting and ending with a letter or digit).
 */
export function labelKeyProblem(key: string): string | undefined {
    const slash = key.indexOf("/");
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if (prefix !== undefined) {
        if (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) {
            return `its prefix ${shown(prefix)} must be a lower-case DNS subdomain of at most 253 characters (e.g. example.com/)`;
        }
    }
    if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
        return `its name ${shown(name)} must be 1 to 63 characters: letters, digits, "-", "_", ".", ` +
            "starting and ending with a letter or digit (an optional prefix is separated by one \"/\")";
    }
    return undefined;
}

/** Why `value` is not a Kubernetes label value, or undefined when it is one (at most 63 characters, may be empty). */
export function labelValueProblem(value: string): string | undefined {
    if (value.length > 63 || !LABEL_VALUE.test(value)) {
        return `${shown(value)} is not a Kubernetes label value: at most 63 characters, letters, digits, "-", "_", ".", ` +
            "starting and ending with a letter or digit (or empty)";
    }
    return undefined;
}

// ---- container image references (the distribution/reference grammar) ----

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]{1,5})?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const IMAGE_REFERENCE = new RegExp(
    `^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`);

/** A Docker image reference: registry[:port]/path[:tag][@sha256:digest], the path in lower case. */
export function isImageReference(s: string): boolean {
    const name = s.replace(/@.*$/, "").replace(/:[^/:]*$/, "");
    return s.length <= 512 && name.length <= 255 && IMAGE_REFERENCE.test(s);
}

/** host[:port], no scheme or path: what S3 clients (RKE's, the rancher-backup operator's) take as their endpoint. */
export function isS3Endpoint(s: string): boolean {
    const m = /^(.*?)(?::(\d{1,5}))?$/.exec(s);
    const host = m?.[1] ?? "";
    const port = m?.[2] === undefined ? 1 : Number(m[2]);
    return port >= 1 && port <= 65535 && (isIp(host) || isHostname(host));
}
