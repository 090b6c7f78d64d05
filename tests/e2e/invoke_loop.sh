#!/usr/bin/env bash
# invoke_loop: many invocations in one process through the in-process invocation API
# (loader/boot/invocation.h), as `catload serve` makes them, must leave nothing behind and must
# not mix instances up. tests/tools/invoke_loop runs them and samples RSS, the malloc heap in
# use, fds, child processes and registered arenas after a warm-up and at the end (a leak test:
# bounds, never timings). Cases:
#   hello, 300 in a row: every answer right, nothing grows;
#   counter_fn, 1000 in a row: each run writes an overlay file (heap state on top of the arena)
#     and its first answer is "count 1" (no instance sees another's write); the heap returns
#     to its warm-up size (a teardown that left the state behind grows it ~100 bytes a run);
#   hello on 2 threads at once, 300: every answer is the instance's own request (instances on
#     several threads must not share buffers or fds).
# On a sanitizer build LeakSanitizer also checks the tool at exit (detect_leaks=1 here).
# By hand, the 10,000 of the issue: $BUILD_DIR/bin/invoke_loop --count 10000 --warmup 100 FN.cfi
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture hello
e2e_require_fixture counter_fn
INVOKE_LOOP=${INVOKE_LOOP:-$BUILD_DIR/bin/invoke_loop}
[[ -x $INVOKE_LOOP ]] || e2e_setup_fail "invoke_loop not found at $INVOKE_LOOP (build the invoke_loop target)"
e2e_tmpdir

e2e_image hello -- "$FIXTURES/hello" || e2e_finish
e2e_image counter_fn -- "$FIXTURES/counter_fn" || e2e_finish

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"

# loop NAME ARGS...: runs invoke_loop, PASS if it exits 0 (it names each leak it finds).
loop() {
  local name=$1
  shift
  if "$INVOKE_LOOP" "$@" >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err"; then
    e2e_pass "$name"
  else
    e2e_fail "$name" "invoke_loop exited $?"
    e2e_show "stdout" "$E2E_TMP/$name.out" 20
    e2e_show "stderr" "$E2E_TMP/$name.err" 20
    return
  fi
  sed 's/^/  /' "$E2E_TMP/$name.out"
}

# catload run is one invocation through the same API, on the platform --platform names.
# An explicit auto that falls back to ptrace says why in one stderr line (spec/kvm.md).
for platform in auto ptrace kvm; do
  got=$(printf 'hi\n' | "$CATLOAD" run --platform "$platform" "$E2E_TMP/hello.cfi" \
    2>"$E2E_TMP/platform.err")
  rc=$?
  if [[ $platform == kvm && $rc == 125 ]] && grep -q "kvm platform cannot run here" "$E2E_TMP/platform.err"; then
    e2e_pass "run --platform kvm is refused here, saying why: $(head -c 200 "$E2E_TMP/platform.err")"
    continue
  fi
  e2e_check "run --platform $platform" test "$got" = "hello, hi"
  e2e_check "run --platform $platform: at most one stderr line, a platform note" \
    test "$(grep -vc '^catload: run: platform auto: ptrace, not kvm: ' "$E2E_TMP/platform.err")" = 0
done
printf 'hi\n' | "$CATLOAD" run --platform no-such "$E2E_TMP/hello.cfi" >/dev/null 2>&1
rc=$?
e2e_check "run --platform no-such is refused (exit 125)" test "$rc" = 125

loop hello-300 --count 300 --request $'hi\n' --expect $'hello, hi\n' "$E2E_TMP/hello.cfi"
loop counter-1000 --count 1000 --request $'x\n' --expect $'count 1\n' "$E2E_TMP/counter_fn.cfi"
loop hello-2-threads --count 300 --threads 2 --unique-requests --expect-echo 'hello, ' \
  "$E2E_TMP/hello.cfi"

e2e_finish
