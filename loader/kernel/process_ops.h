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

// clone without CLONE_THREAD: a new process (sys_fork.cc). x86-64 clone's argument order.
int64_t CloneProcess(SandboxKernel& k, uint64_t flags, uint64_t stack, uint64_t parent_tid,
                     uint64_t child_tid, uint64_t tls);

// A futex's wait-queue key: its address in the calling process's address space. Processes
// have address spaces of their own (copies after fork), so the pid is part of the key.
// (pid 1's key is the address itself.)
inline uint64_t FutexKey(SandboxKernel& k, uint64_t addr) {
  return addr ^ (static_cast<uint64_t>(static_cast<uint32_t>(k.procs.current().pid - 1)) << 47);
}

// Queues `sig` for guest process `p` (the current one or another); 0, or -errno.
int64_t SendSignalToProcess(SandboxKernel& k, GuestProcess& p, const state::PendingSignal& sig);

}  // namespace cat
