import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CERT_EXPIRING_EXIT, certStatusReport, stateCertificates } from "../../../scripts/ops/certStatus";
import { requireTool, toolMissing } from "../../helpers/tools";

/** A self-signed certificate valid for `days` days from now, made with openssl. */
function cert(dir: string, cn: string, days: number, ca = false): string {
    const key = path.join(dir, `${cn}.key`);
    const crt = path.join(dir, `${cn}.crt`);
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
        "-out", crt, "-days", String(days), "-subj", `/CN=${cn}`,
        ...(ca ? ["-addext", "basicConstraints=critical,CA:TRUE"] : ["-addext", "basicConstraints=critical,CA:FALSE"])],
    { stdio: "ignore" });
    return fs.readFileSync(crt, "utf8");
}

describe("scripts/ops/certStatus", function () {
    this.timeout(20000);
    let dir: string;
    let state: string;

    before(function () {
        requireTool(this, toolMissing("openssl"));
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-certs-"));
        state = JSON.stringify({
            currentState: {
                certificatesBundle: {
                    "kube-apiserver": { certificatePEM: cert(dir, "kube-apiserver", 10) },
                    "kube-ca": { certificatePEM: cert(dir, "kube-ca", 3650, true) },
                    "kube-etcd-10-0-0-11": { certificatePEM: cert(dir, "kube-etcd", 365) },
                    "kube-service-account-token": { certificatePEM: "" },
                },
            },
        });
    });

    after(() => {
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("reads every certificate of currentState.certificatesBundle, the CA first, keys without one skipped", () => {
        const certs = stateCertificates(state);
        assert.deepEqual(certs.map(c => [c.name, c.isCa]), [["kube-ca", true], ["kube-apiserver", false], ["kube-etcd-10-0-0-11", false]]);
        const days = (c: { notAfter: Date }) => Math.round((c.notAfter.getTime() - Date.now()) / 86400000);
        assert.deepEqual(certs.map(days), [3650, 10, 365]);
        assert.match(certs[1].subject, /CN=kube-apiserver/);
    });

    it("warns 30 days ahead with the fix, exit 3; all fine is exit 0", () => {
        const certs = stateCertificates(state);
        const r = certStatusReport(certs, new Date());
        assert.equal(r.exitCode, CERT_EXPIRING_EXIT);
        assert.ok(r.lines.some(l => /^kube-apiserver\s+\d{4}-\d\d-\d\d\s+(9|10) days  EXPIRES SOON$/.test(l)), r.lines.join("\n"));
        assert.ok(r.lines.some(l => /^warning: kube-apiserver expires in (9|10) day\(s\).*cert-rotate/.test(l)));
        assert.ok(!r.lines.some(l => /warning: kube-ca|warning: kube-etcd/.test(l)));
        const fine = certStatusReport(certs.filter(c => c.name !== "kube-apiserver"), new Date());
        assert.equal(fine.exitCode, 0);
        const later = certStatusReport(certs, new Date(Date.now() + 20 * 86400000));
        assert.ok(later.lines.some(l => /^warning: kube-apiserver expired \d+ day\(s\) ago/.test(l)));
    });

    it("rejects what is not an RKE1 state", () => {
        assert.throws(() => stateCertificates("nope"), /not JSON/);
        assert.throws(() => stateCertificates("{}"), /no currentState\.certificatesBundle/);
    });
});
