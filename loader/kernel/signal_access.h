// Where the signal code finds the per-thread signal mask and alternate stack and the
// per-process actions. The one place that knows their home in the state: the task model
// (per-thread and per-process state) changes only these.
#pragma once

#include <cstdint>

#include "format/state/process.h"
#include "loader/kernel/signal_frame.h"

namespace cat {

class SandboxKernel;

uint64_t SignalMask(const SandboxKernel& k);
// Sets the mask; SIGKILL and SIGSTOP are never blocked.
void SetSignalMask(SandboxKernel& k, uint64_t mask);
state::SignalAction& SignalActionOf(SandboxKernel& k, int sig);
const state::SignalAction& SignalActionOf(const SandboxKernel& k, int sig);
sigframe::AltStack AltStackOf(const SandboxKernel& k);
void SetAltStack(SandboxKernel& k, const sigframe::AltStack& alt);
// sigaltstack's checks for a new stack (`sp` is the guest's stack pointer): 0 or -errno.
int64_t SetAltStackChecked(SandboxKernel& k, const sigframe::StackT& ss, uint64_t sp);

}  // namespace cat
