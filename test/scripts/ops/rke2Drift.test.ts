// drift on RKE2 stacks (scripts/ops/rke2Drift.ts), pure: what the stack expects on each node (its render, token and
// secrets redacted, the secret lines removed as the node removes them) against report lines as rke2DriftScript prints
// them. The script itself runs over SSH in rke2.test.ts.
import { strict as assert } from "assert";
import * as path from "path";
import { lbClientAddress, StackSettings } from "../../../components/config";
import { REDACTED, rke2NodeConfigYaml } from "../../../components/rke2/configYaml";
import { rke2ClusterInputFor, rke2NodeInputFor, rke2PlannedNodes, rke2RegistriesYamlFor } from "../../../components/rke2/nodeArgs";
import { compareRke2Node, rke2NodeExpectation } from "../../../scripts/ops/rke2Drift";
import { maskSecretLines } from "../../../scripts/ops/rke2Scripts";
import { sha256 } from "../../../scripts/ops/driftReport";
import { readStackFile, toolSettings } from "../../../scripts/stackFile";
import { FIXTURES } from "../../helpers/paths";

/** The fixture RKE2 stack: S3 secret key, registry login, a given token (all placeholders here). */
function settings(): StackSettings {
    return toolSettings(readStackFile(path.join(FIXTURES, "stacks"), "rke2"), { readFile: () => { throw new Error("none"); } }).settings;
}

/** A node's report as rke2DriftScript prints it, for files as the stage wrote them (real secrets in them). */
function report(files: { config?: string; registries?: string }, unit = "active", version = "v1.36.3+rke2r1"): string[] {
    const line = (key: string, text: string | undefined, mask: "config" | "registries") => {
        if (text === undefined) {
            return `${key} missing`;
        }
        const masked = maskSecretLines(text, mask);
        return `${key} present ${sha256(masked)} ${Buffer.from(masked).toString("base64")}`;
    };
    return [line("node-config", files.config, "config"), line("node-registries", files.registries, "registries"), `node-unit ${unit}`, `node-version ${version}`];
}

describe("scripts/ops/rke2Drift", () => {
    const s = settings();
    const planned = rke2PlannedNodes(s);
    /** What pulumi up writes on a node, with real secret values. */
    const written = (i: number, over: Partial<ReturnType<typeof rke2ClusterInputFor>> = {}) => ({
        config: rke2NodeConfigYaml({ ...rke2ClusterInputFor(s, lbClientAddress(s.loadBalancer), "real-s3-secret"), ...over }, rke2NodeInputFor(planned[i].node),
            { first: planned[i].first, token: "rh-real-token-0123456789" }),
        registries: rke2RegistriesYamlFor(s, "real-registry-password"),
    });
    const expect = (i: number) => rke2NodeExpectation(s, planned[i].node, planned[i].kind, planned[i].first, "rke2", `${planned[i].kind} ${planned[i].node.address}`,
        `ssh -p 2222 ops@${planned[i].node.address}`);

    it("a node with the stack's files matches, whatever its secrets (never compared, never sent)", () => {
        for (const i of [0, 1, 3]) {
            const r = compareRke2Node(report(written(i)), expect(i));
            assert.deepEqual(r.findings, [], JSON.stringify(r.findings));
            assert.deepEqual(r.problems, []);
            assert.ok(r.ok.some(l => /config\.yaml is the stack's \(token and secrets not compared\)/.test(l)));
            assert.ok(r.ok.some(l => /registries\.yaml is the stack's/.test(l)));
        }
        const e = expect(1);
        assert.ok(!e.config.includes(REDACTED) && !/^token:/m.test(e.config), "the expectation has no token line either");
    });

    it("an edited config.yaml is drift, with the diff of the non-secret lines; the first server's fix is admin.stateSync", () => {
        const w = written(1, { serverConfig: { ...s.rke2!.serverConfig, "kube-apiserver-arg": ["audit-log-maxage=7"] } });
        const r = compareRke2Node(report(w), expect(1));
        assert.equal(r.findings.length, 1);
        assert.match(r.findings[0].what, /\/etc\/rancher\/rke2\/config\.yaml differs from the one the stack renders \(token and secrets not compared\)/);
        assert.match(r.findings[0].diff!, /^- {2}- audit-log-maxage=7\n\+ {2}- audit-log-maxage=30$/m);
        assert.doesNotMatch(r.findings[0].diff!, /rh-real-token|real-s3-secret/);
        assert.match(r.findings[0].fix, /undo the edit on the node .*ssh -p 2222 ops@192\.0\.2\.12 'sudo \$\{EDITOR:-vi\} \/etc\/rancher\/rke2\/config\.yaml'.*systemctl restart rke2-server\.service/);
        const first = compareRke2Node(report(written(0, { cni: "cilium" })), expect(0));
        assert.match(first.findings[0].fix, /pulumi config set --stack rke2 --path rancher-ha:admin\.stateSync .*re-runs the first server's script/);
    });

    it("a token-only difference is not seen (documented), a missing file, a stopped unit and another release are", () => {
        const other = { ...written(1), config: written(1).config.replace("rh-real-token-0123456789", "rh-another-token") };
        assert.deepEqual(compareRke2Node(report(other), expect(1)).findings, []);
        const r = compareRke2Node(report({ registries: written(3).registries }, "failed", "v1.35.1+rke2r1"), expect(3));
        assert.deepEqual(r.findings.map(f => f.what), [
            "/etc/rancher/rke2/config.yaml is missing: rke2-agent.service cannot start again without it",
            "rke2-agent.service is not running (systemctl: failed)",
            "runs RKE2 v1.35.1+rke2r1, the stack says v1.36.3+rke2r1 (versions.kubernetes)",
        ]);
        assert.match(r.findings[1].fix, /ssh -p 2222 ops@192\.0\.2\.21 'sudo systemctl start rke2-agent\.service'/);
        const unreadable = compareRke2Node(["node-config unreadable", "node-registries missing", "node-unit active", "node-version v1.36.3+rke2r1"], expect(3));
        assert.deepEqual(unreadable.problems, ["agent 192.0.2.21: /etc/rancher/rke2/config.yaml could not be read (unreadable; the SSH user needs sudo -n)"]);
    });

    it("a registries.yaml of rancher-ha's when the stack has no registry any more is drift; someone else's is left alone", () => {
        const noRegistry: StackSettings = { ...s, privateRegistry: undefined };
        const e = rke2NodeExpectation(noRegistry, planned[3].node, "agent", false, "rke2", "agent x");
        const w = rke2NodeConfigYaml(rke2ClusterInputFor(noRegistry, lbClientAddress(s.loadBalancer), "real"), rke2NodeInputFor(planned[3].node), { first: false, token: "t" });
        const ours = compareRke2Node(report({ config: w, registries: written(3).registries }), e);
        assert.match(ours.findings.map(f => f.what).join("\n"), /registries\.yaml is rancher-ha's, but the stack sets no privateRegistry any more/);
        const theirs = compareRke2Node(report({ config: w, registries: "mirrors: {}\n" }), e);
        assert.deepEqual(theirs.findings, []);
        assert.ok(theirs.ok.some(l => /registries\.yaml is not rancher-ha's \(left alone\)/.test(l)));
    });
});
