#!/usr/bin/env bash
# e2e.serve_boot_limits: what bounds the server's own work (spec/serve.md, "Limits"), and
# isolation through serve. instance_state (fixtures/instance_state: memory, heap, an overlay file,
# a host file's offset) answers exactly the same to every request in cold, warm and fork boot.
# Then its host file is replaced by a FIFO: every boot mode reconnects it, and none blocks on it:
# fork, warm and cold requests are answered at once (the guest's read fails with EIO), the other
# function (hello) still is, and once the file is back every mode answers as before.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_server.sh"
e2e_require_fixture instance_state

# post NAME QUERY: POST /invoke/NAME?QUERY with body "request" (30 s at most); sets CODE, body in
# $T/body.
post() {
  rm -f "$T/body" "$T/hdrs"
  printf 'request\n' | curl -s -m 20 -o "$T/body" -D "$T/hdrs" --data-binary @- \
    "$URL/invoke/$1?$2" >/dev/null
  CODE=$(awk 'NR == 1 { print $2 }' "$T/hdrs" 2>/dev/null)
}

mkdir -p "$T/data"
# hello with the same mount (unused), so that one server can bind it for both.
"$CATIMG" build -q --mount "$T/data:/data:ro" -o "$T/hello.cfi" -- "$FIXTURES/hello" </dev/null \
  >"$T/build.err" 2>&1 ||
  { e2e_show "build" "$T/build.err" 20; e2e_setup_fail "catimg build hello failed"; }
printf 'abcdEFGHijklmnop' >"$T/data/bytes"
"$CATIMG" build -q --mount "$T/data:/data:ro" -o "$T/instance_state.cfi" -- \
  "$FIXTURES/instance_state" /data/bytes </dev/null >"$T/build.err" 2>&1 ||
  { e2e_show "build" "$T/build.err" 20; e2e_setup_fail "catimg build instance_state failed"; }
want="counter 1, heap init, log 2 lines, host bytes 4..8 'EFGH'"

# --- isolation through serve: every instance starts from the snapshot ---
start_server iso "$T/instance_state.cfi" --max-instances 2 --mount "$T/data:/data:ro"
for mode in cold warm fork; do
  same=0
  for i in 1 2 3 4; do
    post instance_state "boot=$mode"
    [[ $CODE == 200 && $(cat "$T/body") == "$want" ]] && same=$((same + 1))
  done
  e2e_check "instance_state boot=$mode: 4 of 4 answers are '$want' (memory, heap, overlay file, host file offset per instance; got $same, last: $CODE $(head -c 200 "$T/body" 2>/dev/null))" \
    test "$same" = 4
done
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null

# --- a host file replaced by a FIFO blocks no worker, in any boot mode ---
# The image had /data/bytes open at capture; now a FIFO stands there, with no writer. Every boot
# mode reconnects it (fork: when the template is made; cold and warm: on the guest's first read)
# and a blocking open of it would wait for a writer forever: past --timeout (the watchdog stops
# the shell, not catload's open) and past --boot-timeout for a template. Every host open of the
# sandbox kernel is non-blocking and refuses a FIFO (loader/kernel/host_open.h): the guest's read
# fails with EIO, so instance_state exits 1 at once, answered 200 with exit code 1 and an empty
# body, and the server's log names the FIFO.
mkdir -p "$T/stuck"
mkfifo "$T/stuck/bytes"
# (--mount takes every argument after it: the images come first.)
start_server stuck "$T/hello.cfi" "$T/instance_state.cfi" --max-instances 2 --boot-timeout 2 \
  --timeout 5 --ready 0 --mount "$T/stuck:/data:ro"
post hello ""
e2e_check "hello is answered while instance_state's host file is a FIFO (got '$CODE' '$(head -c 100 "$T/body" 2>/dev/null)')" \
  test "$CODE" = 200 -a "$(cat "$T/body" 2>/dev/null)" = "hello, request"
for mode in fork warm cold; do
  post instance_state "boot=$mode"
  exit_code=$(awk 'tolower($1) == "x-catalyzer-exit-code:" { print $2 }' "$T/hdrs" 2>/dev/null | tr -d '\r')
  e2e_check "instance_state boot=$mode with a FIFO for its host file: answered at once, 200 with the guest's exit code 1 (its read failed with EIO) (got '$CODE' exit '$exit_code' '$(head -c 200 "$T/body" 2>/dev/null)')" \
    test "$CODE" = 200 -a "$exit_code" = 1
done
log=$(cat "$T/stuck.log")
e2e_check "... and the server's log names the FIFO the reconnection refused" \
  test -n "$(grep -e 'reconnect /data/bytes: .*FIFO' <<<"$log")"
post hello ""
e2e_check "... hello is still answered (got '$CODE')" test "$CODE" = 200
e2e_check "... and the server is healthy" test "$(curl -s -m 10 "$URL/healthz")" = ok
rm "$T/stuck/bytes"
cp -p "$T/data/bytes" "$T/stuck/bytes"
for mode in fork warm cold; do
  post instance_state "boot=$mode"
  e2e_check "once the file is back, instance_state boot=$mode answers '$want' (got '$CODE' '$(head -c 200 "$T/body" 2>/dev/null)')" \
    test "$CODE" = 200 -a "$(cat "$T/body" 2>/dev/null)" = "$want"
done
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null

e2e_finish
