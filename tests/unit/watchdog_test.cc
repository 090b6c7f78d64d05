// Tests of the run's watchdog (loader/boot/watchdog.h) on a fake shell whose CPU time the test
// sets: which limit fires, when, what CPU time is charged, and when a thread is needed.
#include "loader/boot/watchdog.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "format/base/host_clock.h"
#include "tests/unit/fake_shell.h"

namespace cat {
namespace {

using std::chrono::milliseconds;

class WatchdogTest : public ::testing::Test {
 protected:
  // Starts a watchdog on shell_, whose CPU time is `shell_cpu_ns` when the run starts.
  Watchdog& Start(double timeout_s, double cpu_limit_s, int64_t shell_cpu_ns = 0) {
    shell_.cpu_ns = shell_cpu_ns;
    auto w = Watchdog::Start(shell_, timeout_s, cpu_limit_s);
    EXPECT_TRUE(w) << w.error().message();
    if (w) watchdog_ = std::move(*w);
    return *watchdog_;
  }

  // Polls fired() for up to `limit`; the first non-kNone answer, or kNone.
  Watchdog::Fired WaitForFire(milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (watchdog_->fired() != Watchdog::Fired::kNone) return watchdog_->fired();
      std::this_thread::sleep_for(milliseconds(5));
    }
    return watchdog_->fired();
  }

  testing::FakeShell shell_;
  std::unique_ptr<Watchdog> watchdog_;
};

TEST_F(WatchdogTest, NoLimitsNoThreadNoBackstop) {
  Watchdog& w = Start(0, 0);
  EXPECT_FALSE(w.watching());
  shell_.cpu_ns = 1000000000000;
  EXPECT_FALSE(w.PollCpu());
  EXPECT_FALSE(w.CpuLimitReached());
  EXPECT_EQ(shell_.cpu_soft_s, 0);
}

TEST_F(WatchdogTest, TimeoutFiresAndInterrupts) {
  Start(0.05, 0);
  EXPECT_EQ(WaitForFire(milliseconds(2000)), Watchdog::Fired::kTimeout);
  EXPECT_EQ(shell_.interrupts, 1);
}

TEST_F(WatchdogTest, TimeoutNeedsNoThreadOfItsOwn) {
  // The process-wide deadline thread keeps it: a run with --timeout creates no thread.
  Watchdog& w = Start(0.05, 0);
  EXPECT_FALSE(w.watching());
  EXPECT_EQ(WaitForFire(milliseconds(2000)), Watchdog::Fired::kTimeout);
}

TEST(WatchdogDeadlines, EarlierDeadlineFiresFirstAndAnEndedRunNeverFires) {
  testing::FakeShell late_shell, early_shell, ended_shell;
  auto late = Watchdog::Start(late_shell, 30, 0);
  auto ended = Watchdog::Start(ended_shell, 0.05, 0);
  ASSERT_TRUE(late && ended);
  ended->reset();  // the run ended before its deadline
  auto early = Watchdog::Start(early_shell, 0.1, 0);
  ASSERT_TRUE(early);
  const auto until = std::chrono::steady_clock::now() + milliseconds(3000);
  while ((*early)->fired() == Watchdog::Fired::kNone && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ((*early)->fired(), Watchdog::Fired::kTimeout);
  EXPECT_EQ(early_shell.interrupts, 1);
  EXPECT_EQ((*late)->fired(), Watchdog::Fired::kNone);
  EXPECT_EQ(late_shell.interrupts, 0);
  EXPECT_EQ(ended_shell.interrupts, 0) << "a watchdog destroyed before its deadline fired";
}

TEST_F(WatchdogTest, SubSecondLimitIsWatchedByTheThread) {
  // No whole second of CPU time before the limit: RLIMIT_CPU cannot help, the thread must.
  Watchdog& w = Start(0, 0.2);
  EXPECT_TRUE(w.watching());
  EXPECT_EQ(WaitForFire(milliseconds(300)), Watchdog::Fired::kNone);
  shell_.cpu_ns += 250000000;
  EXPECT_EQ(WaitForFire(milliseconds(2000)), Watchdog::Fired::kCpuLimit);
  EXPECT_EQ(shell_.interrupts, 1);
  EXPECT_TRUE(w.CpuLimitReached());
}

TEST_F(WatchdogTest, LongLimitStartsNoThread) {
  // 1.5 s used before the run + a 2.2 s limit = 3.7 s: the host signals at 3 s (the thread
  // takes over then) and kills at 5 s.
  Watchdog& w = Start(0, 2.2, 1500000000);
  EXPECT_FALSE(w.watching());
  EXPECT_EQ(shell_.cpu_soft_s, 3);
  EXPECT_EQ(shell_.cpu_hard_s, 5);
}

TEST_F(WatchdogTest, CpuUsedBeforeTheRunIsNotCharged) {
  Watchdog& w = Start(0, 0.2, 5000000000);
  EXPECT_LT(w.CpuUsedNs(), 100000000);
  EXPECT_FALSE(w.CpuLimitReached());
}

TEST_F(WatchdogTest, HostSignalHandsTheRestToTheThread) {
  Watchdog& w = Start(0, 0.2, 900000000);  // the host would signal at 1 s
  ASSERT_FALSE(w.watching());
  w.WatchCpuClosely();
  EXPECT_TRUE(w.watching());
  shell_.cpu_ns += 250000000;
  EXPECT_EQ(WaitForFire(milliseconds(2000)), Watchdog::Fired::kCpuLimit);
}

TEST_F(WatchdogTest, PollCpuSeesTheLimitWithoutAThread) {
  Watchdog& w = Start(0, 0.2, 900000000);  // the host would signal at 1 s
  ASSERT_FALSE(w.watching());
  EXPECT_FALSE(w.PollCpu());
  shell_.cpu_ns += 250000000;
  // The first sample is due once 0.2 s of wall-clock time could have used the limit up.
  std::this_thread::sleep_for(milliseconds(250));
  EXPECT_TRUE(w.PollCpu());
  EXPECT_EQ(w.fired(), Watchdog::Fired::kNone) << "no thread, no interrupt";
}

TEST_F(WatchdogTest, ServingThreadCpuTimeIsCharged) {
  // The shell uses nothing; this thread (the one that started the watchdog) spins.
  Watchdog& w = Start(0, 0.1);
  const int64_t start = MonotonicNowNs();
  while (w.fired() == Watchdog::Fired::kNone && MonotonicNowNs() - start < 3000000000) {
  }
  EXPECT_EQ(w.fired(), Watchdog::Fired::kCpuLimit);
  EXPECT_GE(w.CpuUsedNs(), 100000000);
}

// kvm: the guest runs inside KVM_RUN on the serving thread, so its CPU time is in that
// thread's clock already; charged twice, a CPU limit fired at half the guest's time.
TEST_F(WatchdogTest, GuestTimeOnTheServingThreadIsChargedOnce) {
  shell_.guest_time_on_run_thread = true;
  Watchdog& w = Start(0, 100);
  const int64_t start = MonotonicNowNs();
  while (MonotonicNowNs() - start < 20000000) {  // this thread uses some CPU (the guest's)
  }
  shell_.cpu_ns += 1000000000;  // the guest's 1 s, already in this thread's clock
  EXPECT_EQ(w.CpuUsedNs(), 1000000000);
}

TEST_F(WatchdogTest, TimeoutStillFiresWithACpuLimit) {
  Start(0.05, 100);
  EXPECT_EQ(WaitForFire(milliseconds(2000)), Watchdog::Fired::kTimeout);
}

}  // namespace
}  // namespace cat
