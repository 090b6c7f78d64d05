// The ptrace shell's seccomp filter (spec/sandbox.md §3), run by a classic-BPF evaluator over
// hand-made seccomp_data: every call the table allows passes, and every near miss (another
// syscall, arch or instruction pointer, a flag or argument off by one bit, a nonzero high word)
// kills the shell. The evaluator knows only the instructions the filter uses and fails on any
// other, so a filter that grows a new kind of instruction needs this test to grow with it.
#include "loader/platform/ptrace/seccomp_filter.h"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "loader/platform/ptrace/stub.h"

namespace cat::ptrace_platform {
namespace {

// The filter's verdict for `data`, or nullopt when the program does something the evaluator
// does not model (an unknown opcode, a jump or a load out of bounds, falling off the end).
std::optional<uint32_t> Evaluate(const seccomp_data& data) {
  const SeccompProgram prog = ShellSeccompProgram();
  unsigned char bytes[sizeof(seccomp_data)];
  std::memcpy(bytes, &data, sizeof(data));
  uint32_t acc = 0;
  for (unsigned pc = 0; pc < prog.length; ++pc) {
    const sock_filter& insn = prog.filter[pc];
    switch (insn.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (insn.k % 4 != 0 || insn.k + 4 > sizeof(bytes)) return std::nullopt;
        std::memcpy(&acc, bytes + insn.k, 4);
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += acc == insn.k ? insn.jt : insn.jf;
        break;
      case BPF_RET | BPF_K:
        return insn.k;
      default:
        return std::nullopt;
    }
  }
  return std::nullopt;
}

constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t kKill = SECCOMP_RET_KILL_PROCESS;

// A call from the trampoline's single-call `syscall`.
seccomp_data Call(int nr, uint64_t arg0 = 0, uint64_t arg1 = 0) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = AUDIT_ARCH_X86_64;
  d.instruction_pointer = kStubSyscallReturn;
  d.args[0] = arg0;
  d.args[1] = arg1;
  return d;
}

TEST(SeccompFilter, AllowsTheMemoryCallsAndExitFromBothTrampolineSyscalls) {
  for (int nr : {SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap, SYS_madvise, SYS_exit}) {
    seccomp_data d = Call(nr);
    EXPECT_EQ(Evaluate(d), kAllow) << nr;
    d.instruction_pointer = kStubBatchSyscallReturn;
    EXPECT_EQ(Evaluate(d), kAllow) << nr << " from the batch loop";
  }
}

TEST(SeccompFilter, KillsEveryOtherSyscall) {
  for (int nr : {SYS_read, SYS_write, SYS_openat, SYS_execve, SYS_exit_group, SYS_fork, SYS_vfork,
                 SYS_clone3, SYS_ptrace, SYS_kill, SYS_seccomp, SYS_socket, 1000})
    EXPECT_EQ(Evaluate(Call(nr)), kKill) << nr;
}

TEST(SeccompFilter, KillsAnotherArchitecture) {
  seccomp_data d = Call(SYS_mmap);
  d.arch = AUDIT_ARCH_I386;
  EXPECT_EQ(Evaluate(d), kKill);
}

TEST(SeccompFilter, KillsACallFromOutsideTheTrampoline) {
  for (uint64_t ip : {kStubSyscallReturn + 1, kStubSyscallReturn - 2, uint64_t{0x400000},
                      kStubSyscallReturn | (uint64_t{1} << 32), uint64_t{0xffffffffff600000}}) {
    seccomp_data d = Call(SYS_mmap);
    d.instruction_pointer = ip;
    EXPECT_EQ(Evaluate(d), kKill) << std::hex << ip;
  }
}

TEST(SeccompFilter, AllowsCloneWithExactlySforksOrAThreadsFlags) {
  EXPECT_EQ(Evaluate(Call(SYS_clone, kShellForkFlags)), kAllow);
  EXPECT_EQ(Evaluate(Call(SYS_clone, kShellThreadFlags)), kAllow);
}

TEST(SeccompFilter, KillsCloneWithAnyOtherFlags) {
  for (uint64_t flags : {uint64_t{0}, uint64_t{17} /*SIGCHLD: a plain fork*/,
                         kShellForkFlags | 0x10000000 /*CLONE_NEWUSER*/,
                         kShellForkFlags & ~uint64_t{0x2000} /*untraced*/,
                         kShellThreadFlags | 0x00080000 /*CLONE_SETTLS*/,
                         kShellForkFlags | (uint64_t{1} << 32) /*CLONE_INTO_CGROUP*/,
                         kShellThreadFlags | (uint64_t{1} << 63)})
    EXPECT_EQ(Evaluate(Call(SYS_clone, flags)), kKill) << std::hex << flags;
}

TEST(SeccompFilter, AllowsPrctlOnlyToSetTheDeathSignalToSigkill) {
  EXPECT_EQ(Evaluate(Call(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL)), kAllow);
  EXPECT_EQ(Evaluate(Call(SYS_prctl, PR_SET_PDEATHSIG, SIGTERM)), kKill);
  EXPECT_EQ(Evaluate(Call(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL | (uint64_t{1} << 32))), kKill);
  EXPECT_EQ(Evaluate(Call(SYS_prctl, PR_SET_PDEATHSIG | (uint64_t{1} << 32), SIGKILL)), kKill);
  EXPECT_EQ(Evaluate(Call(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1)), kKill);
  EXPECT_EQ(Evaluate(Call(SYS_prctl, PR_SET_DUMPABLE, SIGKILL)), kKill);
  EXPECT_EQ(Evaluate(Call(SYS_prctl, PR_SET_SECCOMP, SIGKILL)), kKill);
}

}  // namespace
}  // namespace cat::ptrace_platform
