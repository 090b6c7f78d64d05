#!/usr/bin/env bash
# The main job, end to end: runs real functions in the catalyzer sandbox (after the build).
# Today that is `catload exec` (boot from scratch); capture, func-images and cold boot come next.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
catload="$build/bin/catload"
fixtures="$build/fixtures"

echo "== a Lua function (static C host + liblua5.4.a) with an expensive init, in the sandbox"
printf 'prime 97\nnth 1000\n' | "$catload" exec --mount "$PWD/$fixtures:/fn:ro" --timeout 60 \
  -- "$fixtures/lua_fn" /fn/function.lua

echo "== unmodified busybox awk, reading a file from a read-only rootfs"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
printf 'alice 3\nbob 5\ncarol 7\n' >"$root/scores.txt"
"$catload" exec --rootfs "$root" --timeout 10 \
  -- /bin/busybox awk '{ s += $2 } END { print "total", s, "over", NR, "players" }' /scores.txt

echo "== the same request natively and in the sandbox must agree"
native=$(echo world | "$fixtures/hello")
sandboxed=$(echo world | "$catload" exec -- "$fixtures/hello")
echo "native:    $native"
echo "sandboxed: $sandboxed"
[ "$native" = "$sandboxed" ]
echo "demo: ok"
