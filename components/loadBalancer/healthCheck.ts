// Active health checks for the L4 load balancer: a small daemon on the LB host that probes every node the way the
// traffic uses it and takes a sick node:port out of rotation. Pure: settings in, sh text out.
//
// Open-source nginx `stream` has passive checks only: `max_fails` counts failed connects, so a node that accepts
// and then resets or hangs (a dying ingress or kube-apiserver) keeps getting clients. The checker probes over HTTP
// (ingress /healthz on 80 and 443, kube-apiserver /readyz on 6443, RKE2's supervisor /ping on 9345), and after
// `fall` failures installs a policy routing rule `to <node> ipproto tcp dport <port> prohibit` in the LB host's
// network namespace: nginx's connect() to that node:port then fails at once and proxy_next_upstream sends the
// client to the next node; established sessions to it end instead of hanging. After `rise` successes the rule goes.
//
// Why a routing rule rather than rewriting nginx.conf with `down` and reloading: nothing changes in the config the
// stack renders (no drift, no fight with `pulumi up`'s change detection), and no reload: with the 1 h proxy_timeout a
// reload keeps the old workers alive for up to an hour per reload, which a flapping node would pile up. The rule
// lives in the kernel of the LB host only and affects only connections to that node:port (the LB host is dedicated).
// The last node of an upstream is never taken out: with every node failing, clients still get the best effort.
import type { LbBackend, LbPorts } from "./nginxConf";
import { script, shellQuote } from "../shared/shell";

export type ProbeKind = "http" | "https" | "apiserver" | "supervisor";

/** One node:port as the checker sees it. */
export interface HealthTarget {
    /** The nginx upstream it belongs to (the never-the-last rule counts per upstream). */
    upstream: string;
    address: string;
    port: number;
    probe: ProbeKind;
}

/** Every node:port the LB forwards to, with the probe its traffic calls for. */
export function lbHealthTargets(backends: LbBackend[], ports: LbPorts): HealthTarget[] {
    const out: HealthTarget[] = [];
    for (const b of backends) {
        out.push({ upstream: "http", address: b.address, port: ports.http, probe: "http" });
        out.push({ upstream: "https", address: b.address, port: ports.https, probe: "https" });
        if (b.controlplane) {
            out.push({ upstream: "kubeApi", address: b.address, port: ports.kubeApi, probe: "apiserver" });
            if (ports.supervisor !== undefined) {
                out.push({ upstream: "supervisor", address: b.address, port: ports.supervisor, probe: "supervisor" });
            }
        }
    }
    return out;
}

export interface HealthCheckOptions {
    targets: HealthTarget[];
    /** Seconds between rounds. Default 1. */
    intervalSeconds?: number;
    /** Seconds one probe may take. Default 1. */
    timeoutSeconds?: number;
    /** Consecutive failures before a node:port is taken out. Default 3. */
    fall?: number;
    /** Consecutive successes before it is put back. Default 2. */
    rise?: number;
    /** Where the checker keeps its counters and states. Default /var/lib/rancher-ha/lb-check. */
    stateDir?: string;
    /** First ip rule priority; target i uses base + i. Default 20000. */
    rulePriorityBase?: number;
    /** Stop after this many rounds (tests). Default: run until stopped. */
    maxRounds?: number;
}

/** Source ports of the checker's probes: below the kernel's ephemeral range, so nginx's own connections never use them. */
const PROBE_PORTS = "1200-1999";

export const HEALTH_CHECK_DEFAULTS = { intervalSeconds: 1, timeoutSeconds: 1, fall: 3, rise: 2, stateDir: "/var/lib/rancher-ha/lb-check", rulePriorityBase: 20000 };

/** The checker daemon (POSIX sh; needs curl and iproute2, and CAP_NET_ADMIN for its rules). */
export function lbHealthCheckScript(o: HealthCheckOptions): string {
    const d = { ...HEALTH_CHECK_DEFAULTS, ...o };
    for (const [k, v] of Object.entries({ intervalSeconds: d.intervalSeconds, timeoutSeconds: d.timeoutSeconds, fall: d.fall, rise: d.rise })) {
        if (!Number.isInteger(v) || v < 1 || v > 60) {
            throw new Error(`lbHealthCheckScript: ${k} must be a whole number from 1 to 60, got ${v}`);
        }
    }
    if (!Number.isInteger(d.rulePriorityBase) || d.rulePriorityBase < 1000 || d.rulePriorityBase + o.targets.length > 32000) {
        throw new Error(`lbHealthCheckScript: rulePriorityBase ${d.rulePriorityBase} leaves no room for ${o.targets.length} rules below 32000`);
    }
    const targets = o.targets.map((t, i) => {
        if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(t.address) || !/^[A-Za-z]+$/.test(t.upstream)) {
            throw new Error(`lbHealthCheckScript: ${t.upstream} ${t.address}: the checker takes IPv4 node addresses`);
        }
        return `${d.rulePriorityBase + i} ${t.upstream} ${t.address} ${t.port} ${t.probe}`;
    }).join("\n");
    return script(
        `STATE=${shellQuote(d.stateDir)}
FALL=${d.fall}
RISE=${d.rise}
TIMEOUT=${d.timeoutSeconds}
MAX_ROUNDS=${d.maxRounds ?? 0}
# priority upstream address port probe, one node:port a line
TARGETS=${shellQuote(targets)}
# The checker's own probes leave from these ports and skip the rules (a rule-level exception), so a node taken out
# is still probed and put back once healthy.
PROBE_PORTS=${PROBE_PORTS}
BYPASS=${d.rulePriorityBase - 1}
mkdir -p "$STATE"
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) rancher-ha-lb-check: $*"; }
command -v curl >/dev/null 2>&1 || { log "curl is not installed; install it (apt-get install curl / dnf install curl)"; exit 1; }
ip rule show >/dev/null 2>&1 || { log "ip (iproute2) cannot read the routing rules; the checker needs iproute2 and CAP_NET_ADMIN"; exit 1; }
# probe ADDRESS PORT KIND: 0 when the node answers as its traffic needs it to.
probe() {
  case "$3" in
    http) code=$(curl -s --local-port "$PROBE_PORTS" -o /dev/null -w '%{http_code}' --max-time "$TIMEOUT" "http://$1:$2/healthz" 2>/dev/null) ;;
    https) code=$(curl -sk --local-port "$PROBE_PORTS" -o /dev/null -w '%{http_code}' --max-time "$TIMEOUT" "https://$1:$2/healthz" 2>/dev/null) ;;
    supervisor) code=$(curl -sk --local-port "$PROBE_PORTS" -o /dev/null -w '%{http_code}' --max-time "$TIMEOUT" "https://$1:$2/ping" 2>/dev/null) ;;
    apiserver)
      code=$(curl -sk --local-port "$PROBE_PORTS" -o /dev/null -w '%{http_code}' --max-time "$TIMEOUT" "https://$1:$2/readyz" 2>/dev/null)
      # 200 ready; 401/403: it answers, but anonymous access is off, so readiness cannot be read; 5xx: not ready.
      case "$code" in 200|401|403) return 0 ;; *) return 1 ;; esac ;;
    *) return 1 ;;
  esac
  # Any HTTP answer (a 404 from the default backend included) means the node's ingress works.
  case "$code" in ''|000) return 1 ;; *) return 0 ;; esac
}
is_down() { ip rule show priority "$1" 2>/dev/null | grep -q prohibit; }
take_out() { is_down "$1" || ip rule add priority "$1" to "$2/32" ipproto tcp dport "$3" prohibit; }
put_back() { while is_down "$1"; do ip rule del priority "$1" || break; done; }
# Nodes of an upstream still in rotation, other than priority $2.
others_up() {
  echo "$TARGETS" | while read -r p u a port k; do
    [ "$u" = "$1" ] && [ "$p" != "$2" ] && ! is_down "$p" && echo "$p"
  done | grep -c . || true
}
# Start clean: rules of an earlier run are recomputed from fresh probes. On exit every node goes back (fail open).
clear_rules() { echo "$TARGETS" | while read -r p u a port k; do put_back "$p"; done; while ip rule del priority "$BYPASS" 2>/dev/null; do :; done; }
clear_rules
trap 'clear_rules; log "stopped: every node back in rotation"' EXIT
trap 'exit 0' TERM INT
ip rule add priority "$BYPASS" ipproto tcp sport "$PROBE_PORTS" lookup main
echo "$TARGETS" | while read -r p u a port k; do echo 0 > "$STATE/$p.fails"; echo 0 > "$STATE/$p.oks"; echo up > "$STATE/$p.state"; done
log "checking $(echo "$TARGETS" | grep -c .) node ports every ${d.intervalSeconds}s (fall $FALL, rise $RISE, timeout \${TIMEOUT}s)"
round=0
while :; do
  round=$((round + 1))
  # All probes at once (a round lasts one probe timeout at most), then the decisions one by one.
  # (the loop runs in the pipeline's subshell: it waits for its own probes)
  echo "$TARGETS" | {
    while read -r p u a port k; do
      { if probe "$a" "$port" "$k"; then echo ok; else echo fail; fi; } > "$STATE/$p.result" &
    done
    wait
  }
  echo "$TARGETS" | while read -r p u a port k; do
    fails=$(cat "$STATE/$p.fails"); oks=$(cat "$STATE/$p.oks")
    if [ "$(cat "$STATE/$p.result" 2>/dev/null)" = ok ]; then fails=0; oks=$((oks + 1)); else oks=0; fails=$((fails + 1)); fi
    echo "$fails" > "$STATE/$p.fails"; echo "$oks" > "$STATE/$p.oks"
    if [ "$fails" -ge "$FALL" ] && ! is_down "$p"; then
      if [ "$(others_up "$u" "$p")" -ge 1 ]; then
        take_out "$p" "$a" "$port" && echo down > "$STATE/$p.state" && log "down: $u $a:$port after $fails failed $k probes"
      elif [ "$(cat "$STATE/$p.state")" != kept ]; then
        echo kept > "$STATE/$p.state"
        log "failing: $u $a:$port ($k probe), kept in rotation: it is the last node of $u still in"
      fi
    elif [ "$oks" -ge "$RISE" ] && [ "$(cat "$STATE/$p.state")" != up ]; then
      put_back "$p"; echo up > "$STATE/$p.state"; log "up: $u $a:$port after $oks good $k probes"
    fi
  done
  [ "$MAX_ROUNDS" -gt 0 ] && [ "$round" -ge "$MAX_ROUNDS" ] && break
  sleep ${d.intervalSeconds}
done`,
    );
}
