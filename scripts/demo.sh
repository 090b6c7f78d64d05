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

echo "== 6. catload serve: the Lua image behind HTTP, invoked with each boot mode"
# Port 0: a free port; the server's log names it. The image's name is its file's stem (lua).
# --max-instances 1: one worker thread, so that the second fork request finds the template the
# first made (each worker has its own: spec/serve.md).
"$catload" serve --listen 127.0.0.1:0 --max-instances 1 "${bind[@]}" "$work/lua.cfi" 2>"$work/serve.log" &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
url=
for _ in $(seq 100); do
  url=$(grep -o -m1 'listening on http://[^ ]*' "$work/serve.log" | sed 's/^listening on //' || true)
  [ -n "$url" ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "catload serve did not start"; cat "$work/serve.log"; exit 1; }
echo "serving at $url: $(curl -sS "$url/" | jq -c '{boot_modes, functions: [.functions[].name]}')"
offered=$(curl -sS "$url/" | jq -r '.boot_modes | join(" ")')
printf 'nth 1000\n' >"$work/request"
for mode in cold warm fork; do
  if [[ " $offered " != *" $mode "* ]]; then
    echo "boot=$mode: not offered by this server (it offers: $offered)"
    continue
  fi
  # The answer is the body; the boot latency and the mode used are response headers. Twice:
  # the first request of a mode also makes what it boots from (the zygote pool, the worker's
  # fork template), the second shows the boot itself.
  for round in first second; do
    answer=$(curl -sS --fail-with-body --data-binary "@$work/request" -D "$work/headers" \
      "$url/invoke/lua?boot=$mode")
    boot_us=$(tr -d '\r' <"$work/headers" | awk -F': ' 'tolower($1) == "x-catalyzer-boot-latency-us" { print $2 }')
    echo "boot=$mode ($round request): $answer (boot latency ${boot_us} µs)"
    [ "$answer" = "$native" ]
  done
done
# The matching client: its exit code is the function's.
echo "catload invoke: $("$catload" invoke "$url" lua <"$work/request")"
kill -TERM "$serve_pid"
wait "$serve_pid" # SIGTERM drains and exits 0
echo "demo: ok"
