// Pulumi mocks that record the resource graph: type, name, parent, dependencies, inputs and which inputs
// were secret when they reached the engine. Used by every component and program test.
import * as pulumi from "@pulumi/pulumi";

/** The signature Pulumi's wire format uses for a secret value. */
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface RecordedResource {
    urn: string;
    type: string;
    name: string;
    custom: boolean;
    parent: string;
    /** URNs this resource depends on (dependsOn and input dependencies). */
    dependencies: string[];
    /** Inputs as plain values (secrets unwrapped). */
    inputs: any;
    /** Top-level input names whose value (or any part of it) was a secret. */
    secretInputs: string[];
    additionalSecretOutputs: string[];
    /** Resource options as sent to the engine. */
    deleteBeforeReplace: boolean;
    ignoreChanges: string[];
    replaceOnChanges: string[];
    customTimeouts?: { create?: string; update?: string; delete?: string };
    /** Alias URNs, or the type of an alias spec. */
    aliases?: string[];
    /** URN of the resource whose deletion makes the engine skip this one's delete ("" when none). */
    deletedWith?: string;
}

export interface MockOptions {
    /** Extra outputs per resource (e.g. a Command's stdout). Inputs are echoed back as outputs by default. */
    outputs?: (r: pulumi.runtime.MockResourceArgs) => Record<string, any> | undefined;
    /** Results for invokes (functions). */
    call?: (args: pulumi.runtime.MockCallArgs) => Record<string, any>;
    project?: string;
    stack?: string;
    /** "organization" is what the CLI reports for a DIY (file://, s3://) backend. */
    organization?: string;
    preview?: boolean;
}

function containsSecret(v: any): boolean {
    if (v === null || typeof v !== "object") {
        return false;
    }
    if (v[`4dabf18193072939515e22adb298388d`] === SECRET_SIG) {
        return true;
    }
    return Object.values(v).some(containsSecret);
}

/** Installs mocks and returns the live list of recorded resources. */
export async function recordResources(opts: MockOptions = {}): Promise<RecordedResource[]> {
    const recorded: RecordedResource[] = [];
    await pulumi.runtime.setMocks({
        newResource: (args: pulumi.runtime.MockResourceArgs) => {
            let extra: Record<string, any> | undefined;
            try {
                extra = opts.outputs?.(args);
            } catch (e) {
                // Thrown inside the mock monitor, an exception would leave the registration pending forever.
                // eslint-disable-next-line no-console
                console.error(`mock outputs for ${args.type} ${args.name} threw:`, e);
                throw e;
            }
            return { id: `${args.name}-id`, state: { ...args.inputs, ...extra } };
        },
        call: (args: pulumi.runtime.MockCallArgs) => opts.call?.(args) ?? args.inputs,
    }, opts.project ?? "rancher-ha", opts.stack ?? "test", opts.preview ?? false, opts.organization ?? "organization");

    const monitor: any = pulumi.runtime.getMonitor();
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: any) => {
        const obj = req.getObject()?.toJavaScript() ?? {};
        const timeouts = req.getCustomtimeouts?.();
        const record: RecordedResource = {
            urn: "",
            type: req.getType(),
            name: req.getName(),
            custom: req.getCustom(),
            parent: req.getParent(),
            dependencies: req.getDependenciesList(),
            inputs: {},
            secretInputs: Object.keys(obj).filter(k => containsSecret(obj[k])),
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
            deleteBeforeReplace: req.getDeletebeforereplace(),
            ignoreChanges: req.getIgnorechangesList(),
            replaceOnChanges: req.getReplaceonchangesList(),
            // Aliases as the SDK sends them: full URNs, or specs (name/type/parent) resolved here as the engine would.
            aliases: [
                ...(req.getAliasurnsList?.() ?? []),
                ...(req.getAliasesList?.() ?? []).map((a: any) => aliasSpecUrn(a.getSpec?.(), req) ?? a.getUrn?.() ?? ""),
            ],
            customTimeouts: timeouts ? { create: timeouts.getCreate(), update: timeouts.getUpdate(), delete: timeouts.getDelete() } : undefined,
            deletedWith: req.getDeletedwith?.() ?? "",
        };
        recorded.push(record);
        return original(req, (err: any, resp: any) => {
            if (resp) {
                record.urn = resp.getUrn();
                record.inputs = unwrapSecrets(obj);
            }
            callback(err, resp);
        });
    };
    // Reads (StackReference, Resource.get) take another RPC; record them too, with their parent.
    const originalRead = monitor.readResource.bind(monitor);
    monitor.readResource = (req: any, callback: any) => {
        const obj = req.getProperties()?.toJavaScript() ?? {};
        const record: RecordedResource = {
            urn: "", type: req.getType(), name: req.getName(), custom: true, parent: req.getParent(),
            dependencies: req.getDependenciesList(), inputs: unwrapSecrets(obj),
            secretInputs: Object.keys(obj).filter(k => containsSecret(obj[k])),
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(), deleteBeforeReplace: false,
            ignoreChanges: [], replaceOnChanges: [],
        };
        recorded.push(record);
        return originalRead(req, (err: any, resp: any) => {
            if (resp) {
                record.urn = resp.getUrn();
            }
            callback(err, resp);
        });
    };
    return recorded;
}

/**
 * The URN an alias spec stands for (the engine's resolution): the resource's own name and type unless the spec gives
 * others, under the spec's parent (or the resource's parent, or none with noParent). The spec's type alone when it
 * names neither a parent nor a name (what older tests look for).
 */
function aliasSpecUrn(spec: any, req: any): string | undefined {
    if (!spec) {
        return undefined;
    }
    const parentUrn: string = spec.getParenturn?.() || (spec.getNoparent?.() ? "" : req.getParent());
    if (!spec.getParenturn?.() && !spec.getName?.()) {
        return spec.getType?.() ?? "";
    }
    const type = spec.getType?.() || req.getType();
    const name = spec.getName?.() || req.getName();
    const project = spec.getProject?.() || pulumi.getProject();
    const stack = spec.getStack?.() || pulumi.getStack();
    const parentTypes = parentUrn ? parentUrn.split("::")[2] : "";
    return `urn:pulumi:${stack}::${project}::${parentTypes ? `${parentTypes}$` : ""}${type}::${name}`;
}

function unwrapSecrets(v: any): any {
    if (Array.isArray(v)) {
        return v.map(unwrapSecrets);
    }
    if (v !== null && typeof v === "object") {
        if (v[`4dabf18193072939515e22adb298388d`] === SECRET_SIG) {
            return unwrapSecrets(v.value);
        }
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
    }
    return v;
}

/** Resolves an Output's value (and whether it is secret) in a test. */
export async function settle<T>(o: pulumi.Output<T>): Promise<{ value: T; secret: boolean }> {
    const value = await new Promise<T>(resolve => o.apply(v => { resolve(v); return v; }));
    const secret = await (o as any).isSecret as boolean;
    return { value, secret };
}

/** Waits until every resource registered so far has been answered by the mock engine. */
export async function allRegistered(recorded: RecordedResource[], timeoutMs = 10000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
        await new Promise(r => setTimeout(r, 20));
        const pending = recorded.filter(r => r.urn === "");
        if (pending.length === 0) {
            // One more turn: registrations that were waiting on outputs may have started.
            await new Promise(r => setTimeout(r, 50));
            if (recorded.every(r => r.urn !== "")) {
                return;
            }
        }
        if (Date.now() > end) {
            throw new Error(`resources still pending: ${pending.map(p => p.name).join(", ")}`);
        }
    }
}

export function byType(recorded: RecordedResource[], type: string): RecordedResource[] {
    return recorded.filter(r => r.type === type);
}

/** True when `r` depends on `on`, directly or through its parents' dependencies. */
export function dependsOn(recorded: RecordedResource[], r: RecordedResource, on: RecordedResource): boolean {
    const seen = new Set<string>();
    const stack = [r.urn];
    while (stack.length) {
        const urn = stack.pop()!;
        if (seen.has(urn)) {
            continue;
        }
        seen.add(urn);
        const node = recorded.find(x => x.urn === urn);
        if (!node) {
            continue;
        }
        for (const d of node.dependencies) {
            if (d === on.urn || isDescendant(recorded, on.urn, d)) {
                return true;
            }
            stack.push(d);
        }
        if (node.parent) {
            stack.push(node.parent);
        }
    }
    return false;
}

function isDescendant(recorded: RecordedResource[], urn: string, ancestor: string): boolean {
    let cur = recorded.find(x => x.urn === urn);
    while (cur && cur.parent) {
        if (cur.parent === ancestor) {
            return true;
        }
        cur = recorded.find(x => x.urn === cur!.parent);
    }
    return false;
}
