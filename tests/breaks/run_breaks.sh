#!/usr/bin/env bash
# run_breaks.sh: does the test suite fail when the product is broken? For each deliberate break
# in breaks.txt (NAME.patch beside it), on a scratch copy of the tree (build-breaks/, a git
# repository of its own so `git apply` and the reset are exact): apply the patch, build, run
# ctest, and report which tests failed that pass without the break. A break no test catches
# fails the script. Too slow for CI (a build and a whole suite per break): run it by hand
# after adding a check, and add a break for it.
#
# Usage: tests/breaks/run_breaks.sh [-R CTEST_REGEX | --own] [-j JOBS] [NAME...]
#   NAME...        only these breaks (default: all in breaks.txt)
#   -R REGEX       run only the ctest tests matching REGEX (faster, for a quick look)
#   --own          run each break against its own regex (breaks.txt's third column, the tests
#                  expected to catch it; the whole suite where it has none): the quick way
#                  through the whole list, the baseline run once over their union
#   -j JOBS        ctest and build parallelism (default 2)
# The scratch copy is the working tree as it is (tracked and untracked files, not ignored ones),
# in build-breaks/tree with its build in build-breaks/tree/build (kept for the next run: only
# what a patch touches is rebuilt). Reports go to build-breaks/report.txt.
set -uo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$SRC/tests/breaks
JOBS=2 REGEX="" OWN=0
names=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -R) REGEX=$2; shift 2 ;;
    -j) JOBS=$2; shift 2 ;;
    --own) OWN=1; shift ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run_breaks: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
declare -A what=() own=()
all=()
while IFS=$'\t' read -r name desc rx; do
  [[ -z $name || $name == \#* ]] && continue
  [[ -f $HERE/$name.patch ]] || { echo "run_breaks: $HERE/$name.patch is missing" >&2; exit 2; }
  what[$name]=$desc
  own[$name]=$rx
  all+=("$name")
done <"$HERE/breaks.txt"
((${#names[@]})) || names=("${all[@]}")
for n in "${names[@]}"; do [[ -n ${what[$n]:-} ]] || { echo "run_breaks: no break '$n' in breaks.txt" >&2; exit 2; }; done

WORK=$SRC/build-breaks
# The build sits in the tree as build/ does in a worktree, so that ccache (base_dir=/work) sees
# the same relative paths and reuses the worktree's objects; .gitignore keeps it out of the
# scratch repository, and it survives between runs.
TREE=$WORK/tree BUILD=$WORK/tree/build
mkdir -p "$TREE"
# The scratch tree: a fresh copy of the working tree, committed in a repository of its own.
find "$TREE" -mindepth 1 -maxdepth 1 ! -name build -exec rm -rf {} +
(cd "$SRC" && git ls-files --cached --others --exclude-standard -z | xargs -0 cp --parents -t "$TREE")
git -C "$TREE" init -q && git -C "$TREE" add -A && git -C "$TREE" -c user.name=breaks -c user.email=breaks@localhost commit -qm base
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$TREE" -B "$BUILD" "${launcher[@]}" >"$WORK/cmake.log" 2>&1 || { echo "run_breaks: cmake failed (see $WORK/cmake.log)"; exit 1; }

# The tests a break runs against: -R's, its own (--own), or all.
regex_of() {
  if ((OWN)); then echo "${own[$1]:-}"; else echo "$REGEX"; fi
}
# run_suite LABEL REGEX: build and run ctest (the tests matching REGEX, all if it is empty);
# sets FAILED (names of failed tests) or returns 1 if the build failed.
run_suite() {
  local label=$1 rx=$2
  if ! cmake --build "$BUILD" -j"$JOBS" >"$WORK/$label.build.log" 2>&1; then
    echo "  build failed: $(grep -m1 -E 'error' "$WORK/$label.build.log")"
    return 1
  fi
  local args=(--test-dir "$BUILD" -j"$JOBS")
  [[ -n $rx ]] && args+=(-R "$rx")
  ctest "${args[@]}" >"$WORK/$label.ctest.log" 2>&1
  FAILED=$(sed -n '/The following tests FAILED:/,/^$/p' "$WORK/$label.ctest.log" |
    sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) .*/\1/p' | sort)
  return 0
}

# The baseline runs every test any break will run (with --own: the union of their regexes, or
# all tests if one break has none).
baseline_rx=$REGEX
if ((OWN)); then
  baseline_rx=""
  for n in "${names[@]}"; do
    [[ -z ${own[$n]:-} ]] && { baseline_rx=""; break; }
    baseline_rx+="${baseline_rx:+|}(${own[$n]})"
  done
fi
echo "run_breaks: baseline (no break)"
run_suite baseline "$baseline_rx" || { echo "run_breaks: the unbroken tree does not build"; exit 1; }
baseline=$FAILED
[[ -z $baseline ]] || echo "  failing without any break (left out of the results below): $(echo $baseline)"

uncaught=()
: >"$WORK/report.txt"
for n in "${names[@]}"; do
  echo "run_breaks: $n -- ${what[$n]}"
  git -C "$TREE" checkout -q -- . && git -C "$TREE" clean -qfd
  if ! git -C "$TREE" apply "$HERE/$n.patch"; then
    echo "  the patch does not apply: regenerate $n.patch against this tree"
    uncaught+=("$n(patch)")
    continue
  fi
  if ! run_suite "$n" "$(regex_of "$n")"; then
    uncaught+=("$n(build)")
    continue
  fi
  caught=$(comm -23 <(echo "$FAILED") <(echo "$baseline") | grep -v '^$')
  if [[ -z $caught ]]; then
    echo "  NOT CAUGHT: every test passed"
    uncaught+=("$n")
  else
    echo "  caught by $(echo "$caught" | wc -l) test(s): $(echo $caught)"
  fi
  printf '%s\t%s\n' "$n" "$(echo $caught)" >>"$WORK/report.txt"
done
git -C "$TREE" checkout -q -- . && git -C "$TREE" clean -qfd
if ((${#uncaught[@]})); then
  echo "run_breaks: ${#uncaught[@]} break(s) not caught: ${uncaught[*]}"
  exit 1
fi
echo "run_breaks: every break was caught (report: $WORK/report.txt)"
