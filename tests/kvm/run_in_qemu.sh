#!/usr/bin/env bash
# run_in_qemu.sh: runs the tests of tests/kvm/tests.txt inside a VM that QEMU emulates in
# software (TCG, -cpu max: AMD SVM emulated), where a Debian kernel with kvm-amd gives a /dev/kvm
# with real KVM semantics; this machine's own /dev/kvm may be a software backend (kvm_pvm) on
# which the kvm platform cannot work, so it is never used, not even to accelerate QEMU. Fails on
# any failed, timed-out or missing test, on a failed guest setup, and when the whole run
# exceeds its bound (QEMU is then killed by its pid). How it works: tests/kvm/README.md.
#
# Usage: run_in_qemu.sh [--list FILE] [--filter REGEX] [--verbose] [--shell] [--direct]
#                       [--work-dir DIR]
#   --list FILE    the test list (default: tests.txt beside this script)
#   --filter RE    only the tests whose names match RE (extended regex)
#   --verbose      print every test's output, not only the failing ones'
#   --shell        leave a shell on the guest's console after the tests (interactive debugging)
#   --direct       run the list on this host's /dev/kvm instead of in QEMU, after the list's
#                  `selftest` command passes (exit 77 "no usable hardware KVM: ..." if not)
#   --work-dir DIR where the initramfs and the logs go (default: $BUILD_DIR/kvm-harness); the
#                  console and results logs stay there after the run, for debugging
# Environment (as ctest sets it, tests/kvm/CMakeLists.txt): BUILD_DIR, SOURCE_DIR; optional
# KVM_HARNESS_BOOT_SECONDS (time allowed for boot and setup, default 120; the run's bound is
# that plus the sum of the tests' limits), KVM_HARNESS_PASS_ENV (variables handed to the
# guest; default ASAN_OPTIONS UBSAN_OPTIONS E2E_TIMEOUT), KVM_GUEST_* (guest_kernel.sh), E2E_SKIP_LOG.
# Exit: 0 all passed, 1 a failure, 77 skipped (qemu-system-x86_64 missing; --direct without a
# usable KVM), 2 usage.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib/list.sh"
source "$here/lib/initramfs.sh"
source "$here/lib/judge.sh"

list=$here/tests.txt filter="" verbose=0 shell=0 direct=0 work=""
while (($#)); do
  case $1 in
    --list) list=$2 && shift ;;
    --filter) filter=$2 && shift ;;
    --verbose) verbose=1 ;;
    --shell) shell=1 ;;
    --direct) direct=1 ;;
    --work-dir) work=$2 && shift ;;
    -h | --help)
      sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "run_in_qemu: unknown argument '$1' (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done
BUILD_DIR=${BUILD_DIR:-$here/../../build}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$here/../.." && pwd)}
BUILD_DIR=$(cd "$BUILD_DIR" 2>/dev/null && pwd) || {
  echo "run_in_qemu: BUILD_DIR ${BUILD_DIR} does not exist (build first, or set BUILD_DIR)"
  exit 1
}
test_id=kvm.qemu
((direct)) && test_id=kvm.direct

skip() {
  echo "SKIP: $*"
  [[ -n ${E2E_SKIP_LOG:-} ]] && echo "$test_id: $*" >>"$E2E_SKIP_LOG"
  exit 77
}
fail() {
  echo "run_in_qemu: $*"
  exit 1
}

kvm_list_read "$list" || exit 1
[[ -z $filter ]] || kvm_list_keep "$filter"
((${#KVM_TEST_NAMES[@]})) || fail "no test of $list matches --filter '$filter'"

# --direct: the same tests on this host's KVM, where it passes the list's self-test (a KVM that
# works for catload's kvm platform: the owner of that platform writes the self-test).
if ((direct)); then
  [[ -n $KVM_SELFTEST ]] || fail "$list has no 'selftest' line: --direct cannot tell a usable KVM"
  [[ -c /dev/kvm ]] || skip "no usable hardware KVM: /dev/kvm is missing"
  export CATLOAD=$BUILD_DIR/bin/catload CATIMG=$BUILD_DIR/bin/catimg FIXTURES=$BUILD_DIR/fixtures
  export SOURCE_DIR BUILD_DIR CFI_MUTATE=$BUILD_DIR/bin/cfi_mutate
  out=$(timeout -k 5 60 bash -c "$(kvm_rewrite "$KVM_SELFTEST" "$BUILD_DIR" "$SOURCE_DIR")" 2>&1 </dev/null)
  rc=$?
  ((rc == 0)) || skip "no usable hardware KVM: the self-test '$KVM_SELFTEST' exited $rc${out:+: $(tail -1 <<<"$out")}"
  passed=0 failed=0
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/kvm-direct.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  for i in "${!KVM_TEST_NAMES[@]}"; do
    name=${KVM_TEST_NAMES[$i]}
    t0=$SECONDS
    mkdir -p "$scratch/$name"
    out=$(cd "$scratch/$name" && timeout -k 5 "${KVM_TEST_LIMITS[$i]}" \
      bash -c "$(kvm_rewrite "${KVM_TEST_CMDS[$i]}" "$BUILD_DIR" "$SOURCE_DIR")" 2>&1 </dev/null)
    rc=$?
    if ((rc == 0)); then
      echo "PASS $name ($((SECONDS - t0)) s)"
      passed=$((passed + 1))
      ((verbose)) && sed 's/^/  /' <<<"$out"
    else
      echo "FAIL $name: exit status $rc$( ((rc == 124 || rc == 137)) && echo ' (timed out?)'); its output:"
      sed 's/^/  /' <<<"$out"
      failed=$((failed + 1))
    fi
  done
  echo "kvm harness (direct): $passed passed, $failed failed"
  ((failed == 0))
  exit
fi

qemu=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 not found (install qemu-system-x86: scripts/setup-deps.sh)"
work=${work:-$BUILD_DIR/kvm-harness}
mkdir -p "$work" || fail "cannot create $work"
rm -f "$work"/{console.log,results.log,qemu.log}
t_start=$(date +%s.%N)
kdir=$(bash "$here/guest_kernel.sh") || fail "no guest kernel (guest_kernel.sh said why, above)"
t_kernel=$(date +%s.%N)
if ! why=$(kvm_initramfs_build "$work/initramfs.cpio" "$work/stage" "$kdir" "$BUILD_DIR" "$SOURCE_DIR" "$here/guest_init.sh"); then
  fail "initramfs: $why"
fi
rm -rf "$work/stage"
t_initramfs=$(date +%s.%N)

kernel=$kdir/vmlinux
[[ -f $kernel ]] || kernel=$kdir/vmlinuz
append="console=ttyS0 quiet panic=-1"
((verbose)) && append+=" kvmh.verbose=1" && export KVM_JUDGE_VERBOSE=1
((shell)) && append+=" kvmh.shell=1"
# -nodefaults: no NIC, VGA, floppy or CD-ROM to probe; serial 0 is the console, serial 1 the
# results. qboot instead of SeaBIOS where it is installed (it is in qemu-system-data): the
# firmware's work is nothing here, since QEMU loads the kernel itself. -smp 1: the machine's
# two cores are shared, and TCG gives a guest little from a second vCPU.
args=(-accel tcg -cpu max -smp 1 -m "${KVM_MEMORY_MIB}M" -nodefaults -no-reboot -display none
  -kernel "$kernel" -initrd "$work/initramfs.cpio" -append "$append")
[[ -f /usr/share/qemu/qboot.rom ]] && args+=(-bios /usr/share/qemu/qboot.rom)
if ((shell)); then
  args+=(-serial mon:stdio -serial "file:$work/results.log")
else
  args+=(-monitor none -serial "file:$work/console.log" -serial "file:$work/results.log")
fi
printf '%q ' "$qemu" "${args[@]}" >"$work/qemu-cmd.sh"
echo >>"$work/qemu-cmd.sh"
if ((shell)); then
  "$qemu" "${args[@]}"
  kvm_judge "$work/results.log"
  exit
fi

# The bound on the whole run: boot and setup, then every test's own limit, then a margin.
bound=$((${KVM_HARNESS_BOOT_SECONDS:-120} + 10))
for l in "${KVM_TEST_LIMITS[@]}"; do bound=$((bound + l)); done
"$qemu" "${args[@]}" </dev/null >"$work/qemu.log" 2>&1 &
qpid=$!
# Killed from outside (ctest's timeout, ^C): QEMU goes too.
trap 'kill -KILL "$qpid" 2>/dev/null' EXIT
trap 'exit 143' TERM INT
deadline=$((SECONDS + bound))
killed=""
while kill -0 "$qpid" 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    killed="the whole run exceeded its bound of $bound s"
    break
  fi
  # The guest powers itself off after its last test; a VM that is done but still running
  # (a power-off that failed) is not waited for long.
  if [[ -z ${done_at:-} ]] && grep -q '^KVMH done' "$work/results.log" 2>/dev/null; then
    done_at=$SECONDS
  fi
  if [[ -n ${done_at:-} ]] && ((SECONDS - done_at > 15)); then
    killed="the guest finished but did not power off"
    break
  fi
  sleep 0.2
done
if [[ -n $killed ]]; then
  kill -KILL "$qpid" 2>/dev/null
fi
wait "$qpid" 2>/dev/null
qrc=$?
trap - EXIT
t_end=$(date +%s.%N)

echo "kvm harness: $kernel ($(cat "$kdir/done")), ${KVM_MEMORY_MIB} MiB, initramfs $(($(stat -c %s "$work/initramfs.cpio") / 1024 / 1024)) MiB"
boot_line=$(tr -d '\r' <"$work/results.log" 2>/dev/null | sed -n 's/^KVMH boot //p' | head -1)
awk -v a="$t_start" -v b="$t_kernel" -v c="$t_initramfs" -v d="$t_end" -v boot="${boot_line:-?}" 'BEGIN {
  printf "kvm harness: times: guest kernel %.1f s, initramfs %.1f s, QEMU %.1f s (guest /init at %s s of guest uptime)\n", b - a, c - b, d - c, boot }'
ok=1
kvm_judge "$work/results.log" || ok=0
if [[ -n $killed ]]; then
  echo "FAIL $killed: QEMU (pid $qpid) killed"
  ok=0
elif ((qrc != 0)); then
  echo "FAIL QEMU exited with status $qrc: $(tail -3 "$work/qemu.log" | tr '\n' ' ')"
  ok=0
fi
if ((!ok)); then
  echo "---- the guest's console, last 40 lines ($work/console.log):"
  tail -n 40 "$work/console.log" 2>/dev/null | tr -d '\r'
  echo "----"
  echo "logs kept: $work/console.log (kernel and /init), $work/results.log (KVMH lines), $work/qemu.log"
  echo "to reproduce: bash $work/qemu-cmd.sh; interactively: $0 --shell${filter:+ --filter '$filter'}"
  exit 1
fi
