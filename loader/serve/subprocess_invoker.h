// The invoker that works with today's boot code: each invocation is a cold boot by the static
// `catload run` in a child process, its stdio on pipes and its outcome read from --report-fd
// (spec/serve.md, "Invokers"). The child is a crash boundary too: a sandbox-kernel bug takes
// one invocation down, never the server. Warm and fork boots are not available through it.
#pragma once

#include <string>
#include <vector>

#include "loader/serve/invoker.h"

namespace cat::serve {

class SubprocessInvoker : public Invoker {
 public:
  // `catload` is the path of the static catload binary; `bind_args` are the --rootfs/--mount/
  // --mounts-from-image options given to every `catload run`.
  SubprocessInvoker(std::string catload, std::vector<std::string> bind_args)
      : catload_(std::move(catload)), bind_args_(std::move(bind_args)) {}

  std::vector<BootMode> AvailableModes() const override { return {BootMode::kCold}; }
  InvokeResult Invoke(const InvokeRequest& request) override;

  // The command line of one invocation (the image is fd 4 in the child), for tests and logs.
  std::vector<std::string> CommandLine(const InvokeLimits& limits) const;

 private:
  std::string catload_;
  std::vector<std::string> bind_args_;
};

// Fills result's kind, exit code and message from catload run's --report-fd line (and its exit
// status when there is no line). Separate from Invoke so that it is unit-testable.
void ApplyRunReport(const std::string& report_line, int wait_status, InvokeResult& result,
                    int64_t accepted_ns);

}  // namespace cat::serve
