// npm run ops -- lb-status: what each LB host is doing now: nginx listening, the health checker's view of every
// node:port (in rotation, taken out, kept as the last one), the routing rules it holds, its recent decisions, and
// with a pair which host holds the virtual IP. Exit 0 all well, 3 something to look at, 1 a host could not be read.
import { lbClientAddress, lbHosts, LoadBalancerSettings, SshTarget } from "../../components/config";
import { HEALTH_CHECK_DEFAULTS, HealthTarget } from "../../components/loadBalancer/healthCheck";
import { HEALTH_CHECK_SERVICE, HEALTH_CHECK_STATE_DIR, lbCheckTargets } from "../../components/loadBalancer/healthCheckService";
import { KEEPALIVED_SERVICE } from "../../components/loadBalancer/keepalivedService";
import { LB_SERVICE_DEFAULTS } from "../../components/loadBalancer/serviceScripts";
import { LB_OWNER_FILE, lbOwnerId } from "../../components/loadBalancer/owner";
import { script, shellQuote } from "../../components/shared/shell";
import { describeTarget } from "../../components/shared/ssh";
import { list, ParsedArgs, str } from "./args";
import { cwdOf, Io, OpsError, stackName } from "./commands";
import { runScript } from "./remote";
import { keyFileFor, loadStack, targetFor } from "./stack";

type Opts = ParsedArgs["options"];

/** The remote half: plain `key value...` lines, read by parseLbStatus. Needs no root for anything but `ip rule`. */
export function lbStatusScript(lb: LoadBalancerSettings, targets: HealthTarget[]): string {
    const ports = [lb.ports.http, lb.ports.https, lb.ports.kubeApi, ...(lb.ports.supervisor === undefined ? [] : [lb.ports.supervisor])];
    const service = (name: string) => `
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && systemctl cat ${name} >/dev/null 2>&1; then
  echo "service ${name} $(systemctl is-active ${name} 2>/dev/null || true)"
  journalctl -u ${name} -n 10 -o cat --no-pager 2>/dev/null | sed 's/^/log ${name} /' || true
elif PID=$(cat ${LB_SERVICE_DEFAULTS.runDir}/${name}.pid 2>/dev/null) && [ -d "/proc/$PID" ] && ! grep -q '^State:.*zombie' "/proc/$PID/status"; then
  echo "service ${name} active"
  tail -n 10 ${LB_SERVICE_DEFAULTS.logDir}/${name}.log 2>/dev/null | sed 's/^/log ${name} /' || true
elif [ -f ${LB_SERVICE_DEFAULTS.runDir}/${name}.pid ]; then
  echo "service ${name} inactive"
  tail -n 10 ${LB_SERVICE_DEFAULTS.logDir}/${name}.log 2>/dev/null | sed 's/^/log ${name} /' || true
else
  echo "service ${name} absent"
fi`;
    return script(
        `if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
STATE=${shellQuote(HEALTH_CHECK_STATE_DIR)}`,
        ...ports.map(p => `if ss -Hltn "sport = :${p}" 2>/dev/null | grep -q .; then echo "listen ${p} yes"; else echo "listen ${p} no"; fi`),
        service(HEALTH_CHECK_SERVICE),
        ...(lb.virtualIp ? [service(KEEPALIVED_SERVICE),
            `if ip -o -4 addr show 2>/dev/null | grep -qF " ${lb.virtualIp.address}/"; then echo "vip held"; else echo "vip not-held"; fi`] : []),
        targets.map((_, i) => {
            const p = HEALTH_CHECK_DEFAULTS.rulePriorityBase + i;
            return `echo "target ${p} $($SUDO cat "$STATE/${p}.state" 2>/dev/null || echo unknown) $($SUDO cat "$STATE/${p}.fails" 2>/dev/null || echo 0)"`;
        }).join("\n"),
        `$SUDO ip rule show 2>/dev/null | sed -n 's/^\\([0-9]*\\):.*prohibit.*/rule \\1/p'`,
        `echo "owner $($SUDO head -n 1 ${LB_OWNER_FILE} 2>/dev/null || true)"`,
    );
}

export interface LbHostStatus {
    label: string;
    listening: Record<number, boolean>;
    services: Record<string, string>;
    logs: Record<string, string[]>;
    vipHeld?: boolean;
    /** Per rule priority: the checker's state (up, down, kept, unknown) and its current failure count. */
    targets: Record<number, { state: string; fails: number }>;
    rules: number[];
    /** The stack the host records it serves (owner.ts), "" when it records none. */
    owner?: string;
}

export function parseLbStatus(label: string, stdout: string): LbHostStatus {
    const s: LbHostStatus = { label, listening: {}, services: {}, logs: {}, targets: {}, rules: [] };
    for (const line of stdout.split("\n")) {
        const [k, a, ...rest] = line.split(" ");
        if (k === "listen") {
            s.listening[Number(a)] = rest[0] === "yes";
        } else if (k === "service") {
            s.services[a] = rest[0] ?? "unknown";
        } else if (k === "log") {
            (s.logs[a] ??= []).push(rest.join(" "));
        } else if (k === "vip") {
            s.vipHeld = a === "held";
        } else if (k === "target") {
            s.targets[Number(a)] = { state: rest[0], fails: Number(rest[1]) || 0 };
        } else if (k === "rule") {
            s.rules.push(Number(a));
        } else if (k === "owner") {
            s.owner = a ?? "";
        }
    }
    return s;
}

/** The report, and whether anything needs a look (exit 3). */
export function formatLbStatus(lb: LoadBalancerSettings, targets: HealthTarget[], hosts: LbHostStatus[], owner?: string): { text: string; attention: boolean } {
    const lines: string[] = [];
    let attention = false;
    const checks = lb.healthChecks?.enabled !== false;
    for (const h of hosts) {
        const closed = Object.entries(h.listening).filter(([, up]) => !up).map(([p]) => p);
        lines.push(`${h.label}`);
        if (owner !== undefined && h.owner !== undefined) {
            // Another stack's host (taken over, or named by mistake): this stack's next pulumi up is refused there.
            const other = h.owner !== "" && h.owner !== owner;
            lines.push(`  serves stack: ${h.owner || "(not recorded yet: the next pulumi up records it)"}${other ? ` — NOT ${owner}` : ""}`);
            attention ||= other;
        }
        lines.push(`  nginx: ${closed.length === 0 ? `listening on ${Object.keys(h.listening).join(", ")}` : `NOT listening on ${closed.join(", ")}`}`);
        attention ||= closed.length > 0;
        if (lb.virtualIp) {
            const k = h.services[KEEPALIVED_SERVICE] ?? "absent";
            lines.push(`  keepalived: ${k}; ${h.vipHeld ? `HOLDS the virtual IP ${lb.virtualIp.address}` : "standby"}`);
            attention ||= k !== "active";
        }
        const c = h.services[HEALTH_CHECK_SERVICE] ?? "absent";
        lines.push(`  health checker: ${checks ? c : `${c} (loadBalancer.healthChecks.enabled is false)`}`);
        attention ||= checks && c !== "active";
        targets.forEach((t, i) => {
            const p = HEALTH_CHECK_DEFAULTS.rulePriorityBase + i;
            const st = h.targets[p] ?? { state: "unknown", fails: 0 };
            const shown = st.state === "down" ? "OUT of rotation" : st.state === "kept" ? "FAILING, kept in rotation (the last node of its upstream)"
                : st.state === "up" ? (st.fails > 0 ? `in rotation (${st.fails} failed probe${st.fails > 1 ? "s" : ""} in a row)` : "in rotation") : "unknown (no checker state)";
            lines.push(`    ${t.upstream.padEnd(10)} ${`${t.address}:${t.port}`.padEnd(21)} ${shown}${h.rules.includes(p) ? ` [ip rule ${p}]` : ""}`);
            attention ||= st.state === "down" || st.state === "kept";
        });
        const stray = h.rules.filter(p => p < HEALTH_CHECK_DEFAULTS.rulePriorityBase || p >= HEALTH_CHECK_DEFAULTS.rulePriorityBase + targets.length);
        if (stray.length > 0) {
            lines.push(`  prohibit rules not of this stack's targets: ${stray.join(", ")} (an older node list? restart ${HEALTH_CHECK_SERVICE})`);
            attention = true;
        }
        const log = h.logs[HEALTH_CHECK_SERVICE] ?? [];
        if (log.length > 0) {
            lines.push("  recent checker log:", ...log.map(l => `    ${l}`));
        }
    }
    if (lb.virtualIp) {
        const holders = hosts.filter(h => h.vipHeld).map(h => h.label);
        if (holders.length !== 1) {
            lines.push(holders.length === 0 ? `NO host holds the virtual IP ${lb.virtualIp.address}: clients cannot reach the LB`
                : `the virtual IP ${lb.virtualIp.address} is on ${holders.length} hosts at once (VRRP split brain: the hosts cannot hear each other)`);
            attention = true;
        }
    }
    return { text: lines.join("\n") + "\n", attention };
}

export async function lbStatus(o: Opts, io: Io): Promise<number> {
    const stack = stackName(o);
    const { file, settings: s } = loadStack(cwdOf(o), stack);
    const identity = str(o, "identity");
    const lb = s.loadBalancer;
    const targets = lbCheckTargets(lb, s.nodes);
    const lbRaw = (typeof file.raw.loadBalancer === "object" && file.raw.loadBalancer !== null ? file.raw.loadBalancer : {}) as Record<string, unknown>;
    const hostsRaw = Array.isArray(lbRaw.hosts) ? lbRaw.hosts as Record<string, unknown>[] : [lbRaw];
    const statuses = await Promise.all(lbHosts(lb).map(async (h: SshTarget, i) => {
        const target = { ...targetFor(s, file.raw, h, identity), keyFile: keyFileFor(file.raw, hostsRaw[i] ?? lbRaw, identity) };
        const label = `lb ${describeTarget(h)}`;
        const r = await runScript(target, lbStatusScript(lb, targets), "", { sshOptions: list(o, "ssh-option"), timeoutMs: 60000, progress: () => undefined });
        if (r.code !== 0) {
            throw new OpsError(`${label}: the status script failed (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`);
        }
        return parseLbStatus(label, r.stdout);
    }));
    const { text, attention } = formatLbStatus(lb, targets, statuses, lbOwnerId(file.project, stack));
    io.out(`load balancer of stack ${stack}: clients use ${lbClientAddress(lb)}\n${text}`);
    return attention ? 3 : 0;
}
