#!/usr/bin/env bash
# oci_bench: `ctr run` end to end of the Lua function, one request, for each way an engine can run
# it, measured in one run (interleaved, medians and min..max; spec/oci.md, "Runtime"):
#   runc            the plain image (lua_fn + script): the function's init runs natively
#   runsc           the same through gVisor's runsc as the shim's runc binary (--platform=ptrace
#                   --network=none --ignore-cgroups: Debian has no runsc shim, and the runc
#                   shim gives the container no network namespace to sandbox)
#   oci-exec        catload-oci, the plain image: init from scratch in the sandbox
#   oci-cached      catload-oci, the plain image with dev.catalyzer.snapshot=cache: cold boot of
#                   the snapshot the first container captured
#   oci-packed      catload-oci, the `catimg pack`ed func-image pulled as an image
#   serve-cold      the same request POSTed to `catload serve` (no engine), cold boot
#   serve-fork      the same, fork boot (serve's default: the fast path)
# Needs root, containerd, ctr, umoci (and runsc, curl for their rows). N=${BENCH_N:-7} runs each.
# The ctest smoke (bench.oci_bench_smoke) runs it with BENCH_QUICK=1 (N=1), BENCH_RUNSC=0 and
# BENCH_STRICT=1: a path of ours that fails or answers differently from native is a
# "bench: error:" line and exit 1; without root or the engines it exits 77 (a skip).
set -uo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE_DIR=${SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SOURCE_DIR/build}
CATLOAD=${CATLOAD:-$BUILD_DIR/bin/catload}
CATIMG=${CATIMG:-$BUILD_DIR/bin/catimg}
FIXTURES=${FIXTURES:-$BUILD_DIR/fixtures}
OCI=$(dirname "$CATLOAD")/catload-oci
if [[ ${BENCH_QUICK:-0} == 1 ]]; then N=${BENCH_N:-1}; else N=${BENCH_N:-7}; fi
source "$SOURCE_DIR/tests/e2e/lib/engines.sh"
die() {
  echo "bench: error: $*" >&2
  exit 1
}
# skip_all REASON: nothing can be measured here (not a failure of ours): a line the ctest smoke
# takes as a skip (SKIP_REGULAR_EXPRESSION), exit 77, logged for .ci/run's skip check.
skip_all() {
  echo "oci_bench: skipped, nothing measured: $*"
  [[ -z ${E2E_SKIP_LOG:-} ]] || echo "bench.oci_bench: $*" >>"$E2E_SKIP_LOG"
  exit 77
}
((EUID == 0)) || skip_all "needs root (containerd)"
missing=$(have_engine_tools containerd ctr umoci) || skip_all "$missing is not installed (scripts/setup-deps.sh)"
[[ -x $OCI ]] || die "catload-oci not found next to catload ($OCI)"
T=$(mktemp -d "${TMPDIR:-/tmp}/oci-bench.XXXXXX")
ENG_DIR=$T/eng
mkdir -p "$ENG_DIR" "$T/lua/fn"
trap 'stop_engines; [[ -n ${SERVE_PID:-} ]] && kill $SERVE_PID 2>/dev/null; rm -rf "$T"' EXIT
start_containerd || die "containerd did not answer within ${ENG_WAIT}s"
REQ=$'prime 1000003\n'
echo "== ctr run end to end: the Lua function, one request (N=$N per path, interleaved)"

cp "$FIXTURES/lua_fn" "$FIXTURES/function.lua" "$T/lua/fn/" || die "fixture lua_fn or function.lua not built"
oci_layout_from_dir "$T/layout" plain "$T/lua" /fn/lua_fn /fn/function.lua >/dev/null ||
  die "umoci could not make the plain Lua image"
(cd "$T/lua" && "$CATIMG" build -q --rootfs . -o "$T/lua.cfi" -- ./fn/lua_fn /fn/function.lua </dev/null) ||
  die "catimg build of the Lua function failed"
"$CATIMG" pack -q "$T/lua.cfi" -o "oci:$T/layout:packed" || die "catimg pack failed"
{ tar -C "$T/layout" -cf "$T/layout.tar" . &&
  ctrx images import --base-name bench/lua "$T/layout.tar" >/dev/null; } || die "ctr images import failed"
want=$(cd "$T/lua" && printf '%s' "$REQ" | ./fn/lua_fn fn/function.lua)

printf '#!/bin/sh\nexec runsc --platform=ptrace --network=none --ignore-cgroups "$@"\n' >"$T/runsc"
chmod +x "$T/runsc"

# one_run PATH ID: one `ctr run` (or one POST), its wall time in ms on stdout; "fail" if the
# answer differs from native.
one_run() {
  local path=$1 id=$2 opts=() image=bench/lua:plain out t0 t1
  case $path in
    runc) opts=() ;;
    runsc) opts=(--runc-binary "$T/runsc" --runc-root "$T/runsc-root") ;;
    oci-exec) opts=(--runc-binary "$OCI" --runc-root "$T/oci-root") ;;
    oci-cached) opts=(--runc-binary "$OCI" --runc-root "$T/oci-root" --annotation dev.catalyzer.snapshot=cache) ;;
    oci-packed) opts=(--runc-binary "$OCI" --runc-root "$T/oci-root") image=bench/lua:packed ;;
    serve-cold | serve-fork)
      t0=$EPOCHREALTIME
      out=$(printf '%s' "$REQ" | curl -s --data-binary @- "$URL/invoke/lua?boot=${path#serve-}")
      t1=$EPOCHREALTIME
      [[ $out == "$want" ]] || { echo fail; return; }
      echo "$t0 $t1" | awk '{printf "%.1f\n", ($2-$1)*1000}'
      return ;;
  esac
  t0=$EPOCHREALTIME
  # The request goes in once the task runs: ctr 1.6 drops an earlier EOF (e2e.oci_runtime).
  out=$({ wait_for 30 bash -c "ctr -a '$CTD_SOCK' -n catalyzer task ls | grep -q '^$id .*RUNNING'"
    printf '%s' "$REQ"; } | timeout 60 ctr -a "$CTD_SOCK" -n catalyzer run --rm "${opts[@]}" "$image" "$id" 2>/dev/null)
  t1=$EPOCHREALTIME
  [[ $out == "$want" ]] || { echo fail; return; }
  echo "$t0 $t1" | awk '{printf "%.1f\n", ($2-$1)*1000}'
}

paths=(runc oci-exec oci-cached oci-packed)
skipped=()
# An outside tool's row that cannot run: a "skipped:" line after the table, logged for .ci/run.
skip_optional() {
  skipped+=("skipped: $*")
  [[ -z ${E2E_SKIP_LOG:-} ]] || echo "bench.oci_bench: $*" >>"$E2E_SKIP_LOG"
}
if [[ ${BENCH_RUNSC:-1} == 0 ]]; then
  skip_optional "gVisor: BENCH_RUNSC=0"
elif command -v runsc >/dev/null; then
  paths+=(runsc)
else
  skip_optional "gVisor: runsc not installed"
fi
if [[ -x $(dirname "$CATLOAD")/catload-serve ]] && command -v curl >/dev/null; then
  "$CATLOAD" serve --listen 127.0.0.1:0 --rootfs "$T/lua" "$T/lua.cfi" 2>"$T/serve.log" &
  SERVE_PID=$!
  for _ in $(seq 200); do
    URL=$(grep -o 'listening on http://[0-9.:]*' "$T/serve.log" | sed 's/listening on //')
    [[ -n $URL ]] && break
    sleep 0.05
  done
  [[ -n $URL ]] || die "catload serve did not start: $(tail -2 "$T/serve.log")"
  paths+=(serve-cold serve-fork)
else
  die "catload-serve or curl missing (the serve rows are ours)"
fi
# The first cached container captures: not a cached run.
[[ $(one_run oci-cached warmup) != fail ]] || die "the first oci-cached container (the capture) failed"
declare -A times
for ((i = 0; i < N; i++)); do
  for p in "${paths[@]}"; do times[$p]+="$(one_run "$p" "b$i-$p") "; done
done
printf '%-12s %10s %20s %8s\n' path median_ms "min..max" vs_runc
runc_med=$(printf '%s\n' ${times[runc]} | grep -v fail | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
failed=()
for p in "${paths[@]}"; do
  vals=$(printf '%s\n' ${times[$p]})
  if grep -q fail <<<"$vals"; then
    printf '%-12s %s\n' "$p" "failed or answered differently from native"
    if [[ $p == runc || $p == runsc ]]; then skip_optional "runsc: failed or answered differently from native"; else failed+=("$p"); fi
    continue
  fi
  printf '%s\n' $vals | sort -n | awk -v p="$p" -v r="$runc_med" '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%-12s %10.1f %9.1f..%-9.1f %7.2fx\n", p, m, a[1], a[NR], (r > 0 ? m / r : 0)}'
done
echo "(ctr run end to end: request written once the task runs, to the answer; N=$N interleaved)"
for line in "${skipped[@]}"; do echo "$line"; done
if ((${#failed[@]})); then
  [[ ${BENCH_STRICT:-0} != 1 ]] || die "BENCH_STRICT=1: path(s) of ours failed: ${failed[*]}"
  echo "note: path(s) of ours failed: ${failed[*]}"
fi
echo "bench: done"
