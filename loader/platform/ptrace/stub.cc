// Maps the trampoline pages (see stub.h) into catload once.
#include "loader/platform/ptrace/stub.h"

#include <sys/mman.h>
#include <sys/syscall.h>

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
      result = FailErrno("map the ptrace trampoline pages at 0x100000");
      return;
    }
    // Assembled from:
    //   syscall; int3                                      (+0x00)
    //   batch: mov rax,[rbx]; test rax,rax; jz done        (+0x10)
    //          mov rdi,[rbx+8]; mov rsi,[rbx+16]; mov rdx,[rbx+24]
    //          mov r10,[rbx+32]; mov r8,[rbx+40]; mov r9,[rbx+48]
    //          syscall; mov [rbx+56],rax; add rbx,64; jmp batch
    //   done:  int3                                        (+0x3c)
    static const uint8_t single[] = {0x0f, 0x05, 0xcc};
    static const uint8_t batch[] = {
        0x48, 0x8b, 0x03, 0x48, 0x85, 0xc0, 0x74, 0x24, 0x48, 0x8b, 0x7b, 0x08, 0x48, 0x8b, 0x73,
        0x10, 0x48, 0x8b, 0x53, 0x18, 0x4c, 0x8b, 0x53, 0x20, 0x4c, 0x8b, 0x43, 0x28, 0x4c, 0x8b,
        0x4b, 0x30, 0x0f, 0x05, 0x48, 0x89, 0x43, 0x38, 0x48, 0x83, 0xc3, 0x40, 0xeb, 0xd4, 0xcc};
    auto* code = static_cast<uint8_t*>(p);
    std::memset(code, 0xcc, 0x1000);  // anything else traps too
    std::memcpy(code, single, sizeof(single));
    std::memcpy(code + (kStubBatch - kStubBase), batch, sizeof(batch));
    std::memset(code + 0x1000, 0, 0x1000);
    // The table every new shell runs first (PtraceShell::Create): unmap everything inherited
    // from catload but these two pages. Written here, once, and never again in catload.
    auto* table = reinterpret_cast<BatchEntry*>(code + 0x1000);
    table[0] = {SYS_munmap, {0, kStubBase, 0, 0, 0, 0}, 0};
    table[1] = {SYS_munmap,
                {kStubBase + kStubSize, kGuestAddressLimit - (kStubBase + kStubSize), 0, 0, 0, 0},
                0};
    table[2] = {0, {}, 0};
    if (mprotect(p, 0x1000, PROT_READ | PROT_EXEC) != 0)
      result = FailErrno("protect the ptrace trampoline page");
  });
  return result;
}

}  // namespace cat::ptrace_platform
