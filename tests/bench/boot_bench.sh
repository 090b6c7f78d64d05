#!/usr/bin/env bash
# boot_bench.sh: one function, one request, every way of booting it, side by side.
#
# For each function (hello: trivial init; index_init: ~0.3 s init building an index; lua_fn:
# ~0.5 s Lua init) and one request line, the end-to-end latency — wall time from starting the
# command with the request on its stdin to its exit after the complete response — of:
#   native       the program itself, init included (env -i, like a guest)
#   exec         catload exec: from scratch in the sandbox, init included
#   restore      catload restore CORE: conventional restore from the checkpoint taken at
#                func-entry (deserialize state object by object, copy memory)
#   run          catload run FN.cfi: cold boot from the func-image
#   runsc-do     runsc --rootless --network=none --platform=ptrace do: gVisor from scratch
#   runsc-run    runsc --network=none --platform=ptrace run (OCI bundle): gVisor from scratch
#                in the same mode as gv-restore, so that pair compares like with like
#   gv-restore   runsc restore of a `runsc checkpoint` taken once the function blocked reading
#                its request (after init): the paper's gVisor-restore baseline
# The checkpoint, the func-image and the gVisor checkpoint are made once per function before
# the timed runs (they are the offline step). The timed runs are interleaved — every path once
# per repetition — so drift in machine load hits all paths alike. Each figure is the median of
# BENCH_REPS runs; ratios are ratios of those medians.
#
# Boot latency (request accepted → first guest instruction after func-entry) is what
# `catload run --stats=json` (and `catload restore --stats=json`) reports for each timed run;
# its median is printed. Targets (checked against the numbers measured here, nothing
# hard-coded): lua_fn end-to-end cold boot >= 200x faster than its native run; hello boot
# latency < 1 ms median.
#
# Environment (ctest sets the first five; by hand they default from this script's location):
#   CATLOAD, CATIMG, FIXTURES, SOURCE_DIR, BUILD_DIR
#   BENCH_REPS         repetitions per path (default 11; 3 with BENCH_QUICK=1)
#   BENCH_QUICK=1      smoke run: few repetitions, the figures mean nothing
#   BENCH_RUNSC=0      leave gVisor out
#   BENCH_FUNCTIONS    space-separated subset of "hello index_init lua_fn"
#   BENCH_RUN_TIMEOUT  seconds allowed to each untimed preparation run (default 120)
#   BENCH_KEEP=1       keep the scratch directory (images, checkpoints, outputs)
# shellcheck source=lib/bench_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench_common.sh"
# shellcheck source=lib/gvisor.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/gvisor.sh"

if [[ $QUICK == 1 ]]; then REPS=${BENCH_REPS:-3}; else REPS=${BENCH_REPS:-11}; fi
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer, got '$REPS'"
FUNCTIONS=${BENCH_FUNCTIONS:-hello index_init lua_fn}
SEP=$'\x1f'

bench_banner "boot paths, end-to-end and boot latency"
echo "reps=$REPS"
echo

# run-kvm: the cold boot on the kvm platform (spec/kvm.md), where this host's KVM passes its
# self-test; the other catload paths are pinned to ptrace so the two compare side by side.
ALL_PATHS=(native exec restore run run-kvm runsc-do runsc-run gv-restore)

# ---- which tools exist ---------------------------------------------------------------------

have_exec=0
if [[ ! -x $CATLOAD ]]; then
  skip "exec/restore/run: $CATLOAD does not exist (build it, or set CATLOAD)"
elif ! catload_has exec; then
  skip "exec: 'catload exec --help' fails"
else
  have_exec=1
fi
snapshot_tools
[[ $SNAP_OK == 1 ]] || skip "restore/run: $SNAP_WHY"
have_kvm=0
kvm_why=
if ((have_exec)); then
  if kvm_err=$("$CATLOAD" exec --platform kvm -- /nonexistent-probe 2>&1 </dev/null) ||
    [[ $kvm_err != *"kvm platform cannot run here"* ]]; then
    have_kvm=1
  else
    kvm_why="no usable KVM (${kvm_err#*: })"
  fi
fi

RUNSC_DO=(runsc --rootless --network=none --platform=ptrace 'do')
have_runsc_do=0
if [[ ${BENCH_RUNSC:-1} == 0 ]]; then
  skip_optional "gVisor: BENCH_RUNSC=0"
elif ! command -v runsc >/dev/null; then
  skip_optional "gVisor: runsc not installed (Debian package runsc)"
else
  if timeout 60 "${RUNSC_DO[@]}" /bin/true </dev/null >"$tmp/probe.out" 2>"$tmp/probe.err"; then
    have_runsc_do=1
  else
    skip_optional "runsc-do: '${RUNSC_DO[*]} /bin/true' exited $? ($(first_line "$tmp/probe.err"))"
  fi
  gv_probe_root
fi
bench_cleanup_hooks+=(gv_cleanup)

# ---- the functions -------------------------------------------------------------------------

# Per function: native argv, catload exec/capture options and guest argv, the request, and
# the gVisor bundle's files (HOST=GUEST, SEP-separated) and argv.
declare -A native_argv guest_opts guest_argv request gv_files gv_argv
cases=()
add_case() {
  cases+=("$1")
  native_argv[$1]=$2 guest_opts[$1]=$3 guest_argv[$1]=$4 request[$1]=$5 gv_files[$1]=$6 gv_argv[$1]=$7
}
for f in $FUNCTIONS; do
  case $f in
    hello | index_init)
      if [[ ! -x $FIXTURES/$f ]]; then
        skip "$f: $FIXTURES/$f not built"
        continue
      fi
      req="world"
      [[ $f == index_init ]] && req="idx 1499999"
      add_case "$f" "$FIXTURES/$f" "" "$FIXTURES/$f" "$req" "$FIXTURES/$f=/fn/$f" "/fn/$f"
      ;;
    lua_fn)
      if [[ ! -x $FIXTURES/lua_fn ]]; then
        skip "lua_fn: $FIXTURES/lua_fn not built"
        continue
      elif [[ ! -r $FIXTURES/function.lua ]]; then
        skip "lua_fn: $FIXTURES/function.lua missing"
        continue
      fi
      add_case lua_fn "$FIXTURES/lua_fn${SEP}$FIXTURES/function.lua" \
        "--mount${SEP}$FIXTURES:/fixtures:ro" "$FIXTURES/lua_fn${SEP}/fixtures/function.lua" \
        "prime 1999993" \
        "$FIXTURES/lua_fn=/fn/lua_fn${SEP}$FIXTURES/function.lua=/fixtures/function.lua" \
        "/fn/lua_fn${SEP}/fixtures/function.lua"
      ;;
    *) skip "$f: unknown function (BENCH_FUNCTIONS takes hello, index_init, lua_fn)" ;;
  esac
done

split() { IFS=$SEP read -r -a SPLIT <<<"$1"; }

# ---- preparation: checkpoint, func-image, gVisor bundle and checkpoint --------------------


# cmd_for PATH CASE REP: sets CMD to the command line of PATH for CASE (REP names containers).
cmd_for() {
  local path=$1 c=$2 rep=$3
  local -a opts=() argv=()
  split "${guest_opts[$c]}"
  opts=("${SPLIT[@]}")
  split "${guest_argv[$c]}"
  argv=("${SPLIT[@]}")
  case $path in
    native)
      split "${native_argv[$c]}"
      CMD=(native "${SPLIT[@]}")
      ;;
    exec) CMD=("$CATLOAD" exec --platform ptrace "${opts[@]}" -- "${argv[@]}") ;;
    # The capture's --mount options bind the snapshot's mounts again (the image names no host
    # directory: spec/sandbox.md, "Host bindings").
    restore) CMD=("$CATLOAD" restore --platform ptrace "${opts[@]}" --stats=json "$tmp/$c.core") ;;
    run) CMD=("$CATLOAD" run --platform ptrace "${opts[@]}" --stats=json "$tmp/$c.cfi") ;;
    run-kvm) CMD=("$CATLOAD" run --platform kvm "${opts[@]}" --stats=json "$tmp/$c.cfi") ;;
    runsc-do)
      split "${native_argv[$c]}"
      CMD=("${RUNSC_DO[@]}" "${SPLIT[@]}")
      ;;
    runsc-run) CMD=("${GV[@]}" run --bundle "$tmp/gv-$c/bundle" "catbench-$$-$c-run-$rep") ;;
    gv-restore)
      CMD=("${GV[@]}" restore --image-path "$tmp/gv-$c/image" --bundle "$tmp/gv-$c/bundle"
        "catbench-$$-$c-restore-$rep")
      ;;
  esac
}

# boot_ns_of JSONFILE: the boot latency (request accepted → first guest instruction after
# func-entry) in ns from a --stats=json object.
boot_ns_of() {
  jq -r '.boot_ns // .boot.total_ns // .total_ns // empty' "$1" 2>/dev/null
}

declare -A e2e_us e2e_range boot_us boot_range run_us
for c in "${cases[@]}"; do
  declare -A ok=() times=() boots=() runs=()
  printf '%s\n' "${request[$c]}" >"$tmp/$c.request"
  paths=()

  # native is the reference: its stdout is what every other path must print.
  cmd_for native "$c" 0
  untimed "$tmp/$c.request" "$tmp/$c.native.ref" "$tmp/$c.native.err" "${CMD[@]}"
  if [[ -n $FAIL ]]; then
    skip "$c: the native run $FAIL"
    continue
  fi
  paths+=(native)
  ((have_exec)) && paths+=(exec)
  if ((SNAP_OK)); then
    split "${guest_opts[$c]}"
    gopts=("${SPLIT[@]}")
    split "${guest_argv[$c]}"
    untimed /dev/null "$tmp/$c.capture.out" "$tmp/$c.capture.err" \
      "$CATLOAD" capture "${gopts[@]}" -o "$tmp/$c.core" -- "${SPLIT[@]}"
    if [[ -n $FAIL ]]; then
      skip "$c restore/run: 'catload capture' $FAIL"
    else
      paths+=(restore)
      untimed /dev/null "$tmp/$c.build.out" "$tmp/$c.build.err" "$CATIMG" build "$tmp/$c.core" -o "$tmp/$c.cfi"
      if [[ -n $FAIL ]]; then skip "$c run: 'catimg build' $FAIL"; else paths+=(run); fi
      [[ -z $FAIL ]] && ((have_kvm)) && paths+=(run-kvm)
    fi
  fi
  ((have_runsc_do)) && paths+=(runsc-do)
  if ((have_gv)); then
    gv_checkpoint "$c"
    paths+=(runsc-run)
    if [[ -n $GV_FAIL ]]; then skip_optional "$c gv-restore: $GV_FAIL"; else paths+=(gv-restore); fi
  fi

  # One untimed run per path: it must succeed within the time limit and print what native
  # prints; it also warms the page cache.
  for path in "${paths[@]}"; do
    [[ $path == native ]] && { ok[native]=1; continue; }
    cmd_for "$path" "$c" warm
    untimed "$tmp/$c.request" "$tmp/$c.$path.out" "$tmp/$c.$path.err" "${CMD[@]}"
    if [[ -n $FAIL ]]; then
      skip_path "$path" "$c on $path: $FAIL"
    elif ! cmp -s "$tmp/$c.native.ref" "$tmp/$c.$path.out"; then
      skip_path "$path" "$c on $path: stdout differs from native ($(head -c 60 "$tmp/$c.$path.out" | tr '\n' ' ') vs $(head -c 60 "$tmp/$c.native.ref" | tr '\n' ' '))"
    else
      ok[$path]=1
    fi
  done

  for ((i = 0; i < REPS; i++)); do
    for path in "${paths[@]}"; do
      [[ -n ${ok[$path]:-} ]] || continue
      cmd_for "$path" "$c" "$i"
      timed "$tmp/$c.request" "$tmp/$c.$path.out" "$tmp/$c.$path.err" "${CMD[@]}"
      if ((RUN_RC != 0)); then
        skip_path "$path" "$c on $path: exited $RUN_RC on repetition $((i + 1)) ($(first_line "$tmp/$c.$path.err"))"
        unset "ok[$path]"
        continue
      fi
      times[$path]+=" $RUN_US"
      if [[ $path == run || $path == run-kvm || $path == restore ]]; then
        if stats_json "$tmp/$c.$path.err" "$tmp/$c.$path.json" &&
          b=$(boot_ns_of "$tmp/$c.$path.json") && [[ -n $b ]]; then
          boots[$path]+=" $b"
          r=$(jq -r '.run_ns // empty' "$tmp/$c.$path.json")
          [[ -z $r ]] || runs[$path]+=" $r"
        elif ((i == 0)); then
          note "$c on $path: no boot time in --stats=json output ($(first_line "$tmp/$c.$path.err"))"
        fi
      fi
    done
  done

  for path in "${paths[@]}"; do
    [[ -n ${ok[$path]:-} && -n ${times[$path]:-} ]] || continue
    # shellcheck disable=SC2086 # word-splitting the list of times is intended
    e2e_us[$c.$path]=$(median ${times[$path]})
    # shellcheck disable=SC2086,SC2046
    e2e_range[$c.$path]=$(range $(for t in ${times[$path]}; do scale "$t" 1000; done))
    if [[ -n ${boots[$path]:-} ]]; then
      # shellcheck disable=SC2086
      boot_us[$c.$path]=$(scale "$(median ${boots[$path]})" 1000 %.3f)
      # shellcheck disable=SC2086,SC2046
      boot_range[$c.$path]=$(range $(for t in ${boots[$path]}; do scale "$t" 1000; done))
    fi
    if [[ -n ${runs[$path]:-} ]]; then
      # shellcheck disable=SC2086
      run_us[$c.$path]=$(scale "$(median ${runs[$path]})" 1000 %.3f)
    fi
  done
  unset ok times boots runs
done

# ---- tables --------------------------------------------------------------------------------

ms() { [[ -n ${e2e_us[$1]:-} ]] && scale "${e2e_us[$1]}" 1000 || echo skipped; }

echo "== end-to-end latency (request on stdin -> exit after complete response): median of $REPS runs, ms =="
printf '%-11s' function
for p in "${ALL_PATHS[@]}"; do printf ' %12s' "$p"; done
echo
for c in "${cases[@]}"; do
  printf '%-11s' "$c"
  for p in "${ALL_PATHS[@]}"; do printf ' %12s' "$(ms "$c.$p")"; done
  echo
done
((${#cases[@]})) || echo "(no function present)"
echo "   (min..max ms of the runs behind each median)"
for c in "${cases[@]}"; do
  line=""
  for p in "${ALL_PATHS[@]}"; do [[ -n ${e2e_range[$c.$p]:-} ]] && line+=" $p ${e2e_range[$c.$p]};"; done
  echo "   $c:${line:- none}"
done
echo

echo "== speed-up over native (native median / path median; >1 = faster than native) =="
printf '%-11s' function
for p in "${ALL_PATHS[@]:1}"; do printf ' %12s' "$p"; done
echo
for c in "${cases[@]}"; do
  printf '%-11s' "$c"
  for p in "${ALL_PATHS[@]:1}"; do printf ' %12s' "$(ratio "${e2e_us[$c.native]:-}" "${e2e_us[$c.$p]:-}")"; done
  echo
done
echo

echo "== cold boot (run) vs the other boots: path median / run median (>1 = run is faster) =="
printf '%-11s' function
for p in native exec restore runsc-do runsc-run gv-restore; do printf ' %12s' "$p"; done
echo
for c in "${cases[@]}"; do
  printf '%-11s' "$c"
  for p in native exec restore runsc-do runsc-run gv-restore; do
    printf ' %12s' "$(ratio "${e2e_us[$c.$p]:-}" "${e2e_us[$c.run]:-}")"
  done
  echo
done
echo

[[ -n $kvm_why ]] && echo "run-kvm: $kvm_why" && echo
echo "== boot latency (request accepted -> first guest instruction after func-entry), from --stats=json of the timed runs: median µs =="
echo "   (guest µs: median run_ns of the same runs, func-entry -> guest exit, for where the rest of end-to-end goes)"
printf '%-11s %12s %22s %12s %14s %22s %12s %12s\n' function run "(min..max µs)" "run guest" \
  restore "(min..max µs)" "restore guest" "restore/run"
for c in "${cases[@]}"; do
  printf '%-11s %12s %22s %12s %14s %22s %12s %12s\n' "$c" "${boot_us[$c.run]:-skipped}" "${boot_range[$c.run]:-}" \
    "${run_us[$c.run]:-}" "${boot_us[$c.restore]:-skipped}" "${boot_range[$c.restore]:-}" \
    "${run_us[$c.restore]:-}" "$(ratio "${boot_us[$c.restore]:-}" "${boot_us[$c.run]:-}")"
done
for c in "${cases[@]}"; do
  [[ -n ${boot_us[$c.run-kvm]:-} ]] || continue
  echo "   $c on kvm: run ${boot_us[$c.run-kvm]} µs (${boot_range[$c.run-kvm]:-}), kvm/ptrace $(ratio "${boot_us[$c.run-kvm]:-}" "${boot_us[$c.run]:-}")"
done
echo

echo "== targets (from the medians above) =="
if [[ -n ${e2e_us[lua_fn.native]:-} && -n ${e2e_us[lua_fn.run]:-} ]]; then
  x=$(awk -v a="${e2e_us[lua_fn.native]}" -v b="${e2e_us[lua_fn.run]}" 'BEGIN { printf "%.1f", a / b }')
  met=$(awk -v x="$x" 'BEGIN { print (x >= 200) ? "met" : "NOT met" }')
  echo "target lua_fn end-to-end cold boot >= 200x faster than native: native $(ms lua_fn.native) ms / run $(ms lua_fn.run) ms = ${x}x -> $met"
else
  echo "target lua_fn end-to-end cold boot >= 200x faster than native: not measured (see skipped lines)"
fi
if [[ -n ${boot_us[hello.run]:-} ]]; then
  met=$(awk -v u="${boot_us[hello.run]}" 'BEGIN { print (u < 1000) ? "met" : "NOT met" }')
  echo "target hello boot latency < 1 ms median: $(scale "${boot_us[hello.run]}" 1000 %.4f) ms -> $met"
else
  echo "target hello boot latency < 1 ms median: not measured (see skipped lines)"
fi
echo

print_skipped
echo "bench: done"
