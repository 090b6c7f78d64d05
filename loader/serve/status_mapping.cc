// Outcome -> HTTP status (see status_mapping.h).
#include "loader/serve/status_mapping.h"

namespace cat::serve {

HttpAnswer MapOutcome(const InvokeResult& r) {
  auto answer = [&](int status, const std::string& fallback) {
    return HttpAnswer{status, r.message.empty() ? fallback : r.message};
  };
  switch (r.kind) {
    case OutcomeKind::kExited:
      return {200, ""};
    case OutcomeKind::kTimeout:
    case OutcomeKind::kCpuLimit:
      return answer(504, "the guest ran past its time limit");
    case OutcomeKind::kMemoryLimit:
      return answer(507, "the guest ran past its memory limit (--memory-limit)");
    case OutcomeKind::kOutputLimit:
      return answer(507, "the guest ran past its output limit (--max-output)");
    case OutcomeKind::kSignaled:
    case OutcomeKind::kFault:
    case OutcomeKind::kShellDied:
      return answer(502, "the guest crashed");
    case OutcomeKind::kUnavailable:
      return answer(501, "boot mode not available");
    case OutcomeKind::kBootFailed:
    case OutcomeKind::kInternalError:
      return answer(500, "the invocation failed in the server");
  }
  return answer(500, "the invocation failed in the server");
}

}  // namespace cat::serve
