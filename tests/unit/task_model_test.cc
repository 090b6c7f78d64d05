// The task model of the sandbox kernel: per-thread state beside the process's, the handler
// controls (exit vs exit_group, a sandbox fault distinct from a guest errno), the blocking
// primitive (Wakeup, WaitQueue) and the checks that saved thread contexts match the state.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "format/state/state_invariants.h"
#include "loader/kernel/wait_queue.h"
#include "tests/unit/kernel_fixture.h"
#include "tests/unit/state_fixture.h"

namespace cat {
namespace {

// A kernel on the minimal state and a FakeShell (kernel_fixture.h).
class KernelTest : public cat::testing::KernelFixture {};

TEST_F(KernelTest, ExitGroupEndsTheGuestWithItsStatus) {
  Syscall(SYS_exit_group, 3);
  EXPECT_EQ(kernel_.end().kind, GuestEnd::Kind::kExited);
  EXPECT_EQ(kernel_.end().status, 3);
}

TEST_F(KernelTest, ExitOfTheLastThreadEndsTheGuestWithItsStatus) {
  Syscall(SYS_exit, 0x105);
  EXPECT_EQ(kernel_.end().kind, GuestEnd::Kind::kExited);
  EXPECT_EQ(kernel_.end().status, 5);  // the low 8 bits, as wait() reports
}

TEST_F(KernelTest, AFailureAfterTheShellDiedIsASandboxFaultNotAnErrno) {
  shell_.alive = false;
  // rt_sigaction reads the new action from guest memory: FakeShell::Read fails with EFAULT,
  // which from a dead shell must not reach the guest as an errno.
  Syscall(SYS_rt_sigaction, SIGUSR1, 0x1000, 0, 8);
  EXPECT_EQ(kernel_.end().kind, GuestEnd::Kind::kSandboxFault);
}

TEST_F(KernelTest, AFailureOfALiveShellIsTheGuestsErrno) {
  EXPECT_EQ(Syscall(SYS_rt_sigaction, SIGUSR1, 0x1000, 0, 8), -EFAULT);
  EXPECT_TRUE(kernel_.running());
}

TEST_F(KernelTest, ThreadCallsUseTheCurrentThreadsState) {
  EXPECT_EQ(Syscall(SYS_set_tid_address, 0x7000), 1);
  EXPECT_EQ(state_->threads[0].clear_child_tid, 0x7000u);
  EXPECT_EQ(Syscall(SYS_gettid), 1);
  EXPECT_EQ(Syscall(SYS_getpid), 1);
}

TEST_F(KernelTest, SelectThreadRefusesATidTheStateDoesNotHave) {
  EXPECT_TRUE(kernel_.SelectThread(1));
  auto st = kernel_.SelectThread(2);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ESRCH);
}

// ---- thread state invariants ----

TEST(ThreadInvariants, AProcessWithoutThreadsIsRefused) {
  state::Process p{};
  p.pid = 1;
  p.next_tid = 2;
  auto st = state::CheckThreads(p, nullptr, 0);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("no thread"), std::string::npos);
}

TEST(ThreadInvariants, TheFirstThreadMustBeTheLeader) {
  state::Process p{};
  p.pid = 1;
  p.next_tid = 5;
  state::Thread t[1]{};
  t[0].tid = 2;
  auto st = state::CheckThreads(p, t, 1);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("is not the pid 1"), std::string::npos)
      << st.error().message();
}

TEST(ThreadInvariants, UnsortedOrFutureTidsAreRefused) {
  state::Process p{};
  p.pid = 1;
  p.next_tid = 4;
  state::Thread t[3]{};
  t[0].tid = 1;
  t[1].tid = 3;
  t[2].tid = 2;
  EXPECT_FALSE(state::CheckThreads(p, t, 3));
  t[1].tid = 2;
  t[2].tid = 4;  // == next_tid: clone would hand it out again
  auto st = state::CheckThreads(p, t, 3);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("next_tid"), std::string::npos) << st.error().message();
  t[2].tid = 3;
  EXPECT_TRUE(state::CheckThreads(p, t, 3));
}

TEST(ThreadInvariants, AMaskBlockingSigkillIsRefused) {
  state::Thread t{};
  t.tid = 1;
  t.signal_mask = 1ull << (SIGKILL - 1);
  EXPECT_FALSE(state::CheckThread(t));
}

TEST(ThreadContexts, MustNameExactlyTheStatesThreads) {
  state::SandboxState* s = cat::testing::MinimalState();
  EXPECT_TRUE(state::CheckThreadContexts(*s, 1, {}));
  EXPECT_FALSE(state::CheckThreadContexts(*s, 2, {}));  // no thread 2 in the state
  ThreadContext extra;
  extra.tid = 2;
  auto st = state::CheckThreadContexts(*s, 1, {extra});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("2 saved thread contexts for 1 threads"), std::string::npos)
      << st.error().message();
}

// ---- the blocking primitive ----

TEST(Wakeup, AWakeFromAnotherThreadEndsAWaitWithoutDeadline) {
  Wakeup w;
  ASSERT_TRUE(w.ok());
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    w.Wake();
  });
  auto why = w.Wait({}, 0);
  waker.join();
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, Wakeup::Reason::kWoken);
}

TEST(Wakeup, AWakeBeforeTheWaitIsNotLost) {
  Wakeup w;
  w.Wake();
  auto why = w.Wait({}, MonotonicNowNs() + 10'000'000'000);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, Wakeup::Reason::kWoken);
  // ... and is consumed: the next wait runs to its deadline.
  why = w.Wait({}, MonotonicNowNs() + 1'000'000);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, Wakeup::Reason::kDeadline);
}

TEST(Wakeup, AWaitNeverEndsBeforeItsDeadline) {
  Wakeup w;
  const int64_t deadline = MonotonicNowNs() + 5'000'000;
  auto why = w.Wait({}, deadline);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, Wakeup::Reason::kDeadline);
  EXPECT_GE(MonotonicNowNs(), deadline);
}

TEST(Wakeup, AReadyFdEndsTheWaitWithItsRevents) {
  Wakeup w;
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "x", 1), 1);
  pollfd fds[2] = {{p[1], POLLIN, 0}, {p[0], POLLIN, 0}};
  auto why = w.Wait(fds, 0);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, Wakeup::Reason::kReady);
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_TRUE(fds[1].revents & POLLIN);
  close(p[0]);
  close(p[1]);
}

TEST(WaitQueue, WakesAtMostNMatchingWaitersInFifoOrder) {
  WaitQueue q;
  Waiter a, b, c, other;
  a.key = b.key = c.key = 0x1000;
  other.key = 0x2000;
  q.Enqueue(a);
  q.Enqueue(other);
  q.Enqueue(b);
  q.Enqueue(c);
  EXPECT_EQ(q.Wake(0x1000, 2, ~0u, 0), 2);
  EXPECT_TRUE(a.completed);
  EXPECT_TRUE(b.completed);
  EXPECT_FALSE(c.completed);
  EXPECT_FALSE(other.completed);
  EXPECT_EQ(q.size(), 2);
}

TEST(WaitQueue, ABitsetWakeSkipsWaitersOfOtherBits) {
  WaitQueue q;
  Waiter a, b;
  a.key = b.key = 8;
  a.bits = 0x1;
  b.bits = 0x2;
  q.Enqueue(a);
  q.Enqueue(b);
  EXPECT_EQ(q.Wake(8, 10, 0x2, 0), 1);
  EXPECT_FALSE(a.completed);
  EXPECT_TRUE(b.completed);
}

TEST(WaitQueue, RequeueMovesWaitersToTheNewKey) {
  WaitQueue q;
  Waiter a, b;
  a.key = b.key = 8;
  q.Enqueue(a);
  q.Enqueue(b);
  EXPECT_EQ(q.Requeue(8, 16, 1), 1);
  EXPECT_EQ(q.Wake(16, 10, ~0u, 0), 1);
  EXPECT_TRUE(a.completed);
  EXPECT_FALSE(b.completed);
}

TEST(WaitQueue, CancelCompletesOnlyAQueuedWaiter) {
  WaitQueue q;
  Waiter a, b;
  q.Enqueue(a);
  q.Enqueue(b);
  EXPECT_TRUE(q.Cancel(a, -EINTR));
  EXPECT_EQ(a.result, -EINTR);
  EXPECT_FALSE(q.Cancel(a, -EINTR));
  EXPECT_TRUE(q.Remove(b));
  EXPECT_TRUE(q.empty());
  // The queue keeps working after its tail was removed.
  q.Enqueue(a);
  EXPECT_EQ(q.Wake(a.key, 1, ~0u, 7), 1);
  EXPECT_EQ(a.result, 7);
}

}  // namespace
}  // namespace cat
