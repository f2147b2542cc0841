// What the real kubectl needs from a Kubernetes API server before it gets to the objects a test cares about:
// version and API discovery for apps/v1, a kubeconfig pointing at the fake server, and a clean HOME/TMPDIR.
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";

/** The discovery answer for `pathname`, or undefined when it is not a discovery path. */
export function kubeDiscovery(pathname: string): unknown {
    switch (pathname) {
        case "/version":
            return { major: "1", minor: "30", gitVersion: "v1.30.5" };
        case "/api":
            return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] };
        case "/api/v1":
            return { kind: "APIResourceList", groupVersion: "v1", resources: [] };
        case "/apis":
            return {
                kind: "APIGroupList", apiVersion: "v1",
                groups: [{ name: "apps", versions: [{ groupVersion: "apps/v1", version: "v1" }], preferredVersion: { groupVersion: "apps/v1", version: "v1" } }],
            };
        case "/apis/apps/v1":
            return {
                kind: "APIResourceList", apiVersion: "v1", groupVersion: "apps/v1", resources: [
                    { name: "deployments", singularName: "deployment", namespaced: true, kind: "Deployment", verbs: ["get", "patch"] },
                    { name: "daemonsets", singularName: "daemonset", namespaced: true, kind: "DaemonSet", verbs: ["get", "patch"] },
                ],
            };
        default:
            return undefined;
    }
}

/** The API's own NotFound Status. */
export function notFoundStatus(what: string): unknown {
    return { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: `${what} not found` };
}

/** A token kubeconfig for the fake server (kubectl sends no credentials over plain http, so the token is inert). */
export function fakeKubeconfig(server: string, token: string, name = "fake"): string {
    return [
        "apiVersion: v1", "kind: Config",
        `clusters: [{name: ${name}, cluster: {server: "${server}"}}]`,
        `users: [{name: admin, user: {token: ${token}}}]`,
        `contexts: [{name: ${name}, context: {cluster: ${name}, user: admin}}]`,
        `current-context: ${name}`, "",
    ].join("\n");
}

/** A temp dir with a clean HOME (no ~/.kube of the developer) and a TMPDIR the test can check is left empty. */
export function kubectlSandbox(prefix: string): { dir: string; env: NodeJS.ProcessEnv; remove: () => void } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    fs.mkdirSync(path.join(dir, "home"));
    fs.mkdirSync(path.join(dir, "tmp"));
    return {
        dir,
        env: { PATH: process.env.PATH, HOME: path.join(dir, "home"), TMPDIR: path.join(dir, "tmp") },
        remove: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}

/** An HTTP server on 127.0.0.1:<free port> whose subclass answers each request with its whole body read. */
export abstract class FakeHttpServer {
    private server?: http.Server;

    /** Starts listening; returns the base URL. */
    async start(): Promise<string> {
        this.server = http.createServer((req, res) => {
            let body = "";
            req.on("data", d => (body += d));
            req.on("end", () => this.answer(req, body, res));
        });
        await new Promise<void>(r => this.server!.listen(0, "127.0.0.1", r));
        return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    }

    async stop(): Promise<void> {
        this.server?.closeAllConnections();
        await new Promise(r => this.server?.close(r));
    }

    protected abstract answer(req: http.IncomingMessage, body: string, res: http.ServerResponse): void;
}
