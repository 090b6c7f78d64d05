// Waiting for readiness while other guest tasks run: poll, ppoll, select, pselect6 and the
// epoll waits must not hold the one tracer thread (tasks.h) when another task could make their
// fds ready (a pipe's other end in a child process, a thread signalling an eventfd). Such a
// wait parks its task for at most a quantum and then re-issues the call, which looks again.
#pragma once

#include <cstdint>
#include <functional>

#include "loader/kernel/syscall_result.h"

namespace cat {

class SandboxKernel;

// What a blocking read that would wait returns while other tasks could run (Files,
// set_park_instead_of_blocking): its syscall parks the task with ParkAndPoll. Never given to
// the guest (above every errno Linux defines, below 4096).
constexpr int kMustParkErrno = 4000;

// How long a parked readiness wait sleeps before it looks again.
constexpr int64_t kPollQuantumNs = 1'000'000;

// Writes a wait's time left (ns, >= 0) into the guest's own timeout (ppoll's timespec,
// select's timeval), as Linux writes it back, so that the re-issued call waits only that long.
using TimeLeftWriter = std::function<void(int64_t left_ns)>;

// Parks the calling task until the earlier of `end_ns` (host CLOCK_MONOTONIC; -1 = no timeout)
// and one quantum from now, then re-issues its syscall (kRetrySyscall) with its timeout set to
// what is left by then: `ms_timeout_reg` names the argument register (0..5) holding a
// millisecond timeout to rewrite (poll: 2, epoll_wait and epoll_pwait: 3), `write_left` writes a
// timeout kept in guest memory. With neither (epoll_pwait2, whose timespec is not written back
// and restarts whole) the last quantum completes the call with 0, the timeout's result.
SyscallResult ParkAndPoll(SandboxKernel& k, int64_t end_ns, int ms_timeout_reg,
                          const TimeLeftWriter& write_left = {});

}  // namespace cat
