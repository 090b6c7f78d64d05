// What a syscall handler returns: the value the guest sees in rax and a control that tells the
// kernel's dispatch what happens to the calling thread next. A plain `return -EINVAL;` or
// `return n;` converts implicitly to {value, kContinue}, so the common handler stays a one-liner
// and the hot path stays two registers (rax:rdx) wide.
//
//   kContinue    store `value` in rax and resume the thread (the only control of most calls)
//   kExitThread  the calling thread ends (exit); `value` is its status. The last thread of the
//                process ending ends the guest with that status, as in Linux.
//   kExitGroup   every thread ends (exit_group, a fatal signal); `value` is the status
//   kBlock       the thread sleeps on a WaitQueue (wait_queue.h); nothing is stored in rax
//                now: whoever completes the wait sets the result. Single-threaded guests never
//                see it (a handler that would block the only thread waits in place)
//   kRestart     re-issue the same syscall: rip goes back onto the `syscall` instruction and
//                rax gets the number again (SA_RESTART, a wait interrupted by a stop)
//   kSandboxFault the sandbox itself failed (the shell died mid-call, a host resource vanished):
//                not a guest errno — the run ends with an error naming the fault, and the guest
//                is never told a lie like ESRCH from a read
#pragma once

#include <cstdint>

namespace cat {

enum class SyscallControl : uint8_t {
  kContinue = 0,
  kExitThread,
  kExitGroup,
  kBlock,
  kRestart,
  kSandboxFault,
};

struct SyscallResult {
  int64_t value = 0;
  SyscallControl control = SyscallControl::kContinue;

  constexpr SyscallResult() = default;
  // NOLINTNEXTLINE(google-explicit-constructor): handlers `return -errno;`
  constexpr SyscallResult(int64_t v) : value(v) {}
  constexpr SyscallResult(int64_t v, SyscallControl c) : value(v), control(c) {}

  static constexpr SyscallResult ExitThread(int status) {
    return {status, SyscallControl::kExitThread};
  }
  static constexpr SyscallResult ExitGroup(int status) {
    return {status, SyscallControl::kExitGroup};
  }
  static constexpr SyscallResult Block() { return {0, SyscallControl::kBlock}; }
  static constexpr SyscallResult Restart() { return {0, SyscallControl::kRestart}; }
  // `errno_value` says what went wrong on the host (for the message), never reaches the guest.
  static constexpr SyscallResult SandboxFault(int errno_value) {
    return {errno_value, SyscallControl::kSandboxFault};
  }
};

}  // namespace cat
