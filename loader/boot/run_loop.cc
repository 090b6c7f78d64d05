// The run loop (see run_loop.h); the watchdog thread is in watchdog.cc.
#include "loader/boot/run_loop.h"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "loader/boot/watchdog.h"
#include "loader/kernel/timer_interrupter.h"

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

}  // namespace

std::string SecondsText(double s) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", s);
  return buf;
}

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
      return "guest timed out after " + SecondsText(limits.timeout_s) +
             " s (--timeout) and was killed";
    case Kind::kCpuLimit:
      return "CPU time limit of " + SecondsText(limits.cpu_limit_s) +
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

// What one stop of the current task means for the run: nullopt to go on, else the outcome.
Result<std::optional<GuestOutcome>> HandleStop(SandboxKernel& k, Watchdog& watchdog,
                                               const Stop& stop) {
  Shell& shell = k.shell;
  switch (stop.reason) {
    case StopReason::kSyscall:
      k.HandleSyscall();
      if (!k.running()) return EndOutcome(k, watchdog);
      if (k.deadline.Passed()) return GuestOutcome{GuestOutcome::Kind::kTimeout};
      if (watchdog.PollCpu()) return GuestOutcome{GuestOutcome::Kind::kCpuLimit, SIGXCPU};
      return std::nullopt;
    case StopReason::kFault: {
      // A handler for the fault runs it (a SIGSEGV handler may siglongjmp); else it ends.
      if (DeliverFault(k, stop)) return std::nullopt;
      if (!k.running()) return EndOutcome(k, watchdog);
      return GuestOutcome{GuestOutcome::Kind::kFault, stop.signal, stop.fault_address,
                          shell.regs().rip};
    }
    case StopReason::kInterrupted: {
      const Watchdog::Fired fired = watchdog.fired();
      if (fired == Watchdog::Fired::kTimeout || k.deadline.Passed())
        return GuestOutcome{GuestOutcome::Kind::kTimeout};
      if (fired == Watchdog::Fired::kCpuLimit || watchdog.CpuLimitReached())
        return GuestOutcome{GuestOutcome::Kind::kCpuLimit, SIGXCPU};
      // The host's RLIMIT_CPU: less than a second of the CPU limit is left.
      if (stop.signal == SIGXCPU) {
        watchdog.WatchCpuClosely();
        return std::nullopt;
      }
      SignalsAtInterrupt(k);  // a timer expired: its signal is delivered here
      if (!k.running()) return EndOutcome(k, watchdog);
      return std::nullopt;
    }
    case StopReason::kExited:
      if (watchdog.fired() == Watchdog::Fired::kTimeout)
        return GuestOutcome{GuestOutcome::Kind::kTimeout};
      if (watchdog.fired() == Watchdog::Fired::kCpuLimit)
        return GuestOutcome{GuestOutcome::Kind::kCpuLimit, SIGXCPU};
      return GuestOutcome{GuestOutcome::Kind::kShellDied, stop.signal};
  }
  return std::nullopt;
}

void WakeThunk(void* wakeup) {
  static_cast<const Wakeup*>(wakeup)->Wake();
}

// The multi-task scheduler's bookkeeping between stops: ends the vCPUs of exited tasks,
// resumes parked tasks whose wait ended (completed by a wake, timed out, or a signal they do
// not block is pending: -EINTR), and returns the earliest timeout still pending (0: none).
Result<int64_t> SettleTasks(SandboxKernel& k) {
  bool exited = false;
  int64_t earliest = 0;
  const int64_t now = MonotonicNowNs();
  for (auto& tp : k.tasks.all()) {
    Task& t = *tp;
    if (t.run == Task::Run::kExited) {
      exited = true;
      // vCPU 0 is the shell's first thread: it stays stopped (the process lives on while any
      // thread does, as Linux's zombie leader).
      if (t.vcpu != 0) TRY_STATUS(WithContext(t.shell->EndVcpu(t.vcpu), "end a guest thread"));
      continue;
    }
    if (t.run != Task::Run::kParked) continue;
    if (t.waiter.completed) {
      k.FinishBlocked(t, t.waiter.result);
      continue;
    }
    if (t.wake_ns && now >= t.wake_ns) {
      if (t.queue) t.queue->Remove(t.waiter);
      k.FinishBlocked(t, t.timeout_result);
      continue;
    }
    if (k.SignalsPendingFor(t)) {
      // A pending signal this thread does not block ends its wait (futex: EINTR).
      k.SwitchTo(t);
      if (SignalDeliverableUnder(k, k.thread().signal_mask)) {
        if (t.queue) t.queue->Remove(t.waiter);
        k.FinishBlocked(t, -EINTR);
        continue;
      }
    }
    if (t.wake_ns && (earliest == 0 || t.wake_ns < earliest)) earliest = t.wake_ns;
  }
  if (exited) k.tasks.DropExited();
  return earliest;
}

// One step of the multi-task loop: resume every ready task, then wait for the first stop of
// any (or, with every task parked, for a timeout, an interrupt or the run's deadline), and
// handle it.
Result<std::optional<GuestOutcome>> StepTasks(SandboxKernel& k, Watchdog& watchdog,
                                              TimerInterrupter& timeouts) {
  TRY(int64_t earliest, SettleTasks(k));
  bool any_running = false;
  for (auto& tp : k.tasks.all()) {
    Task& t = *tp;
    if (t.run == Task::Run::kReady) {
      k.SwitchTo(t);
      TRY_STATUS(t.shell->Start());
      t.run = Task::Run::kRunning;
    }
    any_running |= t.run == Task::Run::kRunning;
  }
  if (k.tasks.size() == 0) return EndOutcome(k, watchdog);
  if (any_running) {
    // A parked task's timeout ends a wait for stops by interrupting a running task.
    timeouts.WakeAt(earliest);
    TRY(Shell::AnyStop any, k.shell.WaitAny(k.tasks.shells()));
    Task* task = nullptr;
    for (auto& tp : k.tasks.all())
      if (tp->shell == any.shell && tp->vcpu == any.stop.vcpu) task = tp.get();
    if (!task) return Fail(EIO, "run guest: a stop of no task");
    task->run = Task::Run::kReady;
    k.SwitchTo(*task);
    Stop stop = any.stop;
    if (stop.reason != StopReason::kInterrupted && k.shell.TakeInterrupt()) {
      // An interrupt came while this task stopped for something else: handled after it.
      TRY(std::optional<GuestOutcome> out, HandleStop(k, watchdog, stop));
      if (out) return out;
      if (task->run != Task::Run::kReady) return std::nullopt;
      stop = Stop{StopReason::kInterrupted, 0, 0, 0, stop.vcpu};
    }
    return HandleStop(k, watchdog, stop);
  }
  // Every task is parked: sleep until the earliest timeout, the run's deadline, or an
  // interrupt (a timer thread, the watchdog: Shell::Interrupt calls the notify hook).
  int64_t until = earliest;
  if (k.deadline.deadline_ns() > 0 && (until == 0 || k.deadline.deadline_ns() < until))
    until = k.deadline.deadline_ns();
  if (k.signal_rt.wake_ns && (until == 0 || k.signal_rt.wake_ns < until))
    until = k.signal_rt.wake_ns;
  k.shell.SetInterruptNotify(WakeThunk, const_cast<Wakeup*>(&k.wakeup));
  const bool interrupted = k.shell.TakeInterrupt();
  Wakeup::Reason why = Wakeup::Reason::kWoken;
  if (!interrupted) {
    auto r = k.wakeup.Wait({}, until);
    k.shell.SetInterruptNotify(nullptr, nullptr);
    if (!r) return std::unexpected(std::move(r.error()));
    why = *r;
  } else {
    k.shell.SetInterruptNotify(nullptr, nullptr);
  }
  if (k.deadline.Passed()) return GuestOutcome{GuestOutcome::Kind::kTimeout};
  if (watchdog.fired() == Watchdog::Fired::kTimeout)
    return GuestOutcome{GuestOutcome::Kind::kTimeout};
  if (watchdog.fired() == Watchdog::Fired::kCpuLimit || watchdog.CpuLimitReached())
    return GuestOutcome{GuestOutcome::Kind::kCpuLimit, SIGXCPU};
  (void)why;
  // Timers that expired queue their signals; SettleTasks then ends the waits they interrupt.
  if (k.signal_rt.wake_ns && MonotonicNowNs() >= k.signal_rt.wake_ns) FireTimers(k);
  (void)k.shell.TakeInterrupt();
  return std::nullopt;
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
  // Started with the first parked task that has a timeout while another runs.
  std::unique_ptr<TimerInterrupter> timeouts;
  for (;;) {
    if (k.tasks.single_ready()) [[likely]] {
      // The fast path: one thread, running until its next stop (no scheduling at all).
      TRY(Stop stop, shell.Run());
      TRY(std::optional<GuestOutcome> out, HandleStop(k, *watchdog, stop));
      if (out) return *out;
      continue;
    }
    if (!timeouts) timeouts = std::make_unique<TimerInterrupter>(shell);
    TRY(std::optional<GuestOutcome> out, StepTasks(k, *watchdog, *timeouts));
    if (out) return *out;
  }
}

}  // namespace

Status StopOtherTasks(SandboxKernel& k) {
  if (k.tasks.size() <= 1) return {};
  Task* entry = &k.tasks.current();
  // A task stopped at a syscall it has not been through (parked in it, or caught entering it
  // now) is saved to re-issue it: rip back on the 2-byte `syscall`, the number in rax.
  auto rewind = [&k](Task& t) {
    k.SwitchTo(t);
    GuestRegs r = k.shell.regs();
    r.rip -= 2;
    r.rax = r.orig_rax;
    r.orig_rax = ~0ull;
    k.shell.SetRegs(r);
    k.thread().run_state = state::ThreadRunState::kBlocked;
  };
  for (;;) {
    bool any_running = false;
    for (auto& tp : k.tasks.all()) any_running |= tp->run == Task::Run::kRunning;
    if (!any_running) break;
    k.shell.Interrupt();  // stops one running vCPU
    TRY(Shell::AnyStop any, k.shell.WaitAny(k.tasks.shells()));
    for (auto& tp : k.tasks.all()) {
      if (tp->shell != any.shell || tp->vcpu != any.stop.vcpu) continue;
      if (any.stop.reason == StopReason::kExited)
        return Fail(EIO, "capture: the shell died while its threads were stopped");
      tp->run = Task::Run::kReady;
      if (any.stop.reason == StopReason::kSyscall) rewind(*tp);
    }
  }
  (void)k.shell.TakeInterrupt();
  for (auto& tp : k.tasks.all())
    if (tp->run == Task::Run::kParked) {
      if (tp->queue) tp->queue->Remove(tp->waiter);
      rewind(*tp);
      tp->run = Task::Run::kReady;
    }
  k.SwitchTo(*entry);
  return {};
}

Result<GuestOutcome> RunGuest(Sandbox& sb, const RunLimits& limits) {
  auto outcome = RunToEnd(sb, limits);
  if (outcome && outcome->kind == GuestOutcome::Kind::kFuncEntry)
    TRY_STATUS(WithContext(StopOtherTasks(sb.kernel()), "stop the guest's threads"));
  if (outcome) outcome->memory_limit_hit = sb.kernel().memory_limit_refusals() > 0;
  return outcome;
}

}  // namespace cat
