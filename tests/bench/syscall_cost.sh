#!/usr/bin/env bash
# syscall_cost.sh: what a guest pays for running under `catload exec`, next to gVisor and native.
#
#  1. Per-syscall cost: the fixture `syscall_loop N` makes N getppid() syscalls. For each path
#     (native, catload exec on ptrace, on kvm where a usable KVM exists, runsc
#     --platform=ptrace do) it runs `syscall_loop 0` and
#     `syscall_loop N` alternately, R times each, and reports
#         median over i of (t_N[i] - t_0[i]) / N
#     i.e. the median of per-run-pair differences, not the difference of two medians: the two
#     runs of a pair are adjacent in time, so slow drift in machine load cancels inside each
#     pair, and the median then discards the pairs an outlier landed in. Start-up and teardown
#     cancel in the difference; median t_0 is printed on its own as the start-up cost.
#  2. End-to-end: for each fixture that exists (hello, hello_pie, musl_hello, index_init,
#     lua_fn with function.lua, busybox awk with an expensive BEGIN), the median wall time of
#     the whole process, native vs catload exec (and runsc do), with the same stdin.
#
# Every figure printed is a median or a ratio of medians of runs made by this invocation.
# There are no timing assertions: a missing fixture, runsc or a not-yet-working catload gives
# a "skipped: reason" line, never a failure. Each run is timed by spawn_timer (posix_spawn to
# waitpid, lib/bench_common.sh), around exactly the command being measured.
#
# Environment (ctest sets the first four; by hand they default from this script's location):
#   CATLOAD, FIXTURES, SOURCE_DIR, BUILD_DIR
#   BENCH_REPS       repetitions per measurement (default 11)
#   BENCH_N          syscalls per loop run, upper bound (default 200000)
#   BENCH_TARGET_MS  a sandbox path whose loop would take longer than this per run gets a
#                    smaller N, from one calibration run (default 2000; 0 = always BENCH_N)
#   BENCH_QUICK=1    tiny counts: a smoke run that checks the bench works, not the numbers
#   BENCH_RUNSC=0    leave gVisor out
#   BENCH_STDIN      file given as stdin to every end-to-end run (default: one request line)
#   BENCH_RUN_TIMEOUT  seconds allowed to the untimed warm-up run of each command (default 120);
#                    a command that fails or hangs there is skipped with its reason
# Shared conventions and helpers (paths, die, skip, timed, native, median, range, ratio,
# first_line, the scratch dir $tmp removed on exit).
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench_common.sh"

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
  REPS=${BENCH_REPS:-3}
  N_MAX=${BENCH_N:-2000}
  TARGET_MS=${BENCH_TARGET_MS:-200}
  AWK_ITERS=20000
else
  REPS=${BENCH_REPS:-11}
  N_MAX=${BENCH_N:-200000}
  TARGET_MS=${BENCH_TARGET_MS:-2000}
  AWK_ITERS=500000
fi
N_CAL=$((N_MAX < 1000 ? N_MAX : 1000)) # calibration run size for sandbox paths
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer, got '$REPS'"
[[ $N_MAX =~ ^[1-9][0-9]*$ ]] || die "BENCH_N must be a positive integer, got '$N_MAX'"
[[ $TARGET_MS =~ ^[0-9]+$ ]] || die "BENCH_TARGET_MS must be a non-negative integer"
LOOP=$FIXTURES/syscall_loop
[[ -x $LOOP ]] || die "$LOOP not found: build the project first (cmake --build build), or set FIXTURES"

empty_in=/dev/null

# ---- which paths can run -----------------------------------------------------------------

paths=(native)
declare -A launcher # path -> command prefix (word list, split on \x1f)
launcher[native]=native
SEP=$'\x1f'

probe_rc=0
if [[ -x $CATLOAD ]]; then
  timeout 30 "$CATLOAD" exec -- "$LOOP" 0 <"$empty_in" >"$tmp/probe.out" 2>"$tmp/probe.err" || probe_rc=$?
fi
if [[ ! -x $CATLOAD ]]; then
  skip "catload not runnable: $CATLOAD does not exist (build it, or set CATLOAD)"
elif ((probe_rc == 124)); then
  skip "catload not runnable: '$CATLOAD exec -- $LOOP 0' did not finish within 30 s"
elif ((probe_rc != 0)); then
  skip "catload not runnable: '$CATLOAD exec -- $LOOP 0' exited $probe_rc ($(first_line "$tmp/probe.err"))"
else
  paths+=(catload)
  launcher[catload]="$CATLOAD${SEP}exec${SEP}--platform${SEP}ptrace${SEP}--"
fi

# The kvm platform, where this host's KVM passes its self-test (spec/kvm.md); otherwise the
# table says "no usable KVM" and why. Timings from kvm_pvm or inside QEMU mean nothing.
kvm_note=
if [[ -x $CATLOAD ]]; then
  kvm_rc=0
  timeout 30 "$CATLOAD" exec --platform kvm -- "$LOOP" 0 <"$empty_in" >"$tmp/probe.out" \
    2>"$tmp/probe.err" || kvm_rc=$?
  if ((kvm_rc == 0)); then
    paths+=(kvm)
    launcher[kvm]="$CATLOAD${SEP}exec${SEP}--platform${SEP}kvm${SEP}--"
  else
    kvm_note="no usable KVM ($(first_line "$tmp/probe.err"))"
  fi
fi

RUNSC_ARGS=(--rootless --network=none --platform=ptrace 'do')
if [[ ${BENCH_RUNSC:-1} == 0 ]]; then
  skip_optional "runsc: BENCH_RUNSC=0"
elif ! command -v runsc >/dev/null; then
  skip_optional "runsc not installed (Debian package runsc)"
elif timeout 60 runsc "${RUNSC_ARGS[@]}" /bin/true <"$empty_in" >"$tmp/probe.out" 2>"$tmp/probe.err"; then
  paths+=(runsc)
  launcher[runsc]="runsc${SEP}$(IFS=$SEP; echo "${RUNSC_ARGS[*]}")"
else
  skip_optional "runsc not runnable: 'runsc ${RUNSC_ARGS[*]} /bin/true' exited $? ($(first_line "$tmp/probe.err"))"
fi

# run_on PATH IN OUT ERR EXE ARGS...: one timed run of EXE under PATH.
run_on() {
  local path=$1 in=$2 out=$3 err=$4
  shift 4
  launcher_of "$path"
  timed "$in" "$out" "$err" "${PRE[@]}" "$@"
}

# warm_up IN OUT ERR CMD...: one untimed run of CMD (as built by run_on/e2e_cmd) under
# timeout(1), so that a sandbox that hangs is skipped instead of stalling the timed loops, and
# so that the timed runs start with the binaries in the page cache. Sets WARM_FAIL to a reason.
warm_up() {
  local in=$1 out=$2 err=$3 rc=0
  shift 3
  local -a cmd=("$@")
  # timeout(1) cannot run the shell function `native`: env -i gives the same empty environment.
  if [[ ${cmd[0]} == native ]]; then cmd=(env -i "${cmd[@]:1}"); fi
  timeout "$RUN_TIMEOUT" "${cmd[@]}" <"$in" >"$out" 2>"$err" || rc=$?
  WARM_FAIL=
  if ((rc == 124)); then
    WARM_FAIL="did not finish within $RUN_TIMEOUT s"
  elif ((rc != 0)); then
    WARM_FAIL="exited $rc ($(first_line "$err"))"
  fi
}

# launcher_of PATH: sets PRE to PATH's command prefix.
launcher_of() { IFS=$SEP read -r -a PRE <<<"${launcher[$1]}"; }

echo "catalyzer bench: syscall cost and end-to-end time ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
echo "host: $(uname -sr), $(nproc) cpus; reps=$REPS; catload=$CATLOAD; fixtures=$FIXTURES"
if [[ ${BENCH_QUICK:-0} == 1 ]]; then echo "BENCH_QUICK=1: smoke-run counts, the figures below mean nothing"; fi
echo

# ---- 1. per-syscall cost -----------------------------------------------------------------

declare -A per_us per_range start_ms n_used
for path in "${paths[@]}"; do
  n=$N_MAX
  launcher_of "$path"
  warm_up "$empty_in" "$tmp/out" "$tmp/err" "${PRE[@]}" "$LOOP" "$N_CAL"
  if [[ -n $WARM_FAIL ]]; then
    skip_path "$path" "$path per-syscall: 'syscall_loop $N_CAL' $WARM_FAIL"
    continue
  fi
  # Calibration: a sandbox that costs ~100 µs per syscall would need minutes per run at
  # N_MAX; shrink N so one loop run takes about TARGET_MS. The loop size doubles until the
  # loop time clearly stands out of start-up noise (a quarter of TARGET_MS); these
  # calibration runs are discarded.
  if [[ $path != native && $TARGET_MS -gt 0 ]]; then
    run_on "$path" "$empty_in" "$tmp/out" "$tmp/err" "$LOOP" 0
    a=$RUN_US rc0=$RUN_RC c=$N_CAL
    while ((rc0 == 0)); do
      run_on "$path" "$empty_in" "$tmp/out" "$tmp/err" "$LOOP" "$c"
      b=$RUN_US
      if ((RUN_RC != 0 || b - a >= TARGET_MS * 250 || c >= N_MAX)); then break; fi
      c=$((c * 2 < N_MAX ? c * 2 : N_MAX))
    done
    if ((rc0 != 0 || RUN_RC != 0)); then
      skip_path "$path" "$path per-syscall: syscall_loop exited $rc0/$RUN_RC ($(first_line "$tmp/err"))"
      continue
    fi
    if ((b > a)); then
      fit=$((TARGET_MS * 1000 * c / (b - a)))
      n=$((fit < n ? fit : n))
      n=$((n < N_CAL ? N_CAL : n))
    fi
  fi
  t0s=() diffs=() failed=
  for ((i = 0; i < REPS; i++)); do
    run_on "$path" "$empty_in" "$tmp/out" "$tmp/err" "$LOOP" 0
    t0=$RUN_US rc0=$RUN_RC
    run_on "$path" "$empty_in" "$tmp/out" "$tmp/err" "$LOOP" "$n"
    if ((rc0 != 0 || RUN_RC != 0)); then
      failed="syscall_loop exited $rc0/$RUN_RC on repetition $((i + 1)) ($(first_line "$tmp/err"))"
      break
    fi
    t0s+=("$t0")
    diffs+=("$(awk -v a="$t0" -v b="$RUN_US" -v n="$n" 'BEGIN { printf "%.6f", (b - a) / n }')")
  done
  if [[ -n $failed ]]; then
    skip_path "$path" "$path per-syscall: $failed"
    continue
  fi
  per_us[$path]=$(median "${diffs[@]}")
  per_range[$path]=$(range "${diffs[@]}")
  start_ms[$path]=$(awk -v us="$(median "${t0s[@]}")" 'BEGIN { printf "%.6f", us / 1000 }')
  n_used[$path]=$n
done

echo "== per-syscall cost: getppid, median over $REPS pairs of (t(N) - t(0)) / N =="
printf '%-14s %10s %18s %20s %16s %12s %12s\n' path N "median µs/syscall" "(min..max)" \
  "median t(0) ms" "vs catload" "vs native"
for path in native catload kvm runsc; do
  [[ -n ${per_us[$path]:-} ]] || continue
  printf '%-14s %10s %17.3f %20s %16.2f %12s %12s\n' "$path" "${n_used[$path]}" "${per_us[$path]}" \
    "${per_range[$path]}" "${start_ms[$path]}" "$(ratio "${per_us[$path]}" "${per_us[catload]:-}")" \
    "$(ratio "${per_us[$path]}" "${per_us[native]:-}")"
done
for path in catload runsc; do
  [[ -n ${per_us[$path]:-} ]] || printf '%-14s %s\n' "$path" "skipped (see below)"
done
[[ -n $kvm_note ]] && printf '%-14s %s\n' kvm "$kvm_note"
echo

# ---- 2. end-to-end -----------------------------------------------------------------------

stdin_file=${BENCH_STDIN:-}
if [[ -z $stdin_file ]]; then
  stdin_file=$tmp/request
  printf '42\n' >"$stdin_file"
fi
[[ -r $stdin_file ]] || die "BENCH_STDIN=$stdin_file is not readable"

# Each case: name, then the guest argv per path (catload sees the fixtures dir as /fixtures).
declare -A native_argv catload_argv
add_case() { cases+=("$1"); native_argv[$1]=$2; catload_argv[$1]=$3; }
cases=()
for f in hello hello_pie musl_hello index_init; do
  if [[ -x $FIXTURES/$f ]]; then
    add_case "$f" "$FIXTURES/$f" "$FIXTURES/$f"
  else
    skip "end-to-end $f: $FIXTURES/$f not built"
  fi
done
if [[ ! -x $FIXTURES/lua_fn ]]; then
  skip "end-to-end lua_fn: $FIXTURES/lua_fn not built"
elif [[ ! -r $FIXTURES/function.lua ]]; then
  skip "end-to-end lua_fn: $FIXTURES/function.lua missing"
else
  add_case lua_fn "$FIXTURES/lua_fn${SEP}$FIXTURES/function.lua" \
    "--mount${SEP}$FIXTURES:/fixtures:ro${SEP}--${SEP}$FIXTURES/lua_fn${SEP}/fixtures/function.lua"
fi
BUSYBOX=$(command -v busybox || true)
AWK_PROG="BEGIN { s = 0; for (i = 0; i < $AWK_ITERS; i++) s += i % 7; print s }"
if [[ -z $BUSYBOX ]]; then
  skip_optional "end-to-end busybox_awk: busybox not installed (Debian package busybox-static)"
else
  add_case busybox_awk "$BUSYBOX${SEP}awk${SEP}$AWK_PROG" "$BUSYBOX${SEP}awk${SEP}$AWK_PROG"
fi

# e2e_cmd PATH CASE: sets CMD to the command line of CASE under PATH.
e2e_cmd() {
  local path=$1 c=$2
  local -a argv
  if [[ $path == catload || $path == kvm ]]; then
    IFS=$SEP read -r -a argv <<<"${catload_argv[$c]}"
    if [[ ${argv[0]} != --* ]]; then argv=(-- "${argv[@]}"); fi
    CMD=("$CATLOAD" exec --platform "$([[ $path == kvm ]] && echo kvm || echo ptrace)" "${argv[@]}")
  else
    IFS=$SEP read -r -a argv <<<"${native_argv[$c]}"
    launcher_of "$path"
    CMD=("${PRE[@]}" "${argv[@]}")
  fi
}

declare -A e2e_ms
for c in "${cases[@]}"; do
  declare -A times=() bad=()
  for path in "${paths[@]}"; do
    times[$path]=""
    e2e_cmd "$path" "$c"
    warm_up "$stdin_file" "$tmp/$path.out" "$tmp/$path.err" "${CMD[@]}"
    bad[$path]=$WARM_FAIL
  done
  # Interleave the paths inside each repetition so load drift hits them alike.
  for ((i = 0; i < REPS; i++)); do
    for path in "${paths[@]}"; do
      [[ -z ${bad[$path]:-} ]] || continue
      e2e_cmd "$path" "$c"
      timed "$stdin_file" "$tmp/$path.out" "$tmp/$path.err" "${CMD[@]}"
      if ((RUN_RC != 0)); then
        bad[$path]="exited $RUN_RC ($(first_line "$tmp/$path.err"))"
        continue
      fi
      times[$path]+=" $RUN_US"
      if ((i == 0)) && [[ $path != native && -z ${bad[native]:-} ]] &&
        ! cmp -s "$tmp/native.out" "$tmp/$path.out"; then
        if bench_optional_path "$path"; then note "end-to-end $c: $path stdout differs from native"; else skip "end-to-end $c: $path stdout differs from native"; fi
      fi
    done
  done
  for path in "${paths[@]}"; do
    if [[ -n ${bad[$path]:-} ]]; then
      skip_path "$path" "end-to-end $c on $path: ${bad[$path]}"
    else
      # shellcheck disable=SC2086 # word-splitting the list of times is intended
      e2e_ms[$c.$path]=$(awk -v us="$(median ${times[$path]})" 'BEGIN { printf "%.3f", us / 1000 }')
    fi
  done
  unset times bad
done

echo "== end-to-end wall time: median of $REPS runs, ms; same argv, same $(wc -c <"$stdin_file")-byte stdin =="
printf '%-14s %12s %12s %12s %12s %16s %16s %16s\n' fixture native catload kvm runsc \
  "catload/native" "kvm/catload" "runsc/catload"
kvm_cell=${kvm_note:+no usable KVM}
for c in "${cases[@]}"; do
  printf '%-14s %12s %12s %12s %12s %16s %16s %16s\n' "$c" "${e2e_ms[$c.native]:-skipped}" \
    "${e2e_ms[$c.catload]:-skipped}" "${e2e_ms[$c.kvm]:-${kvm_cell:-skipped}}" \
    "${e2e_ms[$c.runsc]:-skipped}" \
    "$(ratio "${e2e_ms[$c.catload]:-}" "${e2e_ms[$c.native]:-}")" \
    "$(ratio "${e2e_ms[$c.kvm]:-}" "${e2e_ms[$c.catload]:-}")" \
    "$(ratio "${e2e_ms[$c.runsc]:-}" "${e2e_ms[$c.catload]:-}")"
done
((${#cases[@]})) || echo "(no end-to-end fixture present)"
echo

print_skipped
echo "bench: done"
