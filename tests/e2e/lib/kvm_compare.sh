# Helpers of the kvm-platform e2e scripts (kvm_boot_paths.sh, kvm_threads.sh): source after
# common.sh, e2e_tmpdir and T=$E2E_TMP. Skips the script where this host's KVM does not pass
# the kvm platform's self-test (fails instead with CATALYZER_REQUIRE_KVM, as in the QEMU
# harness); `image` captures and builds, `same` compares a command on both platforms.

why=$("$CATLOAD" exec --platform kvm -- "$FIXTURES/hello" </dev/null 2>&1 >/dev/null)
if (($? == 125)) && [[ $why == *"kvm platform cannot run here"* ]]; then
  [[ -n ${CATALYZER_REQUIRE_KVM:-} ]] && e2e_setup_fail "CATALYZER_REQUIRE_KVM is set: $why"
  e2e_skip "no usable KVM: ${why#*run here (use --platform ptrace): }"
fi

# image NAME CAPTURE_PLATFORM [capture options] -- EXE ARGS: capture + build into $T/NAME.cfi.
image() {
  local name=$1 platform=$2
  shift 2
  if timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" capture --platform "$platform" -o "$T/$name.core" "$@" \
    </dev/null >"$T/$name.capture.out" 2>"$T/$name.capture.err" &&
    "$CATIMG" build -q "$T/$name.core" -o "$T/$name.cfi" >"$T/$name.build.err" 2>&1; then
    return 0
  fi
  e2e_fail "$name.image" "capture on $platform or build failed"
  e2e_show "capture stderr" "$T/$name.capture.err" 10
  e2e_show "build stderr" "$T/$name.build.err" 10
  return 1
}

# same NAME CASE INPUT -- CATLOAD ARGS...: the command on --platform ptrace and on kvm (the
# platform option follows the subcommand) gives the same stdout and exit code.
same() {
  local name=$1 case=$2 input=$3
  shift 4
  local sub=$1 p
  shift
  for p in ptrace kvm; do
    printf '%s\n' "$input" | timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" "$sub" --platform "$p" "$@" \
      >"$T/$name.$case.$p.out" 2>"$T/$name.$case.$p.err"
    echo $? >"$T/$name.$case.$p.rc"
  done
  if cmp -s "$T/$name.$case.ptrace.out" "$T/$name.$case.kvm.out" &&
    cmp -s "$T/$name.$case.ptrace.rc" "$T/$name.$case.kvm.rc" &&
    [[ -s $T/$name.$case.kvm.out ]]; then
    e2e_pass "$name.$case: kvm's output and exit code are ptrace's ($(head -c 60 "$T/$name.$case.kvm.out" | tr '\n' ' '))"
  else
    e2e_fail "$name.$case" "kvm gave exit $(cat "$T/$name.$case.kvm.rc"), ptrace $(cat "$T/$name.$case.ptrace.rc")"
    e2e_show "ptrace stdout" "$T/$name.$case.ptrace.out" 5
    e2e_show "kvm stdout" "$T/$name.$case.kvm.out" 5
    e2e_show "kvm stderr" "$T/$name.$case.kvm.err" 10
  fi
}

