// A small Kubernetes API server for the real kubectl: discovery for a given list of resources, objects kept by path,
// create (POST), get, delete and merge patch (with or without a status subresource), and a log of every write. Only
// what scripts run through kubectl need; no watch (kubectl falls back to polling GETs where it can).
import * as http from "http";
import { FakeHttpServer, kubeDiscovery, notFoundStatus } from "./fakeKubeApi";

export interface FakeResource {
    /** "" for the core group. */
    group: string;
    version: string;
    /** Plural, e.g. "restores". */
    plural: string;
    kind: string;
    namespaced: boolean;
    /** Whether status is a subresource (then only PATCH .../status changes it, and a main PATCH leaves it). */
    statusSubresource?: boolean;
}

export interface WriteRecord {
    method: string;
    path: string;
    body?: unknown;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
    if (patch === null || typeof patch !== "object" || Array.isArray(patch)) {
        return patch;
    }
    const out: Record<string, unknown> = target !== null && typeof target === "object" && !Array.isArray(target)
        ? { ...(target as Record<string, unknown>) } : {};
    for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
        if (v === null) {
            delete out[k];
        } else {
            out[k] = mergePatch(out[k], v);
        }
    }
    return out;
}

const base = (r: FakeResource) => (r.group === "" ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`);

export class FakeObjectApi extends FakeHttpServer {
    /** Objects by their API path (e.g. /apis/apps/v1/namespaces/cattle-system/deployments/rancher). */
    readonly objects = new Map<string, Record<string, unknown>>();
    /** Every POST, PATCH and DELETE, in order. */
    readonly writes: WriteRecord[] = [];
    /** GETs per object path. */
    readonly gets = new Map<string, number>();
    /** Called on every GET of an existing object before it is answered (a controller's progress). */
    onGet?: (path: string, obj: Record<string, unknown>, count: number) => void;
    /** Answer every request with this HTTP error (e.g. 503) while set. */
    failAll?: number;

    constructor(private readonly resources: FakeResource[]) {
        super();
    }

    /** The object path of `name` (in `namespace` for a namespaced resource). */
    pathOf(plural: string, name: string, namespace?: string, group?: string): string {
        const r = this.resources.find(x => x.plural === plural && (group === undefined || x.group === group));
        if (!r) {
            throw new Error(`FakeObjectApi: no resource ${plural}`);
        }
        return `${base(r)}${r.namespaced ? `/namespaces/${namespace}` : ""}/${plural}/${name}`;
    }

    /** Puts an object in place (metadata.name from `name`). */
    put(plural: string, name: string, obj: Record<string, unknown>, namespace?: string, group?: string): string {
        const p = this.pathOf(plural, name, namespace, group);
        const r = this.resources.find(x => x.plural === plural && (group === undefined || x.group === group))!;
        const metadata = { ...(obj.metadata as Record<string, unknown> ?? {}), name, ...(namespace ? { namespace } : {}) };
        this.objects.set(p, {
            apiVersion: r.group === "" ? r.version : `${r.group}/${r.version}`, kind: r.kind,
            ...obj, metadata: { uid: `uid-${name}`, resourceVersion: "1", generation: 1, ...metadata },
        });
        return p;
    }

    private discovery(p: string): unknown {
        const groups = [...new Set(this.resources.filter(r => r.group !== "").map(r => `${r.group}/${r.version}`))];
        if (p === "/apis") {
            return {
                kind: "APIGroupList", apiVersion: "v1", groups: groups.map(gv => {
                    const [name, version] = gv.split("/");
                    return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
                }),
            };
        }
        const list = (gv: string, rs: FakeResource[]) => ({
            kind: "APIResourceList", apiVersion: "v1", groupVersion: gv, resources: rs.flatMap(r => [
                { name: r.plural, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: ["create", "delete", "get", "list", "patch"] },
                ...(r.statusSubresource ? [{ name: `${r.plural}/status`, singularName: "", namespaced: r.namespaced, kind: r.kind, verbs: ["get", "patch"] }] : []),
            ]),
        });
        if (p === "/api/v1") {
            return list("v1", this.resources.filter(r => r.group === ""));
        }
        const m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(p);
        if (m && groups.includes(`${m[1]}/${m[2]}`)) {
            return list(`${m[1]}/${m[2]}`, this.resources.filter(r => r.group === m[1] && r.version === m[2]));
        }
        return p === "/apis" || p.startsWith("/apis/") ? undefined : kubeDiscovery(p);
    }

    protected answer(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
        const url = new URL(req.url ?? "/", "http://x");
        const p = url.pathname;
        const send = (code: number, o: unknown) => { res.writeHead(code, { "Content-Type": "application/json" }); res.end(JSON.stringify(o)); };
        if (this.failAll !== undefined && !(p === "/version" || p === "/api" || p === "/apis" || p.split("/").length <= 4)) {
            return send(this.failAll, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "ServiceUnavailable", code: this.failAll, message: "the server is busy" });
        }
        if (req.method === "GET") {
            const d = this.discovery(p);
            if (d !== undefined) {
                return send(200, d);
            }
            if (p.endsWith("/status") && this.objects.has(p.slice(0, -"/status".length))
                && this.resources.some(r => r.statusSubresource && p.includes(`/${r.plural}/`))) {
                return send(200, this.objects.get(p.slice(0, -"/status".length)));
            }
            const obj = this.objects.get(p);
            if (obj) {
                const n = (this.gets.get(p) ?? 0) + 1;
                this.gets.set(p, n);
                this.onGet?.(p, obj, n);
                return send(200, this.objects.get(p));
            }
            // A collection: the objects directly under it (label selectors are not applied; pods and the like).
            const items = [...this.objects.entries()].filter(([k]) => k.startsWith(`${p}/`) && !k.slice(p.length + 1).includes("/")).map(([, v]) => v);
            if (this.resources.some(r => p.endsWith(`/${r.plural}`))) {
                return send(200, { kind: "List", apiVersion: "v1", metadata: { resourceVersion: "1" }, items });
            }
            return send(404, notFoundStatus(p));
        }
        let parsed: unknown;
        try {
            parsed = body ? JSON.parse(body) : undefined;
        } catch {
            return send(400, { kind: "Status", status: "Failure", code: 400, message: "body is not JSON" });
        }
        this.writes.push({ method: req.method ?? "", path: p, body: parsed });
        if (req.method === "POST") {
            const o = parsed as Record<string, unknown>;
            const name = (o.metadata as Record<string, unknown>)?.name as string;
            const key = `${p}/${name}`;
            if (this.objects.has(key)) {
                return send(409, { kind: "Status", status: "Failure", reason: "AlreadyExists", code: 409, message: `${name} already exists` });
            }
            this.objects.set(key, { ...o, metadata: { ...(o.metadata as object), uid: `uid-${name}`, resourceVersion: "1", generation: 1 } });
            return send(201, this.objects.get(key));
        }
        if (req.method === "DELETE") {
            const obj = this.objects.get(p);
            if (!obj) {
                return send(404, notFoundStatus(p));
            }
            this.objects.delete(p);
            return send(200, { kind: "Status", apiVersion: "v1", status: "Success", details: { name: (obj.metadata as Record<string, unknown>).name } });
        }
        if (req.method === "PATCH") {
            const isStatus = p.endsWith("/status");
            const objPath = isStatus ? p.slice(0, -"/status".length) : p;
            const obj = this.objects.get(objPath);
            const r = this.resources.find(x => objPath.includes(`/${x.plural}/`));
            if (!obj || (isStatus && !r?.statusSubresource)) {
                return send(404, notFoundStatus(p));
            }
            let next = mergePatch(obj, parsed) as Record<string, unknown>;
            if (r?.statusSubresource) {
                // With the subresource, the main resource ignores status and /status changes nothing else.
                next = isStatus ? { ...obj, status: next.status } : { ...next, status: obj.status };
            }
            this.objects.set(objPath, next);
            return send(200, next);
        }
        send(405, { kind: "Status", status: "Failure", code: 405, message: "method not allowed" });
    }
}
