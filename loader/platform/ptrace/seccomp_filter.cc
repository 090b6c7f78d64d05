// BPF program of the shell's seccomp filter (see seccomp_filter.h).
#include "loader/platform/ptrace/seccomp_filter.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cstddef>

#include "loader/platform/ptrace/stub.h"

namespace cat::ptrace_platform {
namespace {

constexpr unsigned kIpLow = static_cast<unsigned>(kStubSyscallReturn & 0xffffffffu);
constexpr unsigned kBatchIpLow = static_cast<unsigned>(kStubBatchSyscallReturn & 0xffffffffu);
static_assert((kStubSyscallReturn >> 32) == 0 && (kStubBatchSyscallReturn >> 32) == 0);

#define LOAD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define LOAD_AT(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define KILL BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
// Jump over the next instruction (the KILL) when equal.
#define REQUIRE_EQ(value) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (value), 1, 0)
// seccomp_data's fields are 64 bits wide and classic BPF loads 32: a check of an argument
// (or the instruction pointer) is two loads, and a high word left unchecked would let a value
// with stray upper bits through. 3 instructions: kill unless the high word of args[n] is 0.
#define REQUIRE_ARG_HIGH_ZERO(n) \
  LOAD_AT(offsetof(struct seccomp_data, args[n]) + 4), REQUIRE_EQ(0), KILL
// 6 instructions: kill unless all 64 bits of args[n] equal `value` (a 32-bit constant).
#define REQUIRE_ARG_EQ(n, value) \
  REQUIRE_ARG_HIGH_ZERO(n), LOAD_AT(offsetof(struct seccomp_data, args[n])), REQUIRE_EQ(value), KILL

const sock_filter kFilter[] = {
    LOAD(arch),
    REQUIRE_EQ(AUDIT_ARCH_X86_64),
    KILL,
    // The instruction pointer must be right after one of the trampoline's two `syscall`s.
    LOAD_AT(offsetof(struct seccomp_data, instruction_pointer) + 4),
    REQUIRE_EQ(0),
    KILL,
    LOAD_AT(offsetof(struct seccomp_data, instruction_pointer)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kIpLow, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kBatchIpLow, 1, 0),
    KILL,
    LOAD(nr),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 8, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 7, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 6, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mremap, 5, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 4, 0),
    // exit ends one host thread (an ended guest thread, PtraceShell::EndVcpu), never the shell.
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 3, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 3, 0),  // to the clone block below
    // Over KILL, ALLOW and the clone block's 8 instructions (tests/unit/seccomp_filter_test.cc
    // checks every jump).
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_prctl, 10, 0),  // to the prctl block below
    KILL,
    ALLOW,
    // clone: only sfork's (kShellForkFlags) or a guest thread's (kShellThreadFlags), all 64
    // bits of the first argument; no new namespace, nothing else shared.
    REQUIRE_ARG_HIGH_ZERO(0),
    LOAD_AT(offsetof(struct seccomp_data, args[0])),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(kShellForkFlags), 2, 0),
    REQUIRE_EQ(static_cast<unsigned>(kShellThreadFlags)),
    KILL,
    ALLOW,
    // prctl: only PR_SET_PDEATHSIG to SIGKILL (a forked shell has no parent-death signal; the
    // zygote pool gives its shells one, PtraceShell::ReleaseThread).
    REQUIRE_ARG_EQ(0, PR_SET_PDEATHSIG),
    REQUIRE_ARG_EQ(1, SIGKILL),
    ALLOW,
};

}  // namespace

SeccompProgram ShellSeccompProgram() {
  return {kFilter, static_cast<unsigned short>(sizeof(kFilter) / sizeof(kFilter[0]))};
}

}  // namespace cat::ptrace_platform
