// The process's one deadline thread: calls a callback when a registered wall-clock deadline
// passes. The run's watchdog (watchdog.h) and the deadline of a bounded call
// (call_deadline.h) both keep their deadlines here.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

namespace cat {

// Started on first use and never stopped (it sleeps when there is nothing due; leaked on
// purpose, so that no static destructor joins a thread). Add registers a deadline and returns
// its id; Remove withdraws it. Firing happens under the lock Remove takes: once Remove
// returns, the thread never calls that deadline's callback again.
//
// Waking the thread is what a run must not pay for (a futex wake and a context switch on the
// booting thread's CPU): Add wakes it only for a deadline earlier than the one it sleeps
// until. With nothing registered it sleeps until the last deadline removed, not forever, so
// that a server whose runs all have the same --timeout (every new deadline later than any
// before) never wakes it on a run's path; it wakes once then, finds the next deadline, and
// sleeps on.
class DeadlineThread {
 public:
  using Clock = std::chrono::steady_clock;
  using Callback = void (*)(void* context);  // runs on the deadline thread, under its lock

  static DeadlineThread& Get();
  uint64_t Add(Clock::time_point when, Callback fire, void* context);
  void Remove(Clock::time_point when, uint64_t id);

 private:
  DeadlineThread();
  void Loop();

  struct Due {
    Callback fire;
    void* context;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<Clock::time_point, uint64_t>, Due> due_;
  uint64_t next_id_ = 0;
  Clock::time_point wake_at_ = Clock::time_point::max();  // when the thread looks next
  Clock::time_point idle_until_{};  // the latest deadline removed: how long it may sleep empty
};

}  // namespace cat
