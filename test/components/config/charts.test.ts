// Where the charts come from: Rancher's community channels or Rancher Prime (chosen for the version), the
// operator's own repositories (Helm or OCI, with a login), and what airGapped refuses.
import { strict as assert } from "assert";
import { parseConfig } from "../../../components/config";
import { RANCHER_LINES, rancherChannelFor } from "../../../components/config/compatibility";
import { settle } from "../../helpers/mocks";
import { assertProblem, problemsOf, validStack } from "./problems";
import { KNOWN_HOSTS_ANY } from "../../fixtures/hostKeys";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n";
const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const files: Record<string, string> = {
    "/home/op/.ssh/id_rsa": KEY, "/home/op/.ssh/known_hosts": KNOWN_HOSTS_ANY, "/etc/ssl/site-ca.pem": CA, "/etc/motd": "hello\n",
};
const enoent = (p: string) => Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
const opts = {
    homeDir: "/home/op", today: "2026-12-03",
    readFile: (p: string) => { if (files[p] === undefined) { throw enoent(p); } return files[p]; },
    listDir: (p: string) => { if (p !== "/srv/rke2") { throw enoent(p); } return ["install.sh", "rke2.linux-amd64.tar.gz", "sha256sum-amd64.txt"]; },
};
/** A valid stack: 1 LB + 3 all-role nodes (problems.ts validStack). */
const base = validStack;
const oneProblem = (raw: Record<string, any>, key: string, pattern: RegExp) => assertProblem(raw, opts, key, pattern);

describe("config: Rancher chart channel per version (community or Prime)", () => {
    it("each line's last community patch is community, the next one Prime; the newest line comes from latest", () => {
        for (const line of RANCHER_LINES.filter(l => l.lastCommunity !== undefined)) {
            const last = line.lastCommunity!;
            const [maj, min, patch] = last.split(".").map(Number);
            assert.deepEqual(rancherChannelFor(last), { channel: "stable" }, last);
            const next = `${maj}.${min}.${patch + 1}`;
            const prime = rancherChannelFor(next);
            assert.equal(prime.channel, "prime", next);
            assert.match(prime.note!, new RegExp(`^versions\\.rancher: ${next.replace(/\./g, "\\.")} is a Rancher Prime release \\(community builds of ${maj}\\.${min} end at ${last.replace(/\./g, "\\.")}`));
            assert.match(rancherChannelFor(next, "stable").error!, new RegExp(`^rancher\\.chartRepo: .*the stable repository does not have it; set rancher\\.chartRepo: prime .*or versions\\.rancher: ${last.replace(/\./g, "\\.")}$`));
            assert.deepEqual(rancherChannelFor(next, "prime"), { channel: "prime" });
        }
        assert.deepEqual(rancherChannelFor("2.15.0"), { channel: "latest" }, "a new minor reaches stable weeks later (rancher#43780)");
        assert.deepEqual(rancherChannelFor("2.15.0", "stable"), { channel: "stable" }, "given: kept");
        assert.deepEqual(rancherChannelFor("2.11.16", "prime"), { channel: "prime" });
    });

    it("the stack: RKE's default 2.11.16 comes from Prime; a community channel for it is refused naming the fix", () => {
        const s = parseConfig(base(), opts);
        assert.equal(s.settings.rancher.chartRepo, "prime");
        assert.ok(s.warnings.some(w => /^versions\.rancher: 2\.11\.16 is a Rancher Prime release/.test(w)));
        oneProblem({ ...base(), rancher: { chartRepo: "stable" } }, "rancher-ha:rancher.chartRepo", /Rancher 2\.11\.16 is a Rancher Prime release.*versions\.rancher: 2\.11\.3/);
        const community = parseConfig({ ...base(), versions: { rancher: "2.11.3" } }, opts);
        assert.equal(community.settings.rancher.chartRepo, "stable");
        assert.ok(!community.warnings.some(w => /Prime/.test(w)));
        oneProblem({ ...base(), rancher: { chartRepo: "enterprise" } }, "rancher-ha:rancher.chartRepo", /stable, latest, alpha, prime/);
    });
});

describe("config: charts (the operator's repositories)", () => {
    it("reads Helm and OCI repositories, a login (secret) and a CA file", async () => {
        const raw = {
            ...base(), rancher: { chartRepo: "prime" },
            charts: { rancher: "https://charts.example.com/rancher", certManager: "oci://registry.example.com/charts", user: "puller", caFile: "/etc/ssl/site-ca.pem" },
            chartRepositoryPassword: "chart-s3cret",
        };
        const c = parseConfig(raw, opts).settings.charts!;
        assert.equal(c.rancher, "https://charts.example.com/rancher");
        assert.equal(c.certManager, "oci://registry.example.com/charts");
        assert.equal(c.user, "puller");
        assert.equal(c.caFile, "/etc/ssl/site-ca.pem");
        assert.deepEqual(await settle(c.password!), { value: "chart-s3cret", secret: true });
    });

    it("refuses what Helm could not use, each with its key and fix", () => {
        const ps = problemsOf({
            ...base(), charts: { rancher: "ftp://x/y", certManager: "oci://registry.example.com/charts?x=1", user: "puller", caFile: "/etc/motd" },
        }, opts);
        for (const [key, re] of [
            ["charts.rancher", /must be a Helm repository URL \(https:\/\/charts\.example\.com\/rancher\) or an OCI registry path/],
            ["charts.certManager", /must be a Helm repository URL/],
            ["charts.user", /charts\.user and the secret chartRepositoryPassword go together/],
            ["charts.caFile", /holds no PEM certificate/],
        ] as const) {
            assert.ok(ps.some(p => p.startsWith(`rancher-ha:${key}: `) && re.test(p)), `${key} in:\n${ps.join("\n")}`);
        }
        oneProblem({ ...base(), charts: {} }, "rancher-ha:charts", /sets no repository/);
        oneProblem({ ...base(), chartRepositoryPassword: "x" }, "rancher-ha:chartRepositoryPassword", /the charts section is not/);
        oneProblem({ ...base(), charts: { rancher: "https://c.example.com", caFile: "/nope.pem" } }, "rancher-ha:charts.caFile", /cannot be read on the machine running Pulumi \(ENOENT\)/);
        const { warnings } = parseConfig({ ...base(), rancher: { chartRepo: "prime" }, charts: { rancher: "http://charts.example.com" } }, opts);
        assert.ok(warnings.some(w => /^charts\.rancher: http:\/\/charts\.example\.com is plain HTTP/.test(w)));
    });
});

describe("config: airGapped", () => {
    it("lists everything that would still reach the internet, at once, each with the fix", () => {
        const ps = problemsOf({ ...base(), airGapped: true, tls: { source: "letsEncrypt", letsEncryptEmail: "ops@example.com" } }, opts);
        for (const key of ["privateRegistry", "charts.rancher", "charts.certManager", "tls.source", "loadBalancer.image"]) {
            assert.ok(ps.some(p => p.startsWith(`rancher-ha:${key}: airGapped is true, so`)), `${key} in:\n${ps.join("\n")}`);
        }
        const rke2 = problemsOf({ ...base(), distribution: "rke2", airGapped: true }, opts);
        assert.ok(rke2.some(p => /^rancher-ha:rke2\.artifactsDir: airGapped is true, so nodes cannot fetch RKE2's install script/.test(p)), rke2.join("\n"));
    });

    it("accepts a stack whose every image, chart and release file is the site's own", () => {
        const raw = {
            ...base(), airGapped: true,
            privateRegistry: { url: "registry.example.com:5000", isDefault: true },
            loadBalancer: { address: "192.0.2.10", image: "registry.example.com:5000/library/nginx:1.27-alpine" },
            charts: { rancher: "oci://registry.example.com:5000/charts", certManager: "oci://registry.example.com:5000/charts" },
            rancher: { chartRepo: "prime" },
        };
        const s = parseConfig(raw, opts).settings;
        assert.equal(s.airGapped, true);
        const sys = parseConfig({ ...raw, loadBalancer: { address: "192.0.2.10", mode: "system" } }, opts).settings;
        assert.equal(sys.airGapped, true, "the distro's nginx needs no image");
    });
});
