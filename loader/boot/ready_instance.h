// An instance booted ahead of its request (spec/boot.md, "Ready instances"): a warm or fork
// boot done while no request waits, its stdio channels on fresh memfds, the image's recorded
// write working set pre-copied, and the guest never run. A server keeps a few per image and
// worker and hands each to exactly one request: the request pays only for the hand-over (its
// bytes written into the request memfd, the run's watchdog started), and the copy-on-write
// tax of the pre-copied pages was paid before it came. Every request still starts from the
// snapshot state: the instance's memory is the template's (or the image's) untouched, its
// kernel state a fresh copy, and nothing ran in it before its request.
#pragma once

#include <memory>
#include <string_view>

#include "format/base/error.h"
#include "loader/boot/invocation.h"

namespace cat {

class ReadyInstance {
 public:
  // Boots `options.mode` (kWarm or kFork, from options.warm/pool or options.fork_template) on
  // the calling thread, which is then the instance's tracer: only it may Run it. The run's
  // memory and fd ceilings are options.limits' (they are fixed at boot); its wall-clock and
  // CPU limits are Run's. options.limits.timeout_s, if set, bounds this boot (ETIMEDOUT past it).
  // Run: with limits.run_timeout_s >= 0 the run's --timeout counts from the hand-over.
  static Result<std::unique_ptr<ReadyInstance>> Boot(Platform& platform, const FuncImage& image,
                                                     const InvocationOptions& options);
  ~ReadyInstance();

  // Gives the instance `request` and runs it to its end under `limits` (timeout counted from
  // limits.start_ns, or from `stats`' start), then tears it down. `stats` is the invocation's
  // clock, started when the request was accepted: boot_ns is then the hand-over alone (stage
  // "hand over"); the boot ahead of it is noted as ahead_boot_ns. Once only. With the Boot
  // options' defer_teardown the ended instance comes back in InvocationResult::instance.
  Result<InvocationResult> Run(std::string_view request, const RunLimits& limits, BootStats stats);

  // How long the boot ahead of the request took (its stages: boot_stats()).
  int64_t boot_ns() const { return boot_stats_.ElapsedNs(); }
  const BootStats& boot_stats() const { return boot_stats_; }

 private:
  ReadyInstance() = default;
  ByteChannels channels_;
  std::unique_ptr<Sandbox> sandbox_;
  BootStats boot_stats_;
  bool idle_ = false;            // its shell runs at idle priority until Run
  bool defer_teardown_ = false;  // options.defer_teardown: Run leaves the teardown to its caller
};

}  // namespace cat
