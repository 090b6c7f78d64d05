// The ring-0 trampoline: a few instructions, on a supervisor-only page, that turn what a
// ring-3 guest does into exits to the VMM. It never touches guest memory or the guest's stack.
//
//   syscall entry (LSTAR):   out 0x10, al ; sysretq
//     The exit is the syscall; the VMM sets rax (the result) and resumes: sysretq returns to
//     the guest at rcx with rflags from r11, as a Linux kernel's syscall return does. When the
//     VMM changes more than rax it does not come back here at all: it loads the guest's ring-3
//     state directly (guest_machine.cc, "direct entry").
//   compat syscall (CSTAR):  out 0x11, al ; ud2
//     A syscall from a 32-bit code segment. There is none in the GDT, so only a forged CS
//     could get here: an exit the VMM treats as a fault of the guest.
//   exception v (IDT, IST 1): [push 0] ; push v ; out 0x12, al ; add rsp, 16 ; iretq
//     Every gate uses IST 1, so even a fault in ring 0 runs on the VMM's stack, never on a
//     stack the guest chose. The VMM reads vector, error code and the CPU's frame from that
//     stack (ExceptionFrame).
#pragma once

#include <cstdint>
#include <vector>

namespace cat::kvm {

constexpr uint16_t kSyscallPort = 0x10;
constexpr uint16_t kCompatSyscallPort = 0x11;
constexpr uint16_t kExceptionPort = 0x12;

// Offsets in the trampoline page.
constexpr uint64_t kSyscallEntry = 0x000;
constexpr uint64_t kCompatSyscallEntry = 0x010;
constexpr uint64_t kExceptionStubs = 0x100;
constexpr uint64_t kExceptionStubSize = 16;
constexpr int kExceptionVectors = 32;
// Where each `out` is. At the I/O exit KVM reports RIP at the `out` (hardware KVM: the
// instruction is skipped when the vCPU next enters with RIP unchanged) or just after it (other
// backends); both are accepted, an I/O exit from anywhere else is not the trampoline's.
constexpr uint64_t kSyscallOut = kSyscallEntry;
constexpr uint64_t kCompatOut = kCompatSyscallEntry;
constexpr uint64_t kOutSize = 2;
uint64_t ExceptionOutOffset(int vector);
inline bool IsExitAt(uint64_t offset, uint64_t out) {
  return offset == out || offset == out + kOutSize;
}
bool PushesErrorCode(int vector);

// The page's bytes (4096).
std::vector<uint8_t> TrampolineCode();

// What the CPU and the stub leave at the top of the exception stack (lowest address first).
struct ExceptionFrame {
  uint64_t vector;
  uint64_t error_code;
  uint64_t rip;
  uint64_t cs;
  uint64_t rflags;
  uint64_t rsp;
  uint64_t ss;
};

}  // namespace cat::kvm
