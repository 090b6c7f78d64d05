// The start-up self-test of a KVM backend: does the trampoline work here? A tiny ring-3 guest
// makes two syscalls (the second sees the first's result, so sysretq came back) and ends on
// ud2 (an exception exit). Software backends such as kvm_pvm, where a ring-3 `syscall` never
// reaches ring 0, fail it, as does anything that hangs (a watchdog kicks the vCPU after
// `timeout_ms`). `--platform auto` picks kvm only when this passes.
#pragma once

#include <string>

#include "format/base/error.h"
#include "kvmcore/kvm_system.h"

namespace cat::kvm {

Status SelfTest(const KvmSystem& system, int timeout_ms = 2000);

// Non-empty (saying which and why) if this host's KVM is a backend known not to run the
// trampoline: kvm_pvm, the software "PVM" backend (guest ring 0 emulated, a ring-3 syscall
// never reaching ring 0). A cheap look at /sys/module, for --platform auto.
std::string KnownUnusableBackend();

}  // namespace cat::kvm
