// The ring-0 trampoline's machine code (see trampoline.h). Hand-assembled: it is 3 kinds of
// stubs of at most 12 bytes, and an assembler dependency would buy nothing.
#include "kvmcore/trampoline.h"

#include <cstring>

namespace cat::kvm {

bool PushesErrorCode(int vector) {
  switch (vector) {
    case 8:
    case 10:
    case 11:
    case 12:
    case 13:
    case 14:
    case 17:
    case 21:
    case 29:
    case 30:
      return true;
    default:
      return false;
  }
}

uint64_t ExceptionOutOffset(int vector) {
  return kExceptionStubs + static_cast<uint64_t>(vector) * kExceptionStubSize +
         (PushesErrorCode(vector) ? 0 : 2) + 2;
}

std::vector<uint8_t> TrampolineCode() {
  std::vector<uint8_t> page(4096, 0xcc);  // int3 everywhere else: a jump astray faults
  const auto put = [&page](uint64_t at, std::initializer_list<uint8_t> bytes) {
    std::memcpy(page.data() + at, std::data(bytes), bytes.size());
  };
  put(kSyscallEntry, {0xe6, kSyscallPort, 0x48, 0x0f, 0x07});        // out 0x10,al; sysretq
  put(kCompatSyscallEntry, {0xe6, kCompatSyscallPort, 0x0f, 0x0b});  // out 0x11,al; ud2
  for (int v = 0; v < kExceptionVectors; ++v) {
    uint64_t at = kExceptionStubs + static_cast<uint64_t>(v) * kExceptionStubSize;
    if (!PushesErrorCode(v)) {
      put(at, {0x6a, 0x00});  // push 0: every frame has an error code
      at += 2;
    }
    put(at, {0x6a, static_cast<uint8_t>(v),  // push v
             0xe6, kExceptionPort,           // out 0x12, al
             0x48, 0x83, 0xc4, 0x10,         // add rsp, 16
             0x48, 0xcf});                   // iretq
  }
  return page;
}

}  // namespace cat::kvm
