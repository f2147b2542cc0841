// Validates objects against the OpenAPI v3 schemas of vendored CustomResourceDefinitions, with ajv, the way the
// Kubernetes API server with strict field validation (kubectl's default since 1.27) treats them:
// - `nullable: true` lets the value be null;
// - `x-kubernetes-int-or-string` takes an integer or a string;
// - `x-kubernetes-preserve-unknown-fields` keeps unknown fields; every other object with `properties` refuses them
//   (the API server would prune or, under strict validation, reject them; here an unknown field is a typo);
// - `x-kubernetes-list-type: set` means unique items; other x-kubernetes-* keywords (list-map keys, map-type, CEL
//   `x-kubernetes-validations`) are not checked;
// - the root always has apiVersion (the CRD's group/version), kind and metadata (a name is required), which the API
//   server supplies even when the CRD's schema does not list them;
// - `format: int32|int64` are checked as integers; `default` is not applied.
import Ajv, { ErrorObject, ValidateFunction } from "ajv";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { FIXTURES } from "./paths";

/** test/fixtures/rancherBackup/crds: one folder per chart version (README.md there names the sources). */
export const RANCHER_BACKUP_CRDS = path.join(FIXTURES, "rancherBackup", "crds");

type Schema = Record<string, any>;

interface CrdVersionSchema {
    group: string;
    version: string;
    kind: string;
    schema: Schema;
}

/** The folders under RANCHER_BACKUP_CRDS (chart versions, plus operator-v* for an operator tag's CRDs). */
export function vendoredCrdSets(): string[] {
    return fs.readdirSync(RANCHER_BACKUP_CRDS, { withFileTypes: true }).filter(e => e.isDirectory()).map(e => e.name).sort();
}

/** Every CRD version's openAPIV3Schema in a folder of CRD YAML files (any number of documents per file). */
export function loadCrdSchemas(dir: string): CrdVersionSchema[] {
    const out: CrdVersionSchema[] = [];
    for (const file of fs.readdirSync(dir).filter(f => /\.ya?ml$/.test(f)).sort()) {
        for (const doc of yaml.loadAll(fs.readFileSync(path.join(dir, file), "utf8")) as any[]) {
            if (doc?.kind !== "CustomResourceDefinition") {
                continue;
            }
            for (const v of doc.spec.versions ?? []) {
                const schema = v.schema?.openAPIV3Schema;
                if (schema === undefined) {
                    throw new Error(`${file}: ${doc.metadata.name} ${v.name} has no openAPIV3Schema`);
                }
                out.push({ group: doc.spec.group, version: v.name, kind: doc.spec.names.kind, schema });
            }
        }
    }
    return out;
}

/** A Kubernetes structural schema rewritten as the JSON Schema ajv checks (see the file's comment). */
export function toJsonSchema(node: Schema, root?: { apiVersion: string; kind: string }): Schema {
    if (node === null || typeof node !== "object") {
        return node;
    }
    const out: Schema = {};
    for (const [k, v] of Object.entries(node)) {
        if (k === "properties" || k === "patternProperties") {
            out[k] = Object.fromEntries(Object.entries(v as Schema).map(([p, s]) => [p, toJsonSchema(s as Schema)]));
        } else if (k === "items" || k === "additionalProperties" || k === "not") {
            out[k] = typeof v === "object" ? toJsonSchema(v as Schema) : v;
        } else if (k === "allOf" || k === "anyOf" || k === "oneOf") {
            out[k] = (v as Schema[]).map(s => toJsonSchema(s));
        } else if (k === "nullable" || k === "default" || k === "example" || k.startsWith("x-kubernetes-")) {
            // handled below, or documentation only
        } else {
            out[k] = v;
        }
    }
    if (node["x-kubernetes-int-or-string"] === true) {
        delete out.type;
        out.anyOf = [{ type: "integer" }, { type: "string" }];
    }
    if (node["x-kubernetes-list-type"] === "set") {
        out.uniqueItems = true;
    }
    if (node.nullable === true) {
        if (out.type !== undefined) {
            out.type = [...(Array.isArray(out.type) ? out.type : [out.type]), "null"];
        } else if (out.anyOf !== undefined) {
            out.anyOf = [...out.anyOf, { type: "null" }];
        }
    }
    if (root !== undefined) {
        out.properties = {
            ...out.properties,
            apiVersion: { type: "string", const: root.apiVersion },
            kind: { type: "string", const: root.kind },
            metadata: {
                // open: generation, uid, resourceVersion ... of a live object are valid here
                type: "object",
                additionalProperties: true,
                required: ["name"],
                properties: {
                    name: { type: "string", maxLength: 253, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" },
                    labels: { type: "object", additionalProperties: { type: "string" } },
                    annotations: { type: "object", additionalProperties: { type: "string" } },
                },
            },
        };
        out.required = [...new Set(["apiVersion", "kind", "metadata", ...(out.required ?? [])])];
    }
    const closed = out.properties !== undefined && out.additionalProperties === undefined
        && node["x-kubernetes-preserve-unknown-fields"] !== true;
    if (closed) {
        out.additionalProperties = false;
    }
    return out;
}

function newAjv(): Ajv {
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && Math.abs(n) <= 2 ** 31 });
    ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
    return ajv;
}

const cache = new Map<string, Map<string, ValidateFunction>>();

/** Validators of a vendored CRD set, by `apiVersion kind`. */
export function crdValidators(set: string): Map<string, ValidateFunction> {
    let validators = cache.get(set);
    if (validators === undefined) {
        const ajv = newAjv();
        validators = new Map();
        for (const c of loadCrdSchemas(path.join(RANCHER_BACKUP_CRDS, set))) {
            const apiVersion = `${c.group}/${c.version}`;
            validators.set(`${apiVersion} ${c.kind}`, ajv.compile(toJsonSchema(c.schema, { apiVersion, kind: c.kind })));
        }
        cache.set(set, validators);
    }
    return validators;
}

const describe = (e: ErrorObject) => `${e.instancePath || "/"} ${e.message}${e.keyword === "additionalProperties"
    ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : ""}`;

/** Schema errors of `obj` against the CRD of its apiVersion and kind in a vendored set ([] when valid). */
export function crdErrors(set: string, obj: any): string[] {
    const validate = crdValidators(set).get(`${obj?.apiVersion} ${obj?.kind}`);
    if (validate === undefined) {
        return [`no CRD for apiVersion ${obj?.apiVersion} kind ${obj?.kind} in ${set}`];
    }
    return validate(obj) ? [] : (validate.errors ?? []).map(describe);
}
