// The watchdog of a run: ends it at its wall-clock deadline (--timeout) or once it has used
// up its CPU time (--cpu-limit) by interrupting the shell (Shell::Interrupt), which the run
// loop sees as a kInterrupted stop, and remembers which limit it was.
//
// CPU time charged to a run: the shell process's CPU time (the guest's instructions and the
// host kernel's work for it: page faults, syscall stops) plus the CPU time of the thread that
// serves the guest (catload emulating its syscalls), both counted from the watchdog's start.
// A guest that makes cheap syscalls in a loop costs catload far more CPU than itself; not
// counting it would let such a guest evade the limit. Where the guest runs on the serving
// thread itself (kvm: Shell::GuestTimeOnRunThread) that thread's CPU time is both, counted once.
//
// Three mechanisms enforce it, so that a run costs no thread unless it needs one:
//  * the run loop calls PollCpu() after every syscall: catload's own part of the CPU time is
//    spent there, so that is where it is checked. It reads the wall clock, and samples CPU
//    time only when the limit could have been reached since the last sample;
//  * the host kernel watches the guest's own CPU time: the shell gets RLIMIT_CPU
//    (Shell::LimitCpuTime) with the soft limit at the last whole second before the limit and
//    the hard limit a second after it. A spinning guest makes no syscalls; at the soft limit
//    the host's SIGXCPU interrupts it, the run loop checks, and WatchCpuClosely() has the
//    thread below take the last (sub-second) part. Should catload fail to stop the guest,
//    the host kernel kills the shell at the hard limit;
//  * the wall-clock deadline (--timeout) is kept by one process-wide deadline thread for all
//    runs (a server has many at once): starting a run registers its deadline, no thread is
//    created per run (that cost ~30 µs of every boot in `catload serve`, where --timeout is
//    always set);
//  * a thread of the run's own that sleeps until the CPU limit could be reached (the guest and
//    catload take turns, so a run uses at most one CPU) and interrupts the shell. It runs from
//    the start with a limit under a second, else from the host's SIGXCPU on. Overshoot: about
//    kMinCpuPoll.
#pragma once

#include <time.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "format/base/error.h"
#include "loader/platform/platform.h"

namespace cat {

class Watchdog {
 public:
  enum class Fired { kNone, kTimeout, kCpuLimit };

  // Starts watching `shell`; <= 0 disables a limit. Must be called on the thread that will
  // serve the guest (its CPU time is charged to the run).
  static Result<std::unique_ptr<Watchdog>> Start(Shell& shell, double timeout_s,
                                                 double cpu_limit_s);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Which limit the thread fired at (it interrupted the shell), if any.
  Fired fired();
  // CPU time charged to the run so far (see above). Thread-safe.
  int64_t CpuUsedNs() const;
  // Whether the CPU limit is set and used up.
  bool CpuLimitReached() const { return cpu_limit_ns_ > 0 && CpuUsedNs() >= cpu_limit_ns_; }
  // For the run loop after each syscall: whether the CPU limit is used up, sampled only when
  // it could have been reached since the last sample (see above).
  bool PollCpu();
  // The host's SIGXCPU came: the limit is less than a second away. Starts the thread.
  void WatchCpuClosely();
  // Whether the run's own (CPU limit) thread runs (for tests).
  bool watching() const { return thread_.joinable(); }

  // The watchdog never waits less than this between two looks at the CPU time: how far a
  // guest may overshoot its CPU limit.
  static constexpr std::chrono::milliseconds kMinCpuPoll{10};

 private:
  Watchdog(Shell& shell, double timeout_s, double cpu_limit_s);
  void StartThread();
  void Watch();
  // What the watchdog does when a limit is reached (at the deadline: on deadline_thread.h's
  // thread).
  void Fire(Fired what);
  // When the CPU limit could be reached at the earliest, from a fresh sample; nullopt if it
  // is reached.
  std::optional<std::chrono::steady_clock::time_point> NextCpuLook() const;

  Shell& shell_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  int64_t cpu_limit_ns_ = 0;
  clockid_t server_clock_{};  // CPU clock of the thread that serves the guest
  int64_t shell_start_ns_ = 0;
  int64_t server_start_ns_ = 0;
  std::chrono::steady_clock::time_point next_poll_{};  // PollCpu's next sample

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  Fired fired_ = Fired::kNone;
  uint64_t deadline_id_ = 0;  // its entry in the deadline thread, 0: none
  std::thread thread_;
};

}  // namespace cat
