set -eu
STATE=/var/lib/rancher-ha/lb-check
FALL=3
RISE=2
TIMEOUT=1
MAX_ROUNDS=0
# priority upstream address port probe, one node:port a line
TARGETS='20000 http 192.0.2.11 80 http
20001 https 192.0.2.11 443 https
20002 kubeApi 192.0.2.11 6443 apiserver'
# The checker's own probes leave from these ports and skip the rules (a rule-level exception), so a node taken out
# is still probed and put back once healthy.
PROBE_PORTS=1200-1999
BYPASS=19999
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
log "checking $(echo "$TARGETS" | grep -c .) node ports every 1s (fall $FALL, rise $RISE, timeout ${TIMEOUT}s)"
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
  sleep 1
done
