// TLS `secret` mode: Rancher's ingress certificate comes from two Secrets in cattle-system that the chart expects
// (`tls-rancher-ingress`, and `tls-ca` with key `cacerts.pem` for a private CA). Either the user's PEMs, or a
// private CA and a server certificate for the hostname generated here with @pulumi/tls (kept in Pulumi state).
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as tls from "@pulumi/tls";
import { TlsSettings } from "../config";
import { CA_SECRET, CA_SECRET_KEY, caChecksum, cacertsPem, INGRESS_SECRET } from "./release";

export { CA_SECRET, CA_SECRET_KEY, INGRESS_SECRET };

export interface RancherTlsArgs {
    /** Rancher's hostname: the generated server certificate's CN and only DNS name. */
    hostname: string;
    /** tls settings; `source` must be `secret`. */
    tls: TlsSettings;
    /** Namespace of the Secrets (cattle-system), created by the caller. */
    namespace: k8s.core.v1.Namespace;
    provider: k8s.Provider;
    /** Generated CA: validity in hours. Default 87600 (10 years); renewing the CA means re-registering agents. */
    caValidityHours?: number;
    /** Generated server certificate: validity in hours. Default 19800 (825 days, the most Apple clients accept). */
    certValidityHours?: number;
    /** Generated server certificate: `pulumi up` renews it this many hours before expiry. Default 720 (30 days). */
    certEarlyRenewalHours?: number;
}

export class RancherTls extends pulumi.ComponentResource {
    /** The Secrets the Rancher release must wait for. */
    readonly secrets: k8s.core.v1.Secret[];
    /** The CA certificate as stored in tls-ca (undefined without a private CA). Public, not secret. */
    readonly caCertPem: pulumi.Output<string | undefined>;
    /** CATTLE_CA_CHECKSUM: sha256 hex of cacerts.pem (undefined without a private CA). */
    readonly caChecksum: pulumi.Output<string | undefined>;

    constructor(name: string, args: RancherTlsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rancher-ha:rancherTls:RancherTls", name, {}, opts);
        if (args.tls.source !== "secret") {
            throw new Error(`RancherTls is for tls.source secret (got ${args.tls.source})`);
        }
        const keyPair = args.tls.generateCa ? this.generate(name, args) : given(args.tls);

        const secretOpts = {
            parent: this, provider: args.provider, dependsOn: [args.namespace],
            // Fixed names: a replacement must delete the old Secret before creating the new one.
            deleteBeforeReplace: true,
        };
        const namespace = args.namespace.metadata.name;
        this.secrets = [new k8s.core.v1.Secret(`${name}-ingress`, {
            metadata: { name: INGRESS_SECRET, namespace },
            type: "kubernetes.io/tls",
            stringData: { "tls.crt": pulumi.secret(keyPair.cert), "tls.key": pulumi.secret(keyPair.key) },
        }, secretOpts)];

        if (keyPair.ca) {
            const cacerts = keyPair.ca.apply(cacertsPem);
            this.secrets.push(new k8s.core.v1.Secret(`${name}-ca`, {
                metadata: { name: CA_SECRET, namespace },
                type: "Opaque",
                stringData: { [CA_SECRET_KEY]: cacerts },
            }, secretOpts));
            // A CA certificate and its hash are public; a user-given one only arrives as a secret because every
            // tls* config key is read as one.
            this.caCertPem = pulumi.unsecret(cacerts);
            this.caChecksum = pulumi.unsecret(keyPair.ca.apply(caChecksum));
        } else {
            this.caCertPem = pulumi.output(undefined);
            this.caChecksum = pulumi.output(undefined);
        }
        this.registerOutputs({ caCertPem: this.caCertPem, caChecksum: this.caChecksum });
    }

    /** A private CA and a server certificate for the hostname, signed by it. Keys are random once, kept in state. */
    private generate(name: string, args: RancherTlsArgs): KeyPair {
        const o = { parent: this };
        const caKey = new tls.PrivateKey(`${name}-ca-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, o);
        const ca = new tls.SelfSignedCert(`${name}-ca`, {
            privateKeyPem: caKey.privateKeyPem,
            isCaCertificate: true,
            subject: { commonName: `rancher-ha CA for ${args.hostname}`, organization: "rancher-ha" },
            validityPeriodHours: args.caValidityHours ?? 87600,
            allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
        }, o);
        const serverKey = new tls.PrivateKey(`${name}-server-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, o);
        const csr = new tls.CertRequest(`${name}-server-csr`, {
            privateKeyPem: serverKey.privateKeyPem,
            subject: { commonName: args.hostname },
            dnsNames: [args.hostname],
        }, o);
        const cert = new tls.LocallySignedCert(`${name}-server-cert`, {
            certRequestPem: csr.certRequestPem,
            caPrivateKeyPem: caKey.privateKeyPem,
            caCertPem: ca.certPem,
            validityPeriodHours: args.certValidityHours ?? 19800,
            earlyRenewalHours: args.certEarlyRenewalHours ?? 720,
            allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
        }, o);
        return { cert: cert.certPem, key: pulumi.secret(serverKey.privateKeyPem), ca: ca.certPem };
    }
}

interface KeyPair {
    cert: pulumi.Output<string>;
    key: pulumi.Output<string>;
    ca?: pulumi.Output<string>;
}

function given(t: TlsSettings): KeyPair {
    if (!t.cert || !t.key) {
        throw new Error("tls.source secret needs tlsCert and tlsKey, or tls.generateCa: true");
    }
    return { cert: t.cert, key: t.key, ca: t.caCert };
}
