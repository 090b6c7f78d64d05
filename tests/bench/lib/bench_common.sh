# shellcheck shell=bash disable=SC2034 # sourced: the variables it sets are used by the sourcing script
# Shared helpers for the boot benchmarks in tests/bench/ (sourced, not a benchmark itself).
# Same conventions as syscall_cost.sh: every figure printed is a median (or a ratio of medians)
# of runs made by this invocation; nothing is asserted; whatever cannot run becomes a
# "skipped: reason" line printed after the tables (a failure under BENCH_STRICT=1 when it is
# ours: see skip). Each run is timed by
# spawn_timer (see `timed`) around exactly the command being measured.
#
# The sourcing script sets nothing beforehand; afterwards it has:
#   SOURCE_DIR BUILD_DIR CATLOAD CATIMG FIXTURES SPAWN_TIMER   (from the environment, or from
#                          this file's location: the build tree's bin/, fixtures/, tests/bench/)
#   QUICK (0|1)  RUN_TIMEOUT (s)  tmp (scratch dir, removed on exit)  skipped=() / skip REASON
#   / skip_optional REASON / skip_path PATH REASON / print_skipped

set -euo pipefail
export LC_ALL=C # $EPOCHREALTIME and printf %f must use '.' as the decimal point

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=${SOURCE_DIR:-$(cd "$BENCH_LIB_DIR/../../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SOURCE_DIR/build}
CATLOAD=${CATLOAD:-$BUILD_DIR/bin/catload}
CATIMG=${CATIMG:-$BUILD_DIR/bin/catimg}
FIXTURES=${FIXTURES:-$BUILD_DIR/fixtures}
SPAWN_TIMER=${SPAWN_TIMER:-$BUILD_DIR/tests/bench/spawn_timer}
QUICK=${BENCH_QUICK:-0}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-120}

die() {
  echo "bench: error: $*" >&2
  exit 1
}
[[ $RUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUN_TIMEOUT must be a positive integer"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/catalyzer-bench.XXXXXX")
# Scripts that need more clean-up on exit (containers) append to bench_cleanup_hooks.
bench_cleanup_hooks=()
bench_cleanup() {
  local h
  for h in "${bench_cleanup_hooks[@]}"; do "$h" || true; done
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench: scratch files kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap bench_cleanup EXIT

skipped=() # "skipped: reason" lines, printed after the tables
# skip: a measurement of ours (catload, catimg, a fixture) could not run. skip_optional: an
# outside tool is missing or refuses (gVisor's runsc, busybox, root for runsc restore). With
# BENCH_STRICT=1 (the ctest smoke runs) print_skipped turns any skip of ours into a failure:
# a broken catload must not pass as "not measured".
ours_skipped=()
skip() {
  skipped+=("skipped: $*")
  ours_skipped+=("$*")
}
skip_optional() {
  skipped+=("skipped: $*")
  # .ci/run holds these to its allow-list of expected skips (.ci/expected-skips).
  if [[ -n ${E2E_SKIP_LOG:-} ]]; then echo "bench.$(basename "$0" .sh): $*" >>"$E2E_SKIP_LOG"; fi
}
note() { skipped+=("note: $*"); }
# The paths that measure an outside tool rather than ours.
bench_optional_path() { [[ $1 == runsc* || $1 == gv-* ]]; }
# skip_path PATH REASON: skip or skip_optional, by whose path PATH is.
skip_path() {
  local path=$1
  shift
  if bench_optional_path "$path"; then skip_optional "$@"; else skip "$@"; fi
}
print_skipped() {
  local line
  for line in "${skipped[@]}"; do echo "$line"; done
  if [[ ${BENCH_STRICT:-0} == 1 && ${#ours_skipped[@]} -gt 0 ]]; then
    die "BENCH_STRICT=1: ${#ours_skipped[@]} measurement(s) of ours did not run, first: ${ours_skipped[0]}"
  fi
}

# timed IN OUT ERR CMD...: runs CMD once; sets RUN_US (wall µs) and RUN_RC. CMD may start with
# the word `native` (run the rest with an empty environment, like a catload guest). The
# stopwatch is spawn_timer (spawn_timer.cc: posix_spawn to waitpid), so that bash forking
# itself, about a millisecond here, is not counted; without it, $EPOCHREALTIME around a bash
# fork+exec, noted once.
timed() {
  local in=$1 out=$2 err=$3
  shift 3
  if [[ -x $SPAWN_TIMER ]]; then
    local -a env_flag=()
    if [[ $1 == native ]]; then
      env_flag=(--empty-env)
      shift
    fi
    local res
    res=$("$SPAWN_TIMER" "${env_flag[@]}" "$in" "$out" "$err" "$@") || die "spawn_timer failed: $res"
    RUN_US=${res% *} RUN_RC=${res#* }
    return
  fi
  if [[ -z ${timed_fallback_noted:-} ]]; then
    timed_fallback_noted=1
    note "$SPAWN_TIMER not built: runs timed in bash, which adds its own fork (~1 ms) to every figure"
  fi
  local t0=$EPOCHREALTIME
  if "$@" <"$in" >"$out" 2>"$err"; then RUN_RC=0; else RUN_RC=$?; fi
  local t1=$EPOCHREALTIME
  RUN_US=$((10#${t1/./} - 10#${t0/./}))
}

# native CMD...: CMD with an empty environment, like a catload guest (exec -c) (the `timed`
# fallback and any direct use).
native() { (exec -c "$@"); }

# untimed IN OUT ERR CMD...: one run of CMD under timeout(1) (a hang becomes a reason, not a
# stalled benchmark). Sets FAIL to a reason ("" if it exited 0).
untimed() {
  local in=$1 out=$2 err=$3 rc=0
  shift 3
  local -a cmd=("$@")
  # timeout(1) cannot run the shell function `native`: env -i gives the same empty environment.
  if [[ ${cmd[0]} == native ]]; then cmd=(env -i "${cmd[@]:1}"); fi
  timeout -k 5 "$RUN_TIMEOUT" "${cmd[@]}" <"$in" >"$out" 2>"$err" || rc=$?
  FAIL=
  if ((rc == 124)); then
    FAIL="did not finish within $RUN_TIMEOUT s"
  elif ((rc != 0)); then
    FAIL="exited $rc ($(first_line "$err"))"
  fi
}

# median X...: the median of numbers (mean of the middle two for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
    END { if (NR % 2) printf "%.6f\n", a[(NR + 1) / 2]; else printf "%.6f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# range X...: "min..max" of numbers, to show how noisy the runs behind a median were.
range() {
  printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f..%.3f\n", lo, hi }'
}

# ratio A B: A/B to two decimals with an "x", "n/a" if either is missing or B is not positive.
ratio() {
  [[ -n ${1:-} && -n ${2:-} ]] || { echo n/a; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx\n", a / b; else print "n/a" }'
}

# scale X DIV [FMT]: X / DIV printed with FMT (default %.3f); "" stays "".
scale() {
  [[ -n ${1:-} ]] || { echo ""; return; }
  awk -v x="$1" -v d="$2" -v f="${3:-%.3f}" 'BEGIN { printf f "\n", x / d }'
}

# first_line FILE: the first non-empty line of FILE, for messages.
first_line() {
  local l
  l=$(grep -m1 . "$1" 2>/dev/null | cut -c1-200 || true)
  echo "${l:-no message on stderr}"
}

# stats_json ERRFILE OUT: the JSON object `--stats=json` printed on stderr (the last line that
# parses as a JSON object; the guest's own fd 2 output may precede it) into OUT. Fails if none.
stats_json() {
  local line found=""
  while IFS= read -r line; do
    [[ $line == \{* ]] || continue
    if jq -e 'type == "object"' >/dev/null 2>&1 <<<"$line"; then found=$line; fi
  done <"$1"
  [[ -n $found ]] || return 1
  printf '%s\n' "$found" >"$2"
}

# catload_has SUBCOMMAND: true if catload has SUBCOMMAND. `catload NOSUCH --help` prints the
# main help and exits 0 (CLI11), so the subcommand's own usage line is what counts.
catload_has() { has_subcommand "$CATLOAD" "$1"; }
catimg_has() { has_subcommand "$CATIMG" "$1"; }
has_subcommand() {
  [[ -x $1 ]] || return 1
  local help
  help=$("$1" "$2" --help 2>&1) || return 1
  grep -qE "^Usage: [^ ]*$(basename "$1") $2( |\$)" <<<"$help"
}

# snapshot_tools: sets SNAP_OK=1 if capture, build, restore and run all exist, else SNAP_OK=0
# and SNAP_WHY to the first missing piece.
snapshot_tools() {
  SNAP_OK=0
  if [[ ! -x $CATLOAD ]]; then
    SNAP_WHY="$CATLOAD does not exist (build it, or set CATLOAD)"
  elif [[ ! -x $CATIMG ]]; then
    SNAP_WHY="$CATIMG does not exist (build it, or set CATIMG)"
  elif ! catload_has capture; then
    SNAP_WHY="'catload capture --help' fails: catload has no capture subcommand yet"
  elif ! catimg_has build; then
    SNAP_WHY="'catimg build --help' fails: catimg has no build subcommand yet"
  elif ! catload_has run; then
    SNAP_WHY="'catload run --help' fails: catload has no run subcommand yet"
  elif ! catload_has restore; then
    SNAP_WHY="'catload restore --help' fails: catload has no restore subcommand yet"
  else
    SNAP_OK=1
    SNAP_WHY=
  fi
}

bench_banner() {
  echo "catalyzer bench: $1 ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo "host: $(uname -sr), $(nproc) cpus; catload=$CATLOAD; catimg=$CATIMG; fixtures=$FIXTURES"
  if [[ $QUICK == 1 ]]; then echo "BENCH_QUICK=1: smoke-run counts, the figures below mean nothing"; fi
}
