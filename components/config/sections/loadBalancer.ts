// loadBalancer: the nginx L4 proxy host and its tuning.
import { DEFAULTS, LoadBalancerSettings } from "../types";
import { ConfigReader } from "../reader";
import { SshDefaults, sshTarget } from "../sshKeys";

export function parseLoadBalancer(r: ConfigReader, raw: Record<string, unknown>, d: SshDefaults): LoadBalancerSettings | undefined {
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
    let workerProcesses: number | "auto" = DEFAULTS.workerProcesses;
    if (o.workerProcesses !== undefined && o.workerProcesses !== "auto") {
        workerProcesses = r.int(o, "workerProcesses", "loadBalancer.workerProcesses", 1, 1024) ?? workerProcesses;
    }
    const lb = target && {
        ...target,
        mode,
        image: r.str(o, "image", { key: "loadBalancer.image" }) ?? DEFAULTS.lbImage,
        ports,
        workerProcesses,
        workerConnections: r.int(o, "workerConnections", "loadBalancer.workerConnections", 16, 1 << 20) ?? DEFAULTS.workerConnections,
        workerRlimitNofile: r.int(o, "workerRlimitNofile", "loadBalancer.workerRlimitNofile", 1024, 1 << 24) ?? DEFAULTS.workerRlimitNofile,
    };
    if (lb && lb.workerRlimitNofile < lb.workerConnections * 2) {
        // A proxied connection holds two descriptors (client + upstream).
        r.warn(`loadBalancer.workerRlimitNofile (${lb.workerRlimitNofile}) is under twice ` +
            `workerConnections (${lb.workerConnections}); nginx may run out of file descriptors`);
    }
    return lb;
}
