// Names of boot modes and outcomes as they appear in URLs, headers, logs and metrics.
#include "loader/serve/invoker.h"

namespace cat::serve {

std::string_view OutcomeName(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::kExited:
      return "exited";
    case OutcomeKind::kSignaled:
      return "signaled";
    case OutcomeKind::kFault:
      return "fault";
    case OutcomeKind::kTimeout:
      return "timeout";
    case OutcomeKind::kCpuLimit:
      return "cpu_limit";
    case OutcomeKind::kOutputLimit:
      return "output_limit";
    case OutcomeKind::kMemoryLimit:
      return "memory_limit";
    case OutcomeKind::kShellDied:
      return "shell_died";
    case OutcomeKind::kBootFailed:
      return "boot_failed";
    case OutcomeKind::kUnavailable:
      return "unavailable";
    case OutcomeKind::kInternalError:
      return "internal_error";
  }
  return "internal_error";
}

std::string MemoryLimitMessage(const std::string& then) {
  return "memory limit reached (--memory-limit): the guest was refused memory, then " + then;
}

}  // namespace cat::serve
