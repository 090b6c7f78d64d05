// A thread that interrupts the running guest when its next timer (alarm, setitimer,
// timer_create) expires, so that the run loop regains control and delivers the signal even
// while the guest computes without making syscalls. Started only once the guest arms a timer:
// a guest without timers has no such thread and pays nothing.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace cat {

class Shell;

class TimerInterrupter {
 public:
  explicit TimerInterrupter(Shell& shell);
  ~TimerInterrupter();  // stops and joins the thread
  TimerInterrupter(const TimerInterrupter&) = delete;
  TimerInterrupter& operator=(const TimerInterrupter&) = delete;

  // Interrupts the shell once host CLOCK_MONOTONIC reaches `host_ns`; 0 = nothing to wait for.
  void WakeAt(int64_t host_ns);

 private:
  void Loop();
  Shell& shell_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t wake_ns_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: started once the fields above exist
};

}  // namespace cat
