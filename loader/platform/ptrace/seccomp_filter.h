// The seccomp filter every ptrace shell installs on itself before it runs any guest code. It
// is the second line of defence behind PTRACE_SYSEMU: a syscall is allowed only from one of
// the trampoline's two `syscall` instructions and only if it is one of the memory-management calls
// catload injects; anything else kills the whole shell.
#pragma once

#include <linux/filter.h>

#include <cstddef>

namespace cat::ptrace_platform {

struct SeccompProgram {
  const sock_filter* filter;
  unsigned short length;
};
SeccompProgram ShellSeccompProgram();

}  // namespace cat::ptrace_platform
