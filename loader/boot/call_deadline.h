// A wall-clock bound for work the server does on one of its threads that no guest watchdog
// covers: making a fork template, booting an instance ahead of its request (catload serve
// --boot-timeout). Nothing of the guest runs then, so what can stall is the thread itself: a
// host system call that blocks (reopening a host file that became a FIFO waits for a writer; a
// stalled network file system), or a wait for a shell's stop. At the deadline the thread is
// sent a signal whose handler does nothing and is installed without SA_RESTART, so the blocking
// call returns EINTR, the work fails, and the caller sees fired() and reports the limit.
//
// One timer thread keeps every deadline of the process. The signal is sent to the bounded
// thread only, and only before the destructor has taken the deadline off the timer; the destructor
// then blocks it and takes one still pending, so it can interrupt nothing but the bounded work.
// Whatever the work made once fired() is true must be thrown away (an interrupted call may have
// left it half made: a host file marked unreconnectable).
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace cat {

class CallDeadline {
 public:
  // Bounds what the calling thread does until the destructor; seconds <= 0: no bound.
  explicit CallDeadline(double seconds);
  ~CallDeadline();
  CallDeadline(const CallDeadline&) = delete;
  CallDeadline& operator=(const CallDeadline&) = delete;

  // Whether the deadline passed (the thread was interrupted).
  bool fired() const;

  // The signal used (a real-time one glibc leaves to programs).
  static int Signal();

 private:
  pthread_t target_;
  std::chrono::steady_clock::time_point when_{};
  uint64_t id_ = 0;  // its entry in the deadline thread (deadline_thread.h), 0: none
  std::atomic<bool> fired_{false};
};

}  // namespace cat
