#!/usr/bin/env bash
# e2e.serve_boot_limits: what bounds the server's own work (spec/serve.md, "Limits"), and
# isolation through serve. instance_state (fixtures/instance_state: memory, heap, an overlay file,
# a host file's offset) answers exactly the same to every request in cold, warm and fork boot.
# Then its host file is replaced by a FIFO: making a fork template reconnects the file, and
# that open blocks until a writer comes, which none does. --boot-timeout bounds it: the other
# function (hello) is still answered, the fork request gets 504 naming --boot-timeout, and once
# the file is back a later fork request makes the template and answers 200.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_server.sh"
e2e_require_fixture instance_state

# post NAME QUERY: POST /invoke/NAME?QUERY with body "request" (30 s at most); sets CODE, body in
# $T/body.
post() {
  rm -f "$T/body" "$T/hdrs"
  printf 'request\n' | curl -s -m 30 -o "$T/body" -D "$T/hdrs" --data-binary @- \
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
  e2e_check "instance_state boot=$mode: 4 of 4 answers are '$want' (memory, heap, overlay file, host file offset per instance; got $same, last: $CODE $(head -c 200 "$T/body"))" \
    test "$same" = 4
done
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null

# --- a fork template that cannot be made holds no worker past --boot-timeout ---
mkdir -p "$T/stuck"
mkfifo "$T/stuck/bytes"
# (--mount takes every argument after it: the images come first.)
start_server stuck "$T/hello.cfi" "$T/instance_state.cfi" --max-instances 2 --boot-timeout 1 \
  --timeout 5 --ready 0 --mount "$T/stuck:/data:ro"
# Both workers make the templates of both images at start; instance_state's blocks.
post hello ""
e2e_check "hello is answered while instance_state's template cannot be made (got '$CODE' '$(head -c 100 "$T/body")')" \
  test "$CODE" = 200 -a "$(cat "$T/body" 2>/dev/null)" = "hello, request"
post instance_state "boot=fork"
msg=$(head -c 300 "$T/body" 2>/dev/null)
e2e_check "instance_state boot=fork: 504 naming --boot-timeout (got '$CODE' '$msg')" \
  test "$CODE" = 504 -a -n "$(grep -e '--boot-timeout' "$T/body" 2>/dev/null)"
e2e_check "... and the server is healthy" test "$(curl -s -m 10 "$URL/healthz")" = ok
rm "$T/stuck/bytes"
cp -p "$T/data/bytes" "$T/stuck/bytes"
post instance_state "boot=fork"
e2e_check "once the file is back, a later fork request makes the template and answers (got '$CODE' '$(head -c 200 "$T/body")')" \
  test "$CODE" = 200 -a "$(cat "$T/body" 2>/dev/null)" = "$want"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null


e2e_finish
