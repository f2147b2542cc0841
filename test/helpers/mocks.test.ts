import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { allRegistered, byType, dependsOn, recordResources, settle } from "./mocks";

describe("test harness: recording mocks", () => {
    it("records parents, dependencies, secret inputs and secret outputs", async () => {
        const recorded = await recordResources({
            outputs: a => a.type === "command:remote:Command" ? { stdout: `out-of-${a.name}` } : undefined,
        });
        class Comp extends pulumi.ComponentResource {
            constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
                super("rancher-ha:test:Comp", name, {}, opts);
                this.registerOutputs({});
            }
        }
        const parent = new Comp("a");
        const first = new command.remote.Command("first", {
            connection: { host: "h", privateKey: pulumi.secret("KEY") },
            create: "true",
            stdin: pulumi.secret("s3cret"),
        }, { parent, additionalSecretOutputs: ["stdout"] });
        const later = new Comp("b", { dependsOn: [parent] });
        const second = new command.remote.Command("second", { connection: { host: "h" }, create: "true" }, { parent: later });
        const out = await settle(first.stdout);
        await allRegistered(recorded);

        assert.equal(out.value, "out-of-first");
        // Mocks do not apply additionalSecretOutputs (the engine does): components also wrap such outputs in
        // pulumi.secret, and tests check both.
        assert.equal(out.secret, false);
        assert.equal((await settle(pulumi.secret(first.stdout))).secret, true);
        const [r1, r2] = byType(recorded, "command:remote:Command");
        assert.equal(r1.parent, recorded.find(r => r.name === "a")!.urn);
        assert.deepEqual(r1.secretInputs.sort(), ["connection", "stdin"]);
        assert.equal(r1.inputs.stdin, "s3cret");
        assert.ok(r1.additionalSecretOutputs.includes("stdout"));
        assert.ok(dependsOn(recorded, r2, r1), "second (child of b, which dependsOn a) depends on first (child of a)");
        assert.ok(!dependsOn(recorded, r1, r2));
        void second;
    });
});
