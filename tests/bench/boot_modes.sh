#!/usr/bin/env bash
# boot_modes.sh: boot latency of the three paths `catload serve` has — cold, warm and fork —
# for hello and lua_fn, and what a fork costs as the template's dirty memory grows.
#
# Each path is run as `catload run --boot MODE --repeat K --stats=json`: K instances booted
# one after another in one catload, each reporting its boot latency (request accepted ->
# first guest instruction, spec/boot.md). What a server does once per image (open and verify
# it, make the template, start the zygote pool) happens before the first instance and is not
# in any figure. The runs are interleaved: every round runs each function with each mode once,
# so drift in machine load hits all alike. Figures are medians over all instances of all
# rounds, with min..max; ratios are ratios of medians measured here.
#
# Fork cost against dirty memory: lua_fn's template with its first D bytes of writable memory
# written before it is forked (--template-dirty D), D from 0 to the whole heap; the "fork
# shell" stage (the clone: page tables copied, pages write-protected) and the boot latency.
#
# Environment: CATLOAD, CATIMG, FIXTURES, SOURCE_DIR, BUILD_DIR (as boot_bench.sh);
#   BENCH_ROUNDS (default 7; 2 with BENCH_QUICK=1), BENCH_INSTANCES per run (default 25; 3).
# shellcheck source=lib/bench_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench_common.sh"

if [[ $QUICK == 1 ]]; then ROUNDS=${BENCH_ROUNDS:-2} K=${BENCH_INSTANCES:-3}; else ROUNDS=${BENCH_ROUNDS:-7} K=${BENCH_INSTANCES:-25}; fi
FUNCTIONS=(hello lua_fn)
MODES=(cold warm fork)
DIRTY=(0 1M 4M 16M 64M)

bench_banner "boot latency: cold, warm and fork boot"
echo "rounds=$ROUNDS instances per run=$K"
echo

snapshot_tools
[[ $SNAP_OK == 1 ]] || die "$SNAP_WHY"
command -v jq >/dev/null || die "jq is missing"

declare -A BIND=()
build() {
  local name=$1
  shift
  untimed /dev/null "$tmp/$name.build.out" "$tmp/$name.build.err" "$CATIMG" build "$@"
  [[ -z $FAIL ]] || die "catimg build $name: $FAIL"
}
build hello -o "$tmp/hello.cfi" -- "$FIXTURES/hello"
build lua_fn --mount "$FIXTURES:/fn:ro" -o "$tmp/lua_fn.cfi" -- "$FIXTURES/lua_fn" /fn/function.lua
BIND[lua_fn]="--mount $FIXTURES:/fn:ro"
echo "world" >"$tmp/request"

# batch NAME MODE [OPTS]: one catload run of K instances; appends each instance's boot
# latency (µs) to $tmp/NAME.MODE.boot and its "fork shell" stage to .fork.
batch() {
  local name=$1 mode=$2
  shift 2
  # shellcheck disable=SC2086 # BIND holds options
  untimed "$tmp/request" "$tmp/out" "$tmp/err" "$CATLOAD" run ${BIND[$name]:-} --boot "$mode" \
    --repeat "$K" --stats=json "$@" "$tmp/$name.cfi"
  [[ -z $FAIL ]] || die "$name --boot $mode: $FAIL"
  grep '^{' "$tmp/err" | jq -r '.boot_ns / 1000' >>"$tmp/$name.$mode${SUFFIX:-}.boot"
  grep '^{' "$tmp/err" | jq -r '(.stages_ns["fork shell"] // 0) / 1000' >>"$tmp/$name.$mode${SUFFIX:-}.fork"
  grep '^{' "$tmp/err" | jq -r '(.template_dirty_bytes // 0) / 1048576' >>"$tmp/$name.$mode${SUFFIX:-}.dirty"
}

for ((r = 0; r < ROUNDS; r++)); do
  for name in "${FUNCTIONS[@]}"; do
    for mode in "${MODES[@]}"; do batch "$name" "$mode"; done
  done
  for d in "${DIRTY[@]}"; do SUFFIX=.dirty$d batch lua_fn fork --template-dirty "$d"; done
done

med() { median $(cat "$1"); }
rng() { range $(cat "$1"); }

echo "== boot latency (µs): median, min..max over $((ROUNDS * K)) instances"
printf '%-8s %-6s %10s %20s %10s %10s\n' function mode p50 min..max vs-cold vs-warm
for name in "${FUNCTIONS[@]}"; do
  cold=$(med "$tmp/$name.cold.boot")
  warm=$(med "$tmp/$name.warm.boot")
  for mode in "${MODES[@]}"; do
    m=$(med "$tmp/$name.$mode.boot")
    printf '%-8s %-6s %10.1f %20s %10s %10s\n' "$name" "$mode" "$m" "$(rng "$tmp/$name.$mode.boot")" \
      "$(ratio "$m" "$cold")" "$(ratio "$m" "$warm")"
  done
done
echo
echo "== fork cost against the template's dirty memory (lua_fn; µs, median and min..max)"
printf '%-10s %9s %10s %20s %10s %20s %10s\n' asked dirty-MiB fork-shell min..max boot min..max vs-clean
clean=$(med "$tmp/lua_fn.fork.dirty0.boot")
for d in "${DIRTY[@]}"; do
  f=$tmp/lua_fn.fork.dirty$d
  b=$(med "$f.boot")
  printf '%-10s %9.1f %10.1f %20s %10.1f %20s %10s\n' "$d" "$(med "$f.dirty")" "$(med "$f.fork")" "$(rng "$f.fork")" "$b" \
    "$(rng "$f.boot")" "$(ratio "$b" "$clean")"
done
echo "(asked: --template-dirty; dirty-MiB: what the template wrote, capped at its writable memory)"
echo
echo "== targets (issue 8): fork boot p50 <= 100 µs, warm <= 200 µs"
for name in "${FUNCTIONS[@]}"; do
  printf 'target %-8s fork p50 %.1f µs (<= 100: %s), warm p50 %.1f µs (<= 200: %s)\n' "$name" \
    "$(med "$tmp/$name.fork.boot")" "$(awk -v x="$(med "$tmp/$name.fork.boot")" 'BEGIN{print (x <= 100) ? "yes" : "no"}')" \
    "$(med "$tmp/$name.warm.boot")" "$(awk -v x="$(med "$tmp/$name.warm.boot")" 'BEGIN{print (x <= 200) ? "yes" : "no"}')"
done
print_skipped
echo "bench: done"
