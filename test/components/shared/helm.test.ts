import { strict as assert } from "assert";
import { dockerConfigJson, parseVersion, versionAtLeast } from "../../../components/shared/helm";

describe("shared/helm", () => {
    describe("versions", () => {
        it("parses chart versions with or without v and with a pre-release", () => {
            assert.deepEqual(parseVersion("v1.15.3"), [1, 15, 3]);
            assert.deepEqual(parseVersion("2.9.2"), [2, 9, 2]);
            assert.deepEqual(parseVersion("v1.16.0-alpha.1"), [1, 16, 0]);
            assert.throws(() => parseVersion("latest"), /"latest" is not a chart version/);
        });

        it("compares by major, minor, patch", () => {
            assert.ok(versionAtLeast("v1.15.0", "v1.15.0"));
            assert.ok(versionAtLeast("v1.15.3", "1.15.0"));
            assert.ok(versionAtLeast("v2.0.0", "v1.15.0"));
            assert.ok(!versionAtLeast("v1.14.7", "v1.15.0"));
            assert.ok(!versionAtLeast("v0.99.99", "v1.15.0"));
            assert.ok(versionAtLeast("1.100.0", "1.15.0"), "numeric, not lexical");
        });
    });

    describe("registry login", () => {
        it("is a dockerconfigjson the kubelet reads: auths.<registry> with base64(user:password)", () => {
            const doc = JSON.parse(dockerConfigJson("registry.example.com:5000", "puller", "p@ss:w0rd"));
            const entry = doc.auths["registry.example.com:5000"];
            assert.equal(entry.username, "puller");
            assert.equal(entry.password, "p@ss:w0rd");
            assert.equal(Buffer.from(entry.auth, "base64").toString(), "puller:p@ss:w0rd");
        });
    });

});
