#!/usr/bin/env bash
# e2e.kvm_platform: the kvm platform (spec/kvm.md) runs what the ptrace platform runs, and a
# guest's CPU-level attacks and faults end that guest, never catload. It re-runs other e2e
# scripts (every fixture under exec; capture -> build -> cold boot against native outputs;
# the hostile guest) with catload forced onto --platform kvm through a wrapper, then runs
# fixtures/cpu_fault's modes (privileged instructions, the system area's and page tables'
# memory, int/iret/lret/LDT tricks, syscall from a forged CS, sysenter, faults) on both
# platforms. Skips where this host's KVM does not pass the self-test (kvm_pvm, no /dev/kvm);
# the QEMU harness (tests/kvm, `ctest -L kvm`) runs it where it cannot skip.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_catload
e2e_require_fixture hello
e2e_require_fixture cpu_fault
e2e_tmpdir

why=$("$CATLOAD" exec --platform kvm -- "$FIXTURES/hello" </dev/null 2>&1 >/dev/null)
rc=$?
if ((rc == 125)) && [[ $why == *"kvm platform cannot run here"* ]]; then
  [[ -n ${CATALYZER_REQUIRE_KVM:-} ]] && e2e_setup_fail "CATALYZER_REQUIRE_KVM is set: $why"
  e2e_skip "no usable KVM: ${why#*run here (use --platform ptrace): }"
fi

# catload with --platform kvm after the subcommand (every subcommand takes it).
wrapper=$E2E_TMP/catload-kvm
cat >"$wrapper" <<WRAP
#!/bin/sh
if [ \$# -eq 0 ]; then exec "$CATLOAD"; fi
sub=\$1; shift
exec "$CATLOAD" "\$sub" --platform kvm "\$@"
WRAP
chmod +x "$wrapper"

# The other scripts, on kvm (KVM_E2E_SCRIPTS overrides the list, e.g. for a short run).
for script in ${KVM_E2E_SCRIPTS:-exec_fixtures image_functions hostile}; do
  [[ $script == none ]] && continue
  if CATLOAD=$wrapper bash "$SOURCE_DIR/tests/e2e/$script.sh" >"$E2E_TMP/$script.log" 2>&1; then
    e2e_pass "kvm.$script ($(grep -E '^[0-9]+ passed, 0 failed$' "$E2E_TMP/$script.log" | tail -n 1))"
  else
    e2e_fail "kvm.$script" "tests/e2e/$script.sh failed on --platform kvm; its last lines:
$(tail -n 30 "$E2E_TMP/$script.log")"
  fi
done

# KVM_E2E_FAULTS=0: the other scripts only (the QEMU harness runs them as a test of their own).
[[ ${KVM_E2E_FAULTS:-1} == 0 ]] && e2e_finish

# CPU attacks and faults (`cpu_fault --list`: privileged instructions, int/iret/lret and LDT
# tricks, syscall from a forged CS, reads and writes of the trampoline's, GDT's, TSS's, IDT's,
# exception stack's and page tables' memory, faults): the guest dies by a signal, with one
# catload line on stderr (beside ldt_compat's note that modify_ldt is not emulated); the
# same signal as on ptrace, except for int80 (the 32-bit syscall gate does not exist on kvm) and
# the segment tricks, which the host kernel under ptrace answers differently by kernel (SIGSEGV
# here, SIGKILL in the QEMU harness's guest kernel; compatibility mode exists there).
signal_rc='^(13[2-9]|14[0-3])$'
segment_tricks='^(int80|iret_ring0|iret_compat|lret_compat|lret_data_cs|ldt_compat|lret_kernel_cs)$'
modes=$("$FIXTURES/cpu_fault" --list) || e2e_setup_fail "cpu_fault --list failed"
# The Done-when list of issue 10 by name, so that a shrunk list cannot pass unnoticed.
for want in hlt out wrmsr movcr3 int_pf iret_ring0 lret_compat ldt_compat read_trampoline \
  write_trampoline read_page_tables write_page_tables read_gdt write_gdt read_idt write_idt; do
  grep -qx "$want" <<<"$modes" || e2e_fail "fault list" "cpu_fault --list lacks $want"
done
for mode in $modes; do
  out=$E2E_TMP/fault.$mode
  timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" exec --platform kvm -- "$FIXTURES/cpu_fault" "$mode" \
    </dev/null >"$out.kvm.out" 2>"$out.kvm.err"
  kvm_rc=$?
  timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" exec --platform ptrace -- "$FIXTURES/cpu_fault" \
    "$mode" </dev/null >"$out.ptrace.out" 2>"$out.ptrace.err"
  ptrace_rc=$?
  # ldt_compat's modify_ldt earns the sandbox's note about an unemulated syscall; no other mode
  # may add a line.
  if [[ $mode == ldt_compat ]]; then
    grep -v '^catload: guest called unsupported syscall 154 (modify_ldt)' "$out.kvm.err" >"$out.kvm.death"
  else
    cp "$out.kvm.err" "$out.kvm.death"
  fi
  problems=""
  [[ $kvm_rc =~ $signal_rc ]] || problems+="exit $kvm_rc, not a guest signal; "
  grep -q SURVIVED "$out.kvm.out" && problems+="the guest survived; "
  # Modes with a set-up step say it worked: the attack was really mounted.
  if [[ $mode == alias_page_tables ]] && ! grep -qx "ARMED $mode" "$out.kvm.out"; then
    problems+="its set-up failed (no ARMED line); "
  fi
  [[ $(grep -c . "$out.kvm.death") == 1 ]] || problems+="$(grep -c . "$out.kvm.death") stderr lines, want 1; "
  grep -q '^catload: guest killed by SIG' "$out.kvm.death" || problems+="no 'guest killed by' line; "
  if [[ ! $mode =~ $segment_tricks && $kvm_rc != "$ptrace_rc" ]]; then
    problems+="exit $kvm_rc on kvm, $ptrace_rc on ptrace; "
  fi
  if [[ -z $problems ]]; then
    e2e_pass "fault.$mode"
  else
    e2e_fail "fault.$mode" "$problems stderr: $(head -c 300 "$out.kvm.err")"
  fi
done

# --stats reports the boot's VM exits (a cold boot captured and built on kvm).
"$CATLOAD" capture --platform kvm -o "$E2E_TMP/hello.core" -- "$FIXTURES/hello" </dev/null \
  >/dev/null 2>&1 && [[ -n ${CATIMG:-} ]] &&
  "$CATIMG" build "$E2E_TMP/hello.core" -o "$E2E_TMP/hello.cfi" >/dev/null 2>&1 &&
  "$CATLOAD" run --platform kvm --stats=json "$E2E_TMP/hello.cfi" <<<"world" >/dev/null \
    2>"$E2E_TMP/stats.err"
if grep -q '"vm_exits":[1-9]' "$E2E_TMP/stats.err" 2>/dev/null; then
  e2e_pass stats.vm_exits
else
  e2e_fail stats.vm_exits "no vm_exits in --stats=json: $(head -c 300 "$E2E_TMP/stats.err")"
fi

e2e_finish
