// The deadline of a bounded call on one thread (see call_deadline.h).
#include "loader/boot/call_deadline.h"

#include <signal.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace cat {
namespace {

void Nothing(int) {}

// Installs the do-nothing handler once, without SA_RESTART: an interrupted call fails with EINTR
// instead of being restarted by the host kernel.
void InstallHandler() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = Nothing;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(CallDeadline::Signal(), &sa, nullptr);
    return true;
  }();
  (void)installed;
}

void SetBlocked(bool blocked) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, CallDeadline::Signal());
  pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

}  // namespace

// One thread for the deadlines of every bounded call in the process (a server bounds a boot
// ahead after nearly every request: a thread each would cost a thread start each), started on
// first use and never stopped (leaked on purpose, as watchdog.cc's deadline thread). Firing
// happens under mu_, and Remove takes mu_: once Remove returns, the thread never signals that
// call's thread again.
class CallDeadline::Timer {
 public:
  using Clock = std::chrono::steady_clock;
  static Timer& Get() {
    static Timer* const instance = new Timer();
    return *instance;
  }
  uint64_t Add(Clock::time_point when, CallDeadline* d) {
    std::lock_guard lock(mu_);
    const uint64_t id = ++next_id_;
    const bool earliest = due_.empty() || when < due_.begin()->first.first;
    due_.emplace(std::make_pair(when, id), d);
    if (earliest) cv_.notify_one();
    return id;
  }
  void Remove(Clock::time_point when, uint64_t id) {
    std::lock_guard lock(mu_);
    due_.erase(std::make_pair(when, id));
  }

 private:
  Timer() {
    std::thread([this] { Loop(); }).detach();
  }
  void Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      const auto now = Clock::now();
      while (!due_.empty() && due_.begin()->first.first <= now) {
        CallDeadline* d = due_.begin()->second;
        due_.erase(due_.begin());
        d->fired_.store(true);
        pthread_kill(d->target_, Signal());
      }
      if (due_.empty())
        cv_.wait(lock);
      else
        cv_.wait_until(lock, due_.begin()->first.first);
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<Clock::time_point, uint64_t>, CallDeadline*> due_;
  uint64_t next_id_ = 0;
};

int CallDeadline::Signal() {
  return SIGRTMIN + 6;  // glibc keeps the first few for itself (cancellation, setxid)
}

CallDeadline::CallDeadline(double seconds) : target_(pthread_self()) {
  if (seconds <= 0) return;
  InstallHandler();
  SetBlocked(false);
  when_ = std::chrono::steady_clock::now() +
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(seconds));
  id_ = Timer::Get().Add(when_, this);
}

CallDeadline::~CallDeadline() {
  if (!id_) return;
  Timer::Get().Remove(when_, id_);
  SetBlocked(true);
  // A signal sent just before Remove may still be pending: take it, so that it never
  // interrupts what the thread does next.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, Signal());
  const timespec zero{};
  while (sigtimedwait(&set, nullptr, &zero) > 0) {
  }
}

bool CallDeadline::fired() const {
  return fired_.load();
}

}  // namespace cat
