#!/usr/bin/env bash
# e2e.serve_max_procs: `catload serve --max-procs N` bounds the guest processes of every
# invocation as `catload exec/run --max-procs` does (spec/serve.md): a busybox sh function that
# starts 8 background jobs per request gets all 8 under the default (64) and fails its fork at
# the limit under --max-procs 4 (exit code header 2, its stdout up to there), in every boot mode
# and with --isolation process too; the server's log names the limit.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_server.sh"

BUSYBOX=${BUSYBOX:-/bin/busybox}
if [[ ! -x $BUSYBOX ]] || ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
  e2e_skip "$BUSYBOX is not a static busybox (apt-get install busybox-static)"
fi
R=$T/rootfs
mkdir -p "$R/bin" "$R/dev" "$R/proc" "$R/tmp"
cp "$BUSYBOX" "$R/bin/busybox"
ln -sf busybox "$R/bin/sleep"
# Each request: 8 background sleeps (9 processes with the shell), then a count.
"$CATIMG" build -q --rootfs "$R" --cwd / -o "$T/jobs.cfi" -- "$R/bin/busybox" sh -c \
  'read x; n=0; while [ $n -lt 8 ]; do sleep 5 & n=$((n + 1)); echo "job $n"; done; echo "all $n"' \
  </dev/null >"$T/build.err" 2>&1 ||
  { e2e_show "build" "$T/build.err" 20; e2e_setup_fail "catimg build of the busybox jobs image failed"; }

# ask MODE: one request; sets BODY (the last line of the answer) and CODE (its exit code header).
ask() {
  local headers=$T/headers
  BODY=$(printf 'go\n' | curl -s -D "$headers" --data-binary @- "$URL/invoke/jobs?boot=$1" | tail -1)
  CODE=$(tr -d '\r' <"$headers" | sed -n 's/^X-Catalyzer-Exit-Code: //Ip')
}

stop_server() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null
}

start_server default --rootfs "$R" --ready 0 "$T/jobs.cfi"
for mode in cold fork; do
  ask "$mode"
  e2e_check "default limit, $mode boot: all 8 jobs start (got '$BODY', exit $CODE)" \
    test "$BODY" = "all 8" -a "$CODE" = 0
done
stop_server

for isolation in in-process process; do
  start_server "limit-$isolation" --max-procs 4 --isolation "$isolation" --rootfs "$R" --ready 0 \
    "$T/jobs.cfi"
  for mode in cold warm fork; do
    [[ $isolation == process && $mode != cold ]] && continue # process isolation boots cold
    ask "$mode"
    e2e_check "--max-procs 4, $isolation, $mode boot: the 4th process is refused (got '$BODY', exit $CODE)" \
      test "$BODY" = "job 3" -a "$CODE" = 2
  done
  stop_server
  e2e_check "--max-procs 4, $isolation: the server's log names the limit" \
    grep -q -- "--max-procs" "$T/limit-$isolation.log"
done

e2e_finish
