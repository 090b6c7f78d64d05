// Where the signal code finds the per-thread signal mask and alternate stack and the
// per-process actions: the current thread's (SandboxKernel::thread()) and the process's. The
// one place that knows their home in the state.
#pragma once

#include <cstdint>

#include "format/state/process.h"
#include "loader/kernel/signal_frame.h"

namespace cat {

class SandboxKernel;

uint64_t SignalMask(SandboxKernel& k);
// Sets the mask; SIGKILL and SIGSTOP are never blocked.
void SetSignalMask(SandboxKernel& k, uint64_t mask);
state::SignalAction& SignalActionOf(SandboxKernel& k, int sig);
sigframe::AltStack AltStackOf(SandboxKernel& k);
void SetAltStack(SandboxKernel& k, const sigframe::AltStack& alt);
// sigaltstack's checks for a new stack (`sp` is the guest's stack pointer): 0 or -errno.
int64_t SetAltStackChecked(SandboxKernel& k, const sigframe::StackT& ss, uint64_t sp);

}  // namespace cat
