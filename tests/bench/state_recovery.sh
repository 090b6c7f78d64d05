#!/usr/bin/env bash
# state_recovery.sh: separated state recovery as the sandbox kernel's state grows.
#
# The fixture `state_objects N files|fds` creates N overlay files in /tmp (or opens N fds)
# during its init, then waits for its request. For each N and kind it is captured once
# (`catload capture`) and compiled once (`catimg build`); then, interleaved, R times each:
#   catload restore --stats=json CORE   state recovered the conventional way: the stage
#                                       "deserialize state" (parse the stream, allocate every
#                                       object)
#   catload run --stats=json FN.cfi     separated state recovery: everything cold boot does to
#                                       the state before the kernel runs on it: map the arena,
#                                       check its checksums ("verify arena"), verify it
#                                       structurally ("verify state"), relocate it (the stages
#                                       matched are printed), each stage shown beside the sum
# and prints the median of each (over the R runs), their range, and the ratio of the medians.
# Boot totals (request accepted -> first guest instruction) are printed alongside for scale.
# Target, checked against the numbers measured here: at 100k objects state recovery (all of it,
# checks included) is at least
# 10x faster than deserialization.
#
# Environment (ctest sets the first five; by hand they default from this script's location):
#   CATLOAD, CATIMG, FIXTURES, SOURCE_DIR, BUILD_DIR
#   BENCH_REPS         runs per measurement (default 11; 3 with BENCH_QUICK=1)
#   BENCH_QUICK=1      smoke run: N = 1000 only, few runs
#   BENCH_STATE_N      space-separated object counts (default "1000 10000 100000")
#   BENCH_STATE_KINDS  "files fds" (default) or a subset
#   BENCH_RUN_TIMEOUT  seconds allowed to each capture/build/first run (default 120)
#   BENCH_KEEP=1       keep the scratch directory
# shellcheck source=lib/bench_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench_common.sh"

if [[ $QUICK == 1 ]]; then
  REPS=${BENCH_REPS:-3}
  NS=${BENCH_STATE_N:-1000}
else
  REPS=${BENCH_REPS:-11}
  NS=${BENCH_STATE_N:-1000 10000 100000}
fi
KINDS=${BENCH_STATE_KINDS:-files fds}
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer, got '$REPS'"
for n in $NS; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_STATE_N: '$n' is not a positive integer"; done
TARGET_N=100000
FIX=$FIXTURES/state_objects

bench_banner "separated state recovery: deserialize (restore) vs map + check + verify + relocate (cold boot)"
echo "reps=$REPS; N in: $NS; kinds: $KINDS"
echo

snapshot_tools
if [[ $SNAP_OK != 1 ]]; then
  skip "all: $SNAP_WHY"
elif [[ ! -x $FIX ]]; then
  skip "all: fixture $FIX not built (state_objects N files|fds; added on another branch)"
fi

# stage_sum JSON REGEX: sum of stages_ns entries whose name matches REGEX (case-insensitive);
# prints "SUM<TAB>names" or nothing if no stage matches.
stage_sum() {
  jq -r --arg re "$2" '(.stages_ns // {}) | to_entries | map(select(.key | test($re; "i")))
    | if length == 0 then empty else "\(map(.value) | add)\t\(map(.key) | join(" + "))" end' "$1"
}

declare -A deser reloc boot_r boot_c deser_rng reloc_rng split_r verify_r reloc_only relocs
rows=()
restore_names="" run_names=""
printf 'request\n' >"$tmp/request"
for n in $NS; do
  for kind in $KINDS; do
    [[ $SNAP_OK == 1 && -x $FIX ]] || break 2
    row="$n $kind"
    rows+=("$row")
    base=$tmp/so-$n-$kind
    # fds: the guest needs a high enough RLIMIT_NOFILE for N open files.
    extra=()
    [[ $kind == fds ]] && extra=(--max-fds "$((n + 64))")
    untimed /dev/null "$base.capture.out" "$base.capture.err" \
      "$CATLOAD" capture "${extra[@]}" -o "$base.core" -- "$FIX" "$n" "$kind"
    if [[ -n $FAIL ]]; then
      skip "N=$n $kind: 'catload capture' $FAIL"
      continue
    fi
    untimed /dev/null "$base.build.out" "$base.build.err" "$CATIMG" build "$base.core" -o "$base.cfi"
    if [[ -n $FAIL ]]; then
      skip "N=$n $kind: 'catimg build' $FAIL"
      continue
    fi
    # First runs, untimed: both must work and answer alike.
    untimed "$tmp/request" "$base.restore.ref" "$base.restore.err" "$CATLOAD" restore "$base.core"
    [[ -z $FAIL ]] || { skip "N=$n $kind: 'catload restore' $FAIL"; continue; }
    untimed "$tmp/request" "$base.run.ref" "$base.run.err" "$CATLOAD" run "$base.cfi"
    [[ -z $FAIL ]] || { skip "N=$n $kind: 'catload run' $FAIL"; continue; }
    cmp -s "$base.restore.ref" "$base.run.ref" || note "N=$n $kind: restore and run print different responses"

    d=() r=() br=() bc=() ma=() rl=() vf=() vs=() nrel="" failed=
    for ((i = 0; i < REPS; i++)); do
      timed "$tmp/request" "$base.out" "$base.err" "$CATLOAD" restore --stats=json "$base.core"
      if ((RUN_RC != 0)) || ! stats_json "$base.err" "$base.json"; then
        failed="restore exited $RUN_RC or printed no JSON ($(first_line "$base.err"))"
        break
      fi
      v='' names=''
      IFS=$'\t' read -r v names < <(stage_sum "$base.json" 'deserial') || true
      [[ -n ${v:-} ]] || { failed="restore --stats=json has no 'deserialize' stage ($(head -c 200 "$base.json"))"; break; }
      d+=("$v") restore_names=$names
      bc+=("$(jq -r '.boot_ns // empty' "$base.json")")

      timed "$tmp/request" "$base.out" "$base.err" "$CATLOAD" run --stats=json "$base.cfi"
      if ((RUN_RC != 0)) || ! stats_json "$base.err" "$base.json"; then
        failed="run exited $RUN_RC or printed no JSON ($(first_line "$base.err"))"
        break
      fi
      v='' names=''
      # State recovery on the boot path: every stage that touches the state (mapping, the
      # checksum, the structural verifier, relocation). Leaving the checks out would flatter
      # relocation: they are also what first touches the arena's pages.
      IFS=$'\t' read -r v names < <(stage_sum "$base.json" '^map arena$|^verify arena$|^verify state$|relocat') || true
      [[ -n ${v:-} ]] || { failed="run --stats=json has no arena/relocation stage ($(head -c 200 "$base.json"))"; break; }
      r+=("$v") run_names=$names
      ma+=("$(stage_sum "$base.json" '^map arena$' | cut -f1)")
      vf+=("$(stage_sum "$base.json" '^verify arena$' | cut -f1)")
      vs+=("$(stage_sum "$base.json" '^verify state$' | cut -f1)")
      rl+=("$(stage_sum "$base.json" 'relocat' | cut -f1)")
      nrel=$(jq -r '.relocations // empty' "$base.json")
      br+=("$(jq -r '.boot_ns // empty' "$base.json")")
    done
    if [[ -n $failed ]]; then
      skip "N=$n $kind: $failed"
      continue
    fi
    us() { for x in "$@"; do scale "$x" 1000 %.3f; done; }
    # shellcheck disable=SC2046
    {
      deser[$row]=$(scale "$(median "${d[@]}")" 1000)
      reloc[$row]=$(scale "$(median "${r[@]}")" 1000)
      deser_rng[$row]=$(range $(us "${d[@]}"))
      reloc_rng[$row]=$(range $(us "${r[@]}"))
      boot_c[$row]=$(scale "$(median "${bc[@]}")" 1000)
      boot_r[$row]=$(scale "$(median "${br[@]}")" 1000)
      split_r[$row]="$(scale "$(median "${ma[@]}")" 1000 %.1f) + $(scale "$(median "${vf[@]:-0}")" 1000 %.1f) + $(scale "$(median "${vs[@]:-0}")" 1000 %.1f) + $(scale "$(median "${rl[@]}")" 1000 %.1f)"
      verify_r[$row]=$(scale "$(median "${vs[@]:-0}")" 1000 %.1f)
      reloc_only[$row]=$(scale "$(median "${rl[@]}")" 1000 %.1f)
      relocs[$row]=$nrel
    }
  done
done

echo "== state recovery: median of $REPS runs, µs =="
echo "   restore: stage(s) '${restore_names:-deserialize state}' of catload restore --stats=json"
echo "   run:     state recovery, stage(s) '${run_names:-map arena + verify arena + verify state + relocate}' of catload run --stats=json"
echo "   (run split: medians of map arena + verify arena (checksums) + verify state (structural"
echo "    verifier) + relocate; verify, relocate: those two stages alone, side by side; boot: whole boot)"
printf '%8s %6s %12s %22s %12s %22s %32s %10s %10s %11s %12s %13s %11s\n' N kind restore "(min..max)" run "(min..max)" \
  "run split" verify relocate relocations "restore/run" "boot restore" "boot run"
for row in "${rows[@]}"; do
  read -r n kind <<<"$row"
  printf '%8s %6s %12s %22s %12s %22s %32s %10s %10s %11s %12s %13s %11s\n' "$n" "$kind" "${deser[$row]:-skipped}" \
    "${deser_rng[$row]:-}" "${reloc[$row]:-skipped}" "${reloc_rng[$row]:-}" "${split_r[$row]:-}" "${verify_r[$row]:-}" "${reloc_only[$row]:-}" \
    "${relocs[$row]:-}" "$(ratio "${deser[$row]:-}" "${reloc[$row]:-}")" "${boot_c[$row]:-}" "${boot_r[$row]:-}"
done
((${#rows[@]})) || echo "(nothing measured)"
echo

echo "== target: at N=$TARGET_N, state recovery (run) >= 10x faster than deserialization (restore) =="
measured=0
for row in "${rows[@]}"; do
  read -r n kind <<<"$row"
  [[ $n == "$TARGET_N" && -n ${deser[$row]:-} && -n ${reloc[$row]:-} ]] || continue
  measured=1
  x=$(awk -v a="${deser[$row]}" -v b="${reloc[$row]}" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }')
  met=$(awk -v x="$x" 'BEGIN { print (x == "inf" || x >= 10) ? "met" : "NOT met" }')
  echo "N=$n $kind: restore ${deser[$row]} µs / run ${reloc[$row]} µs = ${x}x -> $met"
done
((measured)) || echo "not measured (N=$TARGET_N not in this run, or skipped: see below)"
echo

print_skipped
echo "bench: done"
