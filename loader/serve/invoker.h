// The server's view of running one invocation: request bytes in, response bytes and an outcome
// out. The HTTP side (server.cc) only talks to this interface, so a boot path can be swapped in
// (subprocess cold boot today, the in-process invocation API and warm/fork boots later) and the
// admission, status and metrics logic can be tested with a fake.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loader/boot/boot_mode.h"

namespace cat {
class FuncImage;
}

namespace cat::serve {

struct ServedImage;  // registry.h

using cat::BootMode;  // loader/boot/boot_mode.h: one list of modes for the loader and the server

// The operator's per-invocation limits (catload serve's options; 0 = none).
struct InvokeLimits {
  double timeout_s = 0;  // the guest's run, from its first instruction (spec/serve.md, "Limits")
  // Every boot the server does: an instance's on the request's path, one ahead of it, a fork
  // template. 0: none.
  double boot_timeout_s = 0;
  double cpu_limit_s = 0;
  uint64_t memory_limit = 0;
  uint64_t max_output = 0;
  uint32_t max_fds = 0;
  uint32_t max_procs = 0;  // guest processes alive at once; 0: the loader's default (64)
};

struct InvokeRequest {
  std::string function;  // the served name (registry key)
  std::string image_path;
  // The image as the registry opened it (its fd too): a replaced file is never re-read.
  const FuncImage* image = nullptr;
  int image_fd = -1;
  // The registry's generation of the image under `function` (+1 per replacement): with the
  // name, what an invoker's per-image caches (warm images, fork templates) are keyed by.
  uint64_t image_generation = 0;
  BootMode mode = BootMode::kCold;
  std::string_view body;
  InvokeLimits limits;
  std::string invocation_id;
  int64_t accepted_ns = 0;  // MonotonicNowNs when admission let it start: boot latency's origin
};

// How an invocation ended, as the HTTP status mapping needs it (status_mapping.h).
enum class OutcomeKind {
  kExited,         // the guest exited (any status)
  kSignaled,       // ended by a signal it raised itself (abort, SIGPIPE, kill)
  kFault,          // a fault it could not survive (SIGSEGV, SIGILL, ...)
  kTimeout,        // killed at --timeout
  kCpuLimit,       // killed at --cpu-limit
  kOutputLimit,    // ended by SIGXFSZ at --max-output
  kMemoryLimit,    // refused memory at --memory-limit and then did not exit 0
  kShellDied,      // the sandbox shell died underneath
  kBootFailed,     // no guest instruction ran: the image could not be booted
  kUnavailable,    // this invoker cannot boot the asked mode
  kInternalError,  // the server could not run the invocation
};

// Each outcome's name, HTTP status and default message, from one table (invoker.cc): the
// metrics labels, the X-Catalyzer-Outcome header, the log, the statuses (status_mapping.h) and
// the reading of `catload run --report-fd` all derive from it.
struct OutcomeInfo {
  OutcomeKind kind;
  std::string_view name;      // "exited", "timeout", ...
  int http_status;            // 200 for an exit of any status
  std::string_view fallback;  // the answer's line when the invoker gave no message
};
const OutcomeInfo& Outcome(OutcomeKind kind);
std::optional<OutcomeKind> OutcomeFromName(std::string_view name);
std::span<const OutcomeInfo> AllOutcomes();
std::string_view OutcomeName(OutcomeKind kind);

// The one line for kMemoryLimit: `then` says how the guest failed after the refusal ("exited
// 1", or the fault's own line).
std::string MemoryLimitMessage(const std::string& then);

struct InvokeResult {
  OutcomeKind kind = OutcomeKind::kInternalError;
  int exit_code = 0;  // kExited: the guest's status; otherwise catload run's exit code
  std::string stdout_bytes;
  std::string stderr_bytes;
  BootMode mode_used = BootMode::kCold;
  int64_t boot_ns = -1;  // admission -> first guest instruction; -1 if it never ran
  int64_t total_ns = 0;  // admission -> the guest gone and its output collected
  std::string message;   // one line for anything but a normal exit; names the limit or fault
  bool ahead = false;    // the instance was booted ahead of the request (a ready instance)
  // Where the boot latency went, for the log line: "stage:us" separated by commas, in order
  // ("queue" first: admission -> a worker took the request). Empty when unknown.
  std::string boot_stages;
};

class Invoker {
 public:
  virtual ~Invoker() = default;
  // The boot modes this invoker can do, fastest first (the default is the first).
  virtual std::vector<BootMode> AvailableModes() const = 0;
  // Runs one invocation to its end. Thread-safe: the server calls it from many threads.
  virtual InvokeResult Invoke(const InvokeRequest& request) = 0;
  // The images served from now on (at start and after every rescan), and the limits their
  // requests will have: an invoker frees what it keeps for images no longer served (removed,
  // or replaced by a newer generation) and may prepare for these ahead of their first request.
  virtual void Serving(const std::vector<std::shared_ptr<const ServedImage>>& images,
                       const InvokeLimits& limits) {
    (void)images;
    (void)limits;
  }
  // Empty sandbox shells ready in the zygote pool now (the catalyzer_pool_shells gauge); 0 for
  // an invoker that keeps none.
  virtual size_t PoolShells() { return 0; }
};

}  // namespace cat::serve
