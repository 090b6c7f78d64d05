// Blocking reads and writes between guest tasks: a read of an empty in-sandbox pipe or
// socket whose other end is still open, or a write to a full one, waits for another task
// (a thread, or another guest process holding the other end) instead of failing with EAGAIN.
// The wait is simple and always correct: the task parks on SandboxKernel::io_waits and its
// call is issued again (kRetrySyscall) after any syscall of another task, or when a process
// ends; a call that would still block parks again. A guest with a single task keeps the old
// answer (EAGAIN: nothing could ever change it), and O_NONBLOCK fds are never parked.
#pragma once

#include <cstdint>

#include "loader/kernel/sandbox_kernel.h"

namespace cat {

// `result` of a read/write-like call on `fd`: returned as it is, or, if it is -EAGAIN on a
// blocking in-sandbox pipe or socket while another task exists, the calling task parked.
SyscallResult BlockOnInSandboxIo(SandboxKernel& k, int fd, int64_t result, const SyscallArgs& a);

// After a syscall that did not park its task: parked I/O waiters try again.
inline void RetryIoWaiters(SandboxKernel& k) {
  if (!k.io_waits.empty()) [[unlikely]]
    k.io_waits.Wake(0, INT32_MAX, ~0u, kRetrySyscall);
}

}  // namespace cat
