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

/** HTTP (ingress), HTTPS (ingress), the Kubernetes API and, with RKE2, its supervisor (servers only). */
export interface LbPorts {
    http: number;
    https: number;
    kubeApi: number;
    /** RKE2's supervisor (9345): nodes join and agents keep their tunnel through it. Absent: no such block. */
    supervisor?: number;
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
    /**
     * Proxied (client) connections the LB must hold at once; sizes worker_connections and worker_rlimit_nofile
     * when those are not given (see `workerLimitsFor`). Default 50000.
     */
    maxConnections?: number;
    /** `worker_connections`. Default: from maxConnections (`workerLimitsFor`). */
    workerConnections?: number;
    /** `worker_rlimit_nofile`. Default: from maxConnections (`workerLimitsFor`). */
    workerRlimitNofile?: number;
    /** `max_fails` per upstream server. Default 3. */
    maxFails?: number;
    /** `fail_timeout` per upstream server, and how long a failed server is skipped. Default "5s". */
    failTimeout?: string;
    /**
     * `proxy_connect_timeout`. Default "2s": a powered-off node drops SYNs instead of refusing, and nginx's
     * default of 60s would hold each client that long before trying the next node. On a LAN a healthy node
     * answers a SYN in well under a millisecond; 2s still covers one lost SYN (Linux resends it after 1s).
     */
    proxyConnectTimeout?: string;
    /** `proxy_next_upstream_tries`: nodes one client connection may try. Default 3. */
    proxyNextUpstreamTries?: number;
    /** `proxy_next_upstream_timeout`: the time one client connection may spend trying nodes. Default "5s". */
    proxyNextUpstreamTimeout?: string;
    /**
     * `proxy_timeout` of the HTTPS and Kubernetes API ports: how long a connection may be idle in both
     * directions before nginx closes it. Default "1h" (watches, `kubectl exec/logs -f`, agent websockets).
     */
    proxyTimeout?: string;
    /** `proxy_timeout` of the HTTP port (redirects to HTTPS and ACME HTTP-01 only). Default "1m". */
    httpProxyTimeout?: string;
    /** `so_keepalive` of every `listen` (TCP keepalive towards clients). Default "60s:10s:6". */
    clientKeepalive?: string;
    /** `backlog` of every `listen`. Default 4096 (the kernel caps it at net.core.somaxconn). */
    listenBacklog?: number;
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
    backendPorts: { http: 80, https: 443, kubeApi: 6443, supervisor: 9345 } as LbPorts,
    workerProcesses: "auto" as const,
    maxConnections: 50000,
    maxFails: 3,
    failTimeout: "5s",
    proxyConnectTimeout: "2s",
    proxyNextUpstreamTries: 3,
    proxyNextUpstreamTimeout: "5s",
    proxyTimeout: "1h",
    httpProxyTimeout: "1m",
    // Idle 60s, then a probe every 10s, 6 unanswered probes: a vanished client (laptop lid closed, NAT state
    // dropped) is found within about 2 minutes instead of holding two descriptors for the whole proxy_timeout,
    // and the 60s probes keep idle watches alive through NATs and firewalls with short idle timers.
    clientKeepalive: "60s:10s:6",
    listenBacklog: 4096,
    pidPath: "/run/nginx.pid",
    errorLog: "/var/log/nginx/error.log",
};

/** Module includes for a distro nginx: Debian/Ubuntu (modules-enabled) and RHEL/Fedora (/usr/share/nginx/modules). */
export const DISTRO_MODULE_INCLUDES = ["/etc/nginx/modules-enabled/*.conf", "/usr/share/nginx/modules/*.conf"];

/** First line of every config we write: tells a reader who owns the file, and tells our delete script it is ours. */
export const MANAGED_MARKER = "# Managed by rancher-ha (Pulumi)";

/** Upstream names, stable so logs and dashboards keep their labels across changes. */
export const UPSTREAMS = {
    http: "rancher_servers_http", https: "rancher_servers_https", kubeApi: "kube_apiserver", supervisor: "rke2_supervisor",
};

/** Bounds of maxConnections (the stack setting and the renderer): at most 2 * max + spare connections per worker. */
export const MAX_CONNECTIONS_RANGE = { min: 16, max: 250000 };

/** Connections per worker besides the proxied ones: the three listening sockets, the master's channel, spare. */
const WORKER_CONNECTIONS_SPARE = 32;

/**
 * worker_connections and worker_rlimit_nofile for `maxConnections` proxied connections.
 *
 * Every proxied connection is two nginx connections (the client's and the one to the node) and two file
 * descriptors, so the LB needs 2 * maxConnections connection slots in all. They are per worker:
 * - `workerProcesses` a number W: each worker gets its share, ceil(2 * maxConnections / W). The kernel wakes one
 *   worker per new connection (EPOLLEXCLUSIVE), which spreads many connections about evenly over the workers;
 *   set workerConnections yourself to allow for more skew.
 * - `auto` (one worker per CPU): the CPU count is only known on the host at run time, and the worst case is one
 *   CPU, i.e. one worker holding everything: 2 * maxConnections per worker. The cost of over-sizing is memory:
 *   nginx allocates every slot when a worker starts (a few hundred bytes each, so ~40 MB per worker for 100k).
 * worker_rlimit_nofile is twice worker_connections: one descriptor per connection, with the same again as
 * margin (log files, descriptors in the middle of closing), as the README has always advised.
 */
export function workerLimitsFor(maxConnections: number, workerProcesses: number | "auto"): {
    workerConnections: number; workerRlimitNofile: number;
} {
    checkInt(maxConnections, "maxConnections", MAX_CONNECTIONS_RANGE.min, MAX_CONNECTIONS_RANGE.max);
    const workers = workerProcesses === "auto" ? 1 : workerProcesses;
    const workerConnections = Math.ceil((2 * maxConnections) / workers) + WORKER_CONNECTIONS_SPARE;
    return { workerConnections, workerRlimitNofile: 2 * workerConnections };
}

/**
 * Renders the whole main nginx.conf: core tuning, events, and one `stream` block with three round-robin upstreams
 * (HTTP and HTTPS over every node, the Kubernetes API over controlplane nodes only). Throws on input that would
 * produce an invalid or injectable config.
 */
export function renderNginxConf(o: NginxConfOptions): string {
    const backendPorts = o.backendPorts ?? NGINX_DEFAULTS.backendPorts;
    const workerProcesses = o.workerProcesses ?? NGINX_DEFAULTS.workerProcesses;
    if (workerProcesses !== "auto") {
        checkInt(workerProcesses, "workerProcesses", 1, 1024);
    }
    const sized = workerLimitsFor(o.maxConnections ?? NGINX_DEFAULTS.maxConnections, workerProcesses);
    const workerConnections = o.workerConnections ?? sized.workerConnections;
    const workerRlimitNofile = o.workerRlimitNofile ?? sized.workerRlimitNofile;
    const maxFails = o.maxFails ?? NGINX_DEFAULTS.maxFails;
    const failTimeout = o.failTimeout ?? NGINX_DEFAULTS.failTimeout;
    const connectTimeout = o.proxyConnectTimeout ?? NGINX_DEFAULTS.proxyConnectTimeout;
    const nextTries = o.proxyNextUpstreamTries ?? NGINX_DEFAULTS.proxyNextUpstreamTries;
    const nextTimeout = o.proxyNextUpstreamTimeout ?? NGINX_DEFAULTS.proxyNextUpstreamTimeout;
    const proxyTimeout = o.proxyTimeout ?? NGINX_DEFAULTS.proxyTimeout;
    const httpProxyTimeout = o.httpProxyTimeout ?? NGINX_DEFAULTS.httpProxyTimeout;
    const clientKeepalive = o.clientKeepalive ?? NGINX_DEFAULTS.clientKeepalive;
    const backlog = o.listenBacklog ?? NGINX_DEFAULTS.listenBacklog;
    const pidPath = o.pidPath ?? NGINX_DEFAULTS.pidPath;
    const errorLog = o.errorLog ?? NGINX_DEFAULTS.errorLog;

    checkPorts(o.listenPorts, "listen");
    checkPorts(backendPorts, "backend");
    const listen = [o.listenPorts.http, o.listenPorts.https, o.listenPorts.kubeApi, ...(o.listenPorts.supervisor === undefined ? [] : [o.listenPorts.supervisor])];
    if (new Set(listen).size !== listen.length) {
        throw new Error("nginx: the http, https, kubeApi (and supervisor) listen ports must differ");
    }
    if (o.listenPorts.supervisor !== undefined && backendPorts.supervisor === undefined) {
        throw new Error("nginx: a supervisor listen port needs a supervisor backend port");
    }
    checkInt(workerConnections, "workerConnections", 1, 1 << 20);
    checkInt(workerRlimitNofile, "workerRlimitNofile", 1, 1 << 24);
    checkInt(maxFails, "maxFails", 0, 1000);
    checkDuration(failTimeout, "failTimeout");
    checkDuration(connectTimeout, "proxyConnectTimeout");
    checkInt(nextTries, "proxyNextUpstreamTries", 0, 100);
    checkDuration(nextTimeout, "proxyNextUpstreamTimeout");
    for (const [what, t] of [["proxyTimeout", proxyTimeout], ["httpProxyTimeout", httpProxyTimeout]]) {
        const problem = proxyTimeoutProblem(t);
        if (problem) {
            throw new Error(`nginx: ${what} ${problem}`);
        }
    }
    // nginx refuses "::" (nothing set) but takes any of the three alone, e.g. "30m::" or "::10".
    if (!/^(\d+(s|m|h)?)?:(\d+(s|m|h)?)?:(\d+)?$/.test(clientKeepalive) || clientKeepalive === "::") {
        throw new Error(`nginx: clientKeepalive ${JSON.stringify(clientKeepalive)} is not an nginx so_keepalive value (idle:interval:count, e.g. 60s:10s:6)`);
    }
    checkInt(backlog, "listenBacklog", 1, 65535);
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
    const block = (name: string, listen: number, port: number, members: LbBackend[], timeout: string) => [
        `    upstream ${name} {`,
        // Shared memory: workers share the round-robin position and failure marks, so a dead node is skipped
        // by all workers at once rather than rediscovered by each.
        `        zone ${name} 64k;`,
        // Round robin (nginx's default), not least_conn, on every port: a node that fails fast (accepts and at
        // once closes: ingress or kube-apiserver restarting, a broken node) always has the fewest open
        // connections, so least_conn sends it most new ones. Measured (issue "A load balancer that keeps serving
        // through sick nodes"): with one fast-failing node, 57% of requests failed with least_conn, 33% (its
        // share) with round robin. Such a node is not marked failed either (the TCP connect succeeded), so max_fails does
        // not help. Long-lived 6443 watches would rebalance faster under least_conn after a node returns, but
        // kube-apiserver is exactly what fails that way while it restarts: round robin there too.
        ...members.map(b => server(b.address, port)),
        "    }",
        "    server {",
        // backlog: the accept queue for reconnect storms (every kubelet, agent and watch reconnecting at once
        // after a node or LB restart). The kernel caps it at net.core.somaxconn (4096 since Linux 5.4; raise
        // the sysctl for more). so_keepalive: TCP keepalive towards clients, see clientKeepalive.
        `        listen ${o.listenAddress !== undefined ? hostPort(o.listenAddress, listen) : String(listen)} ` +
            `backlog=${backlog} so_keepalive=${clientKeepalive};`,
        // Idle time (no byte either way) after which nginx closes the pair; nginx's default 10m cuts idle
        // `kubectl exec` sessions and quiet watches.
        `        proxy_timeout ${timeout};`,
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
        // Apply to every server below. A node that refuses, or does not answer the SYN within the connect
        // timeout, is left for the next node: a dead node costs a client at most one short connect attempt,
        // and a client gives up after `tries` nodes or `timeout` in all.
        `    proxy_connect_timeout ${connectTimeout};`,
        "    proxy_next_upstream on;",
        `    proxy_next_upstream_tries ${nextTries};`,
        `    proxy_next_upstream_timeout ${nextTimeout};`,
        // TCP keepalive on the connections to the nodes: a node that vanished (power cut, network split) is
        // found and its connection closed. Its timings are the LB host's sysctls net.ipv4.tcp_keepalive_time/
        // _intvl/_probes (nginx cannot set them per upstream socket).
        "    proxy_socket_keepalive on;",
        "",
        ...block(UPSTREAMS.http, o.listenPorts.http, backendPorts.http, backends, httpProxyTimeout),
        "",
        ...block(UPSTREAMS.https, o.listenPorts.https, backendPorts.https, backends, proxyTimeout),
        "",
        ...block(UPSTREAMS.kubeApi, o.listenPorts.kubeApi, backendPorts.kubeApi, controlplanes, proxyTimeout),
        // RKE2: joining nodes fetch their certificates here and agents keep a websocket tunnel to it (servers only).
        ...(o.listenPorts.supervisor === undefined ? []
            : ["", ...block(UPSTREAMS.supervisor, o.listenPorts.supervisor, backendPorts.supervisor!, controlplanes, proxyTimeout)]),
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
    if (p.supervisor !== undefined) {
        checkInt(p.supervisor, `${what} port supervisor`, 1, 65535);
    }
}

function checkInt(n: number, what: string, min: number, max: number) {
    if (!Number.isInteger(n) || n < min || n > max) {
        throw new Error(`nginx: ${what} must be a whole number from ${min} to ${max}, got ${n}`);
    }
}

/** nginx time units (ngx_parse_time) in milliseconds; a bare number is seconds. */
const TIME_UNITS_MS: Record<string, number> = {
    ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000,
};

/** Longest proxyTimeout accepted: a day. Keepalive, not the idle timeout, is what finds dead peers. */
export const PROXY_TIMEOUT_MAX_MS = 86400000;

/**
 * Milliseconds of an nginx time value such as "1h", "90s", "1h30m" or "3600" (seconds), in the forms nginx's
 * ngx_parse_time reads (units ms, s, m, h, d, largest first, each at most once); undefined when it is not one.
 */
export function nginxTimeMs(t: string): number | undefined {
    const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(t);
    if (/^\d+$/.test(t)) {
        return Number(t) * 1000;
    }
    if (!m || t === "") {
        return undefined;
    }
    const parts = [m[1], m[2], m[3], m[4], m[5]];
    const units = ["d", "h", "m", "s", "ms"];
    return parts.reduce((sum, p, i) => sum + (p === undefined ? 0 : Number(p) * TIME_UNITS_MS[units[i]]), 0);
}

/** Why `t` is not a usable proxy_timeout (a message after the key), or undefined when it is. */
export function proxyTimeoutProblem(t: string): string | undefined {
    const ms = nginxTimeMs(t);
    if (ms === undefined) {
        return `${JSON.stringify(t)} is not an nginx time; use e.g. 1h, 30m, 90s or 1h30m`;
    }
    if (ms < 1000 || ms > PROXY_TIMEOUT_MAX_MS) {
        return `${JSON.stringify(t)} must be from 1s to 24h`;
    }
    return undefined;
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
        maxConnections: lb.maxConnections,
        workerConnections: lb.workerConnections,
        workerRlimitNofile: lb.workerRlimitNofile,
        proxyTimeout: lb.proxyTimeout,
        // Debian and RHEL build the stream module as a loadable module; the official image has it built in.
        moduleIncludes: lb.mode === "system" ? DISTRO_MODULE_INCLUDES : [],
    });
}
