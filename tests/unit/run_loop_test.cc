// End-to-end tests of the run loop (RunGuest in loader/boot/run_loop.h): tiny static guests
// compiled on the fly are loaded with LoadExecutable into a ptrace sandbox and run to their
// end: exit status, faults, timeouts, CPU and output limits, unsupported syscalls.
#include "loader/boot/run_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

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
  Result<GuestOutcome> Run(const std::string& body, RunLimits limits = {10}) {
    return RunSource("void _start(void) {\n" + body + "\n}\n", limits);
  }
  // A whole guest source (helpers before _start).
  Result<GuestOutcome> RunSource(const std::string& src, RunLimits limits) {
    auto exe = testing::CompileC(dir_, "guest", src,
                                 "-static -nostdlib -fno-pie -no-pie -O1 -fno-stack-protector");
    if (!exe) return Fail(EINVAL, "cc failed for guest: " + src);
    TRY(ElfImage img, ReadElfImage(*exe));
    SandboxOptions opts;
    TRY(sandbox_,
        Sandbox::Create(platform_, opts, [this](const std::string& l) { log_ += l + "\n"; }));
    TRY_STATUS(LoadExecutable(*sandbox_, img, {*exe}, {}));
    return RunGuest(*sandbox_, limits);
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
  EXPECT_EQ(out->Describe({}), "");
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
  EXPECT_NE(out->Describe({}).find("SIGILL"), std::string::npos);
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
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kFault) << out->Describe({});
  EXPECT_EQ(out->status, SIGTRAP) << out->Describe({});
}

TEST_F(RunLoopTest, EndlessLoopTimesOut) {
  const auto start = std::chrono::steady_clock::now();
  auto out = Run("for (;;) { __asm__ volatile(\"\"); }", {0.3});
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kTimeout);
  EXPECT_EQ(out->ExitCode(), 124);
  EXPECT_GE(elapsed, 0.3);
  EXPECT_LT(elapsed, 5.0);
  EXPECT_NE(out->Describe({0.3}).find("timed out after 0.3 s"), std::string::npos);
}

TEST_F(RunLoopTest, EndlessSyscallLoopTimesOut) {
  // getpid over and over: the guest stops at every syscall, and the deadline is checked there.
  auto out = Run(
      R"(for (;;) __asm__ volatile("mov $39, %%eax\n syscall\n" ::: "rax", "rcx", "r11");)", {0.3});
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

// Guests that write: a raw syscall helper and a 1000-byte buffer.
constexpr char kWriter[] = R"(
static long sys4(long n, long a, long b, long c, long d) {
  long r;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return r;
}
static char buf[3000];
)";

// Points catload's (this process's) stdout at a file for the lifetime of the object: the
// guest's fd 1 is catload's.
class StdoutToFile {
 public:
  explicit StdoutToFile(const std::string& path) {
    std::fflush(stdout);
    saved_ = dup(1);
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
  }
  ~StdoutToFile() {
    dup2(saved_, 1);
    close(saved_);
  }
  StdoutToFile(const StdoutToFile&) = delete;
  StdoutToFile& operator=(const StdoutToFile&) = delete;

 private:
  int saved_ = -1;
};

TEST_F(RunLoopTest, EndlessLoopHitsCpuLimit) {
  const auto start = std::chrono::steady_clock::now();
  const RunLimits limits{10, 0.3};
  auto out = Run("for (;;) { __asm__ volatile(\"\"); }", limits);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kCpuLimit);
  EXPECT_EQ(out->ExitCode(), 128 + SIGXCPU);
  EXPECT_GE(elapsed, 0.3);
  EXPECT_LT(elapsed, 5.0);
  EXPECT_NE(out->Describe(limits).find("CPU time limit of 0.3 s exceeded"), std::string::npos)
      << out->Describe(limits);
}

TEST_F(RunLoopTest, EndlessSyscallLoopHitsCpuLimit) {
  // The guest itself uses little CPU; catload serving its getpid calls uses the rest.
  auto out =
      Run(R"(for (;;) __asm__ volatile("mov $39, %%eax\n syscall\n" ::: "rax", "rcx", "r11");)",
          {10, 0.3});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kCpuLimit);
}

TEST_F(RunLoopTest, SleepingIsNotCpuTime) {
  // nanosleep(0.6 s) under a 0.2 s CPU limit, then exit 5.
  auto out = Run(R"(long ts[2] = {0, 600000000};
    __asm__ volatile("syscall" :: "a"(35), "D"(ts), "S"(0) : "rcx", "r11", "memory");
    __asm__ volatile("mov $231, %eax\n mov $5, %edi\n syscall\n"); for (;;) {})",
                 {10, 0.2});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kExited) << out->Describe({10, 0.2});
  EXPECT_EQ(out->status, 5);
}

TEST_F(RunLoopTest, WriteFloodEndsAtOutputLimitWithSigxfsz) {
  const std::string path = dir_ / "stdout";
  const RunLimits limits{10, 0, 4096};
  Result<GuestOutcome> out = Fail(EINVAL, "not run");
  {
    StdoutToFile redirect(path);
    out = RunSource(std::string(kWriter) + R"(
      void _start(void) { for (;;) { long r = sys4(1, 1, (long)buf, 1000, 0);
                                     if (r < 0) sys4(231, 100, 0, 0, 0); } })",
                    limits);
  }
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kOutputLimit);
  EXPECT_EQ(out->ExitCode(), 128 + SIGXFSZ);
  EXPECT_NE(out->Describe(limits).find("output limit of 4096 bytes exceeded"), std::string::npos)
      << out->Describe(limits);
  EXPECT_EQ(testing::ReadFile(path).size(), 4096u) << "the crossing write is cut short";
}

TEST_F(RunLoopTest, WriteCrossingOutputLimitIsShort) {
  // Two writes of 3000 bytes under a 4096-byte budget: 3000, then 1096; exit 42 if so.
  const std::string path = dir_ / "stdout";
  Result<GuestOutcome> out = Fail(EINVAL, "not run");
  {
    StdoutToFile redirect(path);
    out = RunSource(std::string(kWriter) + R"(
      void _start(void) { long a = sys4(1, 1, (long)buf, 3000, 0);
                          long b = sys4(1, 1, (long)buf, 3000, 0);
                          sys4(231, a == 3000 && b == 1096 ? 42 : 1, 0, 0, 0); })",
                    {10, 0, 4096});
  }
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kExited);
  EXPECT_EQ(out->status, 42);
}

TEST_F(RunLoopTest, GuestIgnoringSigxfszGetsEfbig) {
  // rt_sigaction(SIGXFSZ, SIG_IGN), then write until a write fails; exit with its errno.
  const std::string path = dir_ / "stdout";
  Result<GuestOutcome> out = Fail(EINVAL, "not run");
  {
    StdoutToFile redirect(path);
    out = RunSource(std::string(kWriter) + R"(
      void _start(void) { long act[4] = {1, 0, 0, 0};
                          sys4(13, 25, (long)act, 0, 8);
                          for (;;) { long r = sys4(1, 1, (long)buf, 1000, 0);
                                     if (r < 0) sys4(231, -r, 0, 0, 0); } })",
                    {10, 0, 4096});
  }
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kExited);
  EXPECT_EQ(out->status, EFBIG);
  EXPECT_EQ(testing::ReadFile(path).size(), 4096u);
  EXPECT_NE(log_.find("output limit of 4096 bytes"), std::string::npos) << log_;
}

TEST_F(RunLoopTest, WriteToReadOnlyStdinIsEbadfEvenPastTheOutputLimit) {
  // A 1-byte budget used up on fd 1, then write(0): EBADF, not EFBIG and SIGXFSZ.
  const std::string path = dir_ / "stdout";
  Result<GuestOutcome> out = Fail(EINVAL, "not run");
  {
    StdoutToFile redirect(path);
    out = RunSource(std::string(kWriter) + R"(
      void _start(void) { sys4(1, 1, (long)buf, 1, 0);
                          sys4(231, -sys4(1, 0, (long)buf, 1, 0), 0, 0, 0); })",
                    {10, 0, 1});
  }
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kExited) << out->Describe({10, 0, 1});
  EXPECT_EQ(out->status, EBADF);
}

TEST_F(RunLoopTest, SelfRaisedSigxfszIsNotTheOutputLimit) {
  // kill(1, SIGXFSZ) with budget to spare: an ordinary signal death.
  auto out = Run(R"(__asm__ volatile("syscall" :: "a"(62), "D"(1), "S"(25) : "rcx", "r11");
                    for (;;) {})",
                 {10, 0, 4096});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->kind, GuestOutcome::Kind::kSignaled);
  EXPECT_EQ(out->ExitCode(), 128 + SIGXFSZ);
}

}  // namespace
}  // namespace cat
