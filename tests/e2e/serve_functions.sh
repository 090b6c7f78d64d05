#!/usr/bin/env bash
# e2e.serve_functions: the Lua, SQLite and CPython fixtures answer through `catload serve` with
# cold, warm and fork boot exactly as a native run of the same binary does: the same stdout and
# the same exit code (X-Catalyzer-Exit-Code), for requests that read, write (SQLite inserts, then
# a request that must see the snapshot's row count again), fail and exit non-zero. One server
# serves all three with the host directories their images recorded (--mounts-from-image).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_server.sh"
for f in lua_fn sqlite_fn python_fn; do e2e_require_fixture "$f"; done
[[ -f $FIXTURES/function.lua ]] || e2e_setup_fail "$FIXTURES/function.lua is missing (build the lua_fn_script target)"
[[ -f $FIXTURES/handler.py ]] || e2e_setup_fail "$FIXTURES/handler.py is missing (build the python_fn_handler target)"
STDLIB=/usr/lib/python3.11
[[ -f $STDLIB/json/__init__.py ]] || e2e_setup_fail "$STDLIB is missing (apt-get install libpython3.11-stdlib)"

e2e_image lua_fn --mount "$FIXTURES:/fn:ro" -- "$FIXTURES/lua_fn" /fn/function.lua || e2e_finish
e2e_image sqlite_fn -- "$FIXTURES/sqlite_fn" || e2e_finish
e2e_image python_fn --env PYTHONHOME=/usr --mount "$STDLIB:$STDLIB:ro" --mount "$FIXTURES:/fn:ro" \
  -- "$FIXTURES/python_fn" -s /fn/handler.py || e2e_finish

start_server fns --max-instances 2 "$T/lua_fn.cfi" "$T/sqlite_fn.cfi" "$T/python_fn.cfi" \
  --mounts-from-image

# same NAME CASE INPUT: native stdout and exit code, then the same request through serve in
# each boot mode.
same() {
  local name=$1 case=$2 input=$3 mode
  printf '%s\n' "$input" >"$T/$name.$case.in"
  (eval "${E2E_IMG_NATIVE[$name]}") <"$T/$name.$case.in" >"$T/$name.$case.native" 2>/dev/null
  local native_rc=$?
  for mode in cold warm fork; do
    curl -s -m 60 -o "$T/$name.$case.$mode" -D "$T/hdrs" --data-binary @"$T/$name.$case.in" \
      "$URL/invoke/$name?boot=$mode" >/dev/null
    local code rc
    code=$(awk 'NR == 1 { print $2 }' "$T/hdrs")
    rc=$(grep -i '^X-Catalyzer-Exit-Code:' "$T/hdrs" | cut -d' ' -f2 | tr -d '\r')
    e2e_check "$name $case boot=$mode: 200 with native's stdout and exit code $native_rc (got $code, exit '$rc', $(cmp -s "$T/$name.$case.native" "$T/$name.$case.$mode" && echo same || echo different) stdout)" \
      test "$code" = 200 -a "$rc" = "$native_rc" -a -s "$T/$name.$case.native" \
      -a "$(cmp -s "$T/$name.$case.native" "$T/$name.$case.$mode" && echo same)" = same
  done
}

same lua_fn primes $'prime 2\nprime 1999993\nprime 1000000'
same lua_fn words $'nth 148933\nword abc\nprefix ab\nprefix q'
same lua_fn other $'hello world\n\nprime x'
same sqlite_fn reads $'count qnrwablk\nsum 100 200000\nget 199999\ntop 5'
same sqlite_fn insert $'insert zzz 1 2\ninsert zzz 3 4\nrows\ncount zzz'
same sqlite_fn after-insert $'rows\ncount zzz'
same sqlite_fn exit-code $'rows\nexit 7\nrows'
same sqlite_fn bad-query $'bogus\nrows'
same python_fn lookups $'{"get": "cyrama0"}\n{"get": "nosuchword"}\n{"stats": true}'
same python_fn other $'{"prefix": "cyr"}\n{"date": 9000}\n{"words": "The cat saw the dog; the dog ran."}'
same python_fn errors $'not json\n{"get": 1}\n{"stats": true}'
same python_fn exit-code $'{"get": "cyrama0"}\n{"exit": 7}\n{"stats": true}'

kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
rc=$?
e2e_check "SIGTERM: the server exits 0 (got $rc)" test "$rc" = 0
e2e_finish
