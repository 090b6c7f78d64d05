// Signal generation and delivery for the sandbox kernel: signals are queued in the persistent
// state (state::SignalState) and delivered on the way back to the guest — after a syscall,
// at a fault, at an interrupt — by pushing a Linux rt_sigframe (signal_frame.h) and pointing
// the guest at its handler; rt_sigreturn takes the frame back without trusting it. Timers
// (alarm, setitimer, timer_create) fire here too. The hooks the kernel and the run loop call
// are cheap when nothing is pending and no timer is armed (the syscall hot path).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "format/state/signal_state.h"
#include "loader/kernel/signal_frame.h"
#include "loader/kernel/timer_interrupter.h"

namespace cat {

class SandboxKernel;
struct SyscallArgs;
struct Stop;

// Internal result of a blocking handler interrupted by a signal (Linux's ERESTARTSYS, never
// seen by the guest): restarted under SA_RESTART, -EINTR otherwise.
constexpr int64_t kRestartSys = 512;

// What the kernel keeps about signals between stops, never persistent (no snapshot is taken
// inside a syscall).
struct SignalRuntime {
  // sigsuspend: the mask to put back once a handler returns (saved in its frame).
  bool restore_mask = false;
  uint64_t saved_mask = 0;
  // Host CLOCK_MONOTONIC of the next timer expiry, 0 = none armed.
  int64_t wake_ns = 0;
  std::unique_ptr<TimerInterrupter> interrupter;  // started with the first armed timer
};

// A signal as generated: number, si_code and the sender's fields.
state::PendingSignal MakeSignal(int signo, int code, int32_t pid = 0, uint32_t uid = 0);

// Queues a signal for the current guest process (kill, tgkill, a timer, SIGPIPE): in the
// shared set (sig.tid 0), or in thread sig.tid's own (a live thread of this process: the
// caller checks). Ignored signals that are not blocked (by the target thread; by the leader for
// the shared set) are discarded as Linux does. Returns 0, -EINVAL for a bad number, -EAGAIN
// when the real-time queue (or the whole queue) is full.
int64_t SendSignal(SandboxKernel& k, const state::PendingSignal& sig);
// Whether `tid` is a thread of the current guest process.
bool ThreadOfProcess(const SandboxKernel& k, int32_t tid);

// Takes the signal the current thread takes next, in `wanted` and not in `blocked`: the
// lowest-numbered of its own set, else the lowest-numbered of the shared set.
std::optional<state::PendingSignal> DequeueSignal(SandboxKernel& k, uint64_t blocked,
                                                  uint64_t wanted);
// Drops every pending instance of `sig`, in every set (its action became "ignore").
void DiscardPending(SandboxKernel& k, int sig);
// Drops the signals pending for thread `tid` alone (it ended: they die with it, as Linux).
void DropThreadPending(SandboxKernel& k, int32_t tid);
// The siginfo_t the guest sees for a pending signal.
sigframe::Siginfo ToSiginfo(const state::PendingSignal& p);
// The signals pending for the current thread: its own set and the shared one.
uint64_t PendingSet(const SandboxKernel& k);
// rt_sigreturn: takes the frame at the guest's stack pointer back; returns the restored rax.
// A bad frame (unreadable, rip outside the guest, bad FPU state) ends the guest by SIGSEGV.
int64_t SignalReturn(SandboxKernel& k);

// Whether a signal the current thread could take (its own or shared) is not blocked by `mask`.
bool SignalDeliverableUnder(const SandboxKernel& k, uint64_t mask);
bool SignalDeliverable(SandboxKernel& k);

// After a syscall handler (its result already in rax): fires expired timers, decides whether
// an interrupted syscall restarts, and delivers pending signals. Only called when something
// is pending or a timer is armed.
void SignalsAtSyscallExit(SandboxKernel& k, const SyscallArgs& args, int64_t result);
inline bool SignalWorkPending(const state::SignalState& s, const SignalRuntime& rt) {
  return s.count != 0 || rt.wake_ns != 0 || rt.restore_mask;
}

// At an interrupt stop (a timer's or anyone's): fires timers and delivers.
void SignalsAtInterrupt(SandboxKernel& k);

// A synchronous fault: delivered to the guest's handler (true), or the guest must end with the
// fault (false: no handler, blocked or ignored, or no room for the frame).
bool DeliverFault(SandboxKernel& k, const Stop& stop);

// Timers: fires the expired ones; re-arms the wake-up (deadline and interrupter thread).
void FireTimers(SandboxKernel& k);
void RearmTimers(SandboxKernel& k);
int64_t GuestMonotonicNs(const SandboxKernel& k);

// Blocks until a signal not blocked by `mask` is pending, or guest-monotonic `until_ns` (0 =
// none) passes, or the run's --timeout: returns true for a signal. Sleeps on the tracer
// thread (on the kernel's Wakeup) until the next timer expiry: no other source of signals
// exists while the guest is a single thread. Ends the guest when nothing could ever wake it.
bool WaitForSignal(SandboxKernel& k, uint64_t mask, int64_t until_ns);

}  // namespace cat
