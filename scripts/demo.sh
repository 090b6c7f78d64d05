#!/usr/bin/env bash
# The main job, end to end (after the build): a real function's initialization runs once in
# the sandbox and is captured at its func-entry point, compiled into a func-image, and every
# request then cold-boots from that image instead of re-running the initialization.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
catload="$build/bin/catload"
catimg="$build/bin/catimg"
fixtures="$PWD/$build/fixtures"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== 1. capture: a Lua function (static C host + liblua5.4.a, ~0.5 s of init) up to its first read of stdin"
"$catload" capture --mount "$fixtures:/fn:ro" --timeout 120 -o "$work/lua.core" \
  -- "$fixtures/lua_fn" /fn/function.lua
readelf -n "$work/lua.core" | grep -E 'Owner|CORE|CATALYZER' | head -8 || true

echo "== 2. catimg build: checkpoint -> func-image"
"$catimg" build "$work/lua.core" -o "$work/lua.cfi"
"$catimg" verify "$work/lua.cfi"

echo "== 3. catload run: cold boots, one request each (the init does not run again)"
# The image names no host directory: the operator binds its /fn mount (spec/sandbox.md).
bind=(--mount "$fixtures:/fn")
for request in "prime 97" "nth 1000" "word abc"; do
  printf '%s\n' "$request" | "$catload" run "${bind[@]}" --timeout 30 "$work/lua.cfi"
done
printf 'prime 7919\n' | "$catload" run "${bind[@]}" --stats "$work/lua.cfi"

echo "== 4. the same request natively (init included) must give the same answer"
native=$(printf 'nth 1000\n' | env -i "$fixtures/lua_fn" "$fixtures/function.lua")
booted=$(printf 'nth 1000\n' | "$catload" run "${bind[@]}" "$work/lua.cfi")
echo "native: $native"
echo "booted: $booted"
[ "$native" = "$booted" ]

echo "== 5. unmodified busybox awk with an expensive BEGIN block, captured and built in one step"
"$catimg" build -q -o "$work/awk.cfi" -- /bin/busybox awk \
  'BEGIN { for (i = 0; i < 300000; i++) t[i % 1000] += i } { print $1, t[$1 % 1000] }'
echo 42 | "$catload" run "$work/awk.cfi"
echo "demo: ok"
