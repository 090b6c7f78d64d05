// The deadline of a bounded call on one thread (see call_deadline.h).
#include "loader/boot/call_deadline.h"

#include <signal.h>

#include <chrono>

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

int CallDeadline::Signal() {
  return SIGRTMIN + 6;  // glibc keeps the first few for itself (cancellation, setxid)
}

CallDeadline::CallDeadline(double seconds) : target_(pthread_self()) {
  if (seconds <= 0) return;
  InstallHandler();
  SetBlocked(false);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(seconds));
  timer_ = std::thread([this, deadline] {
    std::unique_lock lock(mu_);
    if (cv_.wait_until(lock, deadline, [this] { return done_; })) return;
    fired_ = true;
    // Under mu_: the destructor cannot have re-blocked the signal yet, so it reaches the work.
    pthread_kill(target_, Signal());
  });
}

CallDeadline::~CallDeadline() {
  if (!timer_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  timer_.join();
  SetBlocked(true);
  // A signal sent just before done_ was set may still be pending: take it, so that it never
  // interrupts what the thread does next.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, Signal());
  const timespec zero{};
  while (sigtimedwait(&set, nullptr, &zero) > 0) {
  }
}

bool CallDeadline::fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

}  // namespace cat
