// keepalived for a pair of LB hosts, as an LB host service: keepalived.conf and its nginx check (keepalived.ts), run
// by a unit of our own with its own pid files, so a distro keepalived.service and /etc/keepalived are left alone.
import { lbHosts, LoadBalancerSettings } from "../config/types";
import { keepalivedCheckScript, keepalivedConf, keepalivedInterfaceSh, keepalivedOptionsForHosts, KEEPALIVED_INTERFACE_TOKEN } from "./keepalived";
import { LB_SERVICE_DEFAULTS, LbServiceSpec, lbServiceSpec } from "./serviceScripts";

/** keepalived's service name (our own unit: a distro keepalived.service and its config are left alone). */
export const KEEPALIVED_SERVICE = "rancher-ha-lb-keepalived";
const DIR = `${LB_SERVICE_DEFAULTS.baseDir}/${KEEPALIVED_SERVICE}`;
const RUN = LB_SERVICE_DEFAULTS.runDir;

/** Per host index, the keepalived service of a pair; undefined for a single LB. */
export function lbKeepalivedServices(lb: LoadBalancerSettings): ((index: number, hostLabel: string) => LbServiceSpec) | undefined {
    const vip = lb.virtualIp;
    if (!vip) {
        return undefined;
    }
    const ports = [lb.ports.http, lb.ports.https, lb.ports.kubeApi, ...(lb.ports.supervisor === undefined ? [] : [lb.ports.supervisor])];
    const perHost = keepalivedOptionsForHosts(lbHosts(lb).map(h => h.address), {
        virtualIp: vip.address,
        virtualRouterId: vip.routerId,
        ...(vip.interface ? { interface: vip.interface } : {}),
        checkPorts: ports,
        checkScriptPath: `${DIR}/check-nginx.sh`,
    });
    return (index, hostLabel) => {
        const o = perHost[index];
        return lbServiceSpec({
            name: KEEPALIVED_SERVICE,
            description: `rancher-ha load balancer virtual IP ${vip.address} (keepalived, VRRP)`,
            hostLabel,
            exec: ["keepalived", "--dont-fork", "--log-console", "--use-file", "{dir}/keepalived.conf",
                "--pid", `${RUN}/keepalived.pid`, "--vrrp_pid", `${RUN}/keepalived-vrrp.pid`, "--checkers_pid", `${RUN}/keepalived-checkers.pid`],
            // keepalived re-reads its config on SIGHUP and keeps the VIP where it is: a settings change moves nothing.
            onChange: "hup",
            needs: [
                { command: "keepalived", apt: "keepalived", rpm: "keepalived" },
                { command: "nc", apt: "netcat-openbsd", rpm: "nmap-ncat" },
                { command: "ip", apt: "iproute2", rpm: "iproute" },
            ],
            // The interface is the host's (named differently on each); then keepalived's own check of the result,
            // which also refuses a check script it would not run (enable_script_security).
            afterInstall: [
                ...(o.interface === undefined ? [
                    keepalivedInterfaceSh,
                    `LB_IF=$(lb_interface ${o.selfAddress}) || return 1`,
                    `$SUDO sed -i "s/${KEEPALIVED_INTERFACE_TOKEN}/$LB_IF/g" "$DIR/keepalived.conf" || return 1`,
                ] : []),
                `out=$($SUDO keepalived --config-test --use-file "$DIR/keepalived.conf" 2>&1) || { printf '%s\\n' "$out" >&2; echo "keepalived --config-test rejected $DIR/keepalived.conf" >&2; return 1; }`,
            ].filter(Boolean).join("\n"),
        }, [
            { name: "keepalived.conf", mode: "644", content: keepalivedConf(o) },
            { name: "check-nginx.sh", mode: "755", content: keepalivedCheckScript(o) },
        ]);
    };
}

export { KEEPALIVED_INTERFACE_TOKEN };
