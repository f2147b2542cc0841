// An air-gapped stack renders with every chart, image and release file at the site's own addresses: nothing a
// stack applies names a public host (issue: charts as a careful operator sets them, item 8).
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseConfig } from "../../../components/config";
import { reviewArtifacts } from "../../../scripts/render/reviewArtifacts";
import { HOST_KEYS } from "../../fixtures/hostKeys";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n";
/** Hosts of the internet the charts, images and installers default to. */
const PUBLIC = /releases\.rancher\.com|charts\.rancher\.com|registry\.rancher\.com|charts\.jetstack\.io|get\.rke2\.io|quay\.io\/(?!jetstack\/cert-manager)|docker\.io|github\.com\/rancher\/rke2\/releases\/download/;

function airGapped(distribution: "rke" | "rke2"): Record<string, unknown> {
    return {
        distribution, airGapped: true,
        hostname: "rancher.example.com",
        ssh: { user: "rancher" }, sshPrivateKey: KEY,
        loadBalancer: { address: "192.0.2.10", mode: "system", hostKey: HOST_KEYS[0] },
        nodes: [11, 12, 13].map((n, i) => ({ address: `192.0.2.${n}`, roles: ["controlplane", "etcd", "worker"], hostKey: HOST_KEYS[i + 1] })),
        privateRegistry: { url: "registry.site.example:5000", user: "puller", isDefault: true }, privateRegistryPassword: "x-registry-pw",
        charts: { rancher: "oci://registry.site.example:5000/charts", certManager: "https://charts.site.example/jetstack", user: "puller" },
        chartRepositoryPassword: "x-chart-pw",
        rancher: { chartRepo: "prime" },
        ...(distribution === "rke2" ? { rke2: { artifactsDir: "/srv/rke2" } } : {}),
    };
}

describe("render: an air-gapped stack points only at the site's repositories", () => {
    for (const distribution of ["rke", "rke2"] as const) {
        it(`${distribution}: every rendered file names only the site's registry and chart repositories`, () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-airgap-"));
            try {
                for (const f of ["install.sh", "rke2.linux-amd64.tar.gz", "sha256sum-amd64.txt"]) {
                    fs.writeFileSync(path.join(dir, f), f);
                }
                const raw = airGapped(distribution);
                if (distribution === "rke2") {
                    raw.rke2 = { artifactsDir: dir };
                }
                const { settings, warnings } = parseConfig(raw, { homeDir: "/home/op", today: "2026-12-03", readFile: () => { throw new Error("no files"); } });
                assert.equal(settings.airGapped, true);
                const files = reviewArtifacts({ stack: "airgap", settings, encryptedKeys: ["sshPrivateKey", "privateRegistryPassword", "chartRepositoryPassword"], warnings });
                // registries.yaml names docker.io only as the registry it mirrors (to the site's).
                const text = (f: { path: string; content: string }) => f.path.endsWith("registries.yaml")
                    ? f.content.replace(/^ {2}"?docker\.io"?:\n {4}endpoint:\n {6}- "?https:\/\/registry\.site\.example:5000"?$/m, "") : f.content;
                const leaks = files.filter(f => f.path !== "README.md" && PUBLIC.test(text(f))).map(f => `${f.path}: ${PUBLIC.exec(text(f))![0]}`);
                assert.deepEqual(leaks, []);
                const rancher = files.find(f => /rancher\/release\.yaml$/.test(f.path))!;
                assert.match(rancher.content, /chart: oci:\/\/registry\.site\.example:5000\/charts\/rancher/);
                const rancherValues = files.find(f => /rancher\/values\.yaml$/.test(f.path))!;
                assert.match(rancherValues.content, /useBundledSystemChart: true/);
                assert.match(rancherValues.content, /systemDefaultRegistry: registry\.site\.example:5000/);
                const cm = files.find(f => /cert-manager\/release\.yaml$/.test(f.path))!;
                assert.match(cm.content, /repo: https:\/\/charts\.site\.example\/jetstack/);
                assert.ok(files.some(f => /cert-manager\/values\.yaml$/.test(f.path) && /registry\.site\.example:5000\/quay\.io\/jetstack\/cert-manager-controller/.test(f.content)));
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    }
});
