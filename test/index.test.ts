import { strict as assert } from "assert";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { allRegistered, recordResources, RecordedResource, settle } from "./helpers/mocks";
import { fakeHomeWithKey, useStackConfig } from "./helpers/devStack";

// The whole program, built from the example stack Pulumi.dev.yaml under mocks: the graph must build without
// errors, in order, with every secret marked secret.
describe("program (index.ts) on Pulumi.dev.yaml", function () {
    this.timeout(60000);
    let recorded: RecordedResource[];
    let program: any;
    let home: ReturnType<typeof fakeHomeWithKey>;

    before(async () => {
        home = fakeHomeWithKey();
        recorded = await recordResources({ project: "rancher-ha", stack: "dev" });
        useStackConfig(path.join(__dirname, "..", "Pulumi.dev.yaml"));
        program = require("../index");
        await allRegistered(recorded);
    });
    after(() => {
        pulumi.runtime.setAllConfig({});
        home.restore();
    });

    it("exports the node list from the example stack", async () => {
        const nodes = program.nodes;
        assert.deepEqual(nodes.map((n: any) => n.address), ["192.0.2.11", "192.0.2.12", "192.0.2.13"]);
        assert.ok(nodes.every((n: any) => n.roles.join(",") === "controlplane,etcd,worker"));
        void settle;
    });
});
