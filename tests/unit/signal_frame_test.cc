// The x86-64 rt_sigframe layout, placement and the filtering of a frame handed to
// rt_sigreturn (loader/kernel/signal_frame.h).
#include "loader/kernel/signal_frame.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstddef>
#include <vector>

namespace cat::sigframe {
namespace {

GuestRegs UserRegs() {
  GuestRegs r{};
  r.cs = kUserCs;
  r.ss = kUserSs;
  r.eflags = 0x202;  // IF
  r.rsp = 0x7ffff000;
  r.rip = 0x401000;
  return r;
}

TEST(SignalFrameTest, LayoutMatchesTheKernelsOffsets) {
  // glibc's ucontext_t and the kernel's agree on these; a handler reads them directly.
  EXPECT_EQ(offsetof(RtSigframe, uc), 8u);
  EXPECT_EQ(offsetof(Ucontext, uc_mcontext), 40u);
  EXPECT_EQ(offsetof(Sigcontext, rip), 128u);
  EXPECT_EQ(offsetof(Sigcontext, fpstate), 184u);
  EXPECT_EQ(offsetof(Ucontext, uc_sigmask), 296u);
}

TEST(SignalFrameTest, FrameGoesBelowTheRedZoneAlignedLikeACall) {
  auto p = Place(0x7ffff000, false, {}, 1000);
  ASSERT_TRUE(p);
  EXPECT_LE(p->fpstate + 1000, 0x7ffff000u - kRedZone);
  EXPECT_EQ(p->fpstate % 64, 0u);
  EXPECT_EQ((p->frame + 8) % 16, 0u);  // as if `call handler` had pushed the return address
  EXPECT_LE(p->frame + sizeof(RtSigframe), p->fpstate);
  EXPECT_FALSE(p->on_altstack);
}

TEST(SignalFrameTest, OnstackMovesTheFrameToTheAlternateStack) {
  const AltStack alt{0x10000000, 0x10000, false};
  auto p = Place(0x7ffff000, true, alt, 1000);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->on_altstack);
  EXPECT_GT(p->frame, alt.sp);
  EXPECT_LT(p->fpstate + 1000, alt.sp + alt.size + 1);
}

TEST(SignalFrameTest, WithoutOnstackTheAlternateStackIsNotUsed) {
  const AltStack alt{0x10000000, 0x10000, false};
  auto p = Place(0x7ffff000, false, alt, 1000);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->on_altstack);
  EXPECT_GT(p->frame, 0x7fff0000u);
}

TEST(SignalFrameTest, OverflowingTheAlternateStackIsRefused) {
  const AltStack alt{0x10000000, 2048, false};
  EXPECT_FALSE(Place(0x7ffff000, true, alt, 4096));
}

TEST(SignalFrameTest, AltStackFlagsTellWhetherSpIsOnIt) {
  const AltStack alt{0x10000000, 0x1000, false};
  EXPECT_EQ(AltStackFlags(alt, 0x10000800), SS_ONSTACK);
  EXPECT_EQ(AltStackFlags(alt, 0x20000000), 0);
  EXPECT_EQ(AltStackFlags({}, 0x10000800), SS_DISABLE);
}

TEST(SignalFrameTest, BuildSavesRegistersMaskAndRestorer) {
  GuestRegs r = UserRegs();
  r.rax = 42;
  r.r15 = 15;
  Siginfo info{};
  info.si_signo = SIGUSR1;
  const RtSigframe f = Build(r, 0x5, {}, info, 0x401234, 0x7fffe000, true, 0);
  EXPECT_EQ(f.pretcode, 0x401234u);
  EXPECT_EQ(f.uc.uc_mcontext.rax, 42u);
  EXPECT_EQ(f.uc.uc_mcontext.r15, 15u);
  EXPECT_EQ(f.uc.uc_mcontext.rip, r.rip);
  EXPECT_EQ(f.uc.uc_sigmask, 0x5u);
  EXPECT_EQ(f.uc.uc_mcontext.fpstate, 0x7fffe000u);
  EXPECT_TRUE(f.uc.uc_flags & kUcFpXstate);
  EXPECT_EQ(f.uc.uc_stack.ss_flags, SS_DISABLE);
  EXPECT_EQ(f.info.si_signo, SIGUSR1);
}

TEST(SignalFrameTest, RestoreRoundTripsAnUntouchedFrame) {
  GuestRegs r = UserRegs();
  r.rbx = 7;
  r.eflags = 0x246;
  const RtSigframe f = Build(r, 0x1, {}, {}, 0, 0, false, 0);
  const Restored back = Restore(f.uc, UserRegs());
  EXPECT_EQ(back.regs.rbx, 7u);
  EXPECT_EQ(back.regs.rip, r.rip);
  EXPECT_EQ(back.regs.eflags, 0x246u);
  EXPECT_EQ(back.mask, 0x1u);
  EXPECT_TRUE(back.canonical_rip);
}

TEST(SignalFrameTest, RestoreKeepsIoplVmNtAndIfOutOfTheFramesReach) {
  RtSigframe f = Build(UserRegs(), 0, {}, {}, 0, 0, false, 0);
  f.uc.uc_mcontext.eflags = 0x3000 | 0x20000 | 0x4000 | 0x80000 | 0x1;  // IOPL3 VM NT VIF CF
  const GuestRegs current = UserRegs();
  const Restored back = Restore(f.uc, current);
  EXPECT_EQ(back.regs.eflags & 0x3000, 0u);
  EXPECT_EQ(back.regs.eflags & 0x20000, 0u);
  EXPECT_EQ(back.regs.eflags & 0x4000, 0u);
  EXPECT_EQ(back.regs.eflags & 0x80000, 0u);
  EXPECT_EQ(back.regs.eflags & 0x200, 0x200u);  // IF stays set
  EXPECT_EQ(back.regs.eflags & 0x1, 0x1u);      // CF is the guest's
}

TEST(SignalFrameTest, RestoreForcesTheUserSelectors) {
  RtSigframe f = Build(UserRegs(), 0, {}, {}, 0, 0, false, 0);
  f.uc.uc_mcontext.cs = 0x08;  // ring 0 code
  f.uc.uc_mcontext.ss = 0x10;
  GuestRegs current = UserRegs();
  current.cs = 0x08;  // even if the cache were wrong, the user selectors are written
  const Restored back = Restore(f.uc, current);
  EXPECT_EQ(back.regs.cs, kUserCs);
  EXPECT_EQ(back.regs.ss, kUserSs);
  EXPECT_FALSE(back.user_cs);  // and rt_sigreturn ends the guest (as Linux's iret faults)
}

TEST(SignalFrameTest, TheUserCodeSelectorIsAccepted) {
  const RtSigframe f = Build(UserRegs(), 0, {}, {}, 0, 0, false, 0);
  EXPECT_TRUE(Restore(f.uc, UserRegs()).user_cs);
  RtSigframe compat = f;
  compat.uc.uc_mcontext.cs = 0x23;  // 32-bit user code: not for the sandbox
  EXPECT_FALSE(Restore(compat.uc, UserRegs()).user_cs);
}

TEST(SignalFrameTest, RestoreKeepsFsBaseAndNeverBlocksKillOrStop) {
  GuestRegs current = UserRegs();
  current.fs_base = 0x4a0000;
  RtSigframe f = Build(UserRegs(), ~uint64_t{0}, {}, {}, 0, 0, false, 0);
  const Restored back = Restore(f.uc, current);
  EXPECT_EQ(back.regs.fs_base, 0x4a0000u);
  EXPECT_EQ(back.mask & (uint64_t{1} << (SIGKILL - 1)), 0u);
  EXPECT_EQ(back.mask & (uint64_t{1} << (SIGSTOP - 1)), 0u);
  EXPECT_EQ(back.regs.orig_rax, ~uint64_t{0});
}

TEST(SignalFrameTest, NonCanonicalOrKernelRipIsFlagged) {
  RtSigframe f = Build(UserRegs(), 0, {}, {}, 0, 0, false, 0);
  for (uint64_t rip : {0x8000000000001000ull, 0xffffffff81000000ull, 0x7ffffffff000ull}) {
    f.uc.uc_mcontext.rip = rip;
    EXPECT_FALSE(Restore(f.uc, UserRegs()).canonical_rip) << std::hex << rip;
  }
}

TEST(SignalFrameTest, SealedXstateIsRecognisedAndATamperedOneIsNot) {
  std::vector<uint8_t> area(1024 + 4, 0);
  SealXstate(area.data(), 1024, 0x7);
  EXPECT_TRUE(XstateSealed(area.data(), 1024));
  area[1024] ^= 1;  // the closing magic
  EXPECT_FALSE(XstateSealed(area.data(), 1024));
  SealXstate(area.data(), 1024, 0x7);
  EXPECT_FALSE(XstateSealed(area.data(), 832));  // a size the frame did not say
}

}  // namespace
}  // namespace cat::sigframe
