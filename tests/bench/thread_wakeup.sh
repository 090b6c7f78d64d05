#!/usr/bin/env bash
# thread_wakeup.sh: thread wake-up latency — a futex ping-pong between two guest threads.
#
# `thread_pool pingpong N` (fixtures/thread_pool) has two threads hand a word back and forth N
# times, each waiting in FUTEX_WAIT and waking the other with FUTEX_WAKE, and prints the median
# round trip (two wake-ups) it measured itself, in ns, on stderr. For each path (native,
# catload exec on ptrace, runsc --platform=ptrace do) the program runs R times, interleaved;
# the table gives the median over runs of the per-run medians, min..max, and the ratios.
# No timing assertions; a path that cannot run is a "skipped: reason" line.
#
# Environment: CATLOAD, FIXTURES, SOURCE_DIR, BUILD_DIR (ctest sets them)
#   BENCH_REPS (default 7), BENCH_N round trips per run (default 2000), BENCH_QUICK=1 (tiny
#   counts: a smoke run), BENCH_RUNSC=0 (leave gVisor out)
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench_common.sh"

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
  REPS=${BENCH_REPS:-2}
  N=${BENCH_N:-200}
else
  REPS=${BENCH_REPS:-7}
  N=${BENCH_N:-2000}
fi
PP=$FIXTURES/thread_pool
[[ -x $PP ]] || die "$PP not found: build the project first (cmake --build build), or set FIXTURES"
bench_banner "thread wake-up (futex ping-pong, $N round trips a run, $REPS runs a path)"

paths=(native catload)
RUNSC_ARGS=(--rootless --network=none --platform=ptrace 'do')
if [[ ${BENCH_RUNSC:-1} == 0 ]]; then
  skip_optional "runsc: BENCH_RUNSC=0"
elif ! command -v runsc >/dev/null; then
  skip_optional "runsc unavailable (Debian package runsc not installed)"
elif timeout 60 runsc "${RUNSC_ARGS[@]}" /bin/true </dev/null >"$tmp/probe.out" 2>"$tmp/probe.err"; then
  paths+=(runsc)
else
  skip_optional "runsc unavailable: 'runsc ${RUNSC_ARGS[*]} /bin/true' failed ($(first_line "$tmp/probe.err"))"
fi

declare -A got # path -> per-run medians (ns), space-separated
run_once() {
  local path=$1 err=$tmp/$1.err
  local -a cmd
  case $path in
    native) cmd=("$PP" pingpong "$N") ;;
    catload) cmd=("$CATLOAD" exec --timeout 120 -- "$PP" pingpong "$N") ;;
    runsc) cmd=(runsc "${RUNSC_ARGS[@]}" "$PP" pingpong "$N") ;;
  esac
  if ! timeout 180 "${cmd[@]}" </dev/null >/dev/null 2>"$err"; then
    skip_path "$path" "exited non-zero ($(first_line "$err"))"
    return 1
  fi
  local ns
  ns=$(awk '/^pingpong median_ns/ { print $3 }' "$err")
  [[ -n $ns ]] || { skip_path "$path" "no figure on stderr ($(first_line "$err"))"; return 1; }
  got[$path]+="$ns "
}

declare -A dead
for ((r = 0; r < REPS; r++)); do
  for path in "${paths[@]}"; do
    [[ -n ${dead[$path]:-} ]] && continue
    run_once "$path" || dead[$path]=1
  done
done

echo "== futex ping-pong round trip (two wake-ups), median of per-run medians, µs"
printf '%-10s %12s %20s %14s\n' path median min..max vs-native
declare -A med
for path in native catload runsc; do
  if [[ -z ${got[$path]:-} ]]; then
    printf '%-10s %12s\n' "$path" skipped
    continue
  fi
  # shellcheck disable=SC2086
  med[$path]=$(median ${got[$path]})
  # shellcheck disable=SC2086
  printf '%-10s %12s %20s %14s\n' "$path" "$(scale "${med[$path]}" 1000)" \
    "$(range $(for v in ${got[$path]}; do scale "$v" 1000; done))" \
    "$(ratio "${med[$path]}" "${med[native]:-}")"
done
if [[ -n ${med[runsc]:-} && -n ${med[catload]:-} ]]; then
  echo "catload/runsc: $(ratio "${med[catload]}" "${med[runsc]}")"
fi
print_skipped
echo "bench: done"
