// Loads Pulumi.<stack>.yaml into the Pulumi runtime config the way the CLI hands it to the program, with a
// throwaway HOME holding a generated SSH key at the path the stack names (~/.ssh/id_rsa, ~/.ssh/id_ed25519).
import { generateKeyPairSync } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import * as pulumi from "@pulumi/pulumi";

export function stackConfig(stackFile: string): Record<string, string> {
    const doc = yaml.load(fs.readFileSync(stackFile, "utf8")) as { config?: Record<string, unknown> };
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc.config ?? {})) {
        out[k] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return out;
}

/** A fresh HOME with ~/.ssh/<keyFile> (default id_rsa); returns the key and a restore function. */
export function fakeHomeWithKey(keyFile = "id_rsa"): { home: string; privateKey: string; restore: () => void } {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-home-"));
    fs.mkdirSync(path.join(home, ".ssh"), { mode: 0o700 });
    const { privateKey } = generateKeyPairSync("rsa", {
        modulusLength: 2048,
        privateKeyEncoding: { type: "pkcs1", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" },
    });
    fs.writeFileSync(path.join(home, ".ssh", keyFile), privateKey, { mode: 0o600 });
    const old = process.env.HOME;
    process.env.HOME = home;
    return {
        home,
        privateKey,
        restore: () => {
            process.env.HOME = old;
            fs.rmSync(home, { recursive: true, force: true });
        },
    };
}

export function useStackConfig(stackFile: string): void {
    pulumi.runtime.setAllConfig(stackConfig(stackFile));
}

/** Runs index.ts afresh (a new "pulumi up" under the current mocks and config), returning its exports. */
export function runProgram(): any {
    delete require.cache[require.resolve("../../index")];
    return require("../..");
}
