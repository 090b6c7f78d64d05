#!/usr/bin/env bash
# oci_pack.sh: the transport form against the raw image (spec/oci.md). A function (many_files)
# is captured with a rootfs of N small files and a read-only mount of a real directory tree
# (the Python standard library, /usr/lib/python3.11, which scripts/setup-deps.sh installs; in
# BENCH_QUICK mode its json/ subdirectory), built, and packed with zstd and with gzip. Printed,
# all from this run:
#   sizes: the raw image (the .cfi plus the directories, apparent bytes), the uncompressed
#          layer tars, the zstd and gzip layer blobs, and raw / compressed;
#   unpack time, interleaved R times: laying the raw image down (cp -a of the .cfi and the
#          directories into a fresh directory: what distributing plain files costs at the
#          destination) against `catimg unpack` of the zstd and of the gzip layout (every
#          digest verified, every entry checked): median, min..max, ratio to the raw copy;
#   pack time (catimg pack, zstd and gzip), the same way.
# Environment: CATLOAD CATIMG FIXTURES SOURCE_DIR BUILD_DIR (ctest sets them), BENCH_REPS (runs
# per measurement, default 7; 3 with BENCH_QUICK=1), BENCH_QUICK=1, BENCH_OCI_FILES (rootfs
# files, default 2000; 200 quick), BENCH_OCI_MOUNT (the mounted directory), BENCH_KEEP=1.
# shellcheck source=lib/bench_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench_common.sh"

if [[ $QUICK == 1 ]]; then
  REPS=${BENCH_REPS:-3}
  FILES=${BENCH_OCI_FILES:-200}
  MOUNT=${BENCH_OCI_MOUNT:-/usr/lib/python3.11/json}
else
  REPS=${BENCH_REPS:-7}
  FILES=${BENCH_OCI_FILES:-2000}
  MOUNT=${BENCH_OCI_MOUNT:-/usr/lib/python3.11}
fi
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer, got '$REPS'"
[[ -d $MOUNT ]] || die "mount directory $MOUNT missing (scripts/setup-deps.sh installs libpython3.11-stdlib)"
[[ -x $FIXTURES/many_files ]] || die "fixture many_files not built"
catimg_has pack || die "$CATIMG has no pack subcommand"
bench_banner "oci_pack: zstd/gzip layers against the raw image"
echo "function: many_files, rootfs of $FILES files, mount $MOUNT ($(du -sb "$MOUNT" | cut -f1) bytes); $REPS runs each"

R=$tmp/root
mkdir -p "$R/data"
for ((i = 0; i < FILES; i++)); do printf 'file %d of the benchmark rootfs %s\n' "$i" "$(printf '%*s' $((i % 200)) '' | tr ' ' "$((i % 10))")" >"$R/data/f$i"; done
untimed /dev/null "$tmp/cap.out" "$tmp/cap.err" "$CATLOAD" capture --max-fds=4096 --rootfs "$R" --mount "$MOUNT:/py:ro" \
  -o "$tmp/fn.core" -- "$FIXTURES/many_files" /data "$FILES"
[[ -z $FAIL ]] || die "capture: $FAIL"
untimed /dev/null "$tmp/build.out" "$tmp/build.err" "$CATIMG" build "$tmp/fn.core" -o "$tmp/fn.cfi"
[[ -z $FAIL ]] || die "build: $FAIL"

declare -A T=()
add() { T[$1]+="$2 "; }
for ((rep = 0; rep < REPS; rep++)); do
  for comp in zstd gzip; do
    rm -rf "$tmp/lay-$comp"
    timed /dev/null "$tmp/pack.out" "$tmp/pack.err" "$CATIMG" pack -q "$tmp/fn.cfi" --compression $comp -o "oci:$tmp/lay-$comp:fn"
    ((RUN_RC == 0)) || die "pack $comp: $(first_line "$tmp/pack.err")"
    add "pack-$comp" "$RUN_US"
  done
  rm -rf "$tmp/raw" && mkdir -p "$tmp/raw"
  timed /dev/null "$tmp/cp.out" "$tmp/cp.err" cp -a "$tmp/fn.cfi" "$R" "$MOUNT" "$tmp/raw/"
  ((RUN_RC == 0)) || die "cp -a: $(first_line "$tmp/cp.err")"
  add raw "$RUN_US"
  for comp in zstd gzip; do
    rm -rf "$tmp/out-$comp"
    timed /dev/null "$tmp/unpack.out" "$tmp/unpack.err" "$CATIMG" unpack -q "oci:$tmp/lay-$comp:fn" -o "$tmp/out-$comp"
    ((RUN_RC == 0)) || die "unpack $comp: $(first_line "$tmp/unpack.err")"
    add "unpack-$comp" "$RUN_US"
  done
done
# The unpacked image answers like the original (the held rootfs files reconnect).
echo sum | "$CATLOAD" run --rootfs "$R" --mount "$MOUNT:/py:ro" "$tmp/fn.cfi" >"$tmp/orig.txt" 2>/dev/null || die "the original image does not run"
echo sum | "$CATLOAD" run --rootfs "$tmp/out-zstd" --mount "$tmp/out-zstd/py:/py:ro" "$tmp/out-zstd/.catalyzer/function.cfi" >"$tmp/rt.txt" 2>/dev/null ||
  die "the unpacked image does not run"
cmp -s "$tmp/orig.txt" "$tmp/rt.txt" || die "the unpacked image answers differently"

layers() { # layers LAYOUT: the layer blobs' paths
  python3 -c 'import json,sys
d=sys.argv[1]; m=json.load(open(d+"/blobs/sha256/"+json.load(open(d+"/index.json"))["manifests"][0]["digest"][7:]))
print("\n".join(d+"/blobs/sha256/"+l["digest"][7:] for l in m["layers"]))' "$1"
}
raw_bytes=$(du -sb --apparent-size "$tmp/fn.cfi" "$R" "$MOUNT" | awk '{ s += $1 } END { print s }')
tar_bytes=0 zstd_bytes=0 gzip_bytes=0
while read -r b; do
  tar_bytes=$((tar_bytes + $(zstd -dc "$b" | wc -c)))
  zstd_bytes=$((zstd_bytes + $(stat -c %s "$b")))
done < <(layers "$tmp/lay-zstd")
while read -r b; do gzip_bytes=$((gzip_bytes + $(stat -c %s "$b"))); done < <(layers "$tmp/lay-gzip")

echo
echo "== sizes (bytes; ratio = raw / this)"
printf '%-26s %14s %10s\n' form bytes ratio
printf '%-26s %14d %10s\n' "raw (.cfi + directories)" "$raw_bytes" 1.00x
printf '%-26s %14d %10s\n' "layer tars, uncompressed" "$tar_bytes" "$(ratio "$raw_bytes" "$tar_bytes")"
printf '%-26s %14d %10s\n' "zstd layers" "$zstd_bytes" "$(ratio "$raw_bytes" "$zstd_bytes")"
printf '%-26s %14d %10s\n' "gzip layers" "$gzip_bytes" "$(ratio "$raw_bytes" "$gzip_bytes")"

row() { # row LABEL KEY BASEKEY
  local -a v
  read -r -a v <<<"${T[$2]}"
  local -a ms=()
  local x
  for x in "${v[@]}"; do ms+=("$(scale "$x" 1000)"); done
  local med base
  med=$(median "${ms[@]}")
  if [[ -n ${3:-} ]]; then
    local -a b=()
    read -r -a v <<<"${T[$3]}"
    for x in "${v[@]}"; do b+=("$(scale "$x" 1000)"); done
    base=$(median "${b[@]}")
  fi
  printf '%-26s %10.2f %18s %10s\n' "$1" "$med" "$(range "${ms[@]}")" "$(ratio "$med" "${base:-}")"
}
echo
echo "== unpack time (ms; ratio = this / raw copy)"
printf '%-26s %10s %18s %10s\n' path median min..max ratio
row "raw copy (cp -a)" raw raw
row "catimg unpack, zstd" unpack-zstd raw
row "catimg unpack, gzip" unpack-gzip raw
echo
echo "== pack time (ms; ratio = this / zstd)"
printf '%-26s %10s %18s %10s\n' path median min..max ratio
row "catimg pack, zstd" pack-zstd pack-zstd
row "catimg pack, gzip" pack-gzip pack-zstd
print_skipped
echo "bench: done"
