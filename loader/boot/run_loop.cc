// The run loop (see run_loop.h); the watchdog thread is in watchdog.cc.
#include "loader/boot/run_loop.h"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <cstdio>

#include "loader/boot/watchdog.h"

namespace cat {
namespace {

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Seconds(double s) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", s);
  return buf;
}

}  // namespace

int GuestOutcome::ExitCode() const {
  switch (kind) {
    case Kind::kExited:
    case Kind::kFuncEntry:
      return status;
    case Kind::kTimeout:
      return 124;
    case Kind::kCpuLimit:
      return 128 + SIGXCPU;
    case Kind::kOutputLimit:
      return 128 + SIGXFSZ;
    case Kind::kSignaled:
    case Kind::kFault:
    case Kind::kShellDied:
      return 128 + status;
  }
  return 125;
}

std::string GuestOutcome::Describe(const RunLimits& limits) const {
  std::string why = DescribeKind(limits);
  if (memory_limit_hit && !why.empty() && kind != Kind::kOutputLimit)
    why += " (after the memory limit refused it memory: --memory-limit)";
  return why;
}

std::string GuestOutcome::DescribeKind(const RunLimits& limits) const {
  switch (kind) {
    case Kind::kExited:
    case Kind::kFuncEntry:
      return "";
    case Kind::kSignaled:
      return "guest ended by " + SignalName(status);
    case Kind::kFault:
      return "guest killed by " + SignalName(status) + " at address " + Hex(fault_address) +
             " (rip " + Hex(rip) + ")";
    case Kind::kTimeout:
      return "guest timed out after " + Seconds(limits.timeout_s) + " s (--timeout) and was killed";
    case Kind::kCpuLimit:
      return "CPU time limit of " + Seconds(limits.cpu_limit_s) +
             " s exceeded (--cpu-limit); guest killed";
    case Kind::kOutputLimit:
      return "output limit of " + std::to_string(limits.max_output) +
             " bytes exceeded (--max-output); guest ended by SIGXFSZ";
    case Kind::kShellDied:
      return "sandbox shell died unexpectedly (" + SignalName(status) + ")";
  }
  return "";
}

double RunLimits::TimeoutLeft() const {
  if (timeout_s <= 0) return 0;
  if (start_ns == 0) return timeout_s;
  const double left = timeout_s - static_cast<double>(MonotonicNowNs() - start_ns) / 1e9;
  return std::max(left, 1e-9);
}

Status WatchBoot(Sandbox& sb, const RunLimits& limits) {
  TRY(std::unique_ptr<Watchdog> watchdog,
      WithContext(Watchdog::Start(sb.shell(), limits.TimeoutLeft(), limits.cpu_limit_s),
                  "watch the boot"));
  sb.SetWatchdog(std::move(watchdog));
  return {};
}

namespace {

// The outcome of a guest the kernel has ended (exit, a signal, the func-entry point).
Result<GuestOutcome> EndOutcome(SandboxKernel& k, Watchdog& watchdog) {
  const GuestEnd& end = k.end();
  GuestOutcome out;
  switch (end.kind) {
    case GuestEnd::Kind::kExited:
      out.kind = GuestOutcome::Kind::kExited;
      break;
    case GuestEnd::Kind::kFuncEntry:
      out.kind = GuestOutcome::Kind::kFuncEntry;
      break;
    case GuestEnd::Kind::kSandboxFault:
      // The shell died under the handler. A limit that killed it (the watchdog's timeout, the
      // host's hard RLIMIT_CPU) is the outcome, as for a shell that dies while running
      // (kExited in RunToEnd); otherwise the sandbox failed, and the caller reports an error,
      // not a guest outcome.
      if (watchdog.fired() == Watchdog::Fired::kTimeout || k.deadline.Passed())
        return GuestOutcome{GuestOutcome::Kind::kTimeout};
      if (watchdog.fired() == Watchdog::Fired::kCpuLimit || watchdog.CpuLimitReached())
        return GuestOutcome{GuestOutcome::Kind::kCpuLimit, SIGXCPU};
      return Fail(end.status ? end.status : EIO,
                  "run guest: sandbox fault during a syscall (the shell died or the "
                  "sandbox kernel could not complete it)");
    default:
      out.kind = end.status == SIGXFSZ && k.output.exhausted() ? GuestOutcome::Kind::kOutputLimit
                                                               : GuestOutcome::Kind::kSignaled;
      break;
  }
  out.status = end.status;
  return out;
}

Result<GuestOutcome> RunToEnd(Sandbox& sb, const RunLimits& limits) {
  SandboxKernel& k = sb.kernel();
  Shell& shell = sb.shell();
  const double timeout_left = limits.TimeoutLeft();
  if (limits.timeout_s > 0)
    k.deadline.Set(MonotonicNowNs() + static_cast<int64_t>(timeout_left * 1e9));
  k.output.SetLimit(limits.max_output);
  k.procs.set_max_procs(limits.max_procs);
  // The boot's watchdog if it started one (same limits, same serving thread), else a new one.
  std::unique_ptr<Watchdog> watchdog = sb.TakeWatchdog();
  if (!watchdog) {
    TRY(watchdog,
        WithContext(Watchdog::Start(shell, timeout_left, limits.cpu_limit_s), "run guest"));
  }
  // Timers armed before a snapshot run on from where they were (signal_delivery.h).
  RearmTimers(k);
  for (;;) {
    TRY(Stop stop, shell.Run());
    switch (stop.reason) {
      case StopReason::kSyscall:
        k.HandleSyscall();
        if (!k.running()) return EndOutcome(k, *watchdog);
        if (k.deadline.Passed()) return GuestOutcome{GuestOutcome::Kind::kTimeout};
        if (watchdog->PollCpu()) return GuestOutcome{GuestOutcome::Kind::kCpuLimit, SIGXCPU};
        break;
      case StopReason::kFault: {
        // A handler for the fault runs it (a SIGSEGV handler may siglongjmp); else it ends.
        if (DeliverFault(k, stop)) break;
        if (!k.running()) return EndOutcome(k, *watchdog);
        GuestOutcome out{GuestOutcome::Kind::kFault, stop.signal, stop.fault_address,
                         shell.regs().rip};
        return out;
      }
      case StopReason::kInterrupted: {
        const Watchdog::Fired fired = watchdog->fired();
        if (fired == Watchdog::Fired::kTimeout || k.deadline.Passed())
          return GuestOutcome{GuestOutcome::Kind::kTimeout};
        if (fired == Watchdog::Fired::kCpuLimit || watchdog->CpuLimitReached())
          return GuestOutcome{GuestOutcome::Kind::kCpuLimit, SIGXCPU};
        // The host's RLIMIT_CPU: less than a second of the CPU limit is left.
        if (stop.signal == SIGXCPU) {
          watchdog->WatchCpuClosely();
          break;
        }
        SignalsAtInterrupt(k);  // a timer expired: its signal is delivered here
        if (!k.running()) return EndOutcome(k, *watchdog);
        break;
      }
      case StopReason::kExited:
        if (watchdog->fired() == Watchdog::Fired::kTimeout)
          return GuestOutcome{GuestOutcome::Kind::kTimeout};
        if (watchdog->fired() == Watchdog::Fired::kCpuLimit)
          return GuestOutcome{GuestOutcome::Kind::kCpuLimit, SIGXCPU};
        return GuestOutcome{GuestOutcome::Kind::kShellDied, stop.signal};
    }
  }
}

}  // namespace

Result<GuestOutcome> RunGuest(Sandbox& sb, const RunLimits& limits) {
  auto outcome = RunToEnd(sb, limits);
  if (outcome) outcome->memory_limit_hit = sb.kernel().memory_limit_refusals() > 0;
  return outcome;
}

}  // namespace cat
