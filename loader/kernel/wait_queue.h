// Blocking in the sandbox kernel: the one interruptible primitive every blocking syscall uses.
//
// On the ptrace platform one tracer thread emulates every syscall of an instance, so a guest
// thread that "blocks" must never park the tracer in a way nothing can end: not in poll() or
// sleep_for() on its own, which neither a timer, a signal, another guest thread nor the
// watchdog could interrupt. Two pieces:
//
//  * `Wakeup` — where the tracer thread sleeps. Wait(fds, deadline) returns when one of the host
//    fds is ready (poll semantics), when the CLOCK_MONOTONIC deadline passes, or when any
//    thread calls Wake() (an eventfd: thread-safe and async-signal-safe, so a timer thread, the
//    watchdog, a signal handler or the server's shutdown can all end a wait). A Wake() that
//    comes before the Wait() is not lost: the next Wait() returns kWoken at once. One per
//    SandboxKernel (SandboxKernel::wakeup()).
//  * `WaitQueue` — guest threads waiting for one event (a futex word, a pipe becoming readable,
//    an eventfd or a timer expiring). A waiter is a small struct the blocked thread owns
//    (intrusive: enqueueing never allocates); Wake(n, bits) completes up to n waiters whose
//    bitset intersects `bits`, in FIFO order, and records each one's result. A handler that
//    would block the calling thread either waits in place (single-threaded guest: Wakeup::Wait
//    with the thread's deadline) or enqueues a Waiter and returns SyscallResult::Block()
//    (syscall_result.h); the dispatcher resumes that thread once its waiter is completed.
//
// Rules for users (s9-io's poll/epoll/eventfd/timerfd, s9-signal's sigsuspend/timers):
//  * only the tracer thread touches a WaitQueue (no locks: the queue is instance-local state,
//    like the fd table); other host threads only call Wakeup::Wake();
//  * a wait always has a bound: the earlier of its own timeout and the run's --timeout
//    (Deadline); Wait() returning kDeadline ends the syscall with its timeout result
//    (ETIMEDOUT for futex, 0 for poll, EINTR when the run's deadline cut it short);
//  * a signal for a blocked thread completes its waiter with -EINTR (or a restart, per
//    SA_RESTART) through WaitQueue::Cancel.
#pragma once

#include <poll.h>

#include <cstdint>
#include <span>

#include "format/base/error.h"
#include "format/base/unique_fd.h"

namespace cat {

class Wakeup {
 public:
  enum class Reason {
    kReady,     // a host fd is ready: see the pollfd's revents
    kWoken,     // Wake() was called (since the last Wait)
    kDeadline,  // the deadline passed
  };

  // Makes the eventfd. Should that fail (the host is out of fds), waits still end on their fds
  // and deadlines, only Wake() has no effect: ok() tells.
  Wakeup();
  bool ok() const { return event_.get() >= 0; }

  // deadline_ns: CLOCK_MONOTONIC nanoseconds; 0 = no deadline. `fds` may be empty (a sleep).
  // Only the tracer thread waits.
  Result<Reason> Wait(std::span<pollfd> fds, int64_t deadline_ns) const;
  // Thread-safe and async-signal-safe.
  void Wake() const;

 private:
  UniqueFd event_;
};

// One waiting guest thread. Owned by whoever blocks (the thread's task); must stay alive and
// unmoved while queued.
struct Waiter {
  int32_t tid = 0;
  uint32_t bits = ~0u;  // FUTEX_WAIT_BITSET's mask; ~0 for every other wait
  uint64_t key = 0;     // what is waited on (a futex: its address)
  int64_t result = 0;   // set when completed: the syscall's result
  bool completed = false;
  Waiter* next = nullptr;  // queue link, owned by the WaitQueue
};

class WaitQueue {
 public:
  void Enqueue(Waiter& w);
  // Removes a waiter that is still queued (a timeout, a signal); false if it was not queued.
  bool Remove(Waiter& w);
  // Completes up to `n` queued waiters with key `key` whose bits intersect `bits`, FIFO, each
  // with `result`. Returns how many.
  int Wake(uint64_t key, int n, uint32_t bits, int64_t result);
  // Moves up to `n` waiters with key `from` (after waking none) to key `to`: FUTEX_REQUEUE.
  int Requeue(uint64_t from, uint64_t to, int n);
  // Completes a queued waiter at once with `result` (a signal: -EINTR). False if not queued.
  bool Cancel(Waiter& w, int64_t result);
  bool empty() const { return head_ == nullptr; }
  int size() const;

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

}  // namespace cat
