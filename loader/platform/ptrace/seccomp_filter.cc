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
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 7, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 6, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 5, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mremap, 4, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 3, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 3, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_prctl, 9, 0),  // to the prctl block below
    KILL,
    ALLOW,
    // clone: only sfork's (kShellForkFlags, all 64 bits of the first argument); no thread,
    // no new namespace, no shared memory.
    LOAD_AT(offsetof(struct seccomp_data, args[0]) + 4),
    REQUIRE_EQ(0),
    KILL,
    LOAD_AT(offsetof(struct seccomp_data, args[0])),
    REQUIRE_EQ(static_cast<unsigned>(kShellForkFlags)),
    KILL,
    ALLOW,
    // prctl: only PR_SET_PDEATHSIG to SIGKILL (a forked shell has no parent-death signal; the
    // zygote pool gives its shells one, PtraceShell::ReleaseThread).
    LOAD_AT(offsetof(struct seccomp_data, args[0]) + 4),
    REQUIRE_EQ(0),
    KILL,
    LOAD_AT(offsetof(struct seccomp_data, args[0])),
    REQUIRE_EQ(PR_SET_PDEATHSIG),
    KILL,
    LOAD_AT(offsetof(struct seccomp_data, args[1]) + 4),
    REQUIRE_EQ(0),
    KILL,
    LOAD_AT(offsetof(struct seccomp_data, args[1])),
    REQUIRE_EQ(SIGKILL),
    KILL,
    ALLOW,
};

}  // namespace

SeccompProgram ShellSeccompProgram() {
  return {kFilter, static_cast<unsigned short>(sizeof(kFilter) / sizeof(kFilter[0]))};
}

}  // namespace cat::ptrace_platform
