// The run loop and its watchdog (see run_loop.h).
#include "loader/boot/run_loop.h"

#include <signal.h>
#include <string.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

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

// Interrupts the shell once the deadline passes, unless stopped first.
class Watchdog {
 public:
  Watchdog(Shell& shell, double timeout_s) {
    if (timeout_s <= 0) return;
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(timeout_s));
    thread_ = std::thread([this, &shell, deadline] {
      std::unique_lock lock(mu_);
      if (!cv_.wait_until(lock, deadline, [this] { return stop_; })) {
        fired_ = true;
        shell.Interrupt();
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool fired() {
    std::lock_guard lock(mu_);
    return fired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool fired_ = false;
  std::thread thread_;
};

}  // namespace

int GuestOutcome::ExitCode() const {
  switch (kind) {
    case Kind::kExited:
    case Kind::kFuncEntry:
      return status;
    case Kind::kTimeout:
      return 124;
    case Kind::kSignaled:
    case Kind::kFault:
    case Kind::kShellDied:
      return 128 + status;
  }
  return 125;
}

std::string GuestOutcome::Describe(double timeout_s) const {
  switch (kind) {
    case Kind::kExited:
    case Kind::kFuncEntry:
      return "";
    case Kind::kSignaled:
      return "guest ended by " + SignalName(status);
    case Kind::kFault:
      return "guest killed by " + SignalName(status) + " at address " + Hex(fault_address) +
             " (rip " + Hex(rip) + ")";
    case Kind::kTimeout: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%g", timeout_s);
      return std::string("guest timed out after ") + buf + " s (--timeout) and was killed";
    }
    case Kind::kShellDied:
      return "sandbox shell died unexpectedly (" + SignalName(status) + ")";
  }
  return "";
}

Result<GuestOutcome> RunGuest(Sandbox& sb, double timeout_s) {
  SandboxKernel& k = sb.kernel();
  Shell& shell = sb.shell();
  if (timeout_s > 0) k.deadline.Set(MonotonicNowNs() + static_cast<int64_t>(timeout_s * 1e9));
  Watchdog watchdog(shell, timeout_s);
  for (;;) {
    TRY(Stop stop, shell.Run());
    switch (stop.reason) {
      case StopReason::kSyscall:
        k.HandleSyscall();
        if (!k.running()) {
          const GuestEnd& end = k.end();
          GuestOutcome out;
          switch (end.kind) {
            case GuestEnd::Kind::kExited:
              out.kind = GuestOutcome::Kind::kExited;
              break;
            case GuestEnd::Kind::kFuncEntry:
              out.kind = GuestOutcome::Kind::kFuncEntry;
              break;
            default:
              out.kind = GuestOutcome::Kind::kSignaled;
              break;
          }
          out.status = end.status;
          return out;
        }
        if (k.deadline.Passed()) return GuestOutcome{GuestOutcome::Kind::kTimeout};
        break;
      case StopReason::kFault: {
        GuestOutcome out{GuestOutcome::Kind::kFault, stop.signal, stop.fault_address,
                         shell.regs().rip};
        return out;
      }
      case StopReason::kInterrupted:
        if (watchdog.fired() || k.deadline.Passed())
          return GuestOutcome{GuestOutcome::Kind::kTimeout};
        break;
      case StopReason::kExited:
        if (watchdog.fired()) return GuestOutcome{GuestOutcome::Kind::kTimeout};
        return GuestOutcome{GuestOutcome::Kind::kShellDied, stop.signal};
    }
  }
}

}  // namespace cat
