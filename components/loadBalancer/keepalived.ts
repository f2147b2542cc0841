// keepalived (VRRP) for an optional pair (or more) of load balancer hosts holding one virtual IP in front of the
// nodes: keepalived.conf and the nginx check it tracks. Pure: settings in, text out, the same bytes every time.
//
// How the VIP moves, and why these numbers (checked with the real keepalived 2.2.7 and nginx, hosts in network
// namespaces: test/components/loadBalancer/keepalived.netns.test.ts):
// - nginx dies on the master: the check fails `fall` (2) times in a row, 1 s apart, the instance goes to FAULT and
//   keepalived sends a priority 0 advert, on which the backup takes over after its skew time (a fraction of the
//   advert interval): under 3 s from the kill. A tracking *weight* instead of FAULT would lower the master's
//   priority, which a preempting backup ignores until its master-down timer runs out (RFC 5798): 1.6 s more.
// - the master host dies (power, kernel, network): no advert for 3 advert intervals + skew, then the backup takes
//   over. advert_int 0.5 s makes that ~1.6 s; VRRPv3 is the version whose advert interval may be under a second
//   (centiseconds on the wire; keepalived rounds a VRRPv2 interval to whole seconds).
// - the new master sends gratuitous ARPs at once (and again 1 s later), so clients and switches that cached the old
//   master's MAC for the VIP move over at once, not when their ARP entry ages out (30 s and more).
// The VIP is an address on the hosts' own interface, announced by ARP: the LB hosts need a shared L2 segment where
// that works (bare metal, VMware, Proxmox, ...), not a cloud VPC, whose network ignores ARP for addresses it did
// not assign (there the cloud's load balancer, or its API, moves an address).
import { script, shellQuote } from "../shared/shell";
import { MANAGED_MARKER } from "./nginxConf";

export interface KeepalivedOptions {
    /** The virtual IP the LB hosts share (IPv4), added as <vip>/32 on the interface of the host that holds it. */
    virtualIp: string;
    /** This host's IPv4 address: the source of its VRRP adverts (unicast_src_ip) and how its interface is found. */
    selfAddress: string;
    /**
     * The other LB hosts' IPv4 addresses (unicast_peer; at least one). Adverts go to each by unicast, so VRRP works
     * where the network filters multicast (some virtual switches, IGMP snooping without a querier).
     */
    peerAddresses: string[];
    /** VRRP priority, 1 to 254 (255 is "address owner"). The highest healthy host holds the VIP; see lbPriorities. */
    priority: number;
    /** VRRP virtual router id, 1 to 255: the same on every host of the pair, unique among VRRP users on the LAN. */
    virtualRouterId: number;
    /**
     * Interface the VRRP instance and the VIP live on, e.g. "eth0". Default: the placeholder
     * KEEPALIVED_INTERFACE_TOKEN, which the install script replaces with the interface that carries selfAddress
     * (`lb_fill_interface` from keepalivedInterfaceSh), as hosts name their interfaces differently.
     */
    interface?: string;
    /** nginx's listen ports: the check passes when nginx accepts on 127.0.0.1 on every one of them. */
    checkPorts: number[];
    /**
     * Where the install script puts keepalivedCheckScript(). Default /etc/rancher-ha/lb/check-nginx.sh. It must be
     * there, owned by root and writable by root only (the directories above it too), before keepalived starts or
     * reloads: otherwise keepalived disables the check and the VIP no longer follows nginx
     * (`keepalived --config-test` then exits non-zero).
     */
    checkScriptPath?: string;
    /**
     * Seconds between VRRP adverts, 0.01 to 40.95 in steps of 0.01 (VRRPv3). Default 0.5: a dead master is
     * replaced after 3 intervals + skew (~1.6 s). All hosts must use the same value.
     */
    advertIntervalSeconds?: number;
}

export const KEEPALIVED_DEFAULTS = {
    checkScriptPath: "/etc/rancher-ha/lb/check-nginx.sh",
    advertIntervalSeconds: 0.5,
    /** vrrp_script interval and timeout: whole seconds in keepalived 2.2 (1 is the least). */
    checkIntervalSeconds: 1,
    checkTimeoutSeconds: 1,
    /** Failed checks in a row before FAULT: one lost check (a slow fork on a busy host) does not move the VIP. */
    checkFall: 2,
    /** Good checks in a row before a host that was in FAULT may hold the VIP again: a flapping nginx does not pull it back and forth. */
    checkRise: 3,
};

/** Placeholder for the interface name in keepalived.conf when `interface` is not given; see keepalivedInterfaceSh. */
export const KEEPALIVED_INTERFACE_TOKEN = "__RANCHER_HA_LB_INTERFACE__";

/** The names in keepalived.conf (stable: logs and `keepalived` state dumps keep their labels across changes). */
export const KEEPALIVED_NAMES = { instance: "rancher_ha_lb", script: "rancher_ha_nginx" };

/**
 * POSIX sh functions for the install script (they need iproute2's `ip`, awk and sed):
 * - `lb_interface ADDRESS` prints the interface that carries IPv4 ADDRESS (from `ip -o -4 addr show`);
 * - `lb_fill_interface FILE ADDRESS` replaces KEEPALIVED_INTERFACE_TOKEN in FILE with it (in place).
 * Both fail with one line on stderr when no interface carries the address.
 */
export const keepalivedInterfaceSh = `# lb_interface ADDRESS: the interface that carries IPv4 ADDRESS (a VLAN shows as name@parent: the name is kept).
lb_interface() {
  _lb_if=$(ip -o -4 addr show | awk -v a="$1" '{ split($4, p, "/"); if (p[1] == a) { sub(/@.*/, "", $2); print $2; exit } }')
  if [ -z "$_lb_if" ]; then
    echo "rancher-ha: no interface on $(uname -n) carries $1 (ip -o -4 addr show); check the load balancer host's address" >&2
    return 1
  fi
  case "$_lb_if" in
    *[!A-Za-z0-9_.-]*) echo "rancher-ha: interface name '$_lb_if' on $(uname -n) has characters keepalived.conf cannot take" >&2; return 1 ;;
  esac
  printf '%s\\n' "$_lb_if"
}
# lb_fill_interface FILE ADDRESS: FILE with ${KEEPALIVED_INTERFACE_TOKEN} replaced by the interface that carries ADDRESS.
lb_fill_interface() {
  _lb_fill=$(lb_interface "$2") || return 1
  sed "s/${KEEPALIVED_INTERFACE_TOKEN}/$_lb_fill/g" "$1" > "$1.tmp" && mv -f "$1.tmp" "$1"
}`;

/** Priorities for `count` LB hosts in order: the first highest (200, 190, ...), so the first healthy host holds the VIP. */
export function lbPriorities(count: number): number[] {
    if (!Number.isInteger(count) || count < 1 || count > 10) {
        throw new Error(`keepalived: ${count} load balancer hosts; from 1 to 10 are supported`);
    }
    return Array.from({ length: count }, (_, i) => 200 - 10 * i);
}

/** Options for each of `hosts` (IPv4 addresses, in priority order): itself, the others as peers, lbPriorities. */
export function keepalivedOptionsForHosts(hosts: string[],
    shared: Omit<KeepalivedOptions, "selfAddress" | "peerAddresses" | "priority">): KeepalivedOptions[] {
    if (hosts.length < 2) {
        throw new Error(`keepalived: a virtual IP needs at least two load balancer hosts, got ${hosts.length}`);
    }
    const priorities = lbPriorities(hosts.length);
    return hosts.map((h, i) => ({ ...shared, selfAddress: h, peerAddresses: hosts.filter((_, j) => j !== i), priority: priorities[i] }));
}

/** keepalived.conf for one LB host (keepalived 2.x; checked by `keepalived --config-test` in the tests). */
export function keepalivedConf(o: KeepalivedOptions): string {
    const d = checked(o);
    const peers = d.peerAddresses.map(p => `        ${p}`);
    return [
        `${MANAGED_MARKER}: keepalived (VRRP) holding the load balancer's virtual IP ${d.virtualIp}.`,
        "# Edits by hand are overwritten on the next `pulumi up`; change the loadBalancer.* stack settings instead.",
        "global_defs {",
        // The check script runs as root, as keepalived itself does (it must, to add the VIP): keepalived's default
        // user keepalived_script is not created by Debian's package, and without it keepalived falls back to root
        // with a warning. enable_script_security makes root safe: keepalived refuses (disables) a script that a
        // non-root user could rewrite (the file or any directory above it).
        "    script_user root",
        "    enable_script_security",
        // VRRPv3: advert_int in centiseconds (VRRPv2 has whole seconds only). Every host of the pair runs it.
        "    vrrp_version 3",
        // Only adverts from our own unicast peers count: another VRRP speaker on the LAN cannot take the VIP.
        "    vrrp_check_unicast_src",
        // The new master sends 5 gratuitous ARPs at once and 5 more 1 s later (default 5 s), and 1 a minute while it
        // holds the VIP, so neighbours and switches learn its MAC for the VIP at once and keep it.
        "    vrrp_garp_master_delay 1",
        "    vrrp_garp_master_repeat 5",
        "    vrrp_garp_master_refresh 60",
        "    vrrp_garp_master_refresh_repeat 1",
        // After two masters at once (a split that healed): the one that stays master sends its ARPs again, and the
        // one that steps down advertises first, so the last ARP neighbours saw is the right one.
        "    vrrp_garp_lower_prio_repeat 5",
        "    vrrp_higher_prio_send_advert true",
        // With half-second adverts a master that stalls for 1.6 s (a loaded host) loses the VIP. keepalived switches
        // itself to realtime scheduling (SCHED_RR, raised step by step up to this priority, below the kernel's IRQ
        // threads at 50; RLIMIT_RTTIME bounds a runaway) only when it notices it ran late.
        "    max_auto_priority 20",
        "}",
        "",
        `vrrp_script ${KEEPALIVED_NAMES.script} {`,
        `    script "${d.checkScriptPath}"`,
        `    interval ${KEEPALIVED_DEFAULTS.checkIntervalSeconds}`,
        `    timeout ${KEEPALIVED_DEFAULTS.checkTimeoutSeconds}`,
        // Weight 0 (the default): `fall` failures put the instance in FAULT: a master sends priority 0 and the
        // backup takes over within its skew time (see the top of keepalived.ts for why not a weight).
        `    fall ${KEEPALIVED_DEFAULTS.checkFall}`,
        `    rise ${KEEPALIVED_DEFAULTS.checkRise}`,
        "}",
        "",
        `vrrp_instance ${KEEPALIVED_NAMES.instance} {`,
        // BACKUP everywhere: the election (priority) decides, not the start order; a host never claims the VIP
        // before it has heard whether a master exists.
        "    state BACKUP",
        `    interface ${d.interface}`,
        `    virtual_router_id ${d.virtualRouterId}`,
        `    priority ${d.priority}`,
        `    advert_int ${d.advertInt}`,
        // Preempt (keepalived's default, no `nopreempt`): once its nginx passed `rise` checks, the higher priority
        // host takes the VIP back, so where the VIP lives follows from the config (the first LB host) and not from
        // the history of failures. The price: one more move, which cuts the connections open through the VIP
        // (clients reconnect). nopreempt would leave the VIP where the last failure put it.
        `    unicast_src_ip ${d.selfAddress}`,
        // A host that lost its own address must not hold (or fight for) the VIP.
        "    track_src_ip",
        "    unicast_peer {",
        ...peers,
        "    }",
        // /32: only the address; the interface's own address keeps the subnet route, and nginx's connections to
        // the nodes keep leaving from that address, not the VIP.
        "    virtual_ipaddress {",
        `        ${d.virtualIp}/32 dev ${d.interface}`,
        "    }",
        "    track_script {",
        `        ${KEEPALIVED_NAMES.script}`,
        "    }",
        "}",
        "",
    ].join("\n");
}

/**
 * The check keepalived runs every second (POSIX sh): exit 0 when nginx accepts a TCP connection on 127.0.0.1 on
 * every check port within 1 s, else 1 (and a line on stderr naming the port, for a run by hand).
 */
export function keepalivedCheckScript(o: Pick<KeepalivedOptions, "checkPorts">): string {
    const ports = checkedPorts(o.checkPorts);
    return [
        "#!/bin/sh",
        `${MANAGED_MARKER}: keepalived's check of this load balancer host's nginx (vrrp_script ${KEEPALIVED_NAMES.script}).`,
        "# Exit 0 when nginx accepts on every listen port on 127.0.0.1 within 1 s, else 1: after " +
            `${KEEPALIVED_DEFAULTS.checkFall} failures in a row`,
        "# keepalived gives the virtual IP to the other LB host.",
        "# `nc -z -w1` (Debian/Ubuntu: netcat-openbsd; RHEL: nmap-ncat) connects and closes, with a 1 s bound;",
        "# not bash's /dev/tcp (this is sh), not curl's telnet:// (it holds the connection open until --max-time and",
        "# exits 28, up or not).",
        "",
    ].join("\n") + script(
        `PORTS=${shellQuote(ports.join(" "))}`,
        `if ! command -v nc >/dev/null 2>&1; then
  echo "rancher-ha check-nginx: nc is not installed (apt-get install netcat-openbsd / dnf install nmap-ncat)" >&2
  exit 1
fi
# All ports at once: the check takes ~1 s at most whatever their number (keepalived's timeout is 1 s).
pending=''
for port in $PORTS; do
  nc -z -w1 127.0.0.1 "$port" </dev/null >/dev/null 2>&1 &
  pending="$pending $!:$port"
done
rc=0
for job in $pending; do
  if ! wait "\${job%%:*}"; then
    echo "rancher-ha check-nginx: nginx does not accept on 127.0.0.1:\${job#*:}" >&2
    rc=1
  fi
done
exit "$rc"`,
    );
}

// ---- Validation: every value is written into keepalived.conf unquoted, so anything else is refused.

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function checkIpv4(a: unknown, what: string): string {
    if (typeof a !== "string" || !IPV4.test(a)) {
        throw new Error(`keepalived: ${what} ${JSON.stringify(a)} is not an IPv4 address (a.b.c.d); the LB pair takes IPv4 only`);
    }
    if (/^(0|127)\./.test(a) || /^(22[4-9]|2[3-5]\d)\./.test(a)) {
        throw new Error(`keepalived: ${what} ${a} is not a unicast host address (0/8, 127/8, multicast and reserved are refused)`);
    }
    return a;
}

function checkInt(n: unknown, what: string, min: number, max: number): number {
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
        throw new Error(`keepalived: ${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(n)}`);
    }
    return n;
}

function checkedPorts(ports: number[]): number[] {
    if (!Array.isArray(ports) || ports.length === 0) {
        throw new Error("keepalived: checkPorts is empty; give nginx's listen ports (the check needs at least one)");
    }
    ports.forEach(p => checkInt(p, "check port", 1, 65535));
    return [...new Set(ports)].sort((a, b) => a - b);
}

function checked(o: KeepalivedOptions) {
    const virtualIp = checkIpv4(o.virtualIp, "virtualIp");
    const selfAddress = checkIpv4(o.selfAddress, "selfAddress");
    if (!Array.isArray(o.peerAddresses) || o.peerAddresses.length === 0) {
        throw new Error("keepalived: peerAddresses is empty; the VIP needs at least one other load balancer host");
    }
    const peerAddresses = o.peerAddresses.map(p => checkIpv4(p, "peer address"));
    const all = [virtualIp, selfAddress, ...peerAddresses];
    const dup = all.find((a, i) => all.indexOf(a) !== i);
    if (dup !== undefined) {
        throw new Error(`keepalived: ${dup} is given twice; virtualIp, selfAddress and peerAddresses must all be distinct addresses`);
    }
    const priority = checkInt(o.priority, "priority", 1, 254);
    const virtualRouterId = checkInt(o.virtualRouterId, "virtualRouterId", 1, 255);
    if (o.interface !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(o.interface)) {
        throw new Error(`keepalived: interface ${JSON.stringify(o.interface)} is not an interface name (1-15 of A-Z a-z 0-9 _ . -)`);
    }
    const iface = o.interface ?? KEEPALIVED_INTERFACE_TOKEN;
    checkedPorts(o.checkPorts);
    const checkScriptPath = o.checkScriptPath ?? KEEPALIVED_DEFAULTS.checkScriptPath;
    if (!/^\/[A-Za-z0-9_.\/-]+$/.test(checkScriptPath) || checkScriptPath.split("/").includes("..")) {
        throw new Error(`keepalived: checkScriptPath ${JSON.stringify(checkScriptPath)} must be an absolute plain path (A-Z a-z 0-9 _ . / -)`);
    }
    const advert = o.advertIntervalSeconds ?? KEEPALIVED_DEFAULTS.advertIntervalSeconds;
    const centis = Math.round(advert * 100);
    if (typeof advert !== "number" || !Number.isFinite(advert) || Math.abs(advert * 100 - centis) > 1e-6 || centis < 1 || centis > 4095) {
        throw new Error(`keepalived: advertIntervalSeconds must be from 0.01 to 40.95 in steps of 0.01 (VRRPv3), got ${JSON.stringify(advert)}`);
    }
    return {
        virtualIp, selfAddress, peerAddresses, priority, virtualRouterId, interface: iface, checkScriptPath,
        advertInt: (centis / 100).toString(),
    };
}
