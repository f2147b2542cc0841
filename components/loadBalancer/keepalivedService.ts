// keepalived for a pair of LB hosts, as an LB host service (filled in from keepalived.ts).
import { LoadBalancerSettings } from "../config/types";
import { LbServiceSpec } from "./serviceScripts";

/** keepalived's service name (our own unit: a distro keepalived.service and its config are left alone). */
export const KEEPALIVED_SERVICE = "rancher-ha-lb-keepalived";

/** Per host index, the keepalived service of a pair; undefined for a single LB. */
export function lbKeepalivedServices(lb: LoadBalancerSettings): ((index: number, hostLabel: string) => LbServiceSpec) | undefined {
    if (!lb.virtualIp) {
        return undefined;
    }
    throw new Error("loadBalancer.virtualIp: keepalived is not wired yet");
}
