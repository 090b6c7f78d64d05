// Persistent signal and timer state of the guest: signals generated but not yet delivered
// (both of Linux's pending sets in one queue: each entry says whether it is the process's,
// shared by its threads, or one thread's), the real-time interval timer (alarm/setitimer) and the
// POSIX timers (timer_create). Fixed-size and pointer-free, so checkpoint, func-image and every
// boot carry it by value. Times are on the guest's CLOCK_MONOTONIC (host monotonic +
// clocks.monotonic_offset_ns), so a timer armed before a snapshot keeps its remaining time across
// restore.
#pragma once

#include <cstdint>

namespace cat::state {

// Pending signals at most, shared and per-thread together. A standard signal (1..31) is
// pending at most once per set (the process's, and each thread's); real-time ones (32..64)
// queue, at most kMaxQueuedRtSignals of them in all (Linux's RLIMIT_SIGPENDING, much smaller
// here): rt_sigqueueinfo beyond it is EAGAIN, and so is a standard signal that finds the
// queue full (only threads' sets together can fill it: spec/abi.md, "Signals").
constexpr int kMaxPendingSignals = 64;
constexpr int kMaxQueuedRtSignals = 32;
constexpr int kMaxPosixTimers = 32;

// One generated signal, the parts of its siginfo the sandbox can produce.
struct PendingSignal {
  int32_t signo;     // 1..64; 0 = free slot
  int32_t code;      // si_code (SI_USER, SI_TKILL, SI_QUEUE, SI_TIMER, ...)
  int32_t pid;       // si_pid (the sender; 0 for the kernel)
  uint32_t uid;      // si_uid
  int32_t timer_id;  // si_timerid (SI_TIMER)
  int32_t overrun;   // si_overrun (SI_TIMER)
  uint64_t value;    // si_value (SI_QUEUE, SI_TIMER)
  // The set it is pending in: 0 = the process's (kill, alarm, a process-directed timer),
  // taken by any thread that does not block it; else the tid of the one thread that may take
  // it (tgkill, tkill, rt_tgsigqueueinfo, SIGEV_THREAD_ID). Dies with that thread.
  int32_t tid;
  uint32_t pad0;
};

struct IntervalTimer {
  int64_t expiry_ns;    // guest monotonic; 0 = disarmed
  int64_t interval_ns;  // 0 = one-shot
};

struct PosixTimer {
  int32_t in_use;  // 0 = free slot; the timer id is the slot index
  int32_t clock;   // CLOCK_REALTIME, CLOCK_MONOTONIC or CLOCK_BOOTTIME
  int32_t notify;  // SIGEV_SIGNAL, SIGEV_NONE or SIGEV_THREAD_ID
  int32_t signo;
  uint64_t value;   // sigev_value
  int32_t tid;      // SIGEV_THREAD_ID target
  int32_t overrun;  // expiries since the last delivery, beyond the first (timer_getoverrun)
  IntervalTimer timer;
};

struct SignalState {
  uint32_t count;  // entries used in queue[]
  uint32_t pad0;
  PendingSignal queue[kMaxPendingSignals];  // in order of generation
  IntervalTimer itimer_real;                // alarm, setitimer(ITIMER_REAL): SIGALRM
  PosixTimer timers[kMaxPosixTimers];
};

}  // namespace cat::state
