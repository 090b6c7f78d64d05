// The run loop: runs a booted guest to its end, serving each syscall stop with the sandbox
// kernel and enforcing the wall-clock limit with a watchdog thread.
#pragma once

#include <cstdint>
#include <string>

#include "format/base/error.h"
#include "loader/boot/sandbox.h"

namespace cat {

struct GuestOutcome {
  enum class Kind {
    kExited,     // exit/exit_group with a status
    kSignaled,   // ended by a signal it raised itself (abort, SIGPIPE)
    kFault,      // a fault it had no way to survive (SIGSEGV, SIGILL, ...)
    kTimeout,    // killed at the wall-clock limit
    kShellDied,  // the shell process died underneath (e.g. killed by its seccomp filter)
    kFuncEntry,  // stopped at its func-entry point (capture only)
  } kind = Kind::kExited;
  int status = 0;  // exit status or signal number
  uint64_t fault_address = 0;
  uint64_t rip = 0;

  // What catload exits with: the guest's status, 128+signal for signals and faults, 124 for
  // a timeout (as timeout(1) does).
  int ExitCode() const;
  // One line for stderr, empty for a normal exit.
  std::string Describe(double timeout_s) const;
};

// timeout_s <= 0: no limit.
Result<GuestOutcome> RunGuest(Sandbox& sandbox, double timeout_s);

}  // namespace cat
