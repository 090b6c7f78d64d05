#!/usr/bin/env bash
# e2e.serve_soak: 10,000 invocations in a row leave `catload serve` flat (issue 8). After a
# warm-up (templates made, pools full, caches and allocator arenas at their working size) the
# server's fd count, thread count and RSS are recorded; then SOAK_N (default 10,000) invocations
# mixing fork, warm and cold boots of hello and counter_fn, every answer checked (status 200, the
# exact body); then the three again. Fds and threads must be equal; RSS may grow by allocator
# noise only (SOAK_RSS_SLACK_KIB, below). One curl process sends every request of a phase over
# one keep-alive connection (a config file of URLs, `curl -K`), so the run measures the server,
# not process starts.
#
# On an ASan build RSS is not judged (ASan's quarantine keeps freed memory on purpose; LeakSanitizer
# judges leaks there, e2e.invoke_loop), the warm-up is 500 and the count 2,000, so that the test
# stays well under ~150 s there (an estimate: ~40 s for 13,000 on a normal build, ASan not
# measured yet); fds and threads are judged as always.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_server.sh"
e2e_require_fixture counter_fn

# (ldd's list is read whole first: `ldd | grep -q` under pipefail can fail when grep exits early.)
serve_libs=$(ldd "$SERVE_BIN" 2>/dev/null || true)
asan=0
[[ $serve_libs == *libasan* ]] && asan=1
if [[ $asan == 1 ]]; then
  N=${SOAK_N:-2000}
  echo "note: ASan build: $N invocations (10,000 on a normal build), RSS not judged"
else
  N=${SOAK_N:-10000}
fi
# The warm-up is long because the server's RSS settles slowly: measured (normal build, 2-CPU VM,
# this mix) +4.3 MiB over the first 3,000 invocations after 500, then ~+600 KiB over the next
# 13,000, and +20-30 KiB per 3,000 cold boots after 30,000 (fork and warm alone: 0). It decays,
# so it is no per-invocation leak; its cause (most likely the heap settling) is not pinned down.
# The bound, 2 MiB over the 10,000, is ~3x that drift; a leak of ~200 bytes or more per
# invocation exceeds it, let alone an fd, a page (4 KiB: 40 MiB) or a state copy (hello's arena:
# 5 KiB). (ASan: RSS not judged, so a short warm-up.)
[[ $asan == 1 ]] && WARMUP=${SOAK_WARMUP:-500} || WARMUP=${SOAK_WARMUP:-3000}
RSS_SLACK_KIB=${SOAK_RSS_SLACK_KIB:-2048}

"$CATIMG" build -q -o "$T/hello.cfi" -- "$FIXTURES/hello" </dev/null >"$T/build.err" 2>&1 ||
  { e2e_show "build" "$T/build.err" 20; e2e_setup_fail "catimg build hello failed"; }
"$CATIMG" build -q -o "$T/counter_fn.cfi" -- "$FIXTURES/counter_fn" </dev/null >"$T/build.err" 2>&1 ||
  { e2e_show "build" "$T/build.err" 20; e2e_setup_fail "catimg build counter_fn failed"; }
printf 'soak' >"$T/request"
# What every answer must be, byte for byte: what `catload run` prints, then curl's status line.
for fn in hello counter_fn; do
  "$CATLOAD" run "$T/$fn.cfi" <"$T/request" >"$T/$fn.want" 2>/dev/null
  [[ -s $T/$fn.want ]] || e2e_setup_fail "catload run $fn.cfi printed nothing"
  printf '|200\n' >>"$T/$fn.want"
done

start_server soak --max-instances 2 "$T/hello.cfi" "$T/counter_fn.cfi"

# The mix of one phase of COUNT requests, in a fixed order: of every 20, 9 fork, 9 warm, 2 cold
# (cold boots open and verify the image each time: slower), alternating the two functions.
# Writes the curl config to $T/NAME.cfg and the expected answer lines to $T/NAME.want.
make_phase() {
  local name=$1 count=$2 i mode fn
  local modes=(fork warm fork warm cold fork warm fork warm fork warm fork warm fork cold warm fork warm fork warm)
  {
    echo 'silent'
    echo 'show-error'
    echo "data-binary = \"@$T/request\""
    echo 'write-out = "|%{http_code}\n"'
    for ((i = 0; i < count; i++)); do
      mode=${modes[i % 20]}
      ((i % 2)) && fn=counter_fn || fn=hello
      echo "url = \"$URL/invoke/$fn?boot=$mode\""
    done
  } >"$T/$name.cfg"
  awk -v n="$count" 'FNR == 1 { f++ } { w[f] = w[f] $0 "\n" }
    END { for (i = 0; i < n; i++) printf "%s", w[i % 2 ? 2 : 1] }' \
    "$T/hello.want" "$T/counter_fn.want" >"$T/$name.want"
}

# run_phase NAME COUNT: sends the phase over one connection and compares every answer; sets
# PHASE_OK (1: all COUNT answered 200 with the expected body) and PHASE_S (wall seconds).
run_phase() {
  local name=$1 count=$2 t0 t1
  make_phase "$name" "$count"
  t0=$(date +%s.%N)
  curl -K "$T/$name.cfg" >"$T/$name.got" 2>"$T/$name.err"
  t1=$(date +%s.%N)
  PHASE_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  PHASE_OK=0
  cmp -s "$T/$name.want" "$T/$name.got" && PHASE_OK=1
  if [[ $PHASE_OK != 1 ]]; then
    local got bad
    got=$(grep -c '^|' "$T/$name.got" || true)
    bad=$(grep '^|' "$T/$name.got" | grep -v -c '^|200$' || true)
    echo "  $name: $got answers of $count, $bad not 200; first difference:"
    diff "$T/$name.want" "$T/$name.got" | head -6
    e2e_show "curl stderr" "$T/$name.err" 5
  fi
}

# snapshot: the server's fds, threads and RSS (KiB) into FDS, THREADS, RSS.
snapshot() {
  local status
  FDS=$(ls /proc/"$SERVER_PID"/fd | wc -l)
  status=$(cat /proc/"$SERVER_PID"/status)
  THREADS=$(awk '/^Threads:/ { print $2 }' <<<"$status")
  RSS=$(awk '/^VmRSS:/ { print $2 }' <<<"$status")
}

# The server is quiet between phases once its workers have booted their ready instances and the
# zygote pool is full again: wait for its fd and thread counts to settle (at most 10 s).
settle() {
  local prev="" i
  for i in $(seq 40); do
    sleep 0.25
    snapshot
    [[ "$FDS $THREADS" == "$prev" ]] && return
    prev="$FDS $THREADS"
  done
}

run_phase warmup "$WARMUP"
e2e_check "warm-up: $WARMUP invocations (fork, warm and cold; hello and counter_fn) all 200 with the expected body (${PHASE_S} s)" \
  test "$PHASE_OK" = 1
settle
fds0=$FDS threads0=$THREADS rss0=$RSS

run_phase soak "$N"
e2e_check "$N invocations in a row (9 fork, 9 warm, 2 cold of every 20; one keep-alive connection) all 200 with the expected body (${PHASE_S} s, $(awk -v n="$N" -v s="$PHASE_S" 'BEGIN { if (s > 0) printf "%.0f", n / s }') inv/s)" \
  test "$PHASE_OK" = 1
settle
echo "  server after the warm-up: $fds0 fds, $threads0 threads, RSS $rss0 KiB; after $N more: $FDS fds, $THREADS threads, RSS $RSS KiB ($((RSS - rss0)) KiB)"
e2e_check "... the server's fd count is flat ($fds0 -> $FDS)" test "$FDS" = "$fds0"
e2e_check "... its thread count is flat ($threads0 -> $THREADS)" test "$THREADS" = "$threads0"
if [[ $asan == 1 ]]; then
  echo "note: RSS not judged on an ASan build ($rss0 -> $RSS KiB)"
else
  e2e_check "... its RSS grew by at most $RSS_SLACK_KIB KiB ($rss0 -> $RSS KiB)" \
    test "$RSS" -le $((rss0 + RSS_SLACK_KIB))
fi
e2e_check "... and it is healthy" test "$(curl -s -m 10 "$URL/healthz")" = ok

kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
e2e_finish
