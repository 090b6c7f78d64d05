// The run loop: runs a booted guest to its end, serving each syscall stop with the sandbox
// kernel and enforcing the run's limits: wall clock and CPU time with a watchdog thread
// (watchdog.h), output size in the kernel (OutputBudget).
//
// Tasks (guest threads; the table is loader/kernel/tasks.h). One tracer thread per sandbox
// schedules every task:
//  * the fast path: a guest with one task runs it with Shell::Run() and nothing else — a
//    single-threaded guest pays no scheduling;
//  * otherwise each step ends exited tasks' vCPUs, resumes parked tasks whose wait ended (its
//    Waiter completed by a futex wake, its timeout passed, or a signal it does not block is
//    pending: -EINTR), starts every ready task (Shell::Start), then waits for the first stop
//    of any (Shell::WaitAny over TaskTable::shells()) and handles it on that task's thread and
//    registers. A parked task's timeout is an interrupt of a running task at that time (a
//    TimerInterrupter); with every task parked the tracer sleeps on the kernel's Wakeup until
//    the earliest timeout, the run's deadline, a timer's expiry or an interrupt (the watchdog:
//    Shell::SetInterruptNotify);
//  * a new task (clone; s9-procs: a forked shell's vCPU) is TaskTable::Add(shell, vcpu, tid)
//    on the kernel's table, ready: the next step starts it. Every shell must be controlled
//    by this tracer thread.
#pragma once

#include <cstdint>
#include <string>

#include "format/base/error.h"
#include "loader/boot/sandbox.h"

namespace cat {

// The limits of one run. Per invocation, never part of the sandbox state: a restored instance
// gets those of the command that boots it.
struct RunLimits {
  double timeout_s = 0;     // wall clock; <= 0: none
  double cpu_limit_s = 0;   // CPU time of the guest and of catload serving it; <= 0: none
  uint64_t max_output = 0;  // bytes to stdio and rw mounts (OutputBudget); 0: none
  uint32_t max_procs = 0;   // guest processes alive at once (--max-procs); 0: the default
  // Ceilings for a restored guest's memory limit and fd limit (run and restore: the
  // operator's --memory-limit and --max-fds). A snapshot's recorded limits are lowered to
  // them, never raised by it (Sandbox::Adopt). 0: no ceiling.
  uint64_t memory_ceiling = 0;
  uint32_t max_fds_ceiling = 0;
  // When the invocation started (MonotonicNowNs; a boot's BootStats start): the timeout counts
  // from here, so that it bounds the boot as well as the run. 0: from RunGuest's start.
  int64_t start_ns = 0;

  // catload serve: the wall-clock limit of the guest's run alone (--timeout), counted from its
  // first instruction; timeout_s (from start_ns) then bounds the boot only (--boot-timeout), and
  // RunBooted (invocation.h) replaces the boot's watchdog with the run's. < 0: none of its own,
  // timeout_s bounds boot and run together (catload run).
  double run_timeout_s = -1;

  // Seconds of the timeout left now (<= 0: none; a passed deadline gives a tiny positive
  // value, so that a watchdog still fires at once).
  double TimeoutLeft() const;
};

// A limit in seconds as messages print it ("0.5", "30").
std::string SecondsText(double s);

// Starts the run's watchdog early, as soon as a boot path has a shell, so that --timeout also
// bounds the rest of the boot (mapping memory, registers, eager reconnection); RunGuest then
// takes it over (Sandbox::TakeWatchdog).
Status WatchBoot(Sandbox& sandbox, const RunLimits& limits);

struct GuestOutcome {
  enum class Kind {
    kExited,       // exit/exit_group with a status
    kSignaled,     // ended by a signal it raised itself (abort, SIGPIPE)
    kFault,        // a fault it had no way to survive (SIGSEGV, SIGILL, ...)
    kTimeout,      // killed at the wall-clock limit
    kCpuLimit,     // killed when its CPU time was used up
    kOutputLimit,  // ended by SIGXFSZ after it used up its output budget
    kShellDied,    // the shell process died underneath (e.g. killed by its seccomp filter)
    kFuncEntry,    // stopped at its func-entry point (capture only)
  } kind = Kind::kExited;
  int status = 0;  // exit status or signal number
  uint64_t fault_address = 0;
  uint64_t rip = 0;
  // The memory limit refused the guest something during the run (a mapping, overlay file data,
  // a pipe buffer): a guest that then fails most likely failed for that (Classify, invocation.h).
  bool memory_limit_hit = false;

  // What catload exits with: the guest's status, 128+signal for signals and faults, 124 for
  // a timeout (as timeout(1) does), 152 = 128+SIGXCPU for the CPU limit and 153 =
  // 128+SIGXFSZ for the output limit (what a shell reports for RLIMIT_CPU and RLIMIT_FSIZE).
  int ExitCode() const;
  // One line for stderr, empty for a normal exit. `limits` are the run's.
  std::string Describe(const RunLimits& limits) const;

 private:
  std::string DescribeKind(const RunLimits& limits) const;
};

// Runs the guest to its end. At the func-entry point (capture) every other task is stopped
// too (StopOtherTasks), so that the snapshot sees them all still.
Result<GuestOutcome> RunGuest(Sandbox& sandbox, const RunLimits& limits);

// Stops every task but the current one where it is: a running one by an interrupt; one at a
// syscall it has not been through (parked in it, or caught entering it) with its registers
// set to re-issue that syscall and its thread's run state kBlocked. The current task stays
// selected. For capture (spec/boot.md, "Threads across snapshots").
Status StopOtherTasks(SandboxKernel& k);

}  // namespace cat
