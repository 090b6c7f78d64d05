// The blocking primitive (wait_queue.h): an eventfd-backed wakeup for the tracer thread and
// an intrusive FIFO of waiting guest threads.
#include "loader/kernel/wait_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "format/base/host_clock.h"

namespace cat {

Wakeup::Wakeup() : event_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void Wakeup::Wake() const {
  if (!ok()) return;
  const uint64_t one = 1;
  // EAGAIN (the counter is saturated) still leaves it readable: the wake is not lost.
  (void)!write(event_.get(), &one, sizeof one);
}

Result<Wakeup::Reason> Wakeup::Wait(std::span<pollfd> fds, int64_t deadline_ns) const {
  // The eventfd goes last, so fds keep their indices for the caller's revents. Up to three
  // fds (the common case: one) stay on the stack.
  pollfd small[4];
  std::vector<pollfd> large;
  pollfd* all = small;
  if (fds.size() + 1 > std::size(small)) {
    large.resize(fds.size() + 1);
    all = large.data();
  }
  std::copy(fds.begin(), fds.end(), all);
  // Without an eventfd (ok() false) poll skips the negative fd.
  all[fds.size()] = pollfd{event_.get(), POLLIN, 0};
  const size_t count = fds.size() + 1;
  for (;;) {
    int timeout_ms = -1;
    if (deadline_ns > 0) {
      const int64_t left = deadline_ns - MonotonicNowNs();
      if (left <= 0) return Reason::kDeadline;
      // Rounded up: a wait never returns before its deadline.
      timeout_ms = static_cast<int>(std::min<int64_t>((left + 999999) / 1000000, 1 << 30));
    }
    for (size_t i = 0; i < count; ++i) all[i].revents = 0;
    const int r = poll(all, count, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return FailErrno("wakeup: poll");
    if (all[fds.size()].revents & POLLIN) {
      uint64_t count;
      (void)!read(event_.get(), &count, sizeof count);
      return Reason::kWoken;
    }
    if (r > 0) {
      for (size_t i = 0; i < fds.size(); ++i) fds[i].revents = all[i].revents;
      return Reason::kReady;
    }
    // r == 0: the timeout, rounded to milliseconds; the loop re-checks the deadline.
  }
}

void WaitQueue::Enqueue(Waiter& w) {
  w.completed = false;
  w.next = nullptr;
  if (tail_)
    tail_->next = &w;
  else
    head_ = &w;
  tail_ = &w;
}

bool WaitQueue::Remove(Waiter& w) {
  Waiter* prev = nullptr;
  for (Waiter* p = head_; p; prev = p, p = p->next) {
    if (p != &w) continue;
    (prev ? prev->next : head_) = p->next;
    if (tail_ == p) tail_ = prev;
    p->next = nullptr;
    return true;
  }
  return false;
}

int WaitQueue::Wake(uint64_t key, int n, uint32_t bits, int64_t result) {
  int woken = 0;
  Waiter* prev = nullptr;
  for (Waiter* p = head_; p && woken < n;) {
    Waiter* next = p->next;
    if (p->key == key && (p->bits & bits)) {
      (prev ? prev->next : head_) = next;
      if (tail_ == p) tail_ = prev;
      p->next = nullptr;
      p->result = result;
      p->completed = true;
      ++woken;
    } else {
      prev = p;
    }
    p = next;
  }
  return woken;
}

int WaitQueue::Requeue(uint64_t from, uint64_t to, int n) {
  int moved = 0;
  for (Waiter* p = head_; p && moved < n; p = p->next)
    if (p->key == from) {
      p->key = to;
      ++moved;
    }
  return moved;
}

bool WaitQueue::Cancel(Waiter& w, int64_t result) {
  if (!Remove(w)) return false;
  w.result = result;
  w.completed = true;
  return true;
}

int WaitQueue::size() const {
  int n = 0;
  for (Waiter* p = head_; p; p = p->next) ++n;
  return n;
}

}  // namespace cat
