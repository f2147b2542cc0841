// nginx.conf for the L4 (stream) load balancer in front of the Rancher server nodes.
//
// Pure: settings in, text out. The output is byte-for-byte deterministic (backends sorted, no timestamps) so its
// sha256 is a stable change trigger: the same settings never cause a rewrite or a reload on the host.
import type { LoadBalancerSettings, NodeSettings } from "../config/types";

/** One server node as the LB sees it. */
export interface LbBackend {
    /** Address the LB dials (IP or host name). */
    address: string;
    /** Runs kube-apiserver: gets an entry in the 6443 upstream. */
    controlplane: boolean;
}

/** One port triple: HTTP (ingress), HTTPS (ingress) and the Kubernetes API. */
export interface LbPorts {
    http: number;
    https: number;
    kubeApi: number;
}

export interface NginxConfOptions {
    /** The server nodes. Every node serves 80/443 (ingress-nginx); controlplane nodes serve 6443. */
    backends: LbBackend[];
    /** Ports the LB listens on (loadBalancer.httpPort/httpsPort/kubeApiPort). */
    listenPorts: LbPorts;
    /** Ports the nodes serve on. Default: 80, 443, 6443 (RKE's ingress and kube-apiserver). */
    backendPorts?: LbPorts;
    /** Address to bind, e.g. "127.0.0.1". Default: none, i.e. all addresses (and only IPv4 `*`, as nginx does). */
    listenAddress?: string;
    /** `worker_processes`. Default "auto" (one per CPU). */
    workerProcesses?: number | "auto";
    /** `worker_connections`. Default 8192. */
    workerConnections?: number;
    /** `worker_rlimit_nofile`. Default 40000 (a proxied connection holds two descriptors). */
    workerRlimitNofile?: number;
    /** `max_fails` per upstream server. Default 3. */
    maxFails?: number;
    /** `fail_timeout` per upstream server, and how long a failed server is skipped. Default "5s". */
    failTimeout?: string;
    /**
     * `proxy_connect_timeout`. Default "5s": a powered-off node drops SYNs instead of refusing, and nginx's
     * default of 60s would hold each client that long before trying the next node.
     */
    proxyConnectTimeout?: string;
    /** `pid`. Default /run/nginx.pid (what Debian's and RHEL's nginx and their systemd units use). */
    pidPath?: string;
    /** `error_log` file (or "stderr"). Default /var/log/nginx/error.log. */
    errorLog?: string;
    /** Module configs to `include` (globs), e.g. Debian's /etc/nginx/modules-enabled/*.conf. Default none. */
    moduleIncludes?: string[];
    /** Module files to `load_module`, e.g. /usr/lib/nginx/modules/ngx_stream_module.so. Default none. */
    loadModules?: string[];
}

export const NGINX_DEFAULTS = {
    backendPorts: { http: 80, https: 443, kubeApi: 6443 } as LbPorts,
    workerProcesses: "auto" as const,
    workerConnections: 8192,
    workerRlimitNofile: 40000,
    maxFails: 3,
    failTimeout: "5s",
    proxyConnectTimeout: "5s",
    pidPath: "/run/nginx.pid",
    errorLog: "/var/log/nginx/error.log",
};

/** Module includes for a distro nginx: Debian/Ubuntu (modules-enabled) and RHEL/Fedora (/usr/share/nginx/modules). */
export const DISTRO_MODULE_INCLUDES = ["/etc/nginx/modules-enabled/*.conf", "/usr/share/nginx/modules/*.conf"];

/** First line of every config we write: tells a reader who owns the file, and tells our delete script it is ours. */
export const MANAGED_MARKER = "# Managed by rancher-ha (Pulumi)";

/** Upstream names, stable so logs and dashboards keep their labels across changes. */
export const UPSTREAMS = { http: "rancher_servers_http", https: "rancher_servers_https", kubeApi: "kube_apiserver" };

/**
 * Renders the whole main nginx.conf: core tuning, events, and one `stream` block with three least_conn upstreams
 * (HTTP and HTTPS over every node, the Kubernetes API over controlplane nodes only). Throws on input that would
 * produce an invalid or injectable config.
 */
export function renderNginxConf(o: NginxConfOptions): string {
    const backendPorts = o.backendPorts ?? NGINX_DEFAULTS.backendPorts;
    const workerProcesses = o.workerProcesses ?? NGINX_DEFAULTS.workerProcesses;
    const workerConnections = o.workerConnections ?? NGINX_DEFAULTS.workerConnections;
    const workerRlimitNofile = o.workerRlimitNofile ?? NGINX_DEFAULTS.workerRlimitNofile;
    const maxFails = o.maxFails ?? NGINX_DEFAULTS.maxFails;
    const failTimeout = o.failTimeout ?? NGINX_DEFAULTS.failTimeout;
    const connectTimeout = o.proxyConnectTimeout ?? NGINX_DEFAULTS.proxyConnectTimeout;
    const pidPath = o.pidPath ?? NGINX_DEFAULTS.pidPath;
    const errorLog = o.errorLog ?? NGINX_DEFAULTS.errorLog;

    checkPorts(o.listenPorts, "listen");
    checkPorts(backendPorts, "backend");
    if (new Set([o.listenPorts.http, o.listenPorts.https, o.listenPorts.kubeApi]).size !== 3) {
        throw new Error("nginx: the http, https and kubeApi listen ports must differ");
    }
    if (workerProcesses !== "auto") {
        checkInt(workerProcesses, "workerProcesses", 1, 1024);
    }
    checkInt(workerConnections, "workerConnections", 1, 1 << 20);
    checkInt(workerRlimitNofile, "workerRlimitNofile", 1, 1 << 24);
    checkInt(maxFails, "maxFails", 0, 1000);
    checkDuration(failTimeout, "failTimeout");
    checkDuration(connectTimeout, "proxyConnectTimeout");
    for (const [what, p] of [["pidPath", pidPath], ["errorLog", errorLog], ...(o.moduleIncludes ?? []).map(m => ["moduleIncludes", m]),
        ...(o.loadModules ?? []).map(m => ["loadModules", m])]) {
        checkPath(p, what);
    }
    if (o.listenAddress !== undefined) {
        checkAddress(o.listenAddress, "listenAddress");
    }

    const backends = sortedBackends(o.backends);
    const controlplanes = backends.filter(b => b.controlplane);
    if (controlplanes.length === 0) {
        throw new Error("nginx: no controlplane node to send the Kubernetes API (kubeApi port) to; give at least one node the controlplane role");
    }

    const server = (address: string, port: number) =>
        `        server ${hostPort(address, port)} max_fails=${maxFails} fail_timeout=${failTimeout};`;
    const block = (name: string, listen: number, port: number, members: LbBackend[]) => [
        `    upstream ${name} {`,
        // Shared memory: workers share connection counts (for least_conn) and failure marks, so a dead node
        // is skipped by all workers at once rather than rediscovered by each.
        `        zone ${name} 64k;`,
        "        least_conn;",
        ...members.map(b => server(b.address, port)),
        "    }",
        "    server {",
        `        listen ${o.listenAddress !== undefined ? hostPort(o.listenAddress, listen) : String(listen)};`,
        `        proxy_pass ${name};`,
        "    }",
    ];

    return [
        `${MANAGED_MARKER}: the L4 load balancer in front of the Rancher server nodes.`,
        "# Edits by hand are overwritten on the next `pulumi up`; change the loadBalancer.* stack settings instead.",
        ...(o.moduleIncludes ?? []).map(m => `include ${m};`),
        ...(o.loadModules ?? []).map(m => `load_module ${m};`),
        `worker_processes ${workerProcesses};`,
        `worker_rlimit_nofile ${workerRlimitNofile};`,
        `pid ${pidPath};`,
        `error_log ${errorLog} warn;`,
        "",
        "events {",
        `    worker_connections ${workerConnections};`,
        "}",
        "",
        "stream {",
        // Applies to every server below; proxy_next_upstream (on by default) moves a refused or timed-out
        // connection to the next node.
        `    proxy_connect_timeout ${connectTimeout};`,
        "",
        ...block(UPSTREAMS.http, o.listenPorts.http, backendPorts.http, backends),
        "",
        ...block(UPSTREAMS.https, o.listenPorts.https, backendPorts.https, backends),
        "",
        ...block(UPSTREAMS.kubeApi, o.listenPorts.kubeApi, backendPorts.kubeApi, controlplanes),
        "}",
        "",
    ].join("\n");
}

/** Backends sorted (IPv4 numerically, then names) and de-duplicated: node order in the stack never changes the bytes. */
export function sortedBackends(backends: LbBackend[]): LbBackend[] {
    if (backends.length === 0) {
        throw new Error("nginx: no backend nodes; the load balancer needs at least one server node");
    }
    const byAddress = new Map<string, LbBackend>();
    for (const b of backends) {
        checkAddress(b.address, "backend address");
        const prev = byAddress.get(b.address);
        byAddress.set(b.address, { address: b.address, controlplane: b.controlplane || (prev?.controlplane ?? false) });
    }
    return [...byAddress.values()].sort((a, b) => {
        const ka = sortKey(a.address);
        const kb = sortKey(b.address);
        return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
}

function sortKey(address: string): string {
    const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
    return v4 ? `0 ${v4.slice(1).map(p => p.padStart(3, "0")).join(".")}` : `1 ${address.toLowerCase()}`;
}

/** `addr:port`, with IPv6 in brackets as nginx requires. */
function hostPort(address: string, port: number): string {
    return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

// Values are written into the config unquoted: anything that could end a directive or open a block is refused.
function checkAddress(a: string, what: string) {
    if (!/^[A-Za-z0-9._-]+$/.test(a) && !/^[0-9A-Fa-f:.]+$/.test(a)) {
        throw new Error(`nginx: ${what} ${JSON.stringify(a)} is not an IP address or host name`);
    }
}

function checkPath(p: string, what: string) {
    if (!/^[A-Za-z0-9_./*+@-]+$/.test(p)) {
        throw new Error(`nginx: ${what} ${JSON.stringify(p)} must be a plain path (letters, digits, _ . / * + @ -)`);
    }
}

function checkPorts(p: LbPorts, what: string) {
    for (const k of ["http", "https", "kubeApi"] as const) {
        checkInt(p[k], `${what} port ${k}`, 1, 65535);
    }
}

function checkInt(n: number, what: string, min: number, max: number) {
    if (!Number.isInteger(n) || n < min || n > max) {
        throw new Error(`nginx: ${what} must be a whole number from ${min} to ${max}, got ${n}`);
    }
}

function checkDuration(d: string, what: string) {
    if (!/^\d+(ms|s|m|h)?$/.test(d)) {
        throw new Error(`nginx: ${what} ${JSON.stringify(d)} is not an nginx time (e.g. 5s, 500ms)`);
    }
}

/** The nginx.conf the LB host runs, for these settings and nodes (node.address is what the LB dials, as RKE does). */
export function lbNginxConf(lb: LoadBalancerSettings, nodes: NodeSettings[]): string {
    return renderNginxConf({
        backends: nodes.map(n => ({ address: n.address, controlplane: n.roles.includes("controlplane") })),
        listenPorts: lb.ports,
        workerProcesses: lb.workerProcesses,
        workerConnections: lb.workerConnections,
        workerRlimitNofile: lb.workerRlimitNofile,
        // Debian and RHEL build the stream module as a loadable module; the official image has it built in.
        moduleIncludes: lb.mode === "system" ? DISTRO_MODULE_INCLUDES : [],
    });
}
