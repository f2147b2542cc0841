// Active health checks for the L4 load balancer: a small daemon on the LB host that probes every node the way the
// traffic uses it and takes a sick node:port out of rotation. Pure: settings in, sh text out.
//
// Open-source nginx `stream` has passive checks only: `max_fails` counts failed connects, so a node that accepts
// and then resets or hangs (a dying ingress or kube-apiserver) keeps getting clients. The checker probes over HTTP
// (ingress /healthz on 80 and 443, kube-apiserver /readyz on 6443, RKE2's supervisor /ping on 9345), and after
// `fall` failures installs a policy routing rule `to <node> ipproto tcp dport <port> prohibit` in the LB host's
// network namespace: nginx's connect() to that node:port then fails at once (EACCES) and proxy_next_upstream sends
// the client to the next node. After `rise` successes the rule goes.
//
// The rule stops new connects only: an ESTABLISHED connection to the node is not ended by it (its packets are
// dropped at the route lookup and TCP retransmits, for up to tcp_retries2, about 15 minutes; an idle one notices
// nothing), so a watch or agent tunnel to a hung node would hang until nginx's proxy_timeout (1 h). So when it takes
// a node:port out the checker also ends the LB's connections to it with `ss -K` (the kernel's SOCK_DESTROY,
// CONFIG_INET_DIAG_DESTROY): nginx sees the upstream connection abort, closes the client's, and the client
// reconnects through the LB to a healthy node. Measured in test/components/loadBalancer/healthCheck.*.netns.test.ts.
//
// Docker mode: nginx runs in a container with a network namespace of its own, its connects routed (forwarded)
// through the host's. A host rule alone is not enough there. A forwarded SYN that meets it is answered with an ICMP
// "administratively prohibited" (EHOSTUNREACH in the container, at once) only within the host's ICMP rate limits:
// the route error and the ICMP send both draw on one token bucket per container address (1/s, burst 6), so after
// about two answers, and as long as the container sends towards a prohibited node:port about once a second (its
// open connections' retransmits do), no more ICMP goes out: connects are dropped silently and nginx waits its
// proxy_connect_timeout (2 s) before moving on. And `ss -K` in the host finds none of nginx's connections. With
// `nginxContainer` set, the checker finds the container's namespace (`docker inspect`, followed across container
// restarts and replacements) and puts the same rules and the `ss -K` there (nsenter): connects fail at once
// (EACCES) and connections end, as in system mode. The host rules stay too (they cover a container's new
// namespace until the next round gives it the rules).
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
    /**
     * Seconds from the start of one round to the start of the next (a round whose probes take longer, e.g. a hung
     * node's probe that runs into its timeout, is followed at once by the next). Default 1.
     */
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
    /**
     * End the LB's established connections to a node:port when it is taken out (`ss -K`, which needs a kernel with
     * CONFIG_INET_DIAG_DESTROY, as Debian's, Ubuntu's and RHEL's have), so long-lived sessions to a sick node close
     * and their clients reconnect to a healthy one instead of hanging until proxy_timeout. Default true.
     */
    endConnections?: boolean;
    /**
     * Docker mode: the name of the container nginx runs in. Its network namespace (found with `docker inspect`, and
     * followed when the container is restarted or replaced) gets the same rules, and nginx's connections are ended
     * there (nsenter). Needs docker and nsenter on the LB host. Default: none (nginx runs in the checker's network
     * namespace: system mode, or a container on the host network).
     */
    nginxContainer?: string;
}

/** Source ports of the checker's probes: below the kernel's ephemeral range, so nginx's own connections never use them. */
const PROBE_PORTS = "1200-1999";

export const HEALTH_CHECK_DEFAULTS = {
    intervalSeconds: 1, timeoutSeconds: 1, fall: 3, rise: 2, stateDir: "/var/lib/rancher-ha/lb-check", rulePriorityBase: 20000, endConnections: true,
};

/**
 * The checker daemon (POSIX sh; needs curl and iproute2's ip and ss, CAP_NET_ADMIN for its rules and `ss -K`; with
 * nginxContainer also docker and nsenter, and root to enter the container's network namespace).
 */
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
    const container = o.nginxContainer ?? "";
    if (container !== "" && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(container)) {
        throw new Error(`lbHealthCheckScript: nginxContainer ${JSON.stringify(container)} is not a docker container name`);
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
INTERVAL=${d.intervalSeconds}
MAX_ROUNDS=${d.maxRounds ?? 0}
# priority upstream address port probe, one node:port a line
TARGETS=${shellQuote(targets)}
# The checker's own probes leave from these ports and skip the rules (a rule-level exception), so a node taken out
# is still probed and put back once healthy.
PROBE_PORTS=${PROBE_PORTS}
BYPASS=${d.rulePriorityBase - 1}
# 1: a node:port taken out also loses the LB's established connections to it (ss -K), which the rule alone keeps.
END_CONNECTIONS=${(o.endConnections ?? HEALTH_CHECK_DEFAULTS.endConnections) ? 1 : 0}
# Docker mode: the container nginx runs in; its network namespace gets the rules and the ss -K too. Empty: nginx runs
# in this namespace.
NGINX_CONTAINER=${shellQuote(container)}
mkdir -p "$STATE"
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) rancher-ha-lb-check: $*"; }
command -v curl >/dev/null 2>&1 || { log "curl is not installed; install it (apt-get install curl / dnf install curl)"; exit 1; }
ip rule show >/dev/null 2>&1 || { log "ip (iproute2) cannot read the routing rules; the checker needs iproute2 and CAP_NET_ADMIN"; exit 1; }
if [ "$END_CONNECTIONS" = 1 ]; then
  ss -Htn >/dev/null 2>&1 || { log "ss (iproute2) is missing or too old to end connections to a node taken out; install iproute2 (apt-get install iproute2 / dnf install iproute)"; exit 1; }
fi
if [ -n "$NGINX_CONTAINER" ]; then
  command -v docker >/dev/null 2>&1 || { log "docker is not installed, yet nginx is to run in the container $NGINX_CONTAINER"; exit 1; }
  command -v nsenter >/dev/null 2>&1 || { log "nsenter is not installed (util-linux); it puts the rules into the network namespace of the container $NGINX_CONTAINER"; exit 1; }
fi
OWN_NETNS=$(readlink "/proc/$$/ns/net" 2>/dev/null || echo unknown)
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
# at WHERE COMMAND...: COMMAND in this network namespace (own) or in nginx's (nginx: docker mode; does nothing when
# nginx runs in this namespace or its container is not running).
at() {
  case "$1" in
    own) shift; "$@" ;;
    nginx) shift; at_pid=$(cat "$STATE/nginx.enter" 2>/dev/null || true); [ -z "$at_pid" ] || nsenter -t "$at_pid" -n "$@" ;;
  esac
}
# is_out WHERE PRIORITY; rule_on WHERE PRIORITY ADDRESS PORT; rule_off WHERE PRIORITY
is_out() { at "$1" ip rule show priority "$2" 2>/dev/null | grep -q prohibit; }
rule_on() { is_out "$1" "$2" || at "$1" ip rule add priority "$2" to "$3/32" ipproto tcp dport "$4" prohibit; }
rule_off() { off_n=0; while is_out "$1" "$2" && [ "$off_n" -lt 10 ]; do at "$1" ip rule del priority "$2" || break; off_n=$((off_n + 1)); done; }
is_down() { is_out own "$1"; }
# kill_conns ADDRESS PORT: ends the TCP connections to ADDRESS:PORT here and in nginx's namespace (ss -K: the
# kernel's SOCK_DESTROY; a rule only stops new connects) and prints how many; count_conns: how many are left.
kill_conns() { { at own ss -K -Htn dst "$1" dport = ":$2"; at nginx ss -K -Htn dst "$1" dport = ":$2"; } 2>/dev/null | grep -c . || true; }
count_conns() { { at own ss -Htn dst "$1" dport = ":$2"; at nginx ss -Htn dst "$1" dport = ":$2"; } 2>/dev/null | grep -c . || true; }
# take_out PRIORITY ADDRESS PORT: the rule here and in nginx's namespace, and the connections; prints what it did.
# The connections go first, while their resets still reach the node (which frees its end of them), and again after
# the rule, for any made meanwhile.
take_out() {
  ended=0
  if [ "$END_CONNECTIONS" = 1 ]; then ended=$(kill_conns "$2" "$3"); fi
  rule_on own "$1" "$2" "$3" || return 1
  if ! rule_on nginx "$1" "$2" "$3"; then echo "not in the namespace of the container $NGINX_CONTAINER (ip rule failed there);"; fi
  if [ "$END_CONNECTIONS" != 1 ]; then echo "established connections left as they are"; return 0; fi
  ended=$((ended + $(kill_conns "$2" "$3"))); left=$(count_conns "$2" "$3")
  if [ "$left" = 0 ]; then
    echo "ended its $ended established connections"
  else
    echo "ended $ended of its established connections; $left could not be ended (ss -K needs a kernel built with CONFIG_INET_DIAG_DESTROY)"
  fi
}
put_back() { rule_off own "$1"; rule_off nginx "$1"; }
# Nodes of an upstream still in rotation, other than priority $2.
others_up() {
  echo "$TARGETS" | while read -r p u a port k; do
    [ "$u" = "$1" ] && [ "$p" != "$2" ] && ! is_down "$p" && echo "$p"
  done | grep -c . || true
}
# nginx_follow: docker mode. The container gets a new network namespace whenever it is restarted or replaced; the
# checker follows it (a cheap check of the known one each round, docker inspect only when it is gone) and gives a
# new one the rules of the node ports that are out, ending any connection made there to them meanwhile.
nginx_follow() {
  [ -n "$NGINX_CONTAINER" ] || return 0
  f_pid=$(cat "$STATE/nginx.pid"); f_was=$(cat "$STATE/nginx.netns")
  if [ -n "$f_pid" ] && [ "$(readlink "/proc/$f_pid/ns/net" 2>/dev/null || true)" = "$f_was" ]; then return 0; fi
  f_pid=$(docker inspect -f '{{.State.Pid}}' "$NGINX_CONTAINER" 2>/dev/null || true)
  case "$f_pid" in ''|0|*[!0-9]*) f_pid=""; f_now=none ;; *) f_now=$(readlink "/proc/$f_pid/ns/net" 2>/dev/null || echo none) ;; esac
  [ "$f_now" != none ] || f_pid=""
  echo "$f_pid" > "$STATE/nginx.pid"; echo "$f_now" > "$STATE/nginx.netns"
  if [ "$f_now" = none ]; then
    echo "" > "$STATE/nginx.enter"
    [ "$f_was" = none ] || log "nginx container $NGINX_CONTAINER is not running: its next network namespace gets the rules when it starts"
  elif [ "$f_now" = "$OWN_NETNS" ]; then
    echo "" > "$STATE/nginx.enter"
    log "nginx container $NGINX_CONTAINER (pid $f_pid) shares this network namespace: the rules here cover it"
  else
    echo "$f_pid" > "$STATE/nginx.enter"
    f_out=$(echo "$TARGETS" | while read -r p u a port k; do
      if [ "$(cat "$STATE/$p.state")" = down ]; then rule_on nginx "$p" "$a" "$port" && echo "$u $a:$port"; at nginx ss -K -Htn dst "$a" dport = ":$port" >/dev/null 2>&1 || true; fi
    done | tr '\\n' ' ')
    log "nginx container $NGINX_CONTAINER (pid $f_pid) runs in network namespace $f_now: rules put there for the node ports out: \${f_out:-none}"
  fi
}
# Start clean: rules of an earlier run are recomputed from fresh probes. On exit every node goes back (fail open).
clear_rules() { echo "$TARGETS" | while read -r p u a port k; do put_back "$p"; done; while ip rule del priority "$BYPASS" 2>/dev/null; do :; done; }
echo "$TARGETS" | while read -r p u a port k; do echo 0 > "$STATE/$p.fails"; echo 0 > "$STATE/$p.oks"; echo up > "$STATE/$p.state"; done
echo "" > "$STATE/nginx.pid"; echo unknown > "$STATE/nginx.netns"; echo "" > "$STATE/nginx.enter"
nginx_follow
clear_rules
tick=""
trap 'clear_rules; [ -z "$tick" ] || kill "$tick" 2>/dev/null || true; log "stopped: every node back in rotation"' EXIT
trap 'exit 0' TERM INT
ip rule add priority "$BYPASS" ipproto tcp sport "$PROBE_PORTS" lookup main
log "checking $(echo "$TARGETS" | grep -c .) node ports every \${INTERVAL}s (fall $FALL, rise $RISE, timeout \${TIMEOUT}s, end connections $END_CONNECTIONS)"
round=0
while :; do
  round=$((round + 1))
  # The next round starts INTERVAL seconds after this one did, or at once if this one takes longer (hung nodes).
  sleep "$INTERVAL" & tick=$!
  # All probes at once (a round lasts one probe timeout at most), then the decisions one by one.
  # (the loop runs in the pipeline's subshell: it waits for its own probes, not for the tick)
  echo "$TARGETS" | {
    while read -r p u a port k; do
      { if probe "$a" "$port" "$k"; then echo ok; else echo fail; fi; } > "$STATE/$p.result" &
    done
    wait
  }
  nginx_follow
  echo "$TARGETS" | while read -r p u a port k; do
    fails=$(cat "$STATE/$p.fails"); oks=$(cat "$STATE/$p.oks")
    if [ "$(cat "$STATE/$p.result" 2>/dev/null)" = ok ]; then fails=0; oks=$((oks + 1)); else oks=0; fails=$((fails + 1)); fi
    echo "$fails" > "$STATE/$p.fails"; echo "$oks" > "$STATE/$p.oks"
    if [ "$fails" -ge "$FALL" ] && ! is_down "$p"; then
      if [ "$(others_up "$u" "$p")" -ge 1 ]; then
        if did=$(take_out "$p" "$a" "$port"); then
          echo down > "$STATE/$p.state"
          log "down: $u $a:$port after $fails failed $k probes; $(echo "$did" | tr '\\n' ' ')"
        else
          log "failing: $u $a:$port ($k probe), could not be taken out: ip rule add failed (CAP_NET_ADMIN?)"
        fi
      elif [ "$(cat "$STATE/$p.state")" != kept ]; then
        echo kept > "$STATE/$p.state"
        log "failing: $u $a:$port ($k probe), kept in rotation: it is the last node of $u still in"
      fi
    elif [ "$oks" -ge "$RISE" ] && [ "$(cat "$STATE/$p.state")" != up ]; then
      put_back "$p"; echo up > "$STATE/$p.state"; log "up: $u $a:$port after $oks good $k probes"
    fi
  done
  [ "$MAX_ROUNDS" -gt 0 ] && [ "$round" -ge "$MAX_ROUNDS" ] && break
  wait "$tick" || true
  tick=""
done`,
    );
}
