// Runs the policy pack as the Pulumi CLI does (policy/index.ts serving gRPC, port on stdout) and sends it Analyze
// requests shaped like the engine's (secrets as secret sentinels, KeepSecrets: true): checks that index.ts
// installs the secretness hook and that the served pack reports what the rules say.
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as path from "path";

/* eslint-disable @typescript-eslint/no-var-requires */
const grpc = require("@grpc/grpc-js");
const analyzerproto = require("@pulumi/pulumi/proto/analyzer_pb");
const analyzerrpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");
const emptyproto = require("google-protobuf/google/protobuf/empty_pb");
const rpc = require("@pulumi/pulumi/runtime/rpc");
/* eslint-enable @typescript-eslint/no-var-requires */

const POLICY_DIR = path.resolve(__dirname, "..");
const secret = (value: unknown) => ({ [rpc.specialSigKey]: rpc.specialSecretSig, value });

describe("policy pack served over gRPC (policy/index.ts)", function () {
    this.timeout(60000);
    let child: ChildProcess | undefined;
    let client: any;

    before(async () => {
        child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "index.ts"], {
            cwd: POLICY_DIR, stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        child.stderr!.on("data", d => { stderr += d; });
        const port = await new Promise<number>((resolve, reject) => {
            let out = "";
            child!.stdout!.on("data", d => {
                out += d;
                const m = /^(\d+)\s*$/m.exec(out);
                if (m) {
                    resolve(Number(m[1]));
                }
            });
            child!.on("exit", code => reject(new Error(`policy pack exited (${code}) before serving: ${stderr}`)));
        });
        client = new analyzerrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    });

    after(() => {
        client?.close();
        child?.kill("SIGTERM");
    });

    const call = <T>(method: string, req: unknown): Promise<T> =>
        new Promise((resolve, reject) => client[method](req, (err: unknown, resp: T) => (err ? reject(err) : resolve(resp))));

    async function analyze(type: string, props: Record<string, unknown>): Promise<string[]> {
        const req = new analyzerproto.AnalyzeRequest();
        req.setType(type);
        req.setUrn(`urn:pulumi:dev::rancher-ha::${type}::served`);
        req.setName("served");
        req.setProperties(Struct.fromJavaScript(props));
        req.setOptions(new analyzerproto.AnalyzerResourceOptions());
        const resp: any = await call("analyze", req);
        return resp.getDiagnosticsList().map((d: any) => `${d.getPolicyname()}: ${d.getMessage().split("\n").slice(1).join(" ")}`);
    }

    it("describes itself as rancher-ha-safety with six mandatory policies", async () => {
        const info: any = await call("getAnalyzerInfo", new emptyproto.Empty());
        assert.strictEqual(info.getName(), "rancher-ha-safety");
        const policies = info.getPoliciesList();
        assert.strictEqual(policies.length, 6);
        for (const p of policies) {
            assert.strictEqual(p.getEnforcementlevel(), analyzerproto.EnforcementLevel.MANDATORY, p.getName());
        }
    });

    it("sees secretness: a secret connection passes, a plain private key fails", async () => {
        const base = { create: "rke up", delete: "true", addPreviousOutputInEnv: false };
        const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTestsOnly";
        assert.deepStrictEqual(await analyze("command:remote:Command",
            { ...base, connection: secret({ host: "h", privateKey: "K", hostKey }) }), []);
        const plain = await analyze("command:remote:Command", { ...base, connection: { host: "h", privateKey: "K", hostKey } });
        assert.strictEqual(plain.length, 1, plain.join("\n"));
        assert.match(plain[0], /^secrets-are-secret: connection\.privateKey is a plain/);
    });

    it("reports the other rules (cluster removal without opt-in, helm range)", async () => {
        const d = await analyze("command:local:Command", { delete: "rke remove --force", addPreviousOutputInEnv: false });
        assert.deepStrictEqual(d.map(x => x.split(":")[0]), ["no-cluster-removal-on-delete"]);
        const h = await analyze("kubernetes:helm.sh/v3:Release", { chart: "rancher", version: ">=2.9.0" });
        assert.deepStrictEqual(h.map(x => x.split(":")[0]), ["helm-chart-version-pinned"]);
    });
});
