#!/usr/bin/env bash
# judge_test.sh (ctest kvm.harness_judge): the QEMU harness's host-side logic on canned inputs,
# without a VM: the verdicts of lib/judge.sh on guest result logs (every way a run can go
# wrong must fail it) and lib/list.sh's reading of test lists (malformed lines are refused).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib/list.sh"
source "$here/lib/judge.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvm-judge.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passes=0 fails=0

check() { # NAME WANT_RC(0|1) GREP_PATTERN(of the judge's output, "" for none)
  local name=$1 want=$2 pattern=$3 rc
  kvm_judge "$tmp/log" >"$tmp/out" 2>&1
  rc=$?
  ((rc != 0)) && rc=1
  if [[ $rc != "$want" ]] || { [[ -n $pattern ]] && ! grep -qE -- "$pattern" "$tmp/out"; }; then
    echo "FAIL $name: judge returned $rc (want $want), output wanted to match '$pattern':"
    sed 's/^/  /' "$tmp/out"
    fails=$((fails + 1))
  else
    echo "ok   $name"
    passes=$((passes + 1))
  fi
}

cat >"$tmp/list" <<'EOF'
# a comment
alpha 10 @BUILD@/tests/kvm/kvm_probe --x
beta 20 bash @SOURCE@/tests/e2e/a.sh @BUILD@/fixtures/hello
files @SOURCE@/tests/e2e/lib
memory 2048
EOF
if kvm_list_read "$tmp/list" >"$tmp/out"; then
  [[ ${KVM_TEST_NAMES[*]} == "alpha beta" && ${KVM_TEST_LIMITS[*]} == "10 20" && $KVM_MEMORY_MIB == 2048 &&
    " ${KVM_FILES[*]} " == *" @SOURCE@/tests/e2e/lib "* && " ${KVM_FILES[*]} " == *" @BUILD@/fixtures/hello "* &&
    $(kvm_rewrite "${KVM_TEST_CMDS[1]}" /build /source) == "bash /source/tests/e2e/a.sh /build/fixtures/hello" ]] &&
    echo "ok   list.reads" && passes=$((passes + 1)) ||
    { echo "FAIL list.reads: ${KVM_TEST_NAMES[*]} / ${KVM_TEST_LIMITS[*]} / $KVM_MEMORY_MIB / ${KVM_FILES[*]}"; fails=$((fails + 1)); }
else
  echo "FAIL list.reads: $(cat "$tmp/out")"
  fails=$((fails + 1))
fi
for bad in "alpha 10 x\nalpha 5 y|already on line" "alpha ten x|time limit" "alpha 10|no command" \
  "al/pha 10 x|is not" "memory lots|MiB" "files relative/path|absolute paths" "# only a comment|no tests"; do
  printf '%b\n' "${bad%%|*}" >"$tmp/bad"
  if kvm_list_read "$tmp/bad" >"$tmp/out"; then
    echo "FAIL list.refuses '${bad%%|*}': accepted"
    fails=$((fails + 1))
  elif ! grep -q -- "${bad#*|}" "$tmp/out"; then
    echo "FAIL list.refuses '${bad%%|*}': message '$(cat "$tmp/out")' lacks '${bad#*|}'"
    fails=$((fails + 1))
  else
    echo "ok   list.refuses '${bad%%|*}'"
    passes=$((passes + 1))
  fi
done

# The verdicts, for the list alpha, beta.
KVM_TEST_NAMES=(alpha beta) KVM_TEST_LIMITS=(10 20)
printf 'KVMH boot 4.1\r\nKVMH setup ok /dev/kvm\r\nKVMH result alpha pass 0 0.2\r\nKVMH result beta pass 0 1.5\r\nKVMH done 6.0\r\n' >"$tmp/log"
check all-pass 0 "2 passed, 0 failed"
printf 'KVMH boot 4.1\nKVMH result alpha pass 0 0.2\nKVMH result beta fail 3 1.5\nKVMH output-begin beta\n  why it failed\nKVMH output-end beta\nKVMH done 6.0\n' >"$tmp/log"
check failure-fails-and-shows-output 1 "^  why it failed"
printf 'KVMH boot 4.1\nKVMH result alpha pass 0 0.2\nKVMH result beta timeout 137 20.0\nKVMH output-begin beta\n  stuck\nKVMH output-end beta\nKVMH done 30.0\n' >"$tmp/log"
check timeout-fails 1 "beta: timed out after 20 s"
printf 'KVMH boot 4.1\nKVMH result alpha pass 0 0.2\nKVMH done 6.0\n' >"$tmp/log"
check missing-result-fails 1 "beta: no result"
printf 'KVMH boot 4.1\nKVMH result alpha pass 0 0.2\nKVMH result beta pass 0 1.5\n' >"$tmp/log"
check no-done-line-fails 1 "did not say it was done"
printf 'KVMH boot 4.1\nKVMH setup fail insmod kvm-amd: No such device\nKVMH done 5.0\n' >"$tmp/log"
check setup-failure-fails 1 "guest setup: insmod kvm-amd"
: >"$tmp/log"
check empty-log-fails 1 "wrote no results"
printf 'KVMH boot 4.1\nKVMH result alpha pass 0 0.2\nKVMH result beta bogus 0 1.5\nKVMH done 6.0\n' >"$tmp/log"
check unknown-status-fails 1 "unknown status"
# Another test's output must not be shown as this one's.
printf 'KVMH result alpha fail 1 0.2\nKVMH output-begin alpha\n  alpha says\nKVMH output-end alpha\nKVMH result beta fail 1 0.3\nKVMH output-begin beta\n  beta says\nKVMH output-end beta\nKVMH done 6.0\n' >"$tmp/log"
kvm_judge "$tmp/log" >"$tmp/out" 2>&1
if [[ $(sed -n '/FAIL alpha/,/FAIL beta/p' "$tmp/out") == *"beta says"* ]]; then
  echo "FAIL outputs-kept-apart: beta's output shown under alpha"
  fails=$((fails + 1))
else
  echo "ok   outputs-kept-apart"
  passes=$((passes + 1))
fi

# A dot in a name is literal: "a.b" is not shown "aXb"'s output.
KVM_TEST_NAMES=(a.b) KVM_TEST_LIMITS=(5)
printf 'KVMH result a.b fail 1 0.1\nKVMH output-begin aXb\n  wrong\nKVMH output-end aXb\nKVMH output-begin a.b\n  right\nKVMH output-end a.b\nKVMH done 1\n' >"$tmp/log"
kvm_judge "$tmp/log" >"$tmp/out" 2>&1
if grep -q wrong "$tmp/out" || ! grep -q right "$tmp/out"; then
  echo "FAIL dotted-name-is-literal: $(cat "$tmp/out")"
  fails=$((fails + 1))
else
  echo "ok   dotted-name-is-literal"
  passes=$((passes + 1))
fi

echo "---"
echo "$passes passed, $fails failed"
((fails == 0))
