set -eu
unpack_bundle() {
  while IFS=' ' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in ''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '%s' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
umask 077
T=$(mktemp -d "${TMPDIR:-/tmp}/rancher-ha-ssh.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM
unpack_bundle "$T"
# shellcheck disable=SC2016 # the remote script as text: it expands where it runs
REMOTE='set -eu
WORK="$HOME"/rancher-ha
RKE=rke
HOST=rancher@192.0.2.11:22
STACK=minimal
fail() { echo "rancher-ha: $HOST: $*" >&2; exit 1; }
take_lock() {
  command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is not installed on this host; install it (apt-get install util-linux / dnf install util-linux)"
  exec 9>>"$WORK/.rancher-ha.lock"
  if ! flock -n 9; then
    echo "rancher-ha: $HOST: waiting up to 600 s for another run in $WORK: $(cat "$WORK/.rancher-ha.lock.owner" 2>/dev/null || echo unknown)" >&2
    flock -w 600 9 || fail "another rancher-ha run holds $WORK/.rancher-ha.lock: $(cat "$WORK/.rancher-ha.lock.owner" 2>/dev/null || echo unknown); wait for it to finish and run again (the lock goes with its process: ps -p <pid>)"
  fi
  echo "$1, stack $STACK, pid $$, since $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$WORK/.rancher-ha.lock.owner"
}
unpack_bundle() {
  while IFS='\'' '\'' read -r _name _mode _data || [ -n "${_name:-}" ]; do
    case "$_name" in '\'''\''|*/*|.*) echo "rancher-ha: bad file name in stdin bundle" >&2; return 1 ;; esac
    ( umask 077; printf '\''%s'\'' "$_data" | base64 -d > "$1/.$_name.tmp" )
    chmod "$_mode" "$1/.$_name.tmp"
    mv -f "$1/.$_name.tmp" "$1/$_name"
  done
}
umask 077
mkdir -p "$WORK/keys"
chmod 700 "$WORK" "$WORK/keys"
IN=$(mktemp -d "$WORK/.incoming.XXXXXX")
trap '\''rm -rf "$IN"'\'' EXIT
unpack_bundle "$IN"
[ -s "$IN/rancher-cluster.yml" ] || fail "no rancher-cluster.yml on stdin (rancher-ha internal error)"
cd "$WORK"
WANT=v1.8.14
case $(uname -m) in aarch64|arm64) ARCH=arm64 ;; *) ARCH=amd64 ;; esac
INSTALL="install rke $WANT: curl -fsSLo /tmp/rke https://github.com/rancher/rke/releases/download/$WANT/rke_linux-$ARCH && sudo install -m 0755 /tmp/rke /usr/local/bin/rke (or point admin.rkePath at it)"
command -v "$RKE" >/dev/null 2>&1 || fail "rke not found (admin.rkePath: $RKE); $INSTALL"
HAVE=$("$RKE" --version 2>/dev/null | sed -n '\''s/^rke version \([^ ]*\).*/\1/p'\'' | head -n 1)
[ "$HAVE" = "$WANT" ] || fail "$RKE is rke ${HAVE:-of unknown version}, but versions.rke is $WANT; $INSTALL, or set versions.rke to the installed one"
NEW=$(cat "$IN/rancher-cluster.yml" "$IN/rancher-cluster.plan" | sha256sum | cut -d '\'' '\'' -f 1)
JOB="$WORK/.rancher-ha-rke-job"
job_running() { [ -s "$JOB/pid" ] && [ ! -e "$JOB/rc" ] && kill -0 "$(cat "$JOB/pid")" 2>/dev/null; }
# wait_job: streams the job'\''s log to stderr until it has written its exit status (bounded).
wait_job() {
  off=$(wc -c < rke.log 2>/dev/null || echo 0)
  end=$(( $(date +%s) + 5100 ))
  while [ ! -e "$JOB/rc" ]; do
    size=$(wc -c < rke.log 2>/dev/null || echo 0)
    if [ "$size" -gt "$off" ]; then tail -c +$((off + 1)) rke.log | head -c $((size - off)) >&2; off=$size; fi
    if ! kill -0 "$(cat "$JOB/pid" 2>/dev/null || echo 0)" 2>/dev/null && [ ! -e "$JOB/rc" ]; then
      fail "the detached rke up (pid $(cat "$JOB/pid" 2>/dev/null)) ended without an exit status (killed?); see $WORK/rke.log and run pulumi up again"
    fi
    [ "$(date +%s)" -lt "$end" ] || fail "rke up is still running after 5100 s (pid $(cat "$JOB/pid")); it goes on in the background: follow $WORK/rke.log, then run pulumi up again to collect its result"
    sleep 2
  done
  size=$(wc -c < rke.log 2>/dev/null || echo 0)
  [ "$size" -le "$off" ] || tail -c +$((off + 1)) rke.log >&2
}
# A run of this same config still going (the SSH session of an earlier pulumi up was lost): reattach.
if job_running && [ "$(cat "$JOB/hash" 2>/dev/null)" = "$NEW" ]; then
  echo "rancher-ha: $HOST: an rke up of this same config started earlier is still running (pid $(cat "$JOB/pid")); waiting for it" >&2
  wait_job
fi
take_lock "rke up"
KEEP=" "
for f in "$IN"/key-*; do
  [ -e "$f" ] || continue
  id=${f##*/key-}
  KEEP="$KEEP$id "
  cmp -s "$f" "keys/$id" 2>/dev/null || mv -f "$f" "keys/$id"
  chmod 600 "keys/$id"
done
for f in keys/*; do
  [ -e "$f" ] || continue
  case "$KEEP" in *" ${f##*/} "*) ;; *) rm -f "$f" ;; esac
done
cmp -s "$IN/rancher-cluster.yml" rancher-cluster.yml 2>/dev/null || mv -f "$IN/rancher-cluster.yml" rancher-cluster.yml
chmod 600 rancher-cluster.yml
# The state file holds the cluster'\''s CA and certificates: restore it from the stack, never overwrite it.
sum() { sha256sum < "$1" | cut -d '\'' '\'' -f 1; }
if [ -s "$IN/restore.rkestate" ]; then
  GIVEN=$(sum "$IN/restore.rkestate")
  if [ ! -s rancher-cluster.rkestate ]; then
    mv -f "$IN/restore.rkestate" rancher-cluster.rkestate
    chmod 600 rancher-cluster.rkestate
    echo "$GIVEN" > .rancher-ha-seen-state
    echo "rancher-ha: $HOST: rancher-cluster.rkestate was missing; restored it from the Pulumi stack" >&2
  elif [ "$(sum rancher-cluster.rkestate)" != "$GIVEN" ] && [ "$(cat .rancher-ha-reported-state 2>/dev/null)" != "$GIVEN" ] && [ "$(cat .rancher-ha-seen-state 2>/dev/null)" != "$GIVEN" ]; then
    # The stack'\''s state is one this host never reported nor took in: it comes from another admin host (admin.host
    # moved away and back), so the copy here is older. Keep both and let the operator choose.
    cp "$IN/restore.rkestate" rancher-cluster.rkestate.from-stack
    chmod 600 rancher-cluster.rkestate.from-stack
    fail "the state file here ($WORK/rancher-cluster.rkestate) differs from the newer one in the Pulumi stack, which another admin host wrote (admin.host moved away and back?). Both are kept; rke did not run. If the stack'\''s is right (the usual case): mv $WORK/rancher-cluster.rkestate.from-stack $WORK/rancher-cluster.rkestate. If this host'\''s is right (an npm run ops command changed it here since): rm $WORK/rancher-cluster.rkestate.from-stack, and set admin.stateSync once the config is back as it was. Then run pulumi up again"
  else
    echo "$GIVEN" > .rancher-ha-seen-state
  fi
elif [ ! -s rancher-cluster.rkestate ] && [ -e "$IN/cluster-exists" ]; then
  fail "the cluster exists (Pulumi ran rke up before) but neither $WORK/rancher-cluster.rkestate nor the stack has its state file; rke up without it would create new certificates and break the cluster. Put the state file back (from a backup, or: pulumi stack output --show-secrets rkeState > rancher-cluster.rkestate) in $WORK and run pulumi up again"
fi
rm -f rancher-cluster.rkestate.from-stack
# Only worker-only nodes added or removed (same base fingerprint, no kept worker changed): rke up --update-only.
only_workers_changed() {
  awk '\''FNR == NR { if ($1 == "base") ob = $2; else if ($1 == "worker") ow[$2] = $3; next }
       $1 == "base" { nb = $2 }
       $1 == "worker" && ($2 in ow) && ow[$2] != $3 { changed = 1 }
       END { exit !(ob != "" && ob == nb && !changed) }'\'' "$1" "$2"
}
LAST=$(cat .rancher-ha-last-up 2>/dev/null || true)
if [ "$LAST" = "$NEW" ] && [ -s rancher-cluster.rkestate ] && [ -s kube_config_rancher-cluster.yml ]; then
  MODE=unchanged
  echo "rancher-ha: $HOST: rancher-cluster.yml is unchanged since the last successful rke up; not running rke" >&2
else
  MODE=full
  FLAGS=""
  if [ -s .rancher-ha-last-plan ] && [ -s rancher-cluster.rkestate ] && only_workers_changed .rancher-ha-last-plan "$IN/rancher-cluster.plan"; then
    MODE=update-only
    FLAGS="--update-only"
  fi
  # The detached run: retries like users do by hand, records success itself (so a result survives this session).
  rm -rf "$JOB"
  mkdir -m 700 "$JOB"
  cp "$IN/rancher-cluster.plan" "$JOB/plan"
  echo "$NEW" > "$JOB/hash"
  cat > "$JOB/run.sh" <<RANCHER_HA_JOB
echo \$\$ > "$JOB/pid"
n=1
while :; do
  echo "rancher-ha: $HOST: rke up $FLAGS --config rancher-cluster.yml (attempt \$n of 3)"
  if "$RKE" up $FLAGS --config rancher-cluster.yml; then rc=0; else rc=\$?; fi
  [ "\$rc" = 0 ] && break
  [ "\$n" -ge 3 ] && break
  n=\$((n + 1))
  sleep 15
done
if [ "\$rc" = 0 ] && [ -s rancher-cluster.rkestate ] && [ -s kube_config_rancher-cluster.yml ]; then
  cp "$JOB/plan" .rancher-ha-last-plan
  echo "$NEW" > .rancher-ha-last-up
elif [ "\$rc" = 0 ]; then
  echo "rancher-ha: $HOST: rke up succeeded but did not write rancher-cluster.rkestate and kube_config_rancher-cluster.yml in $WORK"
  rc=1
fi
echo "\$n \$rc" > "$JOB/rc.tmp" && mv "$JOB/rc.tmp" "$JOB/rc"
RANCHER_HA_JOB
  : > rke.log
  echo "rke up job, pid pending" > .rancher-ha.lock.owner
  # Its own session (setsid), stdin from /dev/null, output to the log: nothing ties it to this SSH session. It
  # inherits fd 9, so it holds the work dir lock until it ends.
  if command -v setsid >/dev/null 2>&1; then
    setsid sh "$JOB/run.sh" < /dev/null >> rke.log 2>&1 &
  else
    nohup sh "$JOB/run.sh" < /dev/null >> rke.log 2>&1 &
  fi
  echo $! > "$JOB/pid"
  echo "rke up job, stack $STACK, pid $!, since $(date -u +%Y-%m-%dT%H:%M:%SZ)" > .rancher-ha.lock.owner
  wait_job
  read -r TRIES RC < "$JOB/rc"
  if [ "$RC" != 0 ]; then
    echo "rancher-ha: $HOST: rke up failed $TRIES time(s); last lines of $WORK/rke.log:" >&2
    tail -n 25 rke.log | sed '\''s/^/  | /'\'' >&2
    fail "rke up failed (exit $RC) after $TRIES attempt(s); see the rke output above (docs/troubleshooting.md lists the common causes), fix it and run pulumi up again"
  fi
fi
sum rancher-cluster.rkestate > .rancher-ha-reported-state
# Outputs for Pulumi (secret): one framed block, base64, on stdout.
echo '\''-----BEGIN RANCHER-HA RKE OUTPUTS-----'\''
echo "mode $MODE"
printf '\''kubeconfig '\''; base64 < kube_config_rancher-cluster.yml | tr -d '\''\n'\''; echo
printf '\''rkestate '\''; base64 < rancher-cluster.rkestate | tr -d '\''\n'\''; echo
echo '\''-----END RANCHER-HA RKE OUTPUTS-----'\''
'
command -v ssh >/dev/null 2>&1 || { echo "rancher-ha: the OpenSSH client (ssh) is not installed on the machine running Pulumi; install it" >&2; exit 1; }
if ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o "IdentityFile=$T/key-08fd75bb5fa58242" -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$T/known_hosts" -o GlobalKnownHostsFile=/dev/null -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -o ConnectTimeout=15 -o ConnectionAttempts=3 -p 22 rancher@192.0.2.11 "$REMOTE" < "$T/payload"; then
  exit 0
else
  rc=$?
fi
if [ "$rc" = 255 ]; then
  echo "rancher-ha: ssh to rancher@192.0.2.11:22 failed (above): the host is unreachable, refused the key, or presented a host key other than the one pinned in the stack (if it was reinstalled, check it and update the stack: npm run ops -- host-keys)" >&2
fi
exit "$rc"
