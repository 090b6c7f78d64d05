// Loading a static executable into the sandbox kernel's address space the way Linux's execve
// does: segments, brk, an initial stack with argv, envp and auxv, and the vCPU pointed at its
// entry. Shared by the exec boot (a fresh sandbox) and the guest's own execve (sys_exec.cc, on
// an address space it has just emptied).
#pragma once

#include <string>
#include <vector>

#include "format/base/error.h"
#include "loader/boot/elf_image.h"

namespace cat {

class SandboxKernel;

// Where a position-independent (static-pie) executable is loaded, and the stack's top.
constexpr uint64_t kPieBase = 0x555555554000ull;
constexpr uint64_t kStackTop = 0x7ffffffde000ull;
constexpr uint64_t kStackSize = 8ull << 20;

// Maps `image` into k's (empty) address space, records argv/envp/auxv and the executable's
// name in the state (they must be empty) and sets rsp/rip/rdx; other registers are left as
// they are.
Status LoadProgram(SandboxKernel& k, const ElfImage& image, const std::vector<std::string>& argv,
                   const std::vector<std::string>& envp);

}  // namespace cat
