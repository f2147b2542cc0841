set -eu
STATE=/var/lib/rancher-ha/lb-check
FALL=3
RISE=2
TIMEOUT=1
INTERVAL=1
MAX_ROUNDS=0
# priority upstream address port probe, one node:port a line
TARGETS='20000 http 192.0.2.31 80 http
20001 https 192.0.2.31 443 https
20002 kubeApi 192.0.2.31 6443 apiserver
20003 supervisor 192.0.2.31 9345 supervisor
20004 http 192.0.2.32 80 http
20005 https 192.0.2.32 443 https
20006 kubeApi 192.0.2.32 6443 apiserver
20007 supervisor 192.0.2.32 9345 supervisor
20008 http 192.0.2.33 80 http
20009 https 192.0.2.33 443 https
20010 kubeApi 192.0.2.33 6443 apiserver
20011 supervisor 192.0.2.33 9345 supervisor'
# The checker's own probes leave from these ports and skip the rules (a rule-level exception), so a node taken out
# is still probed and put back once healthy.
PROBE_PORTS=1200-1999
BYPASS=19999
# 1: a node:port taken out also loses the LB's established connections to it (ss -K), which the rule alone keeps.
END_CONNECTIONS=1
# Docker mode: the container nginx runs in; its network namespace gets the rules and the ss -K too. Empty: nginx runs
# in this namespace.
NGINX_CONTAINER=rancher-ha-lb
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
    done | tr '\n' ' ')
    log "nginx container $NGINX_CONTAINER (pid $f_pid) runs in network namespace $f_now: rules put there for the node ports out: ${f_out:-none}"
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
log "checking $(echo "$TARGETS" | grep -c .) node ports every ${INTERVAL}s (fall $FALL, rise $RISE, timeout ${TIMEOUT}s, end connections $END_CONNECTIONS)"
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
          log "down: $u $a:$port after $fails failed $k probes; $(echo "$did" | tr '\n' ' ')"
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
done
