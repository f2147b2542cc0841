// tls (+ the secrets tlsCert, tlsKey, tlsCaCert): where Rancher's certificate comes from.
import * as pulumi from "@pulumi/pulumi";
import { TlsSettings } from "../types";
import { ConfigReader } from "../reader";
import { shown } from "../names";

export function parseTls(r: ConfigReader, raw: Record<string, unknown>): TlsSettings {
    const o = r.obj(raw, "tls");
    const source = r.enumOf(o, "source", ["rancher", "letsEncrypt", "secret"] as const, "tls.source") ?? "rancher";
    const email = r.str(o, "letsEncryptEmail", { key: "tls.letsEncryptEmail" });
    const environment = r.enumOf(o, "letsEncryptEnvironment", ["production", "staging"] as const,
        "tls.letsEncryptEnvironment") ?? "production";
    if (source === "letsEncrypt" && email === undefined) {
        r.err("tls.letsEncryptEmail", "required when tls.source is letsEncrypt; set the e-mail Let's Encrypt " +
            "sends expiry notices to");
    }
    if (email !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
        r.err("tls.letsEncryptEmail", `${shown(email)} is not an e-mail address; set the address Let's Encrypt writes to`);
    }
    const cert = r.secretStr(raw, "tlsCert");
    const key = r.secretStr(raw, "tlsKey");
    const caCert = r.secretStr(raw, "tlsCaCert");
    const generateCa = r.bool(o, "generateCa", "tls.generateCa") ?? false;
    if (source === "secret") {
        if (generateCa && (cert || key)) {
            r.err("tls.generateCa", "true, but tlsCert/tlsKey are also set; use one or the other");
        } else if (!generateCa && (!cert || !key)) {
            r.err("tlsCert", "tls.source is secret but no certificate is given; set tlsCert and tlsKey " +
                "(`pulumi config set --secret tlsCert < cert.pem`, same for tlsKey, and tlsCaCert for a private CA), " +
                "or set tls.generateCa: true to have a private CA generated");
        }
        for (const [k, v, marker] of [["tlsCert", cert, "CERTIFICATE"], ["tlsCaCert", caCert, "CERTIFICATE"], ["tlsKey", key, "PRIVATE KEY"]] as const) {
            if (v !== undefined && !(v.includes("-----BEGIN") && v.includes(marker))) {
                r.err(k, `is not a PEM ${marker.toLowerCase()} (expected "-----BEGIN ...${marker}-----")`);
            }
        }
    } else if (cert || key || caCert || generateCa) {
        r.warn(`tls: tlsCert/tlsKey/tlsCaCert/generateCa are only used when tls.source is secret ` +
            `(it is ${source}); they are ignored`);
    }
    const secretMode = source === "secret";
    return {
        source,
        letsEncryptEmail: email,
        letsEncryptEnvironment: environment,
        cert: secretMode && cert ? pulumi.secret(cert) : undefined,
        key: secretMode && key ? pulumi.secret(key) : undefined,
        caCert: secretMode && caCert ? pulumi.secret(caCert) : undefined,
        generateCa: secretMode && generateCa,
        privateCa: secretMode && (generateCa || caCert !== undefined),
    };
}
