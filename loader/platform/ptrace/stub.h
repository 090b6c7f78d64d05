// The ptrace platform's trampoline: one page, at the same fixed address in catload and in
// every shell, holding a `syscall; int3` pair. A shell's address space contains only this
// page and the guest's mappings. catload makes the shell execute a real host syscall (to map
// guest memory) by pointing rip at the `syscall` and letting it run into the `int3`.
#pragma once

#include <cstdint>

#include "format/base/error.h"

namespace cat::ptrace_platform {

// Below the 0x400000 where non-PIE executables load, above vm.mmap_min_addr (64 KiB), and
// never handed to the guest (the sandbox kernel reserves it).
constexpr uint64_t kStubBase = 0x100000;
constexpr uint64_t kStubSize = 0x1000;
constexpr uint64_t kStubSyscall = kStubBase;   // `syscall` (2 bytes)
constexpr uint64_t kStubTrap = kStubBase + 2;  // `int3`
// Address after the `syscall` instruction: what seccomp sees as instruction_pointer.
constexpr uint64_t kStubSyscallReturn = kStubBase + 2;

// Maps the stub page into catload's own address space once, so that shells forked from
// catload inherit it.
Status EnsureStubMapped();

}  // namespace cat::ptrace_platform
