#!/usr/bin/env bash
# cow_tax.sh: the copy-on-write tax after a cold boot, and the pre-copy strategies that remove
# it, side by side (spec/boot.md, "The copy-on-write tax").
#
# Each function is built once with `catimg build --sample-request` (the request below), which
# records the pages one request writes. Then, interleaved, R times each:
#   native            the executable started natively with the request on stdin (end to end)
#   native request    an already-initialized native process, blocked reading its request, is
#                     given it: time from the write to its exit (request_timer.cc)
#   run:STRATEGY      `catload run --prefault=STRATEGY --stats=json`, end to end, for
#                     none      no pre-copy: every written page faulted during the run (the tax)
#                     recorded  MADV_POPULATE_WRITE of the recorded working set (the default)
#                     recorded-read  the same, then MADV_POPULATE_READ of every stored segment
#                     writable  MADV_POPULATE_WRITE of every writable segment (= MAP_POPULATE)
#                     thp       writable segments as anonymous THP memory filled from the image
# For each run of catload: boot latency, the prefault stage, the guest's run, the page faults
# the shell took during the run (run_minflt) and the pages the boot made private. Medians with
# min..max over the R runs, ratios against the native request-only time measured in the same
# run, and the issue's target: end-to-end p50 <= 1.25 x native request-only + 1 ms. The rows
# run:S-ahead subtract each run's prefault stage from its end-to-end time: the request path of
# an instance pre-copied ahead of its request (warm/fork pools, off the request path).
#
# Functions: lua (fixtures/lua_fn running tests/bench/cow_tax.lua: a 300k-entry table whose
# request drives the GC through the heap) and, where built, cpython (fixtures/python_fn with its
# handler.py, the stdlib mounted read-only; a note when it is not there).
#
# Environment (ctest sets the first five; by hand they default from this script's location):
#   CATLOAD, CATIMG, FIXTURES, SOURCE_DIR, BUILD_DIR
#   BENCH_REPS         runs per measurement (default 11; 2 with BENCH_QUICK=1)
#   BENCH_COW_STRATEGIES  subset of "none recorded recorded-read writable thp"
#   BENCH_PYTHON_FN    directory with python_fn and handler.py (default: $FIXTURES)
#   BENCH_KEEP=1       keep the scratch directory
# shellcheck source=lib/bench_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench_common.sh"

if [[ $QUICK == 1 ]]; then REPS=${BENCH_REPS:-2}; else REPS=${BENCH_REPS:-11}; fi
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer, got '$REPS'"
STRATEGIES=${BENCH_COW_STRATEGIES:-none recorded recorded-read writable thp}
REQUEST_TIMER=${REQUEST_TIMER:-$BUILD_DIR/tests/bench/request_timer}
BENCH_DIR=$SOURCE_DIR/tests/bench

bench_banner "copy-on-write tax after cold boot: pre-copy strategies side by side"
echo "reps=$REPS; strategies: $STRATEGIES"
echo

[[ -x $REQUEST_TIMER ]] || skip "native request-only: $REQUEST_TIMER not built (target request_timer)"

# Functions: NAME, host command (as run natively), build options (capture's mounts and env),
# guest command, request. `catload run` binds the same mounts read-write-agnostic (no :ro).
declare -a FN_NAMES=()
declare -A FN_HOST FN_OPTS FN_GUEST FN_REQ
add_fn() {
  FN_NAMES+=("$1")
  FN_HOST[$1]=$2 FN_OPTS[$1]=$3 FN_GUEST[$1]=$4 FN_REQ[$1]=$5
}
if [[ -x $FIXTURES/lua_fn ]]; then
  add_fn lua "$FIXTURES/lua_fn $BENCH_DIR/cow_tax.lua" "--mount $BENCH_DIR:/bench:ro" \
    "$FIXTURES/lua_fn /bench/cow_tax.lua" "req 12345"
else
  skip "lua: $FIXTURES/lua_fn not built"
fi
# The CPython fixture (fixtures/python_fn with its handler.py: stdlib imports and a 200k-entry
# dict); BENCH_PYTHON_FN names another directory holding both.
PYDIR=${BENCH_PYTHON_FN:-$FIXTURES}
STDLIB=/usr/lib/python3.11
if [[ -x $PYDIR/python_fn && -r $PYDIR/handler.py && -d $STDLIB ]]; then
  add_fn cpython "/usr/bin/env PYTHONHOME=/usr $PYDIR/python_fn -s $PYDIR/handler.py" \
    "--env PYTHONHOME=/usr --mount $STDLIB:$STDLIB:ro --mount $PYDIR:/fn:ro" \
    "$PYDIR/python_fn -s /fn/handler.py" '{"get": "cyrama0"}'
else
  note "cpython: $PYDIR/python_fn or handler.py not built here (fixtures/python_fn)"
fi

declare -A US BOOT PREF RUN FLT PAGES OK
for f in "${FN_NAMES[@]}"; do
  req=$tmp/$f.req
  printf '%s\n' "${FN_REQ[$f]}" >"$req"
  read -r -a host <<<"${FN_HOST[$f]}"
  read -r -a guest <<<"${FN_GUEST[$f]}"
  untimed "$req" "$tmp/$f.native.out" "$tmp/$f.native.err" native "${host[@]}"
  if [[ -n $FAIL ]]; then skip "$f native: $FAIL"; continue; fi
  read -r -a opts <<<"${FN_OPTS[$f]}"
  untimed /dev/null "$tmp/$f.build.out" "$tmp/$f.build.err" "$CATIMG" build -q \
    --sample-request "$req" "${opts[@]}" -o "$tmp/$f.cfi" -- "${guest[@]}"
  if [[ -n $FAIL ]]; then skip "$f build: $FAIL"; continue; fi
  # run binds the capture's mounts (by guest path, sandbox.md §12); --env is the image's.
  bind=()
  for ((i = 0; i < ${#opts[@]}; i++)); do
    [[ ${opts[i]} == --mount ]] && bind+=(--mount "${opts[i + 1]%:ro}")
  done
  OK[$f]=1
  for ((r = 0; r < REPS; r++)); do
    timed "$req" "$tmp/out" "$tmp/err" native "${host[@]}"
    US[$f.native]+="$RUN_US "
    if [[ -x $REQUEST_TIMER ]]; then
      res=$("$REQUEST_TIMER" "$req" "$tmp/out" "$tmp/err" "${host[@]}") || die "request_timer: $res"
      US[$f.request]+="${res% *} "
    fi
    for s in $STRATEGIES; do
      timed "$req" "$tmp/out" "$tmp/err" "$CATLOAD" run "${bind[@]}" --prefault="$s" \
        --stats=json "$tmp/$f.cfi"
      if ((RUN_RC != 0)) || ! cmp -s "$tmp/out" "$tmp/$f.native.out"; then
        skip "$f run:$s: exit $RUN_RC or an answer unlike the native one ($(first_line "$tmp/err"))"
        continue
      fi
      stats_json "$tmp/err" "$tmp/stats.json" || die "$f run:$s: no --stats=json object"
      US[$f.$s]+="$RUN_US "
      read -r b p n m g < <(jq -r '[.boot_ns, (.stages_ns.prefault // 0), .run_ns,
        (.run_minflt // -1), (.prefault_pages // 0)] | @tsv' "$tmp/stats.json")
      BOOT[$f.$s]+="$b " PREF[$f.$s]+="$p " RUN[$f.$s]+="$n " FLT[$f.$s]+="$m " PAGES[$f.$s]=$g
      # What an instance pre-copied before its request (a server's pre-booted one) pays.
      US[$f.$s.ahead]+="$((RUN_US - p / 1000)) "
    done
  done
done

# ms_cell KEY ARRAY: "median (min..max)" in ms of ARRAY[KEY] (µs or ns by DIV).
cell() {
  local -n arr=$1
  local key=$2 div=$3
  [[ -n ${arr[$key]:-} ]] || { echo "-"; return; }
  # shellcheck disable=SC2086 # word splitting of the list is the point
  local m r
  m=$(median ${arr[$key]}) r=$(range ${arr[$key]})
  printf '%s (%s)' "$(scale "$m" "$div")" "$(awk -v r="$r" -v d="$div" 'BEGIN { split(r, a, "\\.\\."); printf "%.3f..%.3f", a[1] / d, a[2] / d }')"
}
med() {
  local -n arr=$1
  [[ -n ${arr[$2]:-} ]] || return 0
  # shellcheck disable=SC2086
  median ${arr[$2]}
}

echo "== end-to-end latency, ms: median (min..max); ratio to the native request-only time"
echo "   (run:S-ahead = run:S minus its prefault stage, each run: what an instance pre-copied before"
echo "   its request, as the server's warm and fork pools do it, pays on the request's path)"
printf '%-9s %-16s %-28s %-10s %s\n' function path "end to end" "/ request" "target <= 1.25 x request + 1 ms"
for f in "${FN_NAMES[@]}"; do
  [[ -n ${OK[$f]:-} ]] || continue
  req_med=$(med US "$f.request")
  paths=(native request)
  for s in $STRATEGIES; do
    paths+=("$s")
    [[ $s == none ]] || paths+=("$s.ahead")
  done
  for p in "${paths[@]}"; do
    label=run:$p
    [[ $p == native ]] && label=native
    [[ $p == request ]] && label="native request"
    [[ $p == *.ahead ]] && label="run:${p%.ahead}-ahead"
    e=$(med US "$f.$p")
    verdict=""
    if [[ $p != native && $p != request && -n $e && -n $req_med ]]; then
      verdict=$(awk -v e="$e" -v q="$req_med" 'BEGIN { t = 1.25 * q + 1000; printf "%.3f ms: %s", t / 1000, (e <= t ? "met" : "not met") }')
    fi
    printf '%-9s %-16s %-28s %-10s %s\n' "$f" "$label" "$(cell US "$f.$p" 1000)" "$(ratio "$e" "$req_med")" "$verdict"
  done
done
echo
echo "== cold boot per strategy: boot latency, prefault stage, guest run (ms), page faults during the run, pages pre-copied"
printf '%-9s %-10s %-24s %-24s %-24s %-10s %s\n' function strategy boot prefault "guest run" minflt pages
for f in "${FN_NAMES[@]}"; do
  [[ -n ${OK[$f]:-} ]] || continue
  for s in $STRATEGIES; do
    printf '%-9s %-10s %-24s %-24s %-24s %-10s %s\n' "$f" "$s" "$(cell BOOT "$f.$s" 1000000)" \
      "$(cell PREF "$f.$s" 1000000)" "$(cell RUN "$f.$s" 1000000)" "$(med FLT "$f.$s" | cut -d. -f1)" \
      "${PAGES[$f.$s]:-}"
  done
done
echo
print_skipped
echo "bench: done"
