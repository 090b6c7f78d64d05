# Shared helpers for the end-to-end scripts in tests/e2e/ (sourced, not a test itself).
#
# The scripts get CATLOAD, CATIMG, FIXTURES, SOURCE_DIR and BUILD_DIR from ctest (see
# tests/CMakeLists.txt). Exit code 77 means "skipped"; the reason is always printed.
#
# The core helper is e2e_compare: run one program natively and under `catload exec` with the
# same stdin, argv and environment, and require the same stdout and exit code. Failures are
# collected (so one run reports every failing case) and e2e_finish turns them into the exit code.

set -uo pipefail

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_FAILS=0
E2E_PASSES=0
E2E_FAILED_NAMES=()
# How long one run may take before it is treated as hung (seconds, natively and in the sandbox).
E2E_TIMEOUT=${E2E_TIMEOUT:-120}

e2e_skip() {
  echo "SKIP: $*"
  exit 77
}

# A private scratch directory, removed on exit unless E2E_KEEP=1 (to inspect a failure).
e2e_tmpdir() {
  E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/catalyzer-e2e.XXXXXX") || exit 1
  if [[ ${E2E_KEEP:-0} != 1 ]]; then
    trap 'rm -rf "$E2E_TMP"' EXIT
  else
    echo "keeping scratch files in $E2E_TMP"
  fi
}

# Skip (77) unless $CATLOAD exists and its `exec` subcommand answers --help: until catload
# is implemented these tests have nothing to run against, which is not a failure.
e2e_require_catload() {
  [[ -n ${CATLOAD:-} ]] || e2e_skip "CATLOAD is not set (run through ctest, or export CATLOAD=path/to/catload)"
  [[ -x $CATLOAD ]] || e2e_skip "catload binary not found at $CATLOAD (build the catload target first)"
  "$CATLOAD" exec --help >/dev/null 2>&1 ||
    e2e_skip "'$CATLOAD exec --help' failed: catload has no working exec subcommand yet"
}

# Skip unless the fixture program NAME was built into $FIXTURES.
e2e_require_fixture() {
  [[ -n ${FIXTURES:-} ]] || e2e_skip "FIXTURES is not set (run through ctest, or export FIXTURES=build/fixtures)"
  [[ -x $FIXTURES/$1 ]] || e2e_skip "fixture $FIXTURES/$1 is missing (build the $1 target first)"
}

# Print a command line so that it can be pasted into a shell.
e2e_quote() {
  local out="" a
  for a in "$@"; do out+="$(printf '%q' "$a") "; done
  printf '%s' "${out% }"
}

# True if FILE contains a NUL byte (bash strings cannot hold NUL, so count bytes tr removes).
e2e_has_nul() {
  [[ $(tr -d '\000' <"$1" | wc -c) != $(wc -c <"$1") ]]
}

# e2e_compare NAME [options] -- EXE [ARGS...]
#   --stdin FILE         stdin for both runs (default: /dev/null)
#   --input TEXT         stdin given inline (a trailing newline is added)
#   --env K=V            set in both environments (natively `env -i K=V ...`, guest --env K=V)
#   --root DIR           guest rootfs (--rootfs DIR --cwd /); natively the run's cwd is DIR,
#                        so relative paths name the same files. An argument starting with
#                        @ROOT@ becomes DIR natively and "" in the guest (@ROOT@/a -> /a).
#   --guest-root DIR     use DIR as the guest's rootfs instead of --root's (for cases that write:
#                        each run then gets its own identical copy)
#   --mount HOST:GUEST[:MODE]  passed to catload; natively, arguments starting with GUEST/ are
#                        rewritten to start with HOST/
#   --rc N               the exit code the native run must have (guards against vacuous tests)
#   --sort-output        compare stdout after sorting lines (directory order is not specified)
#   --catload-opt OPT    any further catload exec option (repeatable)
# EXE must be an absolute host path; the guest's argv[0] is EXE as given, as natively.
e2e_compare() {
  local name=$1
  shift
  local stdin=/dev/null root="" guest_root="" want_rc="" sort_output=0
  local -a envs=() copts=() mounts=()
  while [[ $# -gt 0 ]]; do
    case $1 in
      --stdin) stdin=$2; shift 2 ;;
      --input)
        stdin="$E2E_TMP/$name.stdin"
        printf '%s\n' "$2" >"$stdin"
        shift 2 ;;
      --env) envs+=("$2"); shift 2 ;;
      --root) root=$2; shift 2 ;;
      --guest-root) guest_root=$2; shift 2 ;;
      --mount) mounts+=("$2"); copts+=(--mount "$2"); shift 2 ;;
      --rc) want_rc=$2; shift 2 ;;
      --sort-output) sort_output=1; shift ;;
      --catload-opt) copts+=("$2"); shift 2 ;;
      --) shift; break ;;
      *) echo "e2e_compare $name: unknown option $1" >&2; exit 2 ;;
    esac
  done
  [[ $# -ge 1 ]] || { echo "e2e_compare $name: no command" >&2; exit 2; }

  # Native and guest argument vectors differ only where a path names a rootfs or mount file.
  local -a nargs=() gargs=()
  local a m host guest
  for a in "$@"; do
    local na=$a ga=$a
    if [[ $a == @ROOT@* ]]; then
      na=$root${a#@ROOT@}
      ga=${a#@ROOT@}
    fi
    for m in "${mounts[@]}"; do
      host=${m%%:*}
      guest=${m#*:}
      guest=${guest%%:*}
      [[ $a == "$guest"/* ]] && na=$host/${a#"$guest"/}
    done
    nargs+=("$na")
    gargs+=("$ga")
  done

  local native_cwd=$E2E_TMP/empty-cwd
  mkdir -p "$native_cwd"
  if [[ -n $root ]]; then
    native_cwd=$root
    copts+=(--rootfs "${guest_root:-$root}" --cwd /)
  elif [[ -n $guest_root ]]; then
    copts+=(--rootfs "$guest_root" --cwd /)
  fi
  local e
  for e in "${envs[@]}"; do copts+=(--env "$e"); done

  # Per-case files, so that E2E_KEEP=1 leaves every case's outputs for inspection.
  local out=$E2E_TMP/$name
  local native_rc guest_rc
  (cd "$native_cwd" && exec timeout -k 5 "$E2E_TIMEOUT" env -i "${envs[@]}" "${nargs[@]}") \
    <"$stdin" >"$out.native.out" 2>"$out.native.err"
  native_rc=$?
  timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" exec "${copts[@]}" -- "${gargs[@]}" \
    <"$stdin" >"$out.guest.out" 2>"$out.guest.err"
  guest_rc=$?

  local guest_cmd
  guest_cmd=$(e2e_quote "$CATLOAD" exec "${copts[@]}" -- "${gargs[@]}")
  if [[ $stdin != /dev/null ]]; then guest_cmd+=" < $(e2e_quote "$stdin")"; fi

  if [[ -n $want_rc && $native_rc != "$want_rc" ]]; then
    # The reference itself is wrong: a broken test, not a catload bug.
    echo "FAIL $name: native run exited $native_rc, the test expects $want_rc"
    echo "  native: (cd $(e2e_quote "$native_cwd") && env -i $(e2e_quote "${envs[@]}" "${nargs[@]}"))"
    sed 's/^/  native stderr: /' "$out.native.err" | head -n 10
    E2E_FAILS=$((E2E_FAILS + 1))
    E2E_FAILED_NAMES+=("$name")
    return 1
  fi

  if [[ $sort_output == 1 ]]; then
    LC_ALL=C sort -o "$out.native.out" "$out.native.out"
    LC_ALL=C sort -o "$out.guest.out" "$out.guest.out"
  fi

  local ok=1
  cmp -s "$out.native.out" "$out.guest.out" || ok=0
  [[ $native_rc == "$guest_rc" ]] || ok=0
  if [[ $ok == 1 ]]; then
    echo "ok   $name"
    E2E_PASSES=$((E2E_PASSES + 1))
    return 0
  fi

  echo "FAIL $name"
  echo "  guest:  $guest_cmd"
  echo "  native: (cd $(e2e_quote "$native_cwd") && env -i $(e2e_quote "${envs[@]}" "${nargs[@]}"))"
  echo "  exit code: native $native_rc, catload $guest_rc$([[ $guest_rc == 124 ]] && echo " (timed out after ${E2E_TIMEOUT}s)")"
  if ! cmp -s "$out.native.out" "$out.guest.out"; then
    if e2e_has_nul "$out.native.out" || e2e_has_nul "$out.guest.out"; then
      # Binary output: a text diff would flood the log with NULs; show where it first differs.
      echo "  stdout differs (binary): native $(wc -c <"$out.native.out") bytes, catload $(wc -c <"$out.guest.out") bytes"
      echo "    $(cmp "$out.native.out" "$out.guest.out" 2>&1 | head -n 1)"
    else
      echo "  stdout differs (--- native, +++ catload; first 40 lines):"
      diff -u --label native --label catload "$out.native.out" "$out.guest.out" |
        head -n 40 | sed 's/^/    /'
    fi
  fi
  if [[ -s $out.guest.err ]]; then
    echo "  catload stderr (first 20 lines):"
    head -n 20 "$out.guest.err" | sed 's/^/    /'
    # The sandbox names syscalls it does not emulate; list them all, they are the usual cause.
    if grep -qi unsupported "$out.guest.err"; then
      echo "  unsupported-syscall lines:"
      grep -i unsupported "$out.guest.err" | sort | uniq -c | sed 's/^/    /'
    fi
  fi
  E2E_FAILS=$((E2E_FAILS + 1))
  E2E_FAILED_NAMES+=("$name")
  return 1
}

# One-line results for scripts that check conditions themselves (hostile.sh).
e2e_pass() {
  E2E_PASSES=$((E2E_PASSES + 1))
  echo "PASS: $*"
}

e2e_fail() {
  E2E_FAILS=$((E2E_FAILS + 1))
  E2E_FAILED_NAMES+=("$1")
  echo "FAIL: $*"
}

# e2e_check DESCRIPTION COMMAND...: PASS if COMMAND succeeds, FAIL otherwise.
e2e_check() {
  local what=$1
  shift
  if "$@"; then e2e_pass "$what"; else e2e_fail "$what"; fi
}

# Print the summary and exit 1 if any case failed.
e2e_finish() {
  echo "---"
  echo "$E2E_PASSES passed, $E2E_FAILS failed"
  if [[ $E2E_FAILS -gt 0 ]]; then
    echo "failed: ${E2E_FAILED_NAMES[*]}"
    [[ ${E2E_KEEP:-0} == 1 ]] || echo "(rerun with E2E_KEEP=1 to keep stdin/stdout/stderr files of every case)"
    exit 1
  fi
  exit 0
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
