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
set -uo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE_DIR=${SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SOURCE_DIR/build}
CATLOAD=${CATLOAD:-$BUILD_DIR/bin/catload}
CATIMG=${CATIMG:-$BUILD_DIR/bin/catimg}
FIXTURES=${FIXTURES:-$BUILD_DIR/fixtures}
OCI=$(dirname "$CATLOAD")/catload-oci
N=${BENCH_N:-7}
source "$SOURCE_DIR/tests/e2e/lib/engines.sh"
((EUID == 0)) || { echo "oci_bench: needs root (containerd)"; exit 0; }
missing=$(have_engine_tools containerd ctr umoci) || { echo "oci_bench: $missing missing"; exit 0; }
T=$(mktemp -d "${TMPDIR:-/tmp}/oci-bench.XXXXXX")
ENG_DIR=$T/eng
mkdir -p "$ENG_DIR" "$T/lua/fn"
trap 'stop_engines; [[ -n ${SERVE_PID:-} ]] && kill $SERVE_PID 2>/dev/null; rm -rf "$T"' EXIT
start_containerd || { echo "oci_bench: containerd did not start"; exit 1; }
REQ=$'prime 1000003\n'

cp "$FIXTURES/lua_fn" "$FIXTURES/function.lua" "$T/lua/fn/"
oci_layout_from_dir "$T/layout" plain "$T/lua" /fn/lua_fn /fn/function.lua >/dev/null
(cd "$T/lua" && "$CATIMG" build -q --rootfs . -o "$T/lua.cfi" -- ./fn/lua_fn /fn/function.lua </dev/null)
"$CATIMG" pack -q "$T/lua.cfi" -o "oci:$T/layout:packed"
tar -C "$T/layout" -cf "$T/layout.tar" .
ctrx images import --base-name bench/lua "$T/layout.tar" >/dev/null
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
command -v runsc >/dev/null && paths+=(runsc) || echo "skipped: runsc (not installed)"
if [[ -x $(dirname "$CATLOAD")/catload-serve ]] && command -v curl >/dev/null; then
  "$CATLOAD" serve --listen 127.0.0.1:0 --rootfs "$T/lua" "$T/lua.cfi" 2>"$T/serve.log" &
  SERVE_PID=$!
  for _ in $(seq 200); do
    URL=$(grep -o 'listening on http://[0-9.:]*' "$T/serve.log" | sed 's/listening on //')
    [[ -n $URL ]] && break
    sleep 0.05
  done
  [[ -n $URL ]] && paths+=(serve-cold serve-fork) || echo "skipped: serve-cold (catload serve did not start)"
else
  echo "skipped: serve-cold (catload-serve or curl missing)"
fi
one_run oci-cached warmup >/dev/null # the first cached container captures: not a cached run
declare -A times
for ((i = 0; i < N; i++)); do
  for p in "${paths[@]}"; do times[$p]+="$(one_run "$p" "b$i-$p") "; done
done
printf '%-12s %10s %20s %8s\n' path median_ms "min..max" vs_runc
runc_med=$(printf '%s\n' ${times[runc]} | grep -v fail | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
for p in "${paths[@]}"; do
  vals=$(printf '%s\n' ${times[$p]})
  if grep -q fail <<<"$vals"; then printf '%-12s %s\n' "$p" "answer differs from native"; continue; fi
  printf '%s\n' $vals | sort -n | awk -v p="$p" -v r="$runc_med" '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%-12s %10.1f %9.1f..%-9.1f %7.2fx\n", p, m, a[1], a[NR], m/r}'
done
echo "(ctr run end to end: request written once the task runs, to the answer; N=$N interleaved)"
