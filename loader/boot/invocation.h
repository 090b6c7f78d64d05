// One invocation in process: boot a function's instance with its stdio channels bound to host
// fds the caller gives, run it to its end under the run's limits, tear it down, and say how it
// went. `catload run` is one invocation bound to catload's own stdin, stdout and stderr;
// `catload serve` makes one per request, with memfds (InvokeWithBytes). Nothing here knows
// about HTTP: the server maps a Verdict to a status. Boot paths plug in through BootMode.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "format/base/error.h"
#include "format/base/unique_fd.h"
#include "format/image/func_image.h"
#include "loader/boot/boot_mode.h"
#include "loader/boot/boot_stats.h"
#include "loader/boot/cold_boot.h"
#include "loader/boot/fork_boot.h"
#include "loader/boot/mount_binding.h"
#include "loader/boot/run_loop.h"
#include "loader/boot/sandbox.h"
#include "loader/boot/shell_pool.h"
#include "loader/boot/warm_boot.h"
#include "loader/kernel/host_bindings.h"
#include "loader/kernel/logger.h"
#include "loader/platform/cpu_pin.h"
#include "loader/platform/platform.h"

namespace cat {

// How an instance is booted: cold (cold_boot.h), warm (warm_boot.h: from InvocationOptions'
// warm image and shell pool) or fork (fork_boot.h: from its template, on the template's thread).

struct InvocationOptions {
  BootMode mode = BootMode::kCold;
  Reconnect reconnect = Reconnect::kLazy;
  // How much of the recorded write working set is pre-copied at boot (working_set.h).
  Prefault prefault = Prefault::kRecorded;
  MountChoice mounts;
  // The run's limits. start_ns 0: the invocation's start (its BootStats' start): --timeout
  // bounds the boot as well as the run.
  RunLimits limits;
  // The instance's logger (logger.h); its invocation id names the instance in every line.
  Logger log;
  // Where the instance's tracer (the calling thread) and shell run, for the instance's life:
  // a CPU number, CpuPin::kCurrentCpu (the CPU the thread is on at the start) or kNoPin (leave
  // the thread's affinity alone: for a caller that pins itself). The thread's previous
  // affinity is restored when the invocation returns.
  static constexpr int kNoPin = -2;
  int cpu = CpuPin::kCurrentCpu;
  // Warm and fork boots pre-copy the image's recorded write working set too (unless kNone;
  // any other strategy means the recorded set there: their segments are the warm image's).
  // kWarm: the image opened, verified and relocated once, and the zygote pool; kFork: the
  // template. Not owned; they outlive the invocation. Invoke's `image` is then their image.
  const WarmImage* warm = nullptr;
  // Warm and fork boots: the shell runs at idle priority (Shell::SetIdlePriority) from its
  // boot on, pre-copy included; for instances booted ahead of their request, which must not
  // take a CPU from the instances serving requests (ReadyInstance::Run restores it).
  bool idle_priority = false;
  ShellPool* pool = nullptr;
  Template* fork_template = nullptr;
  // The instance is not torn down when its guest ends: InvocationResult::instance holds it,
  // still stopped at its exit, for the caller to destroy once it has answered (a server: its
  // response goes out at the guest's exit_group, the teardown after it, off the request's path).
  // Destroy it on the thread that ran it (its shell's tracer).
  bool defer_teardown = false;
};

// How an invocation ended, in the terms a caller maps to its own answer (an exit code, an HTTP
// status). Each limit has its own verdict.
enum class Verdict {
  kExited,       // the guest exited (any status: its own business)
  kSignaled,     // it ended by a signal it raised itself (abort, SIGPIPE)
  kFault,        // it crashed (SIGSEGV, SIGILL, ...)
  kTimeout,      // past its wall-clock limit (RunLimits::timeout_s)
  kCpuLimit,     // past its CPU time limit
  kOutputLimit,  // past its output limit
  kMemoryLimit,  // it failed (any end but exit status 0) after its memory limit refused it
  kShellDied,    // the sandbox shell died underneath, or the run loop failed (a platform
                 // problem, not the guest's: InvocationResult::failure says what)
};
Verdict Classify(const GuestOutcome& outcome);
// A stable lowercase name ("exited", "timeout", "memory_limit", ...) for logs and metrics.
std::string_view VerdictName(Verdict verdict);

struct InvocationResult {
  GuestOutcome outcome;
  Verdict verdict = Verdict::kExited;
  int64_t boot_ns = 0;   // invocation start -> first guest instruction (BootStats::ElapsedNs)
  int64_t run_ns = 0;    // first guest instruction -> the guest's end
  int64_t total_ns = 0;  // invocation start -> instance torn down
  BootStats stats;       // the boot's stages
  // Set when the run loop itself failed after a good boot (a ptrace call failed: the shell is
  // unusable); verdict is then kShellDied and outcome means nothing.
  std::string failure;
  // What the guest wrote to fds 1 and 2 (InvokeWithBytes only; with Invoke the bytes are in
  // the caller's fds).
  std::string stdout_bytes;
  std::string stderr_bytes;
  // InvocationOptions::defer_teardown: the ended instance, not yet torn down (total_ns then ends
  // at the guest's end). Null otherwise.
  std::unique_ptr<Sandbox> instance;
};

// Boots an instance of `image` with its fds 0, 1, 2 bound to `channel_fds` (the caller's; not
// closed), runs it and tears it down. `stats` is the invocation's clock: pass the one started
// when the request was accepted (it may already hold stages such as opening the image). An
// error is an invocation that never ran: a failed boot (the message names the stage; ETIMEDOUT
// when the run's --timeout ended the boot) or a failure of the run loop itself (context "run").
// Thread-safe: any number of invocations may run at once, each on its own thread.
Result<InvocationResult> Invoke(Platform& platform, const FuncImage& image,
                                const InvocationOptions& options, const ChannelFds& channel_fds,
                                BootStats stats = BootStats());

// Invoke with memfds: the request in a sealed memfd on fd 0 (the guest reads it to EOF), fds 1
// and 2 into memfds whose bytes come back in the result. No pipes: nothing can deadlock on a
// full buffer and no thread pumps them. The output is held in memory: a server bounds it with
// options.limits.max_output (0: unbounded). The memfds are closed before it returns.
Result<InvocationResult> InvokeWithBytes(Platform& platform, const FuncImage& image,
                                         const InvocationOptions& options, std::string_view request,
                                         BootStats stats = BootStats());

class ByteChannels;
// InvokeWithBytes on channels made beforehand (ByteChannels::Make, off the request's path:
// three memfds cost tens of µs here); they are used up.
Result<InvocationResult> InvokeWithChannels(Platform& platform, const FuncImage& image,
                                            const InvocationOptions& options, ByteChannels channels,
                                            std::string_view request, BootStats stats);

// The three memfd channels of InvokeWithBytes: the request (sealed once written), the response
// and the log. Made before the request exists when an instance is booted ahead of it
// (ready_instance.h).
class ByteChannels {
 public:
  static Result<ByteChannels> Make();
  ChannelFds fds() const { return {in_.get(), out_.get(), err_.get()}; }
  // Writes the request and seals it: the guest cannot grow or change it behind the server's
  // back (its channel is read-only anyway; the seal makes that a property of the fd).
  Status SetRequest(std::string_view request);
  // What the guest wrote to fds 1 and 2, into r.stdout_bytes and r.stderr_bytes.
  Status Collect(InvocationResult& r) const;

 private:
  UniqueFd in_, out_, err_;
};

// Invoke's two halves, for callers that boot ahead of the request (ready_instance.h). The boot
// of `o.mode` with the channels bound to `channel_fds`, the working set pre-copied for warm and
// fork boots (stage "prefault"); and the run of a booted instance to its end under `limits`,
// then its teardown (its verdict, run_ns, total_ns from stats' start) unless `defer_teardown`
// (the instance is then InvocationResult::instance).
Result<std::unique_ptr<Sandbox>> BootInstance(Platform& platform, const FuncImage& image,
                                              const InvocationOptions& o, const RunLimits& limits,
                                              const ChannelFds& channel_fds, BootStats& stats);
InvocationResult RunBooted(std::unique_ptr<Sandbox> sandbox, const RunLimits& limits,
                           BootStats stats, bool defer_teardown = false);

}  // namespace cat
