// The timer thread (see timer_interrupter.h).
#include "loader/kernel/timer_interrupter.h"

#include <chrono>

#include "loader/platform/platform.h"

namespace cat {

TimerInterrupter::TimerInterrupter(Shell& shell) : shell_(shell), thread_([this] { Loop(); }) {}

TimerInterrupter::~TimerInterrupter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void TimerInterrupter::WakeAt(int64_t host_ns) {
  {
    std::lock_guard lock(mu_);
    if (wake_ns_ == host_ns) return;
    wake_ns_ = host_ns;
  }
  cv_.notify_one();
}

void TimerInterrupter::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (wake_ns_ == 0) {
      cv_.wait(lock);
      continue;
    }
    // steady_clock is CLOCK_MONOTONIC, the clock the kernel keeps timer expiries on.
    const int64_t target = wake_ns_;
    const std::chrono::steady_clock::time_point at{std::chrono::nanoseconds(target)};
    cv_.wait_until(lock, at);
    // Fire only for the expiry we waited for: a WakeAt that raced with the timeout (its notify
    // lost while this thread was already waking) set a later one, and clearing that would
    // leave the guest with no interrupt ever again (a guest spinning on a timer's signal hung).
    if (wake_ns_ == target && std::chrono::steady_clock::now() >= at) {
      // The tracer fires the timer at the stop and tells us the next expiry (WakeAt).
      wake_ns_ = 0;
      shell_.Interrupt();
    }
  }
}

}  // namespace cat
