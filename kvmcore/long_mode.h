// x86-64 long-mode setup for a ring-3 guest: the system area's layout (trampoline, GDT with
// TSS, IDT, exception stack, page-table pool), its descriptor tables, and the special
// registers and MSRs that put a vCPU straight into 64-bit ring 3 with syscall aimed at the
// trampoline. Selectors follow Linux's (user CS 0x33, SS 0x2b), so guest registers look the
// same on every platform.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace cat::kvm {

// The system area: guest-physical [0, kSystemSize), mapped supervisor-only at kSystemVa (the
// upper half of the address space, which no guest mapping can reach: the guest's half ends at
// 2^47). Page tables are in the area but mapped nowhere.
constexpr uint64_t kSystemVa = 0xffffffff80000000ull;
constexpr uint64_t kTrampolineGpa = 0x0000;
constexpr uint64_t kGdtGpa = 0x1000;  // GDT, then the TSS at kTssOffset in the same page
constexpr uint64_t kTssOffset = 0x80;
constexpr uint64_t kIdtGpa = 0x2000;
constexpr uint64_t kStackGpa = 0x3000;  // two pages; IST 1 and RSP0 at their top
constexpr uint64_t kStackTopGpa = 0x5000;
constexpr uint64_t kMappedSystemPages = 5;  // the pages above, mapped at kSystemVa
constexpr uint64_t kPageTablePoolGpa = 0x10000;
constexpr uint64_t kSystemSize = 1ull << 30;  // reserved, touched only as tables are needed

constexpr uint16_t kKernelCs = 0x10;
constexpr uint16_t kKernelSs = 0x18;
constexpr uint16_t kUserSs = 0x2b;
constexpr uint16_t kUserCs = 0x33;
constexpr uint16_t kTssSelector = 0x40;

// The RFLAGS bits a guest may set (Linux's FIX_EFLAGS for sigreturn): never IOPL, NT or VM,
// which would let ring 3 do port I/O or task switches. IF and bit 1 are always set.
constexpr uint64_t kUserRflagsMask = 0x40dd5;  // CF PF AF ZF SF TF DF OF AC (RF dropped)
constexpr uint64_t kRflagsFixed = 0x202;

// Writes GDT+TSS, IDT and trampoline into the system area at host `system` (guest-physical 0).
void WriteSystemArea(uint8_t* system);

// The special registers of ring 3 in long mode over page tables at `cr3`, with `fs_base` and
// `gs_base`. `base` supplies what kvmcore does not decide (APIC base). `xsave`: CR4.OSXSAVE.
kvm_sregs Ring3Sregs(const kvm_sregs& base, uint64_t cr3, uint64_t fs_base, uint64_t gs_base,
                     bool xsave);

// The MSRs for syscall into the trampoline (STAR, LSTAR, CSTAR, SFMASK) and sysenter disabled.
std::vector<kvm_msr_entry> SyscallMsrs();

}  // namespace cat::kvm
