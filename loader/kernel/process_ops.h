// What the process syscalls share (sys_proc_tree.cc, sys_fork.cc, process_exit.cc): finding
// a child to reap, blocking in a wait, and signals to other guest processes.
#pragma once

#include <cstdint>
#include <optional>

#include "format/state/signal_state.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {

// A zombie child of the current process matching wait4's `pid` (> 0: that one, 0: the
// caller's group, < -1: group -pid, -1: any): its pid, with *out set; 0 if matching children
// exist but none has exited; -ECHILD if none matches.
int64_t FindWaitable(SandboxKernel& k, int pid, GuestProcess** out);

// One attempt of wait4 or waitid (args.nr says which) for the current process: the syscall's
// result, or nullopt when it must wait for a child.
std::optional<int64_t> WaitOnce(SandboxKernel& k, const SyscallArgs& args);

// wait4/waitid with nothing to reap yet: parks the calling task until a child of its process
// exits (the syscall is then re-issued and finds it). -ECHILD where nothing could ever wake it.
SyscallResult BlockInWait(SandboxKernel& k, const SyscallArgs& args);

// Queues `sig` for guest process `p` (the current one or another); 0, or -errno.
int64_t SendSignalToProcess(SandboxKernel& k, GuestProcess& p, const state::PendingSignal& sig);

}  // namespace cat
