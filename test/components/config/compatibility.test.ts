// The compatibility table, row by row: what is refused (with the key and a combination that works) and what warns.
import { strict as assert } from "assert";
import {
    CERT_MANAGER_LINES, compatibilityProblems, CompatInput, RANCHER_LINES, versionParts,
} from "../../../components/config/compatibility";

const base: CompatInput = { distribution: "rke", kubernetes: "v1.30.14-rancher1-1", rancher: "2.11.16", certManager: "v1.15.5", today: "2026-12-02" };
const check = (over: Partial<CompatInput>) => compatibilityProblems({ ...base, ...over });

describe("config/compatibility", () => {
    it("reads the version forms of RKE, RKE2, charts", () => {
        assert.deepEqual(versionParts("v1.30.14-rancher1-1"), [1, 30, 14]);
        assert.deepEqual(versionParts("v1.35.3+rke2r1"), [1, 35, 3]);
        assert.deepEqual(versionParts("2.11.16"), [2, 11, 16]);
        assert.equal(versionParts("latest"), undefined);
    });

    it("the default RKE1 set works: no error, and the end-of-life warnings say how to move on", () => {
        const r = check({});
        assert.deepEqual(r.errors, []);
        assert.ok(r.warnings.some(w => /^distribution: RKE1 reached end of life on 2025-07-31 \(rancher\/rancher#46376\).*RKE2/.test(w)));
        assert.ok(r.warnings.some(w => /^versions\.rancher: Rancher 2\.11 is past its end of life \(2026-10\)/.test(w)));
        assert.ok(r.warnings.some(w => /^versions\.kubernetes: Kubernetes 1\.30 is past its end of life \(2025-07-15\); on RKE1 no newer free line exists/.test(w)));
        assert.ok(r.warnings.some(w => /^versions\.certManager: cert-manager 1\.15 is past its end of life/.test(w)));
        // Before those dates: no end-of-life warning but RKE1's.
        const early = check({ today: "2025-01-01" });
        assert.deepEqual(early.warnings.filter(w => /past its end of life/.test(w)), []);
    });

    it("refuses Rancher 2.12 and later on RKE1, naming versions.rancher and the last line that works", () => {
        for (const rancher of ["2.12.3", "2.14.4", "2.15.0"]) {
            const r = check({ rancher });
            assert.ok(r.errors.some(e => /^versions\.rancher: Rancher .* cannot run on an RKE1 cluster .*rancher#51003\); use Rancher 2\.11\.16 on distribution rke, or move to RKE2/.test(e)), rancher);
        }
        assert.ok(!check({ rancher: "2.15.0", distribution: "rke2", kubernetes: "v1.35.3+rke2r1", certManager: "v1.21.1" }).errors.some(e => /RKE1/.test(e)));
    });

    it("refuses Kubernetes past each verified chart's kubeVersion, row by row, with a version that works", () => {
        for (const line of RANCHER_LINES) {
            const rancher = line.example.replace(/x$/, "0");
            const over = `v1.${line.kubeBelow % 1000}.0`;
            const under = `v1.${(line.kubeBelow % 1000) - 1}.0`;
            const dist = line.rke1 ? "rke" : "rke2";
            const bad = check({ distribution: dist, rancher, kubernetes: over });
            assert.ok(bad.errors.some(e => e.startsWith("versions.kubernetes: ") && e.includes(`kubeVersion < 1.${line.kubeBelow % 1000}`)
                && e.includes(`Use Kubernetes 1.${(line.kubeBelow % 1000) - 1} or older`)), `${rancher}: ${bad.errors.join("\n")}`);
            const ok = check({ distribution: dist, rancher, kubernetes: under });
            assert.ok(!ok.errors.some(e => e.startsWith("versions.kubernetes")), `${rancher} on ${under}`);
        }
    });

    it("warns when cert-manager does not support the Kubernetes version, row by row; and below 1.15 with Rancher 2.15", () => {
        for (const cm of CERT_MANAGER_LINES) {
            const v = `v1.${cm.line % 1000}.0`;
            const outside = check({ distribution: "rke2", rancher: "2.15.0", certManager: v, kubernetes: `v1.${(cm.kubeTo % 1000) + 1}.0` });
            assert.ok(outside.warnings.some(w => w.startsWith(`versions.certManager: cert-manager 1.${cm.line % 1000} supports Kubernetes`)), v);
            const inside = check({ distribution: "rke2", rancher: "2.15.0", certManager: v, kubernetes: `v1.${cm.kubeTo % 1000}.0` });
            assert.ok(!inside.warnings.some(w => w.includes("supports Kubernetes")), v);
        }
        assert.ok(check({ distribution: "rke2", rancher: "2.15.0", kubernetes: "v1.35.0", certManager: "v1.14.7" }).warnings
            .some(w => /Rancher 2\.15\.0 warns below cert-manager 1\.15/.test(w)));
    });

    it("the default RKE2 set works without a warning: current releases, none past its end of life", () => {
        const r = check({ distribution: "rke2", kubernetes: "v1.36.3+rke2r1", rancher: "2.15.0", certManager: "v1.21.1" });
        assert.deepEqual(r.errors, []);
        assert.deepEqual(r.warnings, []);
        // The same stack a year on: Kubernetes 1.36 is past its end of life (2027-06-28).
        assert.ok(check({ distribution: "rke2", kubernetes: "v1.36.3+rke2r1", rancher: "2.15.0", certManager: "v1.21.1", today: "2027-07-01" })
            .warnings.some(w => /^versions\.kubernetes: Kubernetes 1\.36 is past its end of life \(2027-06-28\)$/.test(w)));
        // RKE2 1.33 on its end-of-life day is still supported; the day after it is not.
        const k133 = { distribution: "rke2" as const, kubernetes: "v1.33.5+rke2r1", rancher: "2.14.4", certManager: "v1.21.1" };
        assert.ok(!check({ ...k133, today: "2026-06-28" }).warnings.some(w => /past its end of life/.test(w)));
        assert.ok(check({ ...k133, today: "2026-06-29" }).warnings.some(w => /Kubernetes 1\.33 is past its end of life \(2026-06-28\)$/.test(w)));
    });

    it("says when a Rancher line has no verified row instead of guessing", () => {
        const r = check({ rancher: "2.7.15" });
        assert.deepEqual(r.errors, []);
        assert.ok(r.warnings.some(w => /^versions\.rancher: Rancher 2\.7 has no verified row/.test(w)));
    });
});
