// The ptrace platform's trampoline: two pages, at the same fixed address in catload and in
// every shell. A shell's address space contains only these and the guest's mappings.
//   code page (r-x):  +0x00  `syscall; int3`          one host syscall, then trap back
//                     +0x10  batch loop               runs a table of syscalls, then int3
//   scratch page (rw-): the batch table (64-byte entries: nr, 6 args, result; nr 0 ends it)
// catload makes the shell execute real host syscalls (to map guest memory) by pointing rip at
// one of these and letting it run into the int3. The guest never executes a host syscall:
// it always runs under PTRACE_SYSEMU, wherever its syscall instruction is.
#pragma once

#include <cstdint>

#include "format/base/error.h"
#include "format/base/guest_layout.h"

namespace cat::ptrace_platform {

// Below the 0x400000 where non-PIE executables load, above vm.mmap_min_addr (64 KiB), and
// never handed to the guest: the range is defined in format/base/guest_layout.h, which the
// memory manager and the image and checkpoint readers check against.
constexpr uint64_t kStubBase = kTrampolineBase;
constexpr uint64_t kStubSize = kTrampolineSize;  // code page + scratch page
constexpr uint64_t kStubSyscall = kStubBase;     // `syscall` (2 bytes)
constexpr uint64_t kStubTrap = kStubBase + 2;    // `int3`
constexpr uint64_t kStubBatch = kStubBase + 0x10;
constexpr uint64_t kStubScratch = kStubBase + 0x1000;
// Addresses after each `syscall` instruction: what seccomp sees as instruction_pointer.
constexpr uint64_t kStubSyscallReturn = kStubBase + 2;
constexpr uint64_t kStubBatchSyscallReturn = kStubBase + 0x32;

// One entry of the batch table in the scratch page.
struct BatchEntry {
  uint64_t nr;  // 0 ends the table
  uint64_t args[6];
  int64_t result;  // written by the batch loop
};
static_assert(sizeof(BatchEntry) == 64);
constexpr int kMaxBatch = 0x1000 / sizeof(BatchEntry) - 1;  // one slot for the terminator

// The clone a shell may run from the trampoline (sfork, PtraceShell::Fork): the child is
// catload's (CLONE_PARENT: reaped like any shell, never a zombie of the template) and shares
// catload's fd table like every shell (CLONE_FILES: host fds back its file mappings). The
// seccomp filter allows exactly these flags.
constexpr uint64_t kShellForkFlags =
    0x00008000 /*CLONE_PARENT*/ | 0x00000400 /*CLONE_FILES*/ | 17 /*SIGCHLD*/;

// The clone that makes a guest thread's host thread (PtraceShell::SpawnVcpu): a thread of
// the shell process (same address space and signal handlers, the shell's fd table), nothing
// the guest asked for — its own clone flags (SETTLS, the tid words) are emulated by the
// sandbox kernel on the thread's registers and memory. The seccomp filter allows exactly
// these flags besides kShellForkFlags.
constexpr uint64_t kShellThreadFlags = 0x00000100 /*CLONE_VM*/ | 0x00000400 /*CLONE_FILES*/ |
                                       0x00000800 /*CLONE_SIGHAND*/ | 0x00010000 /*CLONE_THREAD*/;

// Maps the two pages into catload's own address space once, so that shells cloned from
// catload inherit them, with the strip table every new shell runs first already in the
// scratch page (catload never writes its own scratch page after that). Thread-safe.
Status EnsureStubMapped();

}  // namespace cat::ptrace_platform
