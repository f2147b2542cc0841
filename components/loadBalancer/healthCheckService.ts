// The active health checker as an LB host service: its script (healthCheck.ts) for this stack's nodes and ports.
import { DEFAULTS, LoadBalancerSettings, NodeSettings } from "../config/types";
import { HealthTarget, lbHealthCheckScript, lbHealthTargets } from "./healthCheck";
import { sortedBackends } from "./nginxConf";
import { LB_SCRIPT_DEFAULTS } from "./scripts";
import { LbServiceSpec, lbServiceSpec } from "./serviceScripts";

/** The checker's service name (systemd unit rancher-ha-lb-check.service). */
export const HEALTH_CHECK_SERVICE = "rancher-ha-lb-check";
/** Where it keeps each node:port's state, which `npm run ops -- lb-status` reads. */
export const HEALTH_CHECK_STATE_DIR = "/var/lib/rancher-ha/lb-check";

/**
 * The stack's node:ports in the checker's order (its rule priority is base + index): the backends nginx forwards to,
 * sorted as nginxConf sorts them, so the stack's node order changes nothing.
 */
export function lbCheckTargets(lb: LoadBalancerSettings, nodes: NodeSettings[]): HealthTarget[] {
    return lbHealthTargets(sortedBackends(nodes.map(n => ({ address: n.address, controlplane: n.roles.includes("controlplane") }))), lb.ports);
}

/** The checker for the stack's nodes: the same targets nginx forwards to (lbNginxConf), probed as their traffic. */
export function lbHealthCheckService(lb: LoadBalancerSettings, nodes: NodeSettings[], hostLabel: string): LbServiceSpec {
    const c = lb.healthChecks ?? DEFAULTS.lbHealthChecks;
    const targets = lbCheckTargets(lb, nodes);
    const checker = lbHealthCheckScript({
        targets,
        intervalSeconds: c.intervalSeconds,
        timeoutSeconds: c.timeoutSeconds,
        fall: c.fall,
        rise: c.rise,
        stateDir: HEALTH_CHECK_STATE_DIR,
        // docker mode: nginx's sockets and connects live in the container's network namespace, so the checker puts
        // its rules and ends connections there too (the host's rule alone is throttled by the ICMP rate limit).
        ...(lb.mode === "docker" ? { nginxContainer: LB_SCRIPT_DEFAULTS.containerName } : {}),
    });
    return lbServiceSpec({
        name: HEALTH_CHECK_SERVICE,
        description: "rancher-ha load balancer health checker (takes sick nodes out of nginx's rotation)",
        hostLabel,
        exec: ["/bin/sh", "{dir}/check.sh"],
        // A restart re-probes from scratch: the EXIT trap puts every node back first (fail open).
        onChange: "restart",
        needs: [
            { command: "curl", apt: "curl", rpm: "curl" },
            { command: "ip", apt: "iproute2", rpm: "iproute" },
            { command: "ss", apt: "iproute2", rpm: "iproute" },
            ...(lb.mode === "docker" ? [{ command: "nsenter", apt: "util-linux", rpm: "util-linux" }] : []),
        ],
    }, [{ name: "check.sh", mode: "755", content: checker }]);
}
