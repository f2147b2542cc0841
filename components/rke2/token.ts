// The RKE2 cluster token, when the stack does not give one: derived from a generated key kept in Pulumi state,
// so it is made once, never changes on a later run, and differs from stack to stack. Pure.
import * as crypto from "crypto";

/** `rh-` and 48 hex characters of sha256 over the seed key: a plain (non-`K10`) RKE2 token. */
export function rke2TokenFrom(seedPem: string): string {
    if (!seedPem.includes("PRIVATE KEY")) {
        throw new Error("rke2TokenFrom: the seed is not a PEM private key");
    }
    const digest = crypto.createHash("sha256").update(`rancher-ha rke2 token\n${seedPem}`, "utf8").digest("hex");
    return `rh-${digest.slice(0, 48)}`;
}
