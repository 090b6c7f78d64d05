#!/usr/bin/env bash
# checkpoint_gdb: a checkpoint written by `catload capture` is an ordinary ELF core file that
# gdb reads: `gdb -batch -ex bt EXE CORE` shows where the function stopped (static and
# static-pie: the PIE load address comes from the core's NT_AUXV), and guest memory (a global
# filled during init) can be printed from it.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

command -v gdb >/dev/null 2>&1 || e2e_skip "gdb is not installed (apt-get install gdb)"
[[ -n ${CATLOAD:-} ]] || e2e_setup_fail "CATLOAD is not set (run through ctest, or export CATLOAD=path/to/catload)"
e2e_require_subcommand "$CATLOAD" capture
for f in hello hello_pie explicit_entry; do e2e_require_fixture "$f"; done
e2e_tmpdir

# gdb_check NAME WANT-REGEX GDB-ARGS... -- CAPTURE-ARGS...: capture, then run gdb -batch on
# EXE (the last capture argument) and the core; its output must match WANT-REGEX (extended).
gdb_check() {
  local name=$1 want=$2
  shift 2
  local -a gargs=()
  while [[ $1 != -- ]]; do gargs+=("$1"); shift; done
  shift
  local exe=${*: -1} core=$E2E_TMP/$name.core
  if ! timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" capture -o "$core" "$@" </dev/null \
    >"$E2E_TMP/$name.capture.out" 2>"$E2E_TMP/$name.capture.err"; then
    e2e_fail "$name" "capture failed: $(e2e_quote "$CATLOAD" capture -o "$core" "$@") < /dev/null"
    e2e_show "stderr" "$E2E_TMP/$name.capture.err" 10
    return
  fi
  local -a cmd=(gdb -nx -batch "${gargs[@]}" "$exe" "$core")
  timeout -k 5 60 "${cmd[@]}" </dev/null >"$E2E_TMP/$name.gdb" 2>&1
  if grep -Eq "$want" "$E2E_TMP/$name.gdb"; then
    e2e_pass "$name: $(grep -E "$want" "$E2E_TMP/$name.gdb" | head -n 1)"
  else
    e2e_fail "$name" "gdb output does not match /$want/"
    echo "  command: $(e2e_quote "${cmd[@]}")"
    e2e_show "gdb output" "$E2E_TMP/$name.gdb" 30
  fi
}

# Stopped at the first read of fd 0: read() called from fgets() called from main().
for exe in hello hello_pie; do
  gdb_check "$exe.bt-read" '^#0 .* in (__libc_read|__GI___libc_read|read) ' -ex bt -- "$FIXTURES/$exe"
  gdb_check "$exe.bt-main" '^#[0-9]+ .* in main \(' -ex bt -- "$FIXTURES/$exe"
done
# Stopped at cat_func_entry(), inlined in main; the table built during init is in the core
# (digit sum of 12*12 = 144 is 9).
gdb_check explicit_entry.bt-main '^#0 +main \(' -ex bt -- --entry=explicit "$FIXTURES/explicit_entry"
gdb_check explicit_entry.memory '^\$1 = 9 ' -ex 'print g_digits[12]' -- --entry=explicit "$FIXTURES/explicit_entry"

e2e_finish
