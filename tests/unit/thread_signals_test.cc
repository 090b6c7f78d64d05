// Per-thread pending signals (issue 9; spec/abi.md, "Signals"): what Linux keeps per thread
// (tgkill, tkill, SIGEV_THREAD_ID timers) is taken by that thread alone, what it keeps per
// process (kill, process-directed timers) by any thread that does not block it; a thread takes
// its own signals first; sigpending is the union; a thread's own signals die with it. Through
// the kernel's dispatch on a FakeShell with two threads; the host-thread part is
// e2e.thread_signals.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include "loader/kernel/signal_delivery.h"
#include "tests/unit/kernel_fixture.h"

namespace cat {
namespace {

class ThreadSignalsTest : public cat::testing::KernelFixture {
 protected:
  static uint64_t Bit(int sig) { return uint64_t{1} << (sig - 1); }

  // A second thread (tid 2) with a task of its own, as clone would leave them.
  Task& AddSecondThread() { return AddThread(2); }
  Task& First() { return *kernel_.tasks.all()[0]; }
  state::Thread& ThreadState(int32_t tid) {
    for (state::Thread& t : state_->threads)
      if (t.tid == tid) return t;
    ADD_FAILURE() << "no thread " << tid;
    return state_->threads[0];
  }
  // The signals thread t could take (its own and the shared ones).
  uint64_t PendingOf(Task& t) {
    kernel_.SwitchTo(t);
    return PendingSet(kernel_);
  }
};

TEST_F(ThreadSignalsTest, TkillIsTakenOnlyByItsTarget) {
  Task& second = AddSecondThread();
  ThreadState(2).signal_mask = Bit(SIGUSR1);  // the target blocks it; the caller does not
  EXPECT_EQ(Syscall(SYS_tkill, 2, SIGUSR1), 0);
  // Per process, the caller would have taken it on the way back (its default action: death).
  EXPECT_TRUE(kernel_.running());
  EXPECT_FALSE(SignalDeliverableUnder(kernel_, 0));
  EXPECT_EQ(PendingOf(First()), 0u);
  EXPECT_EQ(PendingOf(second), Bit(SIGUSR1));
}

TEST_F(ThreadSignalsTest, ASignalForOneThreadDoesNotEndAnotherThreadsWait) {
  Task& second = AddSecondThread();
  state_->threads[0].signal_mask = Bit(SIGUSR1);
  EXPECT_EQ(Syscall(SYS_tgkill, 1, 1, SIGUSR1), 0);  // to itself, blocked
  // What the run loop asks of a parked task (SettleTasks): a signal it could take?
  kernel_.SwitchTo(second);
  EXPECT_FALSE(SignalDeliverableUnder(kernel_, kernel_.thread().signal_mask));
}

TEST_F(ThreadSignalsTest, AProcessDirectedSignalIsTakenByAThreadThatDoesNotBlockIt) {
  Task& second = AddSecondThread();
  state_->threads[0].signal_mask = Bit(SIGUSR1);
  EXPECT_EQ(Syscall(SYS_kill, 1, SIGUSR1), 0);
  EXPECT_TRUE(kernel_.running());  // the caller blocks it
  kernel_.SwitchTo(second);
  EXPECT_TRUE(SignalDeliverableUnder(kernel_, kernel_.thread().signal_mask));
  Syscall(SYS_getpid);  // the other thread takes it on the way back: its default action
  EXPECT_EQ(kernel_.end().kind, GuestEnd::Kind::kSignaled);
  EXPECT_EQ(kernel_.end().status, SIGUSR1);
}

TEST_F(ThreadSignalsTest, AThreadTakesItsOwnSignalsBeforeTheSharedOnes) {
  AddSecondThread();
  state_->threads[0].signal_mask = Bit(SIGUSR1) | Bit(SIGUSR2);
  EXPECT_EQ(Syscall(SYS_kill, 1, SIGUSR1), 0);   // shared, the lower number
  EXPECT_EQ(Syscall(SYS_tkill, 1, SIGUSR2), 0);  // the thread's own
  auto first = DequeueSignal(kernel_, 0, ~uint64_t{0});
  auto second = DequeueSignal(kernel_, 0, ~uint64_t{0});
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->signo, SIGUSR2);
  EXPECT_EQ(second->signo, SIGUSR1);
  EXPECT_FALSE(DequeueSignal(kernel_, 0, ~uint64_t{0}));
}

TEST_F(ThreadSignalsTest, SigpendingIsTheThreadsOwnSetAndTheSharedOne) {
  Task& second = AddSecondThread();
  const uint64_t all = Bit(SIGUSR1) | Bit(SIGUSR2) | Bit(SIGHUP);
  state_->threads[0].signal_mask = all;
  ThreadState(2).signal_mask = all;
  EXPECT_EQ(Syscall(SYS_kill, 1, SIGUSR1), 0);
  EXPECT_EQ(Syscall(SYS_tkill, 1, SIGUSR2), 0);
  EXPECT_EQ(Syscall(SYS_tkill, 2, SIGHUP), 0);
  EXPECT_EQ(PendingOf(First()), Bit(SIGUSR1) | Bit(SIGUSR2));
  EXPECT_EQ(PendingOf(second), Bit(SIGUSR1) | Bit(SIGHUP));
}

TEST_F(ThreadSignalsTest, AStandardSignalIsPendingOncePerSet) {
  state_->threads[0].signal_mask = Bit(SIGUSR1);
  EXPECT_EQ(Syscall(SYS_kill, 1, SIGUSR1), 0);
  EXPECT_EQ(Syscall(SYS_tkill, 1, SIGUSR1), 0);
  EXPECT_EQ(Syscall(SYS_tkill, 1, SIGUSR1), 0);  // coalesced with the thread's own
  EXPECT_EQ(state_->signals.count, 2u);
}

TEST_F(ThreadSignalsTest, AThreadsOwnSignalsDieWithItTheSharedOnesStay) {
  Task& second = AddSecondThread();
  state_->threads[0].signal_mask = Bit(SIGUSR2);
  ThreadState(2).signal_mask = Bit(SIGUSR1) | Bit(SIGUSR2);
  kernel_.SwitchTo(second);
  EXPECT_EQ(Syscall(SYS_tkill, 2, SIGUSR1), 0);
  EXPECT_EQ(Syscall(SYS_kill, 1, SIGUSR2), 0);
  EXPECT_EQ(state_->signals.count, 2u);
  Syscall(SYS_exit, 0);
  EXPECT_TRUE(kernel_.running());
  ASSERT_EQ(state_->signals.count, 1u);
  EXPECT_EQ(state_->signals.queue[0].signo, SIGUSR2);
}

TEST_F(ThreadSignalsTest, ASigevThreadIdTimerSignalsItsThreadAlone) {
  Task& second = AddSecondThread();
  ThreadState(2).signal_mask = Bit(SIGUSR1);
  state::PosixTimer& t = state_->signals.timers[0];
  t.in_use = 1;
  t.clock = CLOCK_MONOTONIC;
  t.notify = SIGEV_THREAD_ID;
  t.signo = SIGUSR1;
  t.tid = 2;
  t.timer.expiry_ns = 1;  // long past
  FireTimers(kernel_);
  Syscall(SYS_getpid);  // thread 1 does not block SIGUSR1: it must not take thread 2's
  EXPECT_TRUE(kernel_.running());
  EXPECT_EQ(PendingOf(First()), 0u);
  EXPECT_EQ(PendingOf(second), Bit(SIGUSR1));
}

TEST_F(ThreadSignalsTest, ASigevThreadIdTimerOfAThreadThatEndedSendsNothing) {
  state::PosixTimer& t = state_->signals.timers[0];
  t.in_use = 1;
  t.clock = CLOCK_MONOTONIC;
  t.notify = SIGEV_THREAD_ID;
  t.signo = SIGUSR1;
  t.tid = 5;  // no such thread (any more)
  t.timer.expiry_ns = 1;
  FireTimers(kernel_);
  EXPECT_EQ(state_->signals.count, 0u);
  EXPECT_TRUE(kernel_.running());
}

TEST_F(ThreadSignalsTest, TgkillToAThreadOfAnotherGroupIdIsEsrch) {
  AddSecondThread();
  EXPECT_EQ(Syscall(SYS_tgkill, 9, 2, SIGUSR1), -ESRCH);
  EXPECT_EQ(Syscall(SYS_tgkill, 1, 3, SIGUSR1), -ESRCH);
  EXPECT_EQ(Syscall(SYS_tgkill, 1, 2, 0), 0);  // signal 0: only the check
  EXPECT_EQ(state_->signals.count, 0u);
}

}  // namespace
}  // namespace cat
