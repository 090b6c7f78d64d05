// Maps the trampoline page (see stub.h) into catload once.
#include "loader/platform/ptrace/stub.h"

#include <sys/mman.h>

#include <cstring>
#include <mutex>

namespace cat::ptrace_platform {

Status EnsureStubMapped() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    void* p = mmap(reinterpret_cast<void*>(kStubBase), kStubSize, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) {
      result = FailErrno("map the ptrace trampoline page at 0x100000");
      return;
    }
    static const uint8_t code[] = {0x0f, 0x05, 0xcc};  // syscall; int3
    std::memset(p, 0xcc, kStubSize);                   // anything else traps too
    std::memcpy(p, code, sizeof(code));
    if (mprotect(p, kStubSize, PROT_READ | PROT_EXEC) != 0)
      result = FailErrno("protect the ptrace trampoline page");
  });
  return result;
}

}  // namespace cat::ptrace_platform
