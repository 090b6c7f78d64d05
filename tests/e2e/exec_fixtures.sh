#!/usr/bin/env bash
# exec_fixtures: every fixture program gives the same stdout and exit code under
# `catload exec` as natively, for several different requests.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_catload
for f in hello hello_pie musl_hello index_init lua_fn; do e2e_require_fixture "$f"; done
[[ -f $FIXTURES/function.lua ]] || e2e_setup_fail "$FIXTURES/function.lua is missing (build the lua_fn_script target)"
e2e_tmpdir

# hello / hello_pie: one request line; the same source, static and static-pie.
for exe in hello hello_pie; do
  e2e_compare "$exe.world" --rc 0 --input "world" -- "$FIXTURES/$exe"
  e2e_compare "$exe.spaces" --rc 0 --input "  two words, punctuation!  " -- "$FIXTURES/$exe"
  e2e_compare "$exe.empty-stdin" --rc 0 -- "$FIXTURES/$exe"
  # Only the first line is the request; the rest must be left unread, not echoed.
  e2e_compare "$exe.multiline" --rc 0 --input $'first\nsecond\nthird' -- "$FIXTURES/$exe"
  # argv beyond argv[0] is ignored by the program, but must not confuse the loader.
  e2e_compare "$exe.extra-args" --rc 0 --input "args" -- "$FIXTURES/$exe" a "b c" ""
done

# musl_hello: musl's start-up, float printf, qsort, getenv, time.
e2e_compare musl_hello.world --rc 0 --input "world" -- "$FIXTURES/musl_hello"
e2e_compare musl_hello.env --rc 0 --env GREETING=bonjour --env OTHER=x --input "zyx cba 123" \
  -- "$FIXTURES/musl_hello"
e2e_compare musl_hello.empty-stdin --rc 0 -- "$FIXTURES/musl_hello"
long=$(printf 'abcdefghij%.0s' {1..300})
e2e_compare musl_hello.long-line --rc 0 --input "$long" -- "$FIXTURES/musl_hello"

# index_init: expensive init, then one answer per query line until EOF.
e2e_compare index_init.lookups --rc 0 \
  --input $'idx 0\nidx 1\nidx 1499999\nhas 622b6655a050c46c\nhas 0x1234\nstats' \
  -- "$FIXTURES/index_init"
e2e_compare index_init.errors --rc 0 --input $'idx 1500000\nhas zz\nbogus\n' \
  -- "$FIXTURES/index_init"
e2e_compare index_init.range --rc 0 --input $'range 0 1000\nrange 1499000 2000000' \
  -- "$FIXTURES/index_init"
e2e_compare index_init.no-queries --rc 0 -- "$FIXTURES/index_init"
# Many queries: the response is larger than a pipe buffer, so output must be streamed.
seq 0 7 1499999 | sed 's/^/idx /' >"$E2E_TMP/index_queries.txt"
e2e_compare index_init.many-queries --rc 0 --stdin "$E2E_TMP/index_queries.txt" \
  -- "$FIXTURES/index_init"

# lua_fn: the script is a file the guest opens, so it is reached through the rootfs
# (/function.lua) or through a mount (/fn/function.lua).
lua_requests=$'prime 2\nprime 1999993\nprime 1000000\nnth 1\nnth 148933\nword abc\nprefix ab\nprefix q\nhello world\n\nprime x'
e2e_compare lua_fn.rootfs --rc 0 --root "$FIXTURES" --input "$lua_requests" \
  -- "$FIXTURES/lua_fn" @ROOT@/function.lua
e2e_compare lua_fn.mount --rc 0 --mount "$FIXTURES:/fn:ro" --input "$lua_requests" \
  -- "$FIXTURES/lua_fn" /fn/function.lua
e2e_compare lua_fn.no-requests --rc 0 --root "$FIXTURES" -- "$FIXTURES/lua_fn" @ROOT@/function.lua
# Error paths: a missing script and a missing argument both exit nonzero.
e2e_compare lua_fn.missing-script --rc 1 --root "$FIXTURES" -- "$FIXTURES/lua_fn" /no/such.lua
e2e_compare lua_fn.usage --rc 2 -- "$FIXTURES/lua_fn"

e2e_finish
