# Shared helpers for tests/e2e/*.sh (source it). Scripts get CATLOAD, CATIMG, FIXTURES,
# SOURCE_DIR and BUILD_DIR from ctest; exit 77 means "skipped" and prints why.

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_FAILURES=0
E2E_PASSES=0

e2e_skip() {
  echo "SKIP: $*"
  exit 77
}

e2e_pass() {
  E2E_PASSES=$((E2E_PASSES + 1))
  echo "PASS: $*"
}

e2e_fail() {
  E2E_FAILURES=$((E2E_FAILURES + 1))
  echo "FAIL: $*"
}

# e2e_check DESCRIPTION COMMAND...: PASS if COMMAND succeeds, FAIL otherwise.
e2e_check() {
  local what=$1
  shift
  if "$@"; then e2e_pass "$what"; else e2e_fail "$what"; fi
}

# Prints the totals and exits 0 if nothing failed, 1 otherwise.
e2e_finish() {
  echo "---- $E2E_PASSES passed, $E2E_FAILURES failed"
  [ "$E2E_FAILURES" -eq 0 ]
  exit $?
}

# Skips the test unless $CATLOAD is an executable whose `exec --help` succeeds.
e2e_require_catload() {
  [ -n "${CATLOAD:-}" ] || e2e_skip "CATLOAD is not set (run through ctest, or export CATLOAD=path/to/catload)"
  [ -x "$CATLOAD" ] || e2e_skip "catload not found at $CATLOAD (build the catload target first)"
  "$CATLOAD" exec --help >/dev/null 2>&1 ||
    e2e_skip "\"$CATLOAD exec --help\" fails: catload has no working exec subcommand yet"
}

# e2e_run NAME LIMIT CMD...: runs CMD with stdin from $RUN_STDIN (default /dev/null), stdout
# and stderr into $RUN_DIR/NAME.out and NAME.err, killing it after LIMIT seconds. Sets
# RUN_KIND (exit|signal|hung), RUN_VALUE (exit status or signal), RUN_SECS, RUN_CORE, RUN_OUT,
# RUN_ERR.
e2e_run() {
  local name=$1 limit=$2
  shift 2
  RUN_OUT=$RUN_DIR/$name.out
  RUN_ERR=$RUN_DIR/$name.err
  perl "$E2E_LIB_DIR/run.pl" "$RUN_DIR/$name.status" "$limit" "$@" \
    <"${RUN_STDIN:-/dev/null}" >"$RUN_OUT" 2>"$RUN_ERR"
  read -r RUN_KIND RUN_VALUE RUN_SECS RUN_CORE <"$RUN_DIR/$name.status"
}

# Describes the last e2e_run for messages: "exit 3 after 0.12 s".
e2e_run_desc() {
  case $RUN_KIND in
    signal) echo "killed by signal $RUN_VALUE$([ "$RUN_CORE" = 1 ] && echo ' (core dumped)') after $RUN_SECS s" ;;
    hung) echo "still running after its time limit (killed) after $RUN_SECS s" ;;
    *) echo "exit $RUN_VALUE after $RUN_SECS s" ;;
  esac
}

# Prints a file indented, for failure context.
e2e_show() {
  local label=$1 file=$2
  [ -s "$file" ] || return 0
  echo "  --- $label:"
  sed 's/^/  | /' "$file" | head -n "${3:-40}"
}

# True if a float $1 <= $2.
e2e_le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
