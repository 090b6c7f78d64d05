// End-to-end tests of the run loop (RunGuest in loader/boot/run_loop.h): tiny static guests
// compiled on the fly are loaded with LoadExecutable into a ptrace sandbox and run to their
// end: exit status, faults, timeouts, unsupported syscalls.
#include "loader/boot/run_loop.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

#include "loader/boot/elf_image.h"
#include "loader/boot/exec_boot.h"
#include "loader/platform/ptrace/ptrace_platform.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

class RunLoopTest : public ::testing::Test {
 protected:
  // Builds a freestanding guest whose _start is `body` (GNU C, inline asm allowed), loads it
  // into a fresh sandbox and runs it.
  Result<GuestOutcome> Run(const std::string& body, double timeout_s = 10) {
    const std::string src = "void _start(void) {\n" + body + "\n}\n";
    auto exe = testing::CompileC(dir_, "guest", src,
                                 "-static -nostdlib -fno-pie -no-pie -O1 -fno-stack-protector");
    if (!exe) return Fail(EINVAL, "cc failed for guest: " + src);
    TRY(ElfImage img, ReadElfImage(*exe));
    SandboxOptions opts;
    TRY(sandbox_,
        Sandbox::Create(platform_, opts, [this](const std::string& l) { log_ += l + "\n"; }));
    TRY_STATUS(LoadExecutable(*sandbox_, img, {*exe}, {}));
    return RunGuest(*sandbox_, timeout_s);
  }

  testing::TempDir dir_;
  ptrace_platform::PtracePlatform platform_;
  std::unique_ptr<Sandbox> sandbox_;
  std::string log_;
};

constexpr char kExit7[] =
    R"(__asm__ volatile("mov $231, %eax\n mov $7, %edi\n syscall\n"); for (;;) {})";

TEST_F(RunLoopTest, ExitGroupStatusComesBack) {
  auto out = Run(kExit7);
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kExited);
  EXPECT_EQ(out->status, 7);
  EXPECT_EQ(out->ExitCode(), 7);
  EXPECT_EQ(out->Describe(0), "");
}

TEST_F(RunLoopTest, ExitStatusIsTruncatedToOneByte) {
  auto out = Run(R"(__asm__ volatile("mov $231, %eax\n mov $300, %edi\n syscall\n"); for (;;) {})");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kExited);
  EXPECT_EQ(out->status, 300 & 0xff);
}

TEST_F(RunLoopTest, PlainExitAlsoEnds) {
  auto out = Run(R"(__asm__ volatile("mov $60, %eax\n mov $3, %edi\n syscall\n"); for (;;) {})");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kExited);
  EXPECT_EQ(out->status, 3);
}

TEST_F(RunLoopTest, Ud2IsAFaultWithSigill) {
  auto out = Run(R"(__asm__ volatile("ud2");)");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kFault);
  EXPECT_EQ(out->status, SIGILL);
  EXPECT_EQ(out->ExitCode(), 128 + SIGILL);
  EXPECT_NE(out->Describe(0).find("SIGILL"), std::string::npos);
  ASSERT_NE(sandbox_, nullptr);
  ASSERT_TRUE(ReadElfImage(dir_ / "guest"));
  EXPECT_EQ(out->rip, ReadElfImage(dir_ / "guest")->entry + 0) << "ud2 is _start's first insn";
}

TEST_F(RunLoopTest, NullDereferenceIsSigsegvAtAddressZero) {
  auto out = Run(R"(__asm__ volatile("xor %%eax, %%eax\n mov (%%rax), %%rax\n" ::: "rax");)");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kFault);
  EXPECT_EQ(out->status, SIGSEGV);
  EXPECT_EQ(out->fault_address, 0u);
}

TEST_F(RunLoopTest, TouchingTheTrampolineFaults) {
  // The trampoline page is in every shell but not the guest's: jumping into it must not give
  // the guest a host syscall. Its `syscall` is caught by SYSEMU like any other (ENOSYS for
  // number 0x100000) and the int3 after it ends the guest with SIGTRAP.
  auto out = Run(R"(__asm__ volatile("mov $0x100000, %eax\n jmp *%rax\n");)");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kFault) << out->Describe(0);
  EXPECT_EQ(out->status, SIGTRAP) << out->Describe(0);
}

TEST_F(RunLoopTest, EndlessLoopTimesOut) {
  const auto start = std::chrono::steady_clock::now();
  auto out = Run("for (;;) { __asm__ volatile(\"\"); }", 0.3);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kTimeout);
  EXPECT_EQ(out->ExitCode(), 124);
  EXPECT_GE(elapsed, 0.3);
  EXPECT_LT(elapsed, 5.0);
  EXPECT_NE(out->Describe(0.3).find("timed out after 0.3 s"), std::string::npos);
}

TEST_F(RunLoopTest, EndlessSyscallLoopTimesOut) {
  // getpid over and over: the guest stops at every syscall, and the deadline is checked there.
  auto out = Run(
      R"(for (;;) __asm__ volatile("mov $39, %%eax\n syscall\n" ::: "rax", "rcx", "r11");)", 0.3);
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kTimeout);
}

TEST_F(RunLoopTest, UnsupportedSyscallReturnsEnosys) {
  // Syscall 400 does not exist; the guest exits with -rax.
  auto out = Run(R"(__asm__ volatile("mov $400, %eax\n syscall\n neg %eax\n mov %eax, %edi\n"
                                   " mov $231, %eax\n syscall\n"); for (;;) {})");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kExited);
  EXPECT_EQ(out->status, ENOSYS);
  EXPECT_NE(log_.find("unsupported syscall 400"), std::string::npos) << log_;
}

TEST_F(RunLoopTest, GuestSeesItsStackPointerAligned) {
  // At _start, rsp is 16-byte aligned and points at argc (1 here); exit with argc.
  auto out = Run(R"(__asm__ volatile("mov %rsp, %rax\n and $15, %rax\n jnz 1f\n"
                                   " mov (%rsp), %rdi\n mov $231, %eax\n syscall\n"
                                   "1: mov $99, %edi\n mov $231, %eax\n syscall\n"); for (;;) {})");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kExited);
  EXPECT_EQ(out->status, 1);
}

}  // namespace
}  // namespace cat
