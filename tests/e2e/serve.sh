#!/usr/bin/env bash
# e2e.serve: `catload serve` and `catload invoke` through the real binaries (spec/serve.md).
# hello answers exactly as `catload run` does; a non-zero exit passes through as 200 with its
# code; the hostile fixture's request mode (fixtures/hostile, "request") gets 504 past
# --timeout, 507 past --memory-limit and --max-output, 502 when it crashes, and the server goes
# on, in fork (the default), warm and cold boot; 413, 400, 404 and 501 for bad requests; the guest's stderr lands in one log line with the
# invocation's id; GET /, /healthz and /metrics; 200 concurrent invocations lose none; a full
# queue gives 503 with Retry-After; fork, warm and cold instances are apart (counter_fn), instances
# booted ahead of the request (--ready) too, each serving one request from the snapshot; an image replaced by rename while requests are queued and
# under load drops nothing (queued requests finish on the image they were accepted with); a
# new image in a served directory is added; SIGHUP rescans; SIGTERM drains and exits 0.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_server.sh"
e2e_require_fixture hostile

# post NAME BODY [QUERY]: POST /invoke/NAME; sets CODE, BODY (file $T/body) and HDRS (file).
post() {
  printf '%s\n' "$2" | curl -s -o "$T/body" -D "$T/hdrs" --data-binary @- \
    "$URL/invoke/$1${3:-}" >/dev/null
  CODE=$(awk 'NR == 1 { print $2 }' "$T/hdrs")
}
header() { grep -i "^$1:" "$T/hdrs" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
# metric NAME_AND_LABELS: the value of one sample of GET /metrics (empty if absent).
metric() { curl -s "$URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
# hold_and_queue FUNCTION OUT1 OUT2: with --max-instances 1, starts a "sleep 1000" invocation and,
# once it runs, a "sleep 10" one, and returns once that one is queued; their bodies go to OUT1
# and OUT2, their curl pids to HELD_PIDS.
hold_and_queue() {
  printf 'sleep 1000\n' | curl -s -o "$2" --data-binary @- "$URL/invoke/$1" &
  HELD_PIDS=($!)
  wait_metric catalyzer_instances_running 1
  printf 'sleep 10\n' | curl -s -o "$3" --data-binary @- "$URL/invoke/$1" &
  HELD_PIDS+=($!)
  wait_metric catalyzer_requests_queued 1
}
# wait_metric SAMPLE VALUE: polls /metrics until SAMPLE has VALUE (10 s at most).
wait_metric() {
  local i
  for i in $(seq 200); do
    [[ $(metric "$1") == "$2" ]] && return 0
    sleep 0.05
  done
  return 1
}

"$CATIMG" build -q -o "$T/hello.cfi" -- "$FIXTURES/hello" </dev/null >"$T/build.err" 2>&1 ||
  { e2e_show "build" "$T/build.err" 20; e2e_setup_fail "catimg build hello failed"; }
"$CATIMG" build -q -o "$T/hostile.cfi" -- "$FIXTURES/hostile" request </dev/null >"$T/build.err" 2>&1 ||
  { e2e_show "build" "$T/build.err" 20; e2e_setup_fail "catimg build hostile request failed"; }

start_server main --timeout 1 --memory-limit 128M --max-output 1M --max-request 64K \
  --max-instances 4 --queue 256 "$T/hello.cfi" "$T/hostile.cfi"
MAIN_PID=$SERVER_PID
MAIN_URL=$URL

# --- hello through serve answers exactly as `catload run` does ---
for input in world "  two words, punctuation!  " ""; do
  printf '%s' "$input" | "$CATLOAD" run "$T/hello.cfi" >"$T/run.out" 2>"$T/run.err"
  run_rc=$?
  printf '%s' "$input" | "$CATLOAD" invoke "$URL" hello >"$T/invoke.out" 2>"$T/invoke.err"
  invoke_rc=$?
  e2e_check "hello '$input': catload invoke prints what catload run prints" cmp -s "$T/run.out" "$T/invoke.out"
  e2e_check "hello '$input': same exit code (run $run_rc, invoke $invoke_rc)" test "$run_rc" = "$invoke_rc"
done
post hello world
e2e_check "hello: 200 with boot mode fork (the default), boot latency and total time headers (got $CODE, mode '$(header X-Catalyzer-Boot-Mode)', boot '$(header X-Catalyzer-Boot-Latency-Us)' us, total '$(header X-Catalyzer-Total-Us)' us)" \
  test "$CODE" = 200 -a "$(header X-Catalyzer-Boot-Mode)" = fork -a -n "$(header X-Catalyzer-Boot-Latency-Us)" \
  -a -n "$(header X-Catalyzer-Total-Us)" -a "$(header X-Catalyzer-Exit-Code)" = 0

# --- a non-zero exit passes through ---
post hostile "exit 3"
e2e_check "exit 3: 200 with X-Catalyzer-Exit-Code 3 (got $CODE, '$(header X-Catalyzer-Exit-Code)')" \
  test "$CODE" = 200 -a "$(header X-Catalyzer-Exit-Code)" = 3
echo "exit 7" | "$CATLOAD" invoke "$URL" hostile >"$T/invoke.out" 2>"$T/invoke.err"
rc=$?
e2e_check "exit 7: catload invoke exits 7 and prints the body (rc $rc, '$(cat "$T/invoke.out")')" \
  test "$rc" = 7 -a "$(cat "$T/invoke.out")" = "exit 7"

# --- limits and faults: distinct statuses, one line naming the limit or fault ---
check_limit() {  # REQUEST WANT_STATUS WANT_OUTCOME WORD_IN_MESSAGE (LIMIT_QUERY: ?boot=...)
  post hostile "$1" "${LIMIT_QUERY:-}"
  local msg
  msg=$(cat "$T/body")
  e2e_check "'$1': HTTP $2, outcome $3, one line naming '$4' (got $CODE $(header X-Catalyzer-Outcome): $msg)" \
    test "$CODE" = "$2" -a "$(header X-Catalyzer-Outcome)" = "$3" -a "$(wc -l <"$T/body")" = 1 \
    -a -n "$(grep -F -- "$4" "$T/body")"
}
check_limit loop 504 timeout "--timeout"
check_limit memory 507 memory_limit "--memory-limit"
check_limit flood 507 output_limit "--max-output"
check_limit segv 502 fault "SIGSEGV"
for LIMIT_QUERY in "?boot=warm" "?boot=cold"; do
  check_limit loop 504 timeout "--timeout"
  check_limit segv 502 fault "SIGSEGV"
done
LIMIT_QUERY=""
echo loop | "$CATLOAD" invoke "$URL" hostile >/dev/null 2>"$T/invoke.err"
rc=$?
e2e_check "loop: catload invoke exits 124 and says why on stderr (rc $rc: $(cat "$T/invoke.err"))" \
  test "$rc" = 124 -a -n "$(grep -F 'HTTP 504' "$T/invoke.err")"
# While one guest spins to its --timeout, other instances are answered meanwhile.
printf 'loop\n' | curl -s -o "$T/spin" -D "$T/spin.hdrs" --data-binary @- "$URL/invoke/hostile" &
spin=$!
wait_metric catalyzer_instances_running 1 || true
meanwhile=0
for i in 1 2 3; do
  post hello "meanwhile $i"
  [[ $CODE == 200 && $(cat "$T/body") == "hello, meanwhile $i" ]] && meanwhile=$((meanwhile + 1))
done
running=$(metric catalyzer_instances_running)
wait "$spin"
e2e_check "3 hello requests answered while a spinning guest still runs (got $meanwhile, instances running then: $running), which then gets its 504 (got $(awk 'NR == 1 { print $2 }' "$T/spin.hdrs"))" \
  test "$meanwhile" = 3 -a "$running" -ge 1 -a "$(awk 'NR == 1 { print $2 }' "$T/spin.hdrs")" = 504
post hello "still here"
e2e_check "after the hostile cases the server still answers hello (got $CODE '$(cat "$T/body")')" \
  test "$CODE" = 200 -a "$(cat "$T/body")" = "hello, still here"

# --- bad requests ---
head -c 100000 /dev/zero | tr '\0' x >"$T/big"
code=$(curl -s -o "$T/body" -w '%{http_code}' --data-binary @"$T/big" "$URL/invoke/hello")
e2e_check "a 100000-byte body over --max-request 64K: 413 naming the limit (got $code: $(cat "$T/body"))" \
  test "$code" = 413 -a -n "$(grep -F -- --max-request "$T/body")"
# Under the limit, a body is the function's stdin whatever its Content-Type: curl's default
# (application/x-www-form-urlencoded) is not parsed as a form (httplib refused one over 8 KiB).
head -c 60000 "$T/big" >"$T/under"
code=$(curl -s -o "$T/body" -w '%{http_code}' --data-binary @"$T/under" "$URL/invoke/hello")
"$FIXTURES/hello" <"$T/under" >"$T/under.native"
e2e_check "a 60000-byte form-urlencoded body under --max-request 64K: 200 with native's answer (got $code, $(wc -c <"$T/body") bytes, $(cmp -s "$T/body" "$T/under.native" && echo same || echo different))" \
  test "$code" = 200 -a "$(cmp -s "$T/body" "$T/under.native" && echo same)" = same
code=$(curl -s -o "$T/body" -w '%{http_code}' -F "f=@$T/under" "$URL/invoke/hello")
e2e_check "a multipart/form-data body: 415 saying how to send the bytes (got $code: $(cat "$T/body"))" \
  test "$code" = 415 -a -n "$(grep -F -- --data-binary "$T/body")"
post nosuch x
e2e_check "unknown function: 404 (got $CODE)" test "$CODE" = 404
post hello x "?boot=bogus"
e2e_check "unknown boot mode: 400 (got $CODE)" test "$CODE" = 400
for mode in fork warm; do
  post hello x "?boot=$mode"
  e2e_check "boot=$mode: 200 hello from a $mode instance (got $CODE, $(header X-Catalyzer-Boot-Mode): $(cat "$T/body"))" \
    test "$CODE" = 200 -a "$(header X-Catalyzer-Boot-Mode)" = "$mode" -a "$(cat "$T/body")" = "hello, x"
done
post hello x
e2e_check "no ?boot: the fastest mode, fork (got $(header X-Catalyzer-Boot-Mode))" \
  test "$(header X-Catalyzer-Boot-Mode)" = fork
post hello x "?boot=cold"
e2e_check "boot=cold: 200 (got $CODE)" test "$CODE" = 200

# --- the guest's stderr: one log line with the invocation's id ---
post hostile "stderr marker-$$-in-the-log"
id=$(header X-Catalyzer-Invocation-Id)
lines=$(grep -c "marker-$$-in-the-log" "$T/main.log")
e2e_check "stderr goes to one log line that carries the invocation id $id (lines: $lines)" \
  test "$lines" = 1 -a -n "$id" -a -n "$(grep "marker-$$-in-the-log" "$T/main.log" | grep -F "invocation $id ")"

# --- GET /, /healthz, /metrics ---
curl -s "$URL/" >"$T/list.json"
e2e_check "GET / lists hello and hostile as JSON" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
names = sorted(f["name"] for f in d["functions"])
sys.exit(0 if names == ["hello", "hostile"] and d["default_boot_mode"] == "fork" else 1)' "$T/list.json"
e2e_check "GET /healthz: ok" test "$(curl -s "$URL/healthz")" = ok
timeouts=$(metric 'catalyzer_invocations_total{function="hostile",mode="fork",outcome="timeout"}')  # the default mode
e2e_check "metrics: three hostile timeouts counted (got '$timeouts')" test "$timeouts" = 3
e2e_check "metrics: boot latency histogram and instances gauge present" \
  test -n "$(metric 'catalyzer_boot_latency_seconds_count{function="hello",mode="cold"}')" \
  -a "$(metric catalyzer_instances_running)" = 0

# --- 200 concurrent invocations against one image lose none, in each in-process mode ---
for mode in fork warm cold; do
  rm -rf "$T/conc" && mkdir -p "$T/conc"
  seq 200 | xargs -P 200 -I{} sh -c 'printf "req-{}\n" | curl -s -o "$1/conc/{}.out" -w "%{http_code}\n" \
    --data-binary @- "$2/invoke/hostile?boot=$3" >"$1/conc/{}.code"' _ "$T" "$URL" "$mode"
  good=0
  for i in $(seq 200); do
    [[ $(cat "$T/conc/$i.code" 2>/dev/null) == 200 && $(cat "$T/conc/$i.out" 2>/dev/null) == "echo: req-$i" ]] &&
      good=$((good + 1))
  done
  e2e_check "200 concurrent $mode invocations: all 200 answered 200 with their own request (got $good)" \
    test "$good" = 200
  # After the first 200 (templates made, pool and caches warm): the server's fds and RSS.
  if [[ $mode == fork ]]; then
    fds_before=$(ls /proc/"$MAIN_PID"/fd | wc -l)
    rss_before=$(awk '/^VmRSS/ { print $2 }' /proc/"$MAIN_PID"/status)
  fi
done
fds_after=$(ls /proc/"$MAIN_PID"/fd | wc -l)
rss_after=$(awk '/^VmRSS/ { print $2 }' /proc/"$MAIN_PID"/status)
zombies=$(ps --ppid "$MAIN_PID" -o stat= | grep -c '^Z' || true)
e2e_check "400 more invocations leave the server's fd count flat ($fds_before -> $fds_after)" \
  test "$fds_after" -le "$fds_before"
# Not on a sanitizer build: ASan's quarantine keeps freed memory (up to 256 MiB) on purpose;
# LeakSanitizer judges leaks there instead (e2e.invoke_loop).
# (ldd's list is read whole first: `ldd | grep -q` under pipefail fails when grep exits before
# ldd has written everything, and then an ASan build was judged as a plain one.)
serve_libs=$(ldd "$SERVE_BIN" 2>/dev/null || true)
if [[ $serve_libs == *libasan* ]]; then
  echo "note: RSS not judged on an ASan build ($rss_before -> $rss_after KiB)"
else
  e2e_check "... and its RSS within 16 MiB ($rss_before -> $rss_after KiB)" \
    test "$rss_after" -le $((rss_before + 16384))
fi
e2e_check "... and at most --max-instances dead shells not yet reaped (got $zombies)" \
  test "$zombies" -le 4

# The zygote pool is refilled in the background once warm and cold boots have used it.
pool=""
for i in $(seq 100); do
  pool=$(metric catalyzer_pool_shells)
  [[ -n $pool && $pool -ge 1 ]] 2>/dev/null && break
  sleep 0.1
done
e2e_check "metrics: catalyzer_pool_shells counts the zygote's ready shells (got '$pool')" \
  test -n "$pool" -a "${pool:-0}" -ge 1

# --- SIGHUP rescans ---
kill -HUP "$MAIN_PID"
for i in $(seq 100); do grep -q "SIGHUP: rescanning" "$T/main.log" && break; sleep 0.05; done
e2e_check "SIGHUP: the server rescans its images and goes on" \
  test -n "$(grep 'SIGHUP: rescanning' "$T/main.log")" -a "$(curl -s "$URL/healthz")" = ok

# --- a full queue: 503 with Retry-After ---
start_server busy --timeout 10 --max-instances 1 --queue 1 "$T/hostile.cfi"
BUSY_PID=$SERVER_PID
hold_and_queue hostile "$T/busy1" "$T/busy2"
post hostile "sleep 10"
e2e_check "one running, one queued: the next gets 503 with Retry-After (got $CODE, Retry-After '$(header Retry-After)')" \
  test "$CODE" = 503 -a -n "$(header Retry-After)"
wait "${HELD_PIDS[@]}"
e2e_check "the running and the queued requests are answered (got '$(cat "$T/busy1")', '$(cat "$T/busy2")')" \
  test "$(cat "$T/busy1")" = "slept 1000" -a "$(cat "$T/busy2")" = "slept 10"
kill -TERM "$BUSY_PID"
wait "$BUSY_PID"

# --- images replaced while serving ---
mkdir -p "$T/fns"
cp "$T/hostile.cfi" "$T/fns/fn.cfi"
start_server replace --timeout 10 --max-instances 1 --queue 64 "$T/fns"
REPL_PID=$SERVER_PID
# A queued request is in flight: it finishes on the image it was accepted with.
hold_and_queue fn "$T/r1" "$T/r2"
cp "$T/hello.cfi" "$T/fns/.fn.tmp" && mv "$T/fns/.fn.tmp" "$T/fns/fn.cfi"
for i in $(seq 100); do grep -q "fn: replaced by" "$T/replace.log" && break; sleep 0.05; done
e2e_check "the rename is picked up (log: $(grep 'fn: replaced' "$T/replace.log"))" \
  test -n "$(grep 'fn: replaced by' "$T/replace.log")"
wait "${HELD_PIDS[@]}"
e2e_check "requests accepted before the rename finish on the old image (got '$(cat "$T/r1")', '$(cat "$T/r2")')" \
  test "$(cat "$T/r1")" = "slept 1000" -a "$(cat "$T/r2")" = "slept 10"
post fn after
e2e_check "a request after the rename gets the new image (got $CODE '$(cat "$T/body")', generation $(header X-Catalyzer-Image-Generation))" \
  test "$CODE" = 200 -a "$(cat "$T/body")" = "hello, after" -a "$(header X-Catalyzer-Image-Generation)" = 2
# Under load: 120 requests, 8 at a time, while the image is swapped back and forth.
mkdir -p "$T/load"
(seq 120 | xargs -P 8 -I{} sh -c 'printf "n{}\n" | curl -s -o "$1/load/{}.out" -w "%{http_code}\n" \
  --data-binary @- "$2/invoke/fn" >"$1/load/{}.code"' _ "$T" "$URL") &
load=$!
for i in 1 2 3 4; do
  sleep 0.2
  src=$([[ $((i % 2)) == 1 ]] && echo hostile || echo hello)
  cp "$T/$src.cfi" "$T/fns/.fn.tmp" && mv "$T/fns/.fn.tmp" "$T/fns/fn.cfi"
done
wait "$load"
good=0
for i in $(seq 120); do
  out=$(cat "$T/load/$i.out" 2>/dev/null)
  [[ $(cat "$T/load/$i.code" 2>/dev/null) == 200 && ($out == "hello, n$i" || $out == "echo: n$i") ]] &&
    good=$((good + 1))
done
e2e_check "120 requests while the image is replaced 4 times: all 120 answered by one image or the other (got $good)" \
  test "$good" = 120
# A new image renamed into a served directory is added.
cp "$T/hello.cfi" "$T/fns/.added.tmp" && mv "$T/fns/.added.tmp" "$T/fns/added.cfi"
for i in $(seq 100); do curl -s "$URL/" | grep -q '"name": "added"' && break; sleep 0.05; done
post added new
e2e_check "an image added to a served directory is served (got $CODE '$(cat "$T/body")')" \
  test "$CODE" = 200 -a "$(cat "$T/body")" = "hello, new"
kill -TERM "$REPL_PID"
wait "$REPL_PID"

# --- instances are apart: counter_fn's overlay file, written by every request, starts from the
# snapshot's "0" in each instance (nothing an instance writes reaches the template or the pool),
# interleaving modes so that fork and warm instances follow one another on the same image ---
if [[ -x $FIXTURES/counter_fn ]]; then
  "$CATIMG" build -q -o "$T/counter.cfi" -- "$FIXTURES/counter_fn" </dev/null >"$T/build.err" 2>&1 ||
    { e2e_show "build" "$T/build.err" 20; e2e_setup_fail "catimg build counter_fn failed"; }
  start_server counter --max-instances 2 "$T/counter.cfi"
  counts=""
  for i in 1 2 3 4; do
    for mode in fork warm cold; do
      post counter "" "?boot=$mode"
      counts+="$mode:$(head -1 "$T/body");"
    done
  done
  e2e_check "every fork, warm and cold instance's first request counts 1 (got $counts)" \
    test -z "$(echo "$counts" | tr ';' '\n' | grep -v ':count 1$' | grep .)"
  # Ready instances (booted ahead of the request, --ready, the default 1): they answer once the
  # workers have made them, and each serves one request from the snapshot state (count 1).
  ahead_counts=""
  for mode in fork warm; do
    n=0
    for i in $(seq 100); do
      post counter "" "?boot=$mode"
      ahead_counts+="$mode:$(header X-Catalyzer-Booted-Ahead):$(head -1 "$T/body");"
      [[ $(header X-Catalyzer-Booted-Ahead) == 1 ]] && n=$((n + 1))
      ((n >= 3)) && break
      sleep 0.02
    done
  done
  e2e_check "fork and warm requests are answered by instances booted ahead (got $ahead_counts)" \
    test "$(echo "$ahead_counts" | tr ';' '\n' | grep -c ':1:')" -ge 6
  e2e_check "every instance booted ahead counts 1: none served two requests (got $ahead_counts)" \
    test -z "$(echo "$ahead_counts" | tr ';' '\n' | grep -v ':count 1$' | grep .)"
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID"
fi

# --- --isolation process: the same answers from `catload run` children, cold boot only ---
start_server inproc --isolation process --timeout 1 --memory-limit 128M --max-output 1M \
  "$T/hello.cfi" "$T/hostile.cfi"
INPROC_PID=$SERVER_PID
printf world | "$CATLOAD" run "$T/hello.cfi" >"$T/run.out" 2>/dev/null
printf world | "$CATLOAD" invoke "$URL" hello >"$T/invoke.out" 2>/dev/null
e2e_check "process: hello answers as catload run" cmp -s "$T/run.out" "$T/invoke.out"
post hostile "exit 5"
e2e_check "process: exit 5 is 200 with its code (got $CODE, '$(header X-Catalyzer-Exit-Code)')" \
  test "$CODE" = 200 -a "$(header X-Catalyzer-Exit-Code)" = 5
check_limit loop 504 timeout "--timeout"
check_limit memory 507 memory_limit "--memory-limit"
check_limit flood 507 output_limit "--max-output"
check_limit segv 502 fault "SIGSEGV"
post hello x "?boot=fork"
e2e_check "process: boot=fork, not available to this invoker: 501 saying so (got $CODE: $(cat "$T/body"))" \
  test "$CODE" = 501 -a -n "$(grep -F 'fork is not available' "$T/body")"
post hostile "stderr inproc-$$-marker"
e2e_check "process: the guest's stderr is in the invocation's log line" \
  test -n "$(grep "invocation $(header X-Catalyzer-Invocation-Id) " "$T/inproc.log" | grep "inproc-$$-marker")"
kill -TERM "$INPROC_PID"
wait "$INPROC_PID"

# --- SIGTERM drains: in-flight requests are answered, then exit 0 ---
URL=$MAIN_URL
for i in 1 2 3; do
  printf 'sleep 800\n' | curl -s -o "$T/drain$i" --data-binary @- "$URL/invoke/hostile" &
done 2>/dev/null
wait_metric catalyzer_instances_running 3 || true
kill -TERM "$MAIN_PID"
sleep 0.2
refused=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/healthz")
wait "$MAIN_PID"
rc=$?
wait
drained=0
for i in 1 2 3; do [[ $(cat "$T/drain$i" 2>/dev/null) == "slept 800" ]] && drained=$((drained + 1)); done
e2e_check "SIGTERM: the 3 requests in flight are answered (got $drained)" test "$drained" = 3
e2e_check "SIGTERM: no new connection is accepted while draining (healthz got '$refused')" test "$refused" = 000
e2e_check "SIGTERM: the server exits 0 (got $rc) and logs the drain" \
  test "$rc" = 0 -a -n "$(grep 'stopped: .* invocations answered' "$T/main.log")"

e2e_finish
