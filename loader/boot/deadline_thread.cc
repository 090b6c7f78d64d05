// The process's one deadline thread (see deadline_thread.h).
#include "loader/boot/deadline_thread.h"

#include <algorithm>
#include <thread>

namespace cat {

DeadlineThread& DeadlineThread::Get() {
  static DeadlineThread* const instance = new DeadlineThread();
  return *instance;
}

DeadlineThread::DeadlineThread() {
  std::thread([this] { Loop(); }).detach();
}

uint64_t DeadlineThread::Add(Clock::time_point when, Callback fire, void* context) {
  std::lock_guard lock(mu_);
  const uint64_t id = ++next_id_;
  due_.emplace(std::make_pair(when, id), Due{fire, context});
  if (when < wake_at_) cv_.notify_one();
  return id;
}

void DeadlineThread::Remove(Clock::time_point when, uint64_t id) {
  std::lock_guard lock(mu_);
  due_.erase(std::make_pair(when, id));
  idle_until_ = std::max(idle_until_, when);
}

void DeadlineThread::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    const auto now = Clock::now();
    while (!due_.empty() && due_.begin()->first.first <= now) {
      const Due d = due_.begin()->second;
      due_.erase(due_.begin());
      d.fire(d.context);
    }
    wake_at_ = !due_.empty()       ? due_.begin()->first.first
               : idle_until_ > now ? idle_until_
                                   : Clock::time_point::max();
    if (wake_at_ == Clock::time_point::max())
      cv_.wait(lock);
    else
      cv_.wait_until(lock, wake_at_);
  }
}

}  // namespace cat
