// Guest threads in the sandbox kernel: clone's flag checks, futex wake/requeue of parked tasks,
// thread exit (the clear_child_tid word, the last thread ending the guest) and thread-directed
// signals to live tids. The platform part (host threads) is e2e.threads.
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>

#include "tests/unit/kernel_fixture.h"

namespace cat {
namespace {

class ThreadsTest : public cat::testing::KernelFixture {
 protected:
  // A second thread (tid 2) with a task of its own, as clone would leave them.
  Task& AddSecondThread() { return AddThread(2); }

  // Parks task `t` in a futex wait on `key` (as SysFutex does for the current task).
  void ParkOn(Task& t, uint64_t key, uint32_t bits = ~0u) {
    Task& was = kernel_.tasks.current();
    kernel_.tasks.SetCurrent(t);
    kernel_.tasks.Park(kernel_.tasks.futex, key, bits, 0, -ETIMEDOUT, {SYS_futex, {}});
    kernel_.tasks.SetCurrent(was);
  }
};

constexpr uint64_t kThreadFlags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                                  CLONE_SYSVSEM | CLONE_SETTLS | CLONE_CHILD_CLEARTID;

TEST_F(ThreadsTest, CloneWithAFlagOutsideTheThreadSetIsEinval) {
  EXPECT_EQ(Syscall(SYS_clone, kThreadFlags | CLONE_NEWNET), -EINVAL);
  EXPECT_EQ(Syscall(SYS_clone, kThreadFlags | CLONE_PTRACE), -EINVAL);
  EXPECT_EQ(Syscall(SYS_clone, kThreadFlags | SIGCHLD), -EINVAL);  // an exit signal
  EXPECT_EQ(state_->threads.size, 1u);
}

TEST_F(ThreadsTest, CloneWithoutCloneThreadIsAProcessThePlatformMustFork) {
  // The fake shell, like the kvm platform, cannot fork: ENOSYS and a line saying why.
  EXPECT_EQ(Syscall(SYS_clone, SIGCHLD), -ENOSYS);  // fork
  EXPECT_NE(log_.find("fork: the platform could not make a shell"), std::string::npos);
  EXPECT_EQ(kernel_.procs.size(), 1u);
  EXPECT_EQ(kernel_.tasks.size(), 1u);
}

TEST_F(ThreadsTest, CloneOnAOneVcpuPlatformFailsAndSaysWhy) {
  // The fake shell, like the kvm platform, cannot make a vCPU.
  EXPECT_EQ(Syscall(SYS_clone, kThreadFlags, 0x7000), -ENOSYS);
  EXPECT_NE(log_.find("clone: cannot make the thread"), std::string::npos);
  EXPECT_EQ(state_->threads.size, 1u);
  EXPECT_EQ(kernel_.tasks.size(), 1u);
}

TEST_F(ThreadsTest, Clone3WithAShortStructIsEinval) {
  EXPECT_EQ(Syscall(SYS_clone3, 0x1000, 32), -EINVAL);
}

TEST_F(ThreadsTest, FutexOnAMisalignedWordIsEinval) {
  EXPECT_EQ(Syscall(SYS_futex, 0x1002, FUTEX_WAKE_PRIVATE, 1), -EINVAL);
}

TEST_F(ThreadsTest, FutexWakeCompletesAParkedWaiterAndCountsIt) {
  Task& t = AddSecondThread();
  ParkOn(t, 0x5000);
  EXPECT_EQ(Syscall(SYS_futex, 0x5004, FUTEX_WAKE_PRIVATE, 1), 0);  // another word
  EXPECT_FALSE(t.waiter.completed);
  EXPECT_EQ(Syscall(SYS_futex, 0x5000, FUTEX_WAKE_PRIVATE, 1), 1);
  EXPECT_TRUE(t.waiter.completed);
  EXPECT_EQ(t.waiter.result, 0);
}

TEST_F(ThreadsTest, FutexWakeBitsetWakesOnlyIntersectingWaiters) {
  Task& t = AddSecondThread();
  ParkOn(t, 0x5000, 0x2);
  EXPECT_EQ(Syscall(SYS_futex, 0x5000, FUTEX_WAKE_BITSET_PRIVATE, 1, 0, 0, 0x1), 0);
  EXPECT_EQ(Syscall(SYS_futex, 0x5000, FUTEX_WAKE_BITSET_PRIVATE, 1, 0, 0, 0x6), 1);
}

TEST_F(ThreadsTest, FutexRequeueMovesWaitersToTheSecondWord) {
  Task& t = AddSecondThread();
  ParkOn(t, 0x5000);
  // wake 0, move up to 1 to 0x6000
  EXPECT_EQ(Syscall(SYS_futex, 0x5000, FUTEX_REQUEUE_PRIVATE, 0, 1, 0x6000), 1);
  EXPECT_FALSE(t.waiter.completed);
  EXPECT_EQ(Syscall(SYS_futex, 0x5000, FUTEX_WAKE_PRIVATE, 1), 0);
  EXPECT_EQ(Syscall(SYS_futex, 0x6000, FUTEX_WAKE_PRIVATE, 1), 1);
}

TEST_F(ThreadsTest, ExitOfOneOfTwoThreadsEndsOnlyThatThreadAndWakesItsJoiner) {
  Task& joiner = AddSecondThread();
  kernel_.thread().clear_child_tid = 0x7000;
  ParkOn(joiner, 0x7000);  // pthread_join waits on the exiting thread's tid word
  Syscall(SYS_exit, 0);
  EXPECT_TRUE(kernel_.running());
  EXPECT_EQ(kernel_.tasks.all()[0]->run, Task::Run::kExited);
  EXPECT_TRUE(joiner.waiter.completed);
  bool zeroed = false;
  for (const auto& c : shell_.calls) zeroed |= c.op == "write" && c.addr == 0x7000 && c.len == 4;
  EXPECT_TRUE(zeroed);
}

TEST_F(ThreadsTest, TkillReachesAnyLiveThreadAndNoOther) {
  AddSecondThread();
  EXPECT_EQ(Syscall(SYS_tkill, 2, SIGUSR1), 0);
  EXPECT_EQ(Syscall(SYS_tgkill, 1, 3, SIGUSR1), -ESRCH);
}

TEST_F(ThreadsTest, GetRobustListOfAnUnknownThreadIsEsrch) {
  EXPECT_EQ(Syscall(SYS_get_robust_list, 9, 0x1000, 0x1008), -ESRCH);
}

}  // namespace
}  // namespace cat
