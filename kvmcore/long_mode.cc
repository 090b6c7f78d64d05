// Descriptor tables and long-mode register values (see long_mode.h).
#include "kvmcore/long_mode.h"

#include <cstring>

#include "kvmcore/trampoline.h"

namespace cat::kvm {
namespace {

constexpr uint32_t kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083,
                   kMsrSfmask = 0xc0000084, kMsrKernelGsBase = 0xc0000102, kMsrSysenterCs = 0x174,
                   kMsrSysenterEsp = 0x175, kMsrSysenterEip = 0x176;

void Put64(uint8_t* at, uint64_t v) {
  std::memcpy(at, &v, 8);
}

kvm_segment Segment(uint16_t selector, uint8_t type, uint8_t dpl, bool code) {
  kvm_segment s{};
  s.selector = selector;
  s.limit = 0xffffffff;
  s.type = type;
  s.present = 1;
  s.dpl = dpl;
  s.s = 1;
  s.l = code ? 1 : 0;
  s.db = code ? 0 : 1;
  s.g = 1;
  return s;
}

kvm_segment NullSegment(uint64_t base) {
  kvm_segment s{};
  s.base = base;  // FS and GS keep a base with a null selector in 64-bit mode
  s.unusable = 1;
  s.type = 3;
  return s;
}

}  // namespace

void WriteSystemArea(uint8_t* system) {
  const std::vector<uint8_t> code = TrampolineCode();
  std::memcpy(system + kTrampolineGpa, code.data(), code.size());

  // GDT. Descriptors carry the accessed bit already so the CPU never writes the table. No
  // 32-bit user code segment (0x20) exists: a guest cannot far-jump into compatibility mode.
  uint8_t* gdt = system + kGdtGpa;
  std::memset(gdt, 0, 4096);
  Put64(gdt + kKernelCs, 0x00af9b000000ffffull);  // 64-bit code, DPL 0
  Put64(gdt + kKernelSs, 0x00cf93000000ffffull);  // data, DPL 0
  Put64(gdt + 0x28, 0x00cff3000000ffffull);       // user data, DPL 3
  Put64(gdt + kUserCs, 0x00affb000000ffffull);    // user 64-bit code, DPL 3
  const uint64_t tss = kSystemVa + kGdtGpa + kTssOffset;
  const uint64_t tss_low =
      0x67 | ((tss & 0xffffff) << 16) | (0x8bull << 40) | (((tss >> 24) & 0xff) << 56);
  Put64(gdt + kTssSelector, tss_low);  // 64-bit TSS (busy), limit 0x67
  Put64(gdt + kTssSelector + 8, tss >> 32);

  // TSS: RSP0 and IST1 at the exception stack's top; the I/O bitmap offset past the limit, so
  // ring 3 has no port at all.
  uint8_t* t = gdt + kTssOffset;
  Put64(t + 4, kSystemVa + kStackTopGpa);
  Put64(t + 36, kSystemVa + kStackTopGpa);
  const uint16_t iomap = 104;
  std::memcpy(t + 102, &iomap, 2);

  // IDT: interrupt gates (IF cleared) for vectors 0-31, all on IST 1, DPL 0 except #BP so that
  // int3 is a breakpoint (SIGTRAP) as on Linux; `int N` for any other N is #GP.
  uint8_t* idt = system + kIdtGpa;
  std::memset(idt, 0, 4096);
  for (int v = 0; v < kExceptionVectors; ++v) {
    const uint64_t handler = kSystemVa + kTrampolineGpa + kExceptionStubs +
                             static_cast<uint64_t>(v) * kExceptionStubSize;
    const uint64_t attr = v == 3 ? 0xee : 0x8e;
    const uint64_t low = (handler & 0xffff) | (uint64_t{kKernelCs} << 16) | (1ull << 32) |
                         (attr << 40) | (((handler >> 16) & 0xffff) << 48);
    Put64(idt + v * 16, low);
    Put64(idt + v * 16 + 8, handler >> 32);
  }
}

kvm_sregs Ring3Sregs(const kvm_sregs& base, uint64_t cr3, uint64_t fs_base, uint64_t gs_base,
                     bool xsave) {
  kvm_sregs s = base;
  s.cs = Segment(kUserCs, 0xb, 3, true);
  s.ss = Segment(kUserSs, 0x3, 3, false);
  s.ds = NullSegment(0);
  s.es = NullSegment(0);
  s.fs = NullSegment(fs_base);
  s.gs = NullSegment(gs_base);
  s.tr = kvm_segment{};
  s.tr.selector = kTssSelector;
  s.tr.base = kSystemVa + kGdtGpa + kTssOffset;
  s.tr.limit = 0x67;
  s.tr.type = 0xb;
  s.tr.present = 1;
  s.ldt = kvm_segment{};
  s.ldt.unusable = 1;
  s.ldt.type = 2;
  s.gdt.base = kSystemVa + kGdtGpa;
  s.gdt.limit = kTssSelector + 15;
  s.idt.base = kSystemVa + kIdtGpa;
  s.idt.limit = kExceptionVectors * 16 - 1;
  s.cr0 = 0x80050033;  // PG AM WP NE ET MP PE
  s.cr3 = cr3;
  s.cr4 = 0x20 | 0x200 | 0x400 | (xsave ? 0x40000 : 0);  // PAE OSFXSR OSXMMEXCPT [OSXSAVE]
  s.efer = 0x1 | 0x100 | 0x400 | 0x800;                  // SCE LME LMA NXE
  std::memset(s.interrupt_bitmap, 0, sizeof(s.interrupt_bitmap));
  return s;
}

std::vector<kvm_msr_entry> SyscallMsrs() {
  // SYSRET takes CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8: 0x33 and 0x2b, as on Linux.
  const uint64_t star = (uint64_t{kUserCs - 16} << 48) | (uint64_t{kKernelCs} << 32);
  const uint64_t entry = kSystemVa + kTrampolineGpa;
  // SFMASK: TF, IF, DF, IOPL, NT, AC cleared in ring 0.
  return {
      {kMsrStar, 0, star},
      {kMsrLstar, 0, entry + kSyscallEntry},
      {kMsrCstar, 0, entry + kCompatSyscallEntry},
      {kMsrSfmask, 0, 0x47700},
      {kMsrKernelGsBase, 0, 0},
      // SYSENTER_CS 0: sysenter from ring 3 is #GP (Intel; AMD has no sysenter in long mode).
      {kMsrSysenterCs, 0, 0},
      {kMsrSysenterEsp, 0, 0},
      {kMsrSysenterEip, 0, 0},
  };
}

}  // namespace cat::kvm
