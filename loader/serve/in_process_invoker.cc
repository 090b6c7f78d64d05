// In-process invocations (see in_process_invoker.h).
#include "loader/serve/in_process_invoker.h"

#include <mutex>

#include "format/base/host_clock.h"
#include "loader/boot/invocation.h"

namespace cat::serve {
namespace {

OutcomeKind KindOf(Verdict v) {
  switch (v) {
    case Verdict::kExited:
      return OutcomeKind::kExited;
    case Verdict::kSignaled:
      return OutcomeKind::kSignaled;
    case Verdict::kFault:
      return OutcomeKind::kFault;
    case Verdict::kTimeout:
      return OutcomeKind::kTimeout;
    case Verdict::kCpuLimit:
      return OutcomeKind::kCpuLimit;
    case Verdict::kOutputLimit:
      return OutcomeKind::kOutputLimit;
    case Verdict::kMemoryLimit:
      return OutcomeKind::kMemoryLimit;
    case Verdict::kShellDied:
      return OutcomeKind::kShellDied;
  }
  return OutcomeKind::kInternalError;
}

// The sandbox kernel's lines about one instance, gathered for its log line.
struct KernelLines {
  std::mutex mu;
  std::string text;
};

}  // namespace

InvokeResult InProcessInvoker::Invoke(const InvokeRequest& req) {
  InvokeResult r;
  r.mode_used = BootMode::kCold;
  if (req.mode != BootMode::kCold) {
    r.kind = OutcomeKind::kUnavailable;
    r.message = "boot mode " + std::string(BootModeName(req.mode)) + " is not available yet";
    return r;
  }
  if (!req.image) {
    r.kind = OutcomeKind::kInternalError;
    r.message = "no image to boot";
    return r;
  }
  BootStats stats;  // the invocation's clock: admission was just now
  auto lines = std::make_shared<KernelLines>();
  InvocationOptions o;
  o.mode = cat::BootMode::kCold;
  o.mounts = mounts_;
  o.limits.timeout_s = req.limits.timeout_s;
  o.limits.cpu_limit_s = req.limits.cpu_limit_s;
  o.limits.max_output = req.limits.max_output;
  o.limits.memory_ceiling = req.limits.memory_limit;
  o.limits.max_fds_ceiling = req.limits.max_fds;
  o.limits.start_ns = stats.start_ns();
  o.log = Logger(req.invocation_id, [lines](std::string_view, const std::string& line) {
    std::lock_guard lock(lines->mu);
    lines->text += "catload: " + line + "\n";
  });
  auto result = InvokeWithBytes(*platform_, *req.image, o, req.body, std::move(stats));
  const int64_t start = req.accepted_ns ? req.accepted_ns : o.limits.start_ns;
  if (!result) {
    // A boot the run's --timeout ended is a timeout like any other; anything else never ran.
    const bool timed_out = result.error().code() == ETIMEDOUT;
    r.kind = timed_out ? OutcomeKind::kTimeout : OutcomeKind::kBootFailed;
    r.exit_code = timed_out ? 124 : 125;
    r.message = result.error().message();
    r.total_ns = MonotonicNowNs() - start;
    return r;
  }
  r.kind = KindOf(result->verdict);
  r.exit_code = result->outcome.ExitCode();
  r.stdout_bytes = std::move(result->stdout_bytes);
  r.stderr_bytes = std::move(result->stderr_bytes);
  {
    std::lock_guard lock(lines->mu);
    r.stderr_bytes += lines->text;
  }
  r.boot_ns = result->stats.start_ns() + result->boot_ns - start;
  r.total_ns = MonotonicNowNs() - start;
  if (!result->failure.empty()) {
    r.message = "the sandbox failed: " + result->failure;
  } else {
    RunLimits limits = o.limits;
    r.message = result->outcome.Describe(limits);
    if (r.kind == OutcomeKind::kMemoryLimit)
      r.message = MemoryLimitMessage(result->outcome.kind == GuestOutcome::Kind::kExited
                                         ? "exited " + std::to_string(result->outcome.status)
                                         : (r.message.empty() ? std::string("ended") : r.message));
  }
  return r;
}

}  // namespace cat::serve
