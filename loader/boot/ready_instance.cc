// Instances booted ahead of their request (see ready_instance.h).
#include "loader/boot/ready_instance.h"

#include <utility>

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
  TRY(ready->sandbox_,
      BootInstance(platform, image, options, ceilings, ready->channels_.fds(), ready->boot_stats_));
  return ready;
}

ReadyInstance::~ReadyInstance() = default;

Result<InvocationResult> ReadyInstance::Run(std::string_view request, const RunLimits& limits,
                                            BootStats stats) {
  if (!sandbox_) return Fail(EINVAL, "ready instance: already used");
  RunLimits run_limits = limits;
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
