# Shared helpers for the end-to-end scripts in tests/e2e/ (sourced, not a test itself).
#
# The scripts get CATLOAD, CATIMG, FIXTURES, SOURCE_DIR and BUILD_DIR from ctest (see
# tests/CMakeLists.txt). Exit code 77 means "skipped", and is only for an optional outside tool
# (gdb, busybox, jq): the reason is always printed, and .ci/run fails on a skip it does not
# expect. A missing or broken binary of ours (catload, catimg, a fixture) is a failure (exit 1,
# e2e_setup_fail): a test that skips when the product is broken cannot fail.
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
  if [[ -n ${E2E_SKIP_LOG:-} ]]; then echo "e2e.$(basename "$0" .sh): $*" >>"$E2E_SKIP_LOG"; fi
  exit 77
}

# e2e_partial_skip REASON: some cases of a script cannot run for want of an optional outside
# tool; the rest runs. Printed, and appended to $E2E_SKIP_LOG when set ("SCRIPT: REASON"), so
# that .ci/run can hold partial skips to its allow-list like whole-script skips.
e2e_partial_skip() {
  echo "SKIP (part): $*"
  if [[ -n ${E2E_SKIP_LOG:-} ]]; then echo "e2e.$(basename "$0" .sh): $*" >>"$E2E_SKIP_LOG"; fi
}

# Something of ours the test needs is missing or broken: fail the whole script.
e2e_setup_fail() {
  echo "FAIL setup: $*"
  exit 1
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

# Fail unless $CATLOAD exists and its `exec` subcommand answers --help (a catload that does not
# even start is the product broken, not a reason to skip).
e2e_require_catload() {
  [[ -n ${CATLOAD:-} ]] || e2e_setup_fail "CATLOAD is not set (run through ctest, or export CATLOAD=path/to/catload)"
  [[ -x $CATLOAD ]] || e2e_setup_fail "catload binary not found at $CATLOAD (build the catload target first)"
  "$CATLOAD" exec --help >/dev/null 2>&1 ||
    e2e_setup_fail "'$CATLOAD exec --help' failed (exit $?): catload is broken"
}

# Fail unless the fixture program NAME was built into $FIXTURES.
e2e_require_fixture() {
  [[ -n ${FIXTURES:-} ]] || e2e_setup_fail "FIXTURES is not set (run through ctest, or export FIXTURES=build/fixtures)"
  [[ -x $FIXTURES/$1 ]] || e2e_setup_fail "fixture $FIXTURES/$1 is missing (build the $1 target first)"
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
#   --stderr             compare stderr too (where the program prints its error there: an
#                        empty stdout alone would let any error pass). The program's name is
#                        normalised: host paths of --root and --mount read as the guest's;
#                        catload's "unsupported syscall" notes are left out.
#   --catload-opt OPT    any further catload exec option (repeatable)
# EXE must be an absolute host path; the guest's argv[0] is EXE as given, as natively.
e2e_compare() {
  local name=$1
  shift
  _e2e_parse "e2e_compare $name" "$name" "$@" || exit 2
  [[ ${#E2E_P_EXTRA[@]} -eq 0 ]] || { echo "e2e_compare $name: unknown option ${E2E_P_EXTRA[0]}" >&2; exit 2; }
  [[ ${#E2E_P_ARGS[@]} -ge 1 ]] || { echo "e2e_compare $name: no command" >&2; exit 2; }
  _e2e_translate "${E2E_P_ARGS[@]}"

  # Per-case files, so that E2E_KEEP=1 leaves every case's outputs for inspection.
  local out=$E2E_TMP/$name
  local native_rc guest_rc
  _e2e_run_native "$out" "$E2E_P_STDIN"
  native_rc=$?
  timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" exec "${E2E_P_COPTS[@]}" -- "${E2E_GARGS[@]}" \
    <"$E2E_P_STDIN" >"$out.guest.out" 2>"$out.guest.err"
  guest_rc=$?

  local guest_cmd
  guest_cmd=$(e2e_quote "$CATLOAD" exec "${E2E_P_COPTS[@]}" -- "${E2E_GARGS[@]}")
  if [[ $E2E_P_STDIN != /dev/null ]]; then guest_cmd+=" < $(e2e_quote "$E2E_P_STDIN")"; fi
  _e2e_judge "$name" "$out" "$native_rc" "$guest_rc" "$E2E_P_WANT_RC" "$E2E_P_SORT" \
    "guest:  $guest_cmd" "native: $(_e2e_native_desc)"
}

# _e2e_parse CONTEXT NAME [e2e_compare options] [-- EXE ARGS...]: the option parser shared by
# e2e_compare and the image helpers. Sets E2E_P_STDIN, E2E_P_WANT_RC, E2E_P_SORT, E2E_P_ROOT,
# E2E_P_GUEST_ROOT, E2E_P_ENVS, E2E_P_MOUNTS, E2E_P_COPTS (sandbox options: --mount, --env,
# --rootfs/--cwd, --catload-opt), E2E_P_EXTRA (options it does not know, for the caller) and
# E2E_P_ARGS (the command after --).
_e2e_parse() {
  local ctx=$1 name=$2
  shift 2
  E2E_P_STDIN=/dev/null E2E_P_ROOT="" E2E_P_GUEST_ROOT="" E2E_P_WANT_RC="" E2E_P_SORT=0 E2E_P_STDERR=0
  E2E_P_ENVS=() E2E_P_COPTS=() E2E_P_MOUNTS=() E2E_P_EXTRA=() E2E_P_ARGS=()
  while [[ $# -gt 0 ]]; do
    case $1 in
      --stdin) E2E_P_STDIN=$2; shift 2 ;;
      --input)
        E2E_P_STDIN="$E2E_TMP/$name.stdin"
        printf '%s\n' "$2" >"$E2E_P_STDIN"
        shift 2 ;;
      --env) E2E_P_ENVS+=("$2"); shift 2 ;;
      --root) E2E_P_ROOT=$2; shift 2 ;;
      --guest-root) E2E_P_GUEST_ROOT=$2; shift 2 ;;
      --mount) E2E_P_MOUNTS+=("$2"); E2E_P_COPTS+=(--mount "$2"); shift 2 ;;
      --rc) E2E_P_WANT_RC=$2; shift 2 ;;
      --sort-output) E2E_P_SORT=1; shift ;;
      --stderr) E2E_P_STDERR=1; shift ;;
      --catload-opt) E2E_P_COPTS+=("$2"); shift 2 ;;
      --) shift; E2E_P_ARGS=("$@"); break ;;
      --*) E2E_P_EXTRA+=("$1"); shift ;;
      *) echo "$ctx: unknown option $1" >&2; return 2 ;;
    esac
  done
  if [[ -n $E2E_P_ROOT ]]; then
    E2E_P_COPTS+=(--rootfs "${E2E_P_GUEST_ROOT:-$E2E_P_ROOT}" --cwd /)
  elif [[ -n $E2E_P_GUEST_ROOT ]]; then
    E2E_P_COPTS+=(--rootfs "$E2E_P_GUEST_ROOT" --cwd /)
  fi
  local e
  for e in "${E2E_P_ENVS[@]}"; do E2E_P_COPTS+=(--env "$e"); done
  return 0
}

# _e2e_translate EXE ARGS...: after _e2e_parse, sets E2E_NARGS and E2E_GARGS (native and guest
# argument vectors: they differ only where a path names a rootfs or mount file) and
# E2E_NATIVE_CWD.
_e2e_translate() {
  E2E_NARGS=() E2E_GARGS=()
  local a m host guest
  for a in "$@"; do
    local na=$a ga=$a
    if [[ $a == @ROOT@* ]]; then
      na=$E2E_P_ROOT${a#@ROOT@}
      ga=${a#@ROOT@}
    fi
    for m in "${E2E_P_MOUNTS[@]}"; do
      host=${m%%:*}
      guest=${m#*:}
      guest=${guest%%:*}
      [[ $a == "$guest"/* ]] && na=$host/${a#"$guest"/}
    done
    E2E_NARGS+=("$na")
    E2E_GARGS+=("$ga")
  done
  E2E_NATIVE_CWD=$E2E_TMP/empty-cwd
  mkdir -p "$E2E_NATIVE_CWD"
  [[ -n $E2E_P_ROOT ]] && E2E_NATIVE_CWD=$E2E_P_ROOT
  return 0
}

# _e2e_run_native OUT STDIN: the native reference run (E2E_NATIVE_CWD, E2E_P_ENVS, E2E_NARGS)
# into OUT.native.out / OUT.native.err; returns its exit code.
_e2e_run_native() {
  (cd "$E2E_NATIVE_CWD" && exec timeout -k 5 "$E2E_TIMEOUT" env -i "${E2E_P_ENVS[@]}" "${E2E_NARGS[@]}") \
    <"$2" >"$1.native.out" 2>"$1.native.err"
}

_e2e_native_desc() {
  echo "(cd $(e2e_quote "$E2E_NATIVE_CWD") && env -i $(e2e_quote "${E2E_P_ENVS[@]}" "${E2E_NARGS[@]}"))"
}

# _e2e_normalise_native_stderr FILE: the native run's stderr with host paths written as the
# guest sees them (the --root directory as /, each --mount HOST as its GUEST path), so that an
# error message naming a file reads the same on both sides.
_e2e_normalise_native_stderr() {
  local -a pairs=()
  local m host guest
  for m in "${E2E_P_MOUNTS[@]}"; do
    host=${m%%:*}
    guest=${m#*:}
    guest=${guest%%:*}
    pairs+=("$host" "$guest")
  done
  [[ -n ${E2E_P_ROOT:-} ]] && pairs+=("$E2E_P_ROOT/" "/")
  perl -pe 'BEGIN { @p = splice(@ARGV, 1) } for (my $i = 0; $i < @p; $i += 2) { s/\Q$p[$i]\E/$p[$i + 1]/g }' \
    "$1" "${pairs[@]}"
}

# _e2e_judge NAME OUT NATIVE_RC GUEST_RC WANT_RC SORT LINE...: compares OUT.native.out with
# OUT.guest.out and the exit codes, counts a pass or a failure and, on failure, prints LINE...
# (how to rerun each side), both exit codes, the stdout diff and the guest's stderr.
_e2e_judge() {
  local name=$1 out=$2 native_rc=$3 guest_rc=$4 want_rc=$5 sort_output=$6
  shift 6
  local line
  if [[ -n $want_rc && $native_rc != "$want_rc" ]]; then
    # The reference itself is wrong: a broken test, not a catload bug.
    echo "FAIL $name: native run exited $native_rc, the test expects $want_rc"
    for line in "$@"; do [[ $line == native:* ]] && echo "  $line"; done
    sed 's/^/  native stderr: /' "$out.native.err" | head -n 10
    E2E_FAILS=$((E2E_FAILS + 1))
    E2E_FAILED_NAMES+=("$name")
    return 1
  fi

  if [[ $sort_output == 1 ]]; then
    LC_ALL=C sort -o "$out.native.out" "$out.native.out"
    LC_ALL=C sort -o "$out.guest.out" "$out.guest.out"
  fi

  local ok=1 stderr_differs=0
  cmp -s "$out.native.out" "$out.guest.out" || ok=0
  [[ $native_rc == "$guest_rc" ]] || ok=0
  if [[ ${E2E_P_STDERR:-0} == 1 ]]; then
    _e2e_normalise_native_stderr "$out.native.err" >"$out.native.err.norm"
    # catload's notes about syscalls it does not emulate are the sandbox's, not the program's.
    grep -v '^catload: guest called unsupported syscall' "$out.guest.err" >"$out.guest.err.norm"
    cmp -s "$out.native.err.norm" "$out.guest.err.norm" || { ok=0; stderr_differs=1; }
  fi
  if [[ $ok == 1 ]]; then
    echo "ok   $name"
    E2E_PASSES=$((E2E_PASSES + 1))
    return 0
  fi

  echo "FAIL $name"
  for line in "$@"; do echo "  $line"; done
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
  if ((stderr_differs)); then
    echo "  stderr differs (--- native, normalised; +++ catload; first 20 lines):"
    diff -u --label native --label catload "$out.native.err.norm" "$out.guest.err.norm" |
      head -n 20 | sed 's/^/    /'
  elif [[ -s $out.guest.err ]]; then
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

# --- func-images: capture -> catimg build -> catload run, compared with native runs ---

# Fail unless BIN has a working subcommand SUB. `--help` alone is not proof: CLI11 prints
# the top-level help (exit 0) for an unknown subcommand, so the help must be SUB's own.
e2e_require_subcommand() {
  local bin=$1 sub=$2
  [[ -x $bin ]] || e2e_setup_fail "$bin not found (build it first)"
  # The whole help first, then grep: `--help | grep -q` under pipefail fails at random when
  # grep exits at its match while the help is still being written (SIGPIPE, status 141).
  local help
  help=$("$bin" "$sub" --help 2>&1)
  grep -q "Usage:.* $sub\b" <<<"$help" ||
    e2e_setup_fail "'$bin $sub --help' shows no '$sub' usage: $(basename "$bin") is broken"
}

# Fail unless everything the func-image pipeline needs exists: catload capture/run/restore and
# catimg build/verify/inspect.
e2e_require_images() {
  [[ -n ${CATLOAD:-} ]] || e2e_setup_fail "CATLOAD is not set (run through ctest, or export CATLOAD=path/to/catload)"
  [[ -n ${CATIMG:-} ]] || e2e_setup_fail "CATIMG is not set (run through ctest, or export CATIMG=path/to/catimg)"
  local s
  for s in capture run restore; do e2e_require_subcommand "$CATLOAD" "$s"; done
  for s in build verify inspect; do e2e_require_subcommand "$CATIMG" "$s"; done
}

declare -gA E2E_IMG_NATIVE=() E2E_IMG_CAPTURE=() E2E_IMG_BIND=()

# e2e_image NAME [e2e_compare options] -- EXE [ARGS...]: captures EXE (the --env/--root/
# --mount/--catload-opt options become `catload capture` options, e.g. --catload-opt
# --entry=explicit) into $E2E_TMP/NAME.core and builds $E2E_TMP/NAME.cfi with catimg build.
# Remembers the equivalent native command for e2e_image_compare NAME. Counts a failure and
# returns 1 if capture or build fails. With --one-step, `catimg build [capture options] -o
# NAME.cfi -- EXE ARGS...` captures and builds in one command (no NAME.core: no --restore).
e2e_image() {
  local name=$1
  shift
  _e2e_parse "e2e_image $name" "$name" "$@" || exit 2
  local one_step=0
  case "${E2E_P_EXTRA[*]}" in
    "") ;;
    --one-step) one_step=1 ;;
    *) echo "e2e_image $name: unknown option ${E2E_P_EXTRA[*]}" >&2; exit 2 ;;
  esac
  [[ ${#E2E_P_ARGS[@]} -ge 1 ]] || { echo "e2e_image $name: no command" >&2; exit 2; }
  _e2e_translate "${E2E_P_ARGS[@]}"
  E2E_IMG_NATIVE[$name]="cd $(e2e_quote "$E2E_NATIVE_CWD") && exec timeout -k 5 $E2E_TIMEOUT env -i $(e2e_quote "${E2E_P_ENVS[@]}" "${E2E_NARGS[@]}")"
  # The host side of the image's rootfs and mounts, which run/restore take from the operator
  # (spec/sandbox.md, "Host bindings"): the same directories as at capture.
  local -a bind=("${E2E_P_MOUNTS[@]/#/--mount=}")
  [[ -n ${E2E_P_ROOT}${E2E_P_GUEST_ROOT} ]] && bind+=(--rootfs "${E2E_P_GUEST_ROOT:-$E2E_P_ROOT}")
  E2E_IMG_BIND[$name]=$(e2e_quote "${bind[@]}")
  local out=$E2E_TMP/$name
  rm -f "$out.core" "$out.cfi"
  if [[ $one_step == 1 ]]; then
    local -a cmd=("$CATIMG" build "${E2E_P_COPTS[@]}" -o "$out.cfi" -- "${E2E_GARGS[@]}")
    E2E_IMG_CAPTURE[$name]=$(e2e_quote "${cmd[@]}")
    timeout -k 5 "$E2E_TIMEOUT" "${cmd[@]}" </dev/null >"$out.build.out" 2>"$out.build.err"
    local rc=$?
    if [[ $rc != 0 || ! -s $out.cfi ]]; then
      e2e_fail "$name.build" "one-step build failed: exit $rc, image $([[ -s $out.cfi ]] && echo written || echo missing)"
      echo "  command: ${E2E_IMG_CAPTURE[$name]} < /dev/null"
      e2e_show "build stderr" "$out.build.err" 20
      return 1
    fi
    e2e_pass "$name: captured and built in one step ($(wc -c <"$out.cfi") byte image)"
    return 0
  fi
  local -a cap=("$CATLOAD" capture "${E2E_P_COPTS[@]}" -o "$out.core" -- "${E2E_GARGS[@]}")
  E2E_IMG_CAPTURE[$name]=$(e2e_quote "${cap[@]}")
  timeout -k 5 "$E2E_TIMEOUT" "${cap[@]}" </dev/null >"$out.capture.out" 2>"$out.capture.err"
  local rc=$?
  if [[ $rc != 0 || ! -s $out.core ]]; then
    e2e_fail "$name.capture" "failed: exit $rc, core $([[ -s $out.core ]] && echo written || echo missing)"
    echo "  command: ${E2E_IMG_CAPTURE[$name]}"
    e2e_show "capture stdout" "$out.capture.out" 10
    e2e_show "capture stderr" "$out.capture.err" 20
    return 1
  fi
  timeout -k 5 "$E2E_TIMEOUT" "$CATIMG" build "$out.core" -o "$out.cfi" \
    >"$out.build.out" 2>"$out.build.err"
  rc=$?
  if [[ $rc != 0 || ! -s $out.cfi ]]; then
    e2e_fail "$name.build" "failed: exit $rc, image $([[ -s $out.cfi ]] && echo written || echo missing)"
    echo "  command: $(e2e_quote "$CATIMG" build "$out.core" -o "$out.cfi")"
    e2e_show "build stderr" "$out.build.err" 20
    return 1
  fi
  e2e_pass "$name: captured and built ($(wc -c <"$out.core") byte core, $(wc -c <"$out.cfi") byte image)"
  return 0
}

# e2e_image_compare NAME CASE [--input TEXT | --stdin FILE] [--rc N] [--sort-output]
#     [--restore] [--run-opt OPT]...
# One invocation of image NAME (from e2e_image) with the given request on stdin, compared with
# the native program run on the same stdin: same stdout, same exit code. `catload run NAME.cfi`
# by default; --restore boots `catload restore NAME.core` (the conventional path) instead.
e2e_image_compare() {
  local name=$1 case=$2
  shift 2
  local id=$name.$case
  _e2e_parse "e2e_image_compare $id" "$id" "$@" || exit 2
  local restore=0 i
  local -a ropts=()
  for ((i = 0; i < ${#E2E_P_EXTRA[@]}; i++)); do
    case ${E2E_P_EXTRA[i]} in
      --restore) restore=1 ;;
      --run-opt) echo "e2e_image_compare $id: write --run-opt=OPT" >&2; exit 2 ;;
      --run-opt=*) ropts+=("${E2E_P_EXTRA[i]#--run-opt=}") ;;
      *) echo "e2e_image_compare $id: unknown option ${E2E_P_EXTRA[i]}" >&2; exit 2 ;;
    esac
  done
  [[ -n ${E2E_IMG_NATIVE[$name]:-} ]] || { echo "e2e_image_compare: no image $name (e2e_image failed or was not called)" >&2; return 1; }
  local out=$E2E_TMP/$id native_rc guest_rc
  (eval "${E2E_IMG_NATIVE[$name]}") <"$E2E_P_STDIN" >"$out.native.out" 2>"$out.native.err"
  native_rc=$?
  local -a cmd bind
  eval "bind=(${E2E_IMG_BIND[$name]:-})"
  if [[ $restore == 1 ]]; then
    cmd=("$CATLOAD" restore "${bind[@]}" "${ropts[@]}" "$E2E_TMP/$name.core")
  else
    cmd=("$CATLOAD" run "${bind[@]}" "${ropts[@]}" "$E2E_TMP/$name.cfi")
  fi
  timeout -k 5 "$E2E_TIMEOUT" "${cmd[@]}" <"$E2E_P_STDIN" >"$out.guest.out" 2>"$out.guest.err"
  guest_rc=$?
  local guest_cmd
  guest_cmd=$(e2e_quote "${cmd[@]}")
  [[ $E2E_P_STDIN != /dev/null ]] && guest_cmd+=" < $(e2e_quote "$E2E_P_STDIN")"
  _e2e_judge "$id" "$out" "$native_rc" "$guest_rc" "$E2E_P_WANT_RC" "$E2E_P_SORT" \
    "guest:  $guest_cmd" "capture: ${E2E_IMG_CAPTURE[$name]}" "native: (${E2E_IMG_NATIVE[$name]})"
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

# e2e_image_verify NAME: `catimg verify` accepts image NAME (from e2e_image) and
# `catimg inspect --json` prints one valid JSON document (checked with python3 -m json.tool;
# without python3 that half is skipped, recorded by e2e_partial_skip).
e2e_image_verify() {
  local name=$1 img=$E2E_TMP/$1.cfi
  [[ -s $img ]] || return 1
  if "$CATIMG" verify "$img" >"$E2E_TMP/$name.verify.out" 2>&1; then
    e2e_pass "$name: catimg verify"
  else
    e2e_fail "$name.verify" "$(e2e_quote "$CATIMG" verify "$img") exited non-zero"
    e2e_show "output" "$E2E_TMP/$name.verify.out" 20
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    e2e_partial_skip "python3 not found; not checking that '$CATIMG inspect --json' output parses"
    return 0
  fi
  "$CATIMG" inspect "$img" --json >"$E2E_TMP/$name.inspect.json" 2>"$E2E_TMP/$name.inspect.err"
  local rc=$?
  if [[ $rc == 0 ]] && python3 -m json.tool <"$E2E_TMP/$name.inspect.json" >/dev/null 2>"$E2E_TMP/$name.json.err"; then
    e2e_pass "$name: catimg inspect --json parses"
  else
    e2e_fail "$name.inspect-json" "$(e2e_quote "$CATIMG" inspect "$img" --json) exited $rc or printed invalid JSON"
    e2e_show "json.tool" "$E2E_TMP/$name.json.err" 5
    e2e_show "inspect stderr" "$E2E_TMP/$name.inspect.err" 10
    e2e_show "inspect stdout" "$E2E_TMP/$name.inspect.json" 10
  fi
}

# e2e_image_run NAME CASE INPUT [RUN-OPTS...]: one `catload run [RUN-OPTS] NAME.cfi` with INPUT
# (plus a newline) on stdin, for checks other than a native comparison. Output in
# $E2E_TMP/NAME.CASE.out and .err, exit code in E2E_RC, the command line in E2E_CMD.
e2e_image_run() {
  local name=$1 case=$2 input=$3
  shift 3
  local base=$E2E_TMP/$name.$case
  printf '%s\n' "$input" >"$base.stdin"
  local -a bind
  eval "bind=(${E2E_IMG_BIND[$name]:-})"
  local -a cmd=("$CATLOAD" run "${bind[@]}" "$@" "$E2E_TMP/$name.cfi")
  E2E_CMD="$(e2e_quote "${cmd[@]}") < $(e2e_quote "$base.stdin")"
  timeout -k 5 "$E2E_TIMEOUT" "${cmd[@]}" <"$base.stdin" >"$base.out" 2>"$base.err"
  E2E_RC=$?
}
