// Instances booted ahead of their request (see ready_instance.h).
#include "loader/boot/ready_instance.h"

#include <optional>
#include <utility>

#include "loader/boot/call_deadline.h"
#include "loader/boot/watchdog.h"

namespace cat {

Result<std::unique_ptr<ReadyInstance>> ReadyInstance::Boot(Platform& platform,
                                                           const FuncImage& image,
                                                           const InvocationOptions& options) {
  if (options.mode != BootMode::kWarm && options.mode != BootMode::kFork)
    return Fail(EINVAL, "ready instance: only warm and fork instances are booted ahead");
  std::unique_ptr<ReadyInstance> ready(new ReadyInstance());
  TRY(ready->channels_, ByteChannels::Make());
  ready->idle_ = options.idle_priority;
  ready->defer_teardown_ = options.defer_teardown;
  // No wall-clock or CPU limit at boot: they belong to the request, and start with it (Run).
  RunLimits ceilings = options.limits;
  ceilings.timeout_s = 0;
  ceilings.cpu_limit_s = 0;
  ceilings.start_ns = 0;
  // The boot itself is bounded as a whole (options.limits.timeout_s: catload serve
  // --boot-timeout), so that a worker booting ahead always comes back (call_deadline.h).
  std::optional<CallDeadline> deadline;
  if (options.limits.timeout_s > 0) deadline.emplace(options.limits.timeout_s);
  auto sandbox =
      BootInstance(platform, image, options, ceilings, ready->channels_.fds(), ready->boot_stats_);
  if (deadline && deadline->fired())
    return Fail(ETIMEDOUT, "ready instance: not booted within " +
                               SecondsText(options.limits.timeout_s) + " s (--boot-timeout)");
  TRY(ready->sandbox_, std::move(sandbox));
  return ready;
}

ReadyInstance::~ReadyInstance() = default;

Result<InvocationResult> ReadyInstance::Run(std::string_view request, const RunLimits& limits,
                                            BootStats stats) {
  if (!sandbox_) return Fail(EINVAL, "ready instance: already used");
  RunLimits run_limits = limits;
  if (run_limits.run_timeout_s >= 0) {
    // The boot was done ahead: the run's own --timeout starts with the hand-over.
    run_limits.timeout_s = run_limits.run_timeout_s;
    run_limits.run_timeout_s = -1;
    run_limits.start_ns = 0;
  }
  if (run_limits.start_ns == 0) run_limits.start_ns = stats.start_ns();
  TRY_STATUS(channels_.SetRequest(request));
  stats.Stage("request");
  if (idle_) TRY_STATUS(WithContext(sandbox_->shell().SetIdlePriority(false), "ready instance"));
  // The boot's watchdog had no limits (Boot): the request's own replaces it, started here on
  // this thread so that the boot latency ends where the guest resumes, as in every boot path.
  (void)sandbox_->TakeWatchdog();
  TRY_STATUS(WithContext(WatchBoot(*sandbox_, run_limits), "ready instance"));
  stats.Stage("hand over");  // priority back, the request's watchdog
  stats.Note("ahead_boot_ns", boot_stats_.ElapsedNs());
  InvocationResult r =
      RunBooted(std::move(sandbox_), run_limits, std::move(stats), defer_teardown_);
  TRY_STATUS(channels_.Collect(r));
  return r;
}

}  // namespace cat
