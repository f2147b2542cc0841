// loadBalancer: the nginx L4 proxy host and its tuning.
import * as net from "net";
import { DEFAULTS, LbHealthCheckSettings, LbVirtualIp, LoadBalancerSettings, NodeSettings, SshTarget } from "../types";
import { ConfigReader } from "../reader";
import { isImageReference, shown } from "../names";
import { SshDefaults, sshTarget } from "../sshKeys";
import { MAX_CONNECTIONS_RANGE, proxyTimeoutProblem, workerLimitsFor } from "../../loadBalancer/nginxConf";

const PORT_KEYS = { http: "httpPort", https: "httpsPort", kubeApi: "kubeApiPort" } as const;

/** Ports a server node binds itself (RKE): ingress-nginx on every node, etcd and kube-apiserver by role, kubelet. */
function nodePorts(n: NodeSettings): Map<number, string> {
    const ports = new Map<number, string>([[80, "ingress-nginx"], [443, "ingress-nginx"], [10250, "the kubelet"]]);
    if (n.roles.includes("controlplane")) {
        ports.set(6443, "kube-apiserver");
    }
    if (n.roles.includes("etcd")) {
        ports.set(2379, "etcd").set(2380, "etcd");
    }
    return ports;
}

export function parseLoadBalancer(r: ConfigReader, raw: Record<string, unknown>, d: SshDefaults,
    nodes: NodeSettings[] = []): LoadBalancerSettings | undefined {
    if (raw.loadBalancer === undefined) {
        r.err("loadBalancer", "missing; set loadBalancer.address to the host that runs the nginx L4 proxy " +
            "in front of the nodes (ports 80, 443, 6443)");
        return undefined;
    }
    const o = r.obj(raw, "loadBalancer");
    const pair = parsePair(r, o, d, nodes);
    const target = pair ? pair.hosts[0] : sshTarget(r, o, "loadBalancer", d);
    const mode = r.enumOf(o, "mode", ["docker", "system"] as const, "loadBalancer.mode") ?? DEFAULTS.lbMode;
    const ports = {
        http: r.port(o, "httpPort", "loadBalancer.httpPort") ?? DEFAULTS.lbPorts.http,
        https: r.port(o, "httpsPort", "loadBalancer.httpsPort") ?? DEFAULTS.lbPorts.https,
        kubeApi: r.port(o, "kubeApiPort", "loadBalancer.kubeApiPort") ?? DEFAULTS.lbPorts.kubeApi,
    };
    if (new Set([ports.http, ports.https, ports.kubeApi]).size !== 3) {
        r.err("loadBalancer", "httpPort, httpsPort and kubeApiPort must differ");
    }
    // The same getter again: a bad port is reported once (problems are de-duplicated), by sshTarget.
    const sshPort = target?.port ?? r.port(o, "port", "loadBalancer.port") ?? d.port;
    for (const k of ["http", "https", "kubeApi"] as const) {
        if (ports[k] === sshPort) {
            r.err(`loadBalancer.${PORT_KEYS[k]}`, `${ports[k]} is the load balancer's SSH port (loadBalancer.port, else ssh.port); ` +
                `nginx would take sshd's port (or fail to start) and Pulumi could not reach the host; ` +
                `use another port (default ${DEFAULTS.lbPorts[k]}), or move sshd`);
        }
    }
    const address = pair ? undefined : typeof o.address === "string" ? o.address : undefined;
    if (address !== undefined && net.isIPv6(address)) {
        // nginxConf renders `listen <port>;`, which nginx binds on IPv4 only: clients of an IPv6 address get nothing.
        r.err("loadBalancer.address", `${shown(address)} is an IPv6 address, but the load balancer's nginx listens on IPv4 ` +
            "only; use the host's IPv4 address, or a DNS name with an A record");
    }
    const hostAddresses: [string, string][] = pair
        ? pair.hosts.flatMap((h, i): [string, string][] => h ? [[`loadBalancer.hosts[${i}].address`, h.address]] : [])
        : address !== undefined ? [["loadBalancer.address", address]] : [];
    for (const [key, hostAddress] of hostAddresses) {
        nodes.forEach((n, i) => {
            const same = [n.address, n.internalAddress].some(a => a !== undefined && a.toLowerCase() === hostAddress.toLowerCase());
            const busy = nodePorts(n);
            const clash = (["http", "https", "kubeApi"] as const).filter(k => busy.has(ports[k]));
            if (same && clash.length > 0) {
                r.err(key, `${shown(hostAddress)} is also nodes[${i}], which binds ` +
                    clash.map(k => `${ports[k]} (${busy.get(ports[k])})`).join(", ") + " itself; nginx and the node cannot " +
                    "both listen there. Put the load balancer on a host of its own, or move loadBalancer." +
                    clash.map(k => PORT_KEYS[k]).join("/") + " to free ports");
            }
        });
    }
    let workerProcesses: number | "auto" = DEFAULTS.workerProcesses;
    if (o.workerProcesses !== undefined && o.workerProcesses !== "auto") {
        workerProcesses = r.int(o, "workerProcesses", "loadBalancer.workerProcesses", 1, 1024) ?? workerProcesses;
    }
    const image = r.str(o, "image", { key: "loadBalancer.image" }) ?? DEFAULTS.lbImage;
    if (!isImageReference(image)) {
        r.err("loadBalancer.image", `${shown(image)} is not a Docker image reference; use registry[:port]/path[:tag][@sha256:digest] ` +
            `with a lower-case path, e.g. ${DEFAULTS.lbImage} or registry.example.com:5000/library/nginx:1.27-alpine`);
    }
    const maxConnections = r.int(o, "maxConnections", "loadBalancer.maxConnections",
        MAX_CONNECTIONS_RANGE.min, MAX_CONNECTIONS_RANGE.max) ?? DEFAULTS.lbMaxConnections;
    // What maxConnections needs per worker (nginxConf's workerLimitsFor explains the sizing); explicit
    // workerConnections/workerRlimitNofile win, with a warning when they are smaller.
    const needed = workerLimitsFor(maxConnections, workerProcesses);
    const workerConnections = r.int(o, "workerConnections", "loadBalancer.workerConnections", 16, 1 << 20);
    const workerRlimitNofile = r.int(o, "workerRlimitNofile", "loadBalancer.workerRlimitNofile", 1024, 1 << 24);
    let proxyTimeout = r.str(o, "proxyTimeout", { key: "loadBalancer.proxyTimeout" }) ?? DEFAULTS.lbProxyTimeout;
    const timeoutProblem = proxyTimeoutProblem(proxyTimeout);
    if (timeoutProblem) {
        r.err("loadBalancer.proxyTimeout", `${timeoutProblem} (idle time before nginx closes a connection on the ` +
            `HTTPS and Kubernetes API ports; default ${DEFAULTS.lbProxyTimeout})`);
        proxyTimeout = DEFAULTS.lbProxyTimeout;
    }
    const healthChecks = parseHealthChecks(r, o, nodes);
    const takeOverFrom = parseTakeOverFrom(r, o.takeOverFrom);
    const lb: LoadBalancerSettings | undefined = target && (!pair || pair.hosts.every(h => h !== undefined)) ? {
        ...target,
        hosts: pair ? pair.hosts as SshTarget[] : [target],
        clientAddress: pair?.virtualIp?.address ?? target.address,
        ...(pair?.virtualIp ? { virtualIp: pair.virtualIp } : {}),
        healthChecks,
        mode,
        image,
        ports,
        workerProcesses,
        maxConnections,
        workerConnections: workerConnections ?? needed.workerConnections,
        workerRlimitNofile: workerRlimitNofile ?? needed.workerRlimitNofile,
        proxyTimeout,
        ...(takeOverFrom.length > 0 ? { takeOverFrom } : {}),
    } : undefined;
    const perWorker = workerProcesses === "auto" ? "per worker (workerProcesses auto: sized for one CPU)" : `per worker of ${workerProcesses}`;
    if (lb && workerConnections !== undefined && workerConnections < needed.workerConnections) {
        r.warn(`loadBalancer.workerConnections (${workerConnections}) is under the ${needed.workerConnections} ` +
            `${perWorker} that maxConnections (${maxConnections}) needs: each proxied connection uses two ` +
            "(client + node); nginx refuses connections beyond it. Raise it, or leave it unset to size it from maxConnections");
    }
    if (lb && lb.workerRlimitNofile < lb.workerConnections * 2) {
        // One descriptor per connection, with the same again as margin (workerLimitsFor).
        r.warn(`loadBalancer.workerRlimitNofile (${lb.workerRlimitNofile}) is under twice ` +
            `workerConnections (${lb.workerConnections}); nginx may run out of file descriptors`);
    }
    return lb;
}

/**
 * loadBalancer.hosts + virtualIp: two LB hosts, keepalived holding the virtual IP on one of them. Undefined when
 * hosts is not set (a single LB at loadBalancer.address).
 */
function parsePair(r: ConfigReader, o: Record<string, unknown>, d: SshDefaults, nodes: NodeSettings[]):
    { hosts: (SshTarget | undefined)[]; virtualIp?: LbVirtualIp } | undefined {
    const list = o.hosts;
    const vipRaw = r.str(o, "virtualIp", { key: "loadBalancer.virtualIp" });
    const routerId = r.int(o, "virtualRouterId", "loadBalancer.virtualRouterId", 1, 255);
    const iface = r.str(o, "interface", { key: "loadBalancer.interface" });
    if (list === undefined) {
        for (const [k, v] of [["virtualIp", vipRaw], ["virtualRouterId", routerId], ["interface", iface]] as const) {
            if (v !== undefined) {
                r.err(`loadBalancer.${k}`, "applies to a pair of LB hosts only: list both in loadBalancer.hosts " +
                    "(instead of loadBalancer.address), or remove it");
            }
        }
        return undefined;
    }
    if (o.address !== undefined) {
        r.err("loadBalancer.address", "set either address (one LB host) or hosts + virtualIp (a pair), not both; " +
            "with a pair, clients use loadBalancer.virtualIp");
    }
    if (!Array.isArray(list) || list.length !== 2) {
        r.err("loadBalancer.hosts", "must list exactly two LB hosts ({address, hostKey, ...} each, like a node); " +
            "keepalived keeps loadBalancer.virtualIp on one of them. For one LB host use loadBalancer.address instead");
        return { hosts: [undefined] };
    }
    const hosts = list.map((h, i) => {
        const key = `loadBalancer.hosts[${i}]`;
        if (typeof h !== "object" || h === null || Array.isArray(h)) {
            r.err(key, "must be an object with at least address (and hostKey, unless ssh.knownHostsFile has it)");
            return undefined;
        }
        return sshTarget(r, r.item(h, key), key, d);
    });
    hosts.forEach((h, i) => {
        if (h && !net.isIPv4(h.address)) {
            r.err(`loadBalancer.hosts[${i}].address`, `${shown(h.address)} is not an IPv4 address; keepalived sends its adverts ` +
                "to the other LB host's IPv4 address: give each LB host's IPv4 address");
        }
    });
    const [a, b] = hosts.map(h => h?.address.toLowerCase());
    if (a !== undefined && a === b) {
        r.err("loadBalancer.hosts[1].address", `${shown(hosts[1]!.address)} is also loadBalancer.hosts[0]; the pair needs two hosts`);
    }
    if (vipRaw === undefined) {
        r.err("loadBalancer.virtualIp", "required with loadBalancer.hosts: a free IPv4 address on the LB hosts' network " +
            "that keepalived moves between them (DNS, the kubeconfig and the certificates use it)");
        return { hosts };
    }
    if (!net.isIPv4(vipRaw)) {
        r.err("loadBalancer.virtualIp", `${shown(vipRaw)} is not an IPv4 address; give a free IPv4 address on the LB hosts' network`);
        return { hosts };
    }
    const taken = [
        ...hosts.map((h, i) => [`loadBalancer.hosts[${i}]`, h?.address] as const),
        ...nodes.flatMap((n, i) => [[`nodes[${i}]`, n.address] as const, [`nodes[${i}].internalAddress`, n.internalAddress] as const]),
    ].find(([, addr]) => addr === vipRaw);
    if (taken) {
        r.err("loadBalancer.virtualIp", `${shown(vipRaw)} is the address of ${taken[0]}; the virtual IP must be a free address ` +
            "that no host uses (keepalived adds it to the LB host that holds it)");
    }
    if (iface !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(iface)) {
        r.err("loadBalancer.interface", `${shown(iface)} is not a network interface name (e.g. eth0, ens192); leave it out to use the ` +
            "interface that carries each LB host's address");
    }
    const lastOctet = Number(vipRaw.split(".")[3]);
    return {
        hosts,
        virtualIp: {
            address: vipRaw,
            // VRRP adverts are unicast to the peer, so the id only has to differ from other VRRP routers on the peer.
            routerId: routerId ?? (lastOctet >= 1 && lastOctet <= 255 ? lastOctet : 51),
            ...(iface !== undefined ? { interface: iface } : {}),
        },
    };
}

/** loadBalancer.healthChecks: the active checker's settings (probes need IPv4 node addresses). */
function parseHealthChecks(r: ConfigReader, o: Record<string, unknown>, nodes: NodeSettings[]): LbHealthCheckSettings {
    const h = r.obj(o, "healthChecks", "loadBalancer.healthChecks");
    const def = DEFAULTS.lbHealthChecks;
    const num = (k: "intervalSeconds" | "timeoutSeconds" | "fall" | "rise", max: number) =>
        r.int(h, k, `loadBalancer.healthChecks.${k}`, 1, max) ?? def[k];
    const asked = r.bool(h, "enabled", "loadBalancer.healthChecks.enabled");
    const named = nodes.map((n, i) => [i, n.address] as const).filter(([, a]) => !net.isIPv4(a));
    const s: LbHealthCheckSettings = {
        // On by default where it can work: a stack whose nodes are DNS names gets a warning instead of an error.
        enabled: asked ?? (def.enabled && named.length === 0),
        intervalSeconds: num("intervalSeconds", 60),
        timeoutSeconds: num("timeoutSeconds", 60),
        fall: num("fall", 60),
        rise: num("rise", 60),
    };
    if (asked === true) {
        for (const [i, a] of named) {
            r.err(`nodes[${i}].address`, `${shown(a)} is not an IPv4 address, but the load balancer's health checker ` +
                "takes a sick node out by its IPv4 address (a routing rule on the LB host); give the node's IPv4 address, " +
                "or set loadBalancer.healthChecks.enabled: false");
        }
    } else if (asked === undefined && named.length > 0) {
        r.warn(`loadBalancer.healthChecks: off, because ${named.map(([i]) => `nodes[${i}].address`).join(", ")} ` +
            "is not an IPv4 address (the checker takes a sick node out by IP); nginx's passive checks only. " +
            "Give the nodes' IPv4 addresses to get active health checks, or set loadBalancer.healthChecks.enabled: false to silence this");
    }
    return s;
}

/**
 * loadBalancer.takeOverFrom: the stacks (`stack`, or `project/stack`) whose LB hosts this stack may take over, as a
 * migration's switch (or its rollback) does. A string or a list.
 */
function parseTakeOverFrom(r: ConfigReader, v: unknown): string[] {
    if (v === undefined || v === null) {
        return [];
    }
    const list = Array.isArray(v) ? v : [v];
    const out: string[] = [];
    list.forEach((s, i) => {
        const key = Array.isArray(v) ? `loadBalancer.takeOverFrom[${i}]` : "loadBalancer.takeOverFrom";
        if (typeof s !== "string" || !/^(?:[A-Za-z0-9_.-]+\/)?[A-Za-z0-9_.-]+$/.test(s)) {
            r.err(key, `${shown(s)} is not a stack name: give the stack whose LB hosts this one takes over, as pulumi stack ls ` +
                "shows it (e.g. old), or project/stack for another project");
        } else {
            out.push(s);
        }
    });
    return out;
}
