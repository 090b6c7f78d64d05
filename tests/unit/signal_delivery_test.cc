// Signal generation, default actions, masks and timers through the kernel's dispatch
// (loader/kernel/signal_delivery.h, sys_signal.cc, sys_timer.cc), on a FakeShell: the cases
// that need no guest memory. Frames and handlers are covered by e2e.signals.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>

#include "tests/unit/kernel_fixture.h"

namespace cat {
namespace {

class SignalDeliveryTest : public cat::testing::KernelFixture {
 protected:
  static uint64_t Bit(int sig) { return uint64_t{1} << (sig - 1); }
};

TEST_F(SignalDeliveryTest, KillOfAPidOutsideTheSandboxIsEsrch) {
  EXPECT_EQ(Syscall(SYS_kill, 2, SIGTERM), -ESRCH);
  EXPECT_EQ(Syscall(SYS_kill, 4242, SIGKILL), -ESRCH);
  EXPECT_EQ(Syscall(SYS_kill, static_cast<uint64_t>(-1), SIGTERM), -ESRCH);
  EXPECT_TRUE(kernel_.running());
  EXPECT_EQ(state_->signals.count, 0u);
}

TEST_F(SignalDeliveryTest, ThreadSignalsToOtherIdsAreEsrch) {
  EXPECT_EQ(Syscall(SYS_tgkill, 1, 2, SIGTERM), -ESRCH);
  EXPECT_EQ(Syscall(SYS_tgkill, 7, 1, SIGTERM), -ESRCH);
  EXPECT_EQ(Syscall(SYS_tkill, 3, SIGTERM), -ESRCH);
  EXPECT_EQ(Syscall(SYS_tkill, 0, SIGTERM), -EINVAL);
  EXPECT_TRUE(kernel_.running());
}

TEST_F(SignalDeliveryTest, ASignalWithTheDefaultActionEndsTheGuestOnTheWayBack) {
  EXPECT_EQ(Syscall(SYS_kill, 1, SIGTERM), 0);
  EXPECT_EQ(kernel_.end().kind, GuestEnd::Kind::kSignaled);
  EXPECT_EQ(kernel_.end().status, SIGTERM);
}

TEST_F(SignalDeliveryTest, DefaultIgnoredSignalsAreDiscarded) {
  for (int sig : {SIGCHLD, SIGURG, SIGWINCH, SIGCONT}) EXPECT_EQ(Syscall(SYS_kill, 1, sig), 0);
  EXPECT_TRUE(kernel_.running());
  EXPECT_EQ(state_->signals.count, 0u);
}

TEST_F(SignalDeliveryTest, ABlockedSignalWaitsUntilUnblocked) {
  state_->threads[0].signal_mask = Bit(SIGUSR1);
  EXPECT_EQ(Syscall(SYS_tkill, 1, SIGUSR1), 0);
  EXPECT_EQ(Syscall(SYS_tkill, 1, SIGUSR1), 0);
  EXPECT_TRUE(kernel_.running());
  EXPECT_EQ(state_->signals.count, 1u);  // a standard signal is pending once
  state_->threads[0].signal_mask = 0;
  Syscall(SYS_getpid);
  EXPECT_EQ(kernel_.end().kind, GuestEnd::Kind::kSignaled);
  EXPECT_EQ(kernel_.end().status, SIGUSR1);
}

TEST_F(SignalDeliveryTest, ABlockedIgnoredSignalIsKeptForLater) {
  state_->process.signal_actions[SIGUSR2 - 1].handler = 1;  // SIG_IGN
  EXPECT_EQ(Syscall(SYS_kill, 1, SIGUSR2), 0);
  EXPECT_EQ(state_->signals.count, 0u);  // ignored and not blocked: gone
  state_->threads[0].signal_mask = Bit(SIGUSR2);
  EXPECT_EQ(Syscall(SYS_kill, 1, SIGUSR2), 0);
  EXPECT_EQ(state_->signals.count, 1u);  // blocked: the action may change before unblocking
}

TEST_F(SignalDeliveryTest, BadSignalNumbersAreEinval) {
  EXPECT_EQ(Syscall(SYS_kill, 1, 65), -EINVAL);
  EXPECT_EQ(Syscall(SYS_tgkill, 1, 1, 99), -EINVAL);
}

TEST_F(SignalDeliveryTest, AlarmArmsAndReturnsTheSecondsLeft) {
  EXPECT_EQ(Syscall(SYS_alarm, 30), 0);
  EXPECT_GT(state_->signals.itimer_real.expiry_ns, 0);
  EXPECT_EQ(Syscall(SYS_alarm, 0), 30);
  EXPECT_EQ(state_->signals.itimer_real.expiry_ns, 0);
}

TEST_F(SignalDeliveryTest, AnExpiredTimerRaisesSigalrmAtTheNextSyscall) {
  EXPECT_EQ(Syscall(SYS_alarm, 30), 0);
  state_->signals.itimer_real.expiry_ns = 1;  // long past
  RearmTimers(kernel_);
  Syscall(SYS_getpid);
  EXPECT_EQ(kernel_.end().kind, GuestEnd::Kind::kSignaled);
  EXPECT_EQ(kernel_.end().status, SIGALRM);
}

TEST_F(SignalDeliveryTest, TimersOnUnsupportedClocksAreEinval) {
  EXPECT_EQ(Syscall(SYS_timer_create, CLOCK_PROCESS_CPUTIME_ID, 0, 0x1000), -EINVAL);
  EXPECT_EQ(Syscall(SYS_setitimer, ITIMER_PROF, 0, 0), -EINVAL);
  EXPECT_EQ(Syscall(SYS_timer_delete, 5), -EINVAL);  // never created
}

TEST_F(SignalDeliveryTest, TheRealTimeQueueIsBounded) {
  state_->threads[0].signal_mask = Bit(SIGRTMIN + 1);
  for (int i = 0; i < state::kMaxQueuedRtSignals; ++i)
    ASSERT_EQ(SendSignal(kernel_, MakeSignal(SIGRTMIN + 1, -1)), 0);
  EXPECT_EQ(SendSignal(kernel_, MakeSignal(SIGRTMIN + 1, -1)), -EAGAIN);
  EXPECT_EQ(SendSignal(kernel_, MakeSignal(SIGUSR1, 0)), 0);  // standard ones still fit
}

}  // namespace
}  // namespace cat
