#!/usr/bin/env bash
# make_seeds.sh OUT_DIR: seed inputs for the fuzz targets, made from the fixtures with the
# build's own binaries (nothing big is committed): OUT_DIR/<target>/ holds small seeds (func-
# images without segment bytes, checkpoints without memory bytes, small static executables), the
# ones a fuzzer mutates; OUT_DIR/full/<target>/ holds the same functions' full images and
# checkpoints, which replay.sh runs too. Uses $BUILD_DIR (default: build/ of this tree): bin/
# catload, catimg, cfi_mutate, core_strip and fixtures/. Fails if any of ours is missing or
# fails: seeds made from a broken build would test nothing.
set -euo pipefail
OUT=${1:?usage: make_seeds.sh OUT_DIR}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC/build}
B=$BUILD_DIR/bin
F=$BUILD_DIR/fixtures
for x in "$B/catload" "$B/catimg" "$B/cfi_mutate" "$B/core_strip" "$F/hello" "$F/explicit_entry" \
  "$F/state_objects" "$F/musl_hello" "$F/hello_pie"; do
  [[ -x $x ]] || { echo "make_seeds: $x is missing (build the project first)" >&2; exit 1; }
done
mkdir -p "$OUT"/{func_image,checkpoint,elf,oci_layer} "$OUT"/full/{func_image,checkpoint,elf,oci_layer}
work=$(mktemp -d "${TMPDIR:-/tmp}/catalyzer-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT

# name CAPTURE-ARGS...: one function captured and built, in full and small.
seed() {
  local name=$1
  shift
  if ! timeout 120 "$B/catload" capture -o "$work/$name.core" "$@" </dev/null >"$work/$name.log" 2>&1 ||
    ! timeout 120 "$B/catimg" build "$work/$name.core" -o "$work/$name.cfi" >>"$work/$name.log" 2>&1; then
    echo "make_seeds: capture or build of $name failed: $(tail -n 3 "$work/$name.log")" >&2
    exit 1
  fi
  cp "$work/$name.cfi" "$OUT/full/func_image/$name.cfi"
  cp "$work/$name.core" "$OUT/full/checkpoint/$name.core"
  "$B/cfi_mutate" "$work/$name.cfi" -o "$OUT/func_image/$name.cfi" --drop-segment-data
  "$B/core_strip" "$work/$name.core" "$OUT/checkpoint/$name.core"
}
seed hello -- "$F/hello"
seed explicit_entry --entry=explicit -- "$F/explicit_entry"
seed state_files -- "$F/state_objects" 24 files
seed state_fds --max-fds 256 -- "$F/state_objects" 24 fds
mkdir -p "$work/data" && echo data >"$work/data/f0"
seed mounted --mount "$work/data:/data:ro" -- "$F/hello"
cp "$F/musl_hello" "$OUT/elf/"
cp "$F/hello" "$F/hello_pie" "$OUT/full/elf/"
# oci_layer: small layer tars (a file, a directory, a symlink, an opaque whiteout), the first
# byte choosing the media type as fuzz_oci_layer.cc reads it: 0 tar, 1 tar+zstd, 2 tar+gzip.
mkdir -p "$work/layer/dir" && echo data >"$work/layer/dir/file" && ln -s dir/file "$work/layer/link"
: >"$work/layer/dir/.wh..wh..opq"
tar --format=posix --sort=name --mtime=@0 --owner=0 --group=0 -C "$work/layer" -cf "$work/layer.tar" .
{ printf '\0'; cat "$work/layer.tar"; } >"$OUT/oci_layer/tar"
{ printf '\1'; zstd -q -c "$work/layer.tar"; } >"$OUT/oci_layer/zstd"
{ printf '\2'; gzip -n -c "$work/layer.tar"; } >"$OUT/oci_layer/gzip"
echo "make_seeds: $(find "$OUT" -type f | wc -l) seeds in $OUT"
