// The deadline of a bounded call on one thread (see call_deadline.h).
#include "loader/boot/call_deadline.h"

#include <signal.h>

#include "loader/boot/deadline_thread.h"

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
  when_ = std::chrono::steady_clock::now() +
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(seconds));
  // The process's deadline thread (one for every bounded call: a server bounds a boot ahead
  // after nearly every request, and a thread each would cost a thread start each).
  id_ = DeadlineThread::Get().Add(
      when_,
      [](void* self) {
        auto* d = static_cast<CallDeadline*>(self);
        d->fired_.store(true);
        pthread_kill(d->target_, Signal());
      },
      this);
}

CallDeadline::~CallDeadline() {
  if (!id_) return;
  DeadlineThread::Get().Remove(when_, id_);  // after it, nothing signals this thread for us
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
