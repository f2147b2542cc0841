// The backup encryption key, when the stack does not give one: derived from a generated key kept in Pulumi state, so
// it is made once, never changes on a later run, and differs from stack to stack. Pure.
import * as crypto from "crypto";

/** base64 of 32 bytes: sha256 over the seed key (an aescbc key for the operator's encryption config). */
export function backupKeyFrom(seedPem: string): string {
    if (!seedPem.includes("PRIVATE KEY")) {
        throw new Error("backupKeyFrom: the seed is not a PEM private key");
    }
    return crypto.createHash("sha256").update(`rancher-ha backup encryption key\n${seedPem}`, "utf8").digest("base64");
}
