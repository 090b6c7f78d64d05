# judge.sh (sourced): turns the guest's results log (the "KVMH ..." lines guest_init.sh writes
# to the second serial port) into a verdict for the tests of the list (list.sh's arrays).
#
# kvm_judge RESULTS_LOG: prints one line per test ("PASS name (1.23 s)", "FAIL name: why") and
# the failing tests' output, then "kvm harness: N passed, N failed"; returns 1 unless every test
# of the list passed, the guest's setup passed and the guest said it was done. A test that has
# no result line (the guest crashed, hung or was killed first) fails as "no result".
# KVM_JUDGE_VERBOSE=1: the passing tests' output too (the guest wrote it with kvmh.verbose=1).
# kvm_judge_output LOG NAME: the output block the guest wrote for test NAME (indented).
kvm_judge_output() {
  local name=${2//./\\.} # names are [A-Za-z0-9_.-]: only the dot is special to sed
  tr -d '\r' <"$1" | sed -n "/^KVMH output-begin $name\$/,/^KVMH output-end $name\$/{/^KVMH /d;p}"
}

kvm_judge() {
  local log=$1 i name line status rc secs passed=0 failed=0 setup_failed=0
  local -A statuses=() rcs=() times=()
  if [[ ! -s $log ]]; then
    echo "FAIL the guest wrote no results at all (it did not reach /init: see the console log)"
    echo "kvm harness: 0 passed, ${#KVM_TEST_NAMES[@]} failed"
    return 1
  fi
  while IFS= read -r line; do
    line=${line%%$'\r'}
    case $line in
      "KVMH setup fail "*)
        echo "FAIL guest setup: ${line#KVMH setup fail }"
        setup_failed=1
        ;;
      "KVMH result "*)
        read -r _ _ name status rc secs <<<"$line"
        statuses[$name]=$status rcs[$name]=$rc times[$name]=$secs
        ;;
    esac
  done <"$log"
  for i in "${!KVM_TEST_NAMES[@]}"; do
    name=${KVM_TEST_NAMES[$i]}
    status=${statuses[$name]:-}
    case $status in
      pass)
        echo "PASS $name (${times[$name]} s)"
        passed=$((passed + 1))
        [[ ${KVM_JUDGE_VERBOSE:-0} == 1 ]] && kvm_judge_output "$log" "$name"
        ;;
      fail | timeout)
        if [[ $status == timeout ]]; then
          echo "FAIL $name: timed out after ${KVM_TEST_LIMITS[$i]} s (its limit in the test list); its output:"
        else
          echo "FAIL $name: exit status ${rcs[$name]} after ${times[$name]} s; its output:"
        fi
        kvm_judge_output "$log" "$name"
        failed=$((failed + 1))
        ;;
      "")
        echo "FAIL $name: no result (the guest stopped before it, or its setup failed)"
        failed=$((failed + 1))
        ;;
      *)
        echo "FAIL $name: unknown status '$status'"
        failed=$((failed + 1))
        ;;
    esac
  done
  if ! tr -d '\r' <"$log" | grep -q '^KVMH done '; then
    echo "FAIL the guest did not say it was done (it crashed, hung or was killed: see the console log)"
    ((failed)) || failed=1
  fi
  echo "kvm harness: $passed passed, $failed failed"
  ((failed == 0 && setup_failed == 0))
}
