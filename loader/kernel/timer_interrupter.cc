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
    const std::chrono::steady_clock::time_point at{std::chrono::nanoseconds(wake_ns_)};
    if (cv_.wait_until(lock, at) == std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= at) {
      // The tracer fires the timer at the stop and tells us the next expiry (WakeAt).
      wake_ns_ = 0;
      shell_.Interrupt();
    }
  }
}

}  // namespace cat
