// loadBalancer: the nginx L4 proxy host and its tuning.
import * as net from "net";
import { DEFAULTS, LoadBalancerSettings, NodeSettings } from "../types";
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
    const target = sshTarget(r, o, "loadBalancer", d);
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
    const address = typeof o.address === "string" ? o.address : undefined;
    if (address !== undefined && net.isIPv6(address)) {
        // nginxConf renders `listen <port>;`, which nginx binds on IPv4 only: clients of an IPv6 address get nothing.
        r.err("loadBalancer.address", `${shown(address)} is an IPv6 address, but the load balancer's nginx listens on IPv4 ` +
            "only; use the host's IPv4 address, or a DNS name with an A record");
    }
    if (address !== undefined) {
        nodes.forEach((n, i) => {
            const same = [n.address, n.internalAddress].some(a => a !== undefined && a.toLowerCase() === address.toLowerCase());
            const busy = nodePorts(n);
            const clash = (["http", "https", "kubeApi"] as const).filter(k => busy.has(ports[k]));
            if (same && clash.length > 0) {
                r.err("loadBalancer.address", `${shown(address)} is also nodes[${i}], which binds ` +
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
    const lb = target && {
        ...target,
        mode,
        image,
        ports,
        workerProcesses,
        maxConnections,
        workerConnections: workerConnections ?? needed.workerConnections,
        workerRlimitNofile: workerRlimitNofile ?? needed.workerRlimitNofile,
        proxyTimeout,
    };
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
