// The x86-64 Linux signal frame (struct rt_sigframe: the restorer as return address, a
// ucontext with the general registers, the saved mask and alternate stack, then the siginfo;
// the FPU/XSAVE area lies above it, 64-byte aligned), where Linux places it, and how a frame
// the guest hands back to rt_sigreturn is turned into registers without trusting it. Pure
// functions over bytes, so the layout has unit tests of its own (tests/unit/signal_frame_test).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "format/state/cpu_state.h"

namespace cat::sigframe {

// struct sigcontext (arch/x86/include/uapi/asm/sigcontext.h, 64-bit).
struct Sigcontext {
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  uint16_t cs, gs, fs, ss;
  uint64_t err, trapno, oldmask, cr2;
  uint64_t fpstate;  // guest address of the FXSAVE/XSAVE area, 0 = none
  uint64_t reserved1[8];
};
static_assert(sizeof(Sigcontext) == 256);

// stack_t as the kernel lays it out.
struct StackT {
  uint64_t ss_sp;
  int32_t ss_flags;
  int32_t pad;
  uint64_t ss_size;
};
static_assert(sizeof(StackT) == 24);

struct Ucontext {
  uint64_t uc_flags;
  uint64_t uc_link;
  StackT uc_stack;
  Sigcontext uc_mcontext;
  uint64_t uc_sigmask;
};
static_assert(sizeof(Ucontext) == 304);

// siginfo_t: 128 bytes; the union starts at 16 and is filled per si_code family.
struct Siginfo {
  int32_t si_signo;
  int32_t si_errno;
  int32_t si_code;
  int32_t pad;
  uint8_t fields[112];
};
static_assert(sizeof(Siginfo) == 128);

struct RtSigframe {
  uint64_t pretcode;  // sa_restorer: where the handler's `ret` goes (it calls rt_sigreturn)
  Ucontext uc;
  Siginfo info;
};
static_assert(sizeof(RtSigframe) == 440);
static_assert(offsetof(RtSigframe, info) == 312);

constexpr uint64_t kUcFpXstate = 0x1;         // UC_FP_XSTATE: fpstate holds an XSAVE area
constexpr uint64_t kUcSigcontextSs = 0x2;     // UC_SIGCONTEXT_SS
constexpr uint64_t kUcStrictRestoreSs = 0x4;  // UC_STRICT_RESTORE_SS
constexpr uint32_t kFpXstateMagic1 = 0x46505853;
constexpr uint32_t kFpXstateMagic2 = 0x46505845;
constexpr size_t kFxSwBytesOffset = 464;  // struct _fpx_sw_bytes inside the FXSAVE area
constexpr uint64_t kRedZone = 128;
constexpr uint64_t kUserCs = 0x33, kUserSs = 0x2b;
constexpr uint32_t kSsAutodisarm = 1u << 31;  // SS_AUTODISARM (not in glibc's <signal.h>)

// Linux's FIX_EFLAGS: the flags a signal frame may change (AC, OF, DF, TF, SF, ZF, AF, PF, CF,
// RF). IOPL, NT, VM, VIF/VIP, ID, IF stay the kernel's.
constexpr uint64_t kFixEflags =
    0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000;

struct AltStack {
  uint64_t sp = 0;
  uint64_t size = 0;  // 0 = disabled
  bool autodisarm = false;
};

// sas_ss_flags(): SS_DISABLE without an alternate stack, SS_ONSTACK while `sp` is on it.
int32_t AltStackFlags(const AltStack& alt, uint64_t sp);

struct Placement {
  uint64_t frame;    // the RtSigframe (rsp when the handler starts)
  uint64_t fpstate;  // the FPU area, 64-byte aligned
  bool on_altstack;  // the frame went to the alternate stack (SS_AUTODISARM disarms it)
};
// get_sigframe(): below the red zone of `sp`, or at the top of the alternate stack for
// SA_ONSTACK when not already on it; nullopt if a frame on the alternate stack would overflow
// it (Linux returns a bogus address there and the guest dies of SIGSEGV).
std::optional<Placement> Place(uint64_t sp, bool onstack, const AltStack& alt,
                               uint64_t fpstate_bytes);

// The frame for a handler interrupting `regs`; `mask` is the mask to restore on sigreturn.
RtSigframe Build(const GuestRegs& regs, uint64_t mask, const AltStack& alt, const Siginfo& info,
                 uint64_t restorer, uint64_t fpstate, bool xstate, uint64_t fault_address);

// The part of a guest-supplied frame rt_sigreturn uses, already filtered.
struct Restored {
  GuestRegs regs;  // cs/ss/fs_base/gs_base from `current`; rflags through kFixEflags
  uint64_t mask;   // SIGKILL and SIGSTOP never blocked
  StackT altstack;
  uint64_t fpstate;
  bool canonical_rip;  // false: rip outside the guest's half of the address space
  // false: the frame names another code segment than 64-bit user code (ring 0, or the 32-bit
  // compat segment). Linux's iret to it faults (SIGSEGV); the sandbox never loads it.
  bool user_cs;
};
Restored Restore(const Ucontext& uc, const GuestRegs& current);

// Writes the software-reserved bytes of an XSAVE area in a frame (magic, sizes, features) and
// the closing magic; checks them in a frame handed back. `area` is xstate_size bytes followed
// by 4 bytes for the second magic.
void SealXstate(uint8_t* area, uint32_t xstate_size, uint64_t xfeatures);
bool XstateSealed(const uint8_t* area, uint32_t xstate_size);

}  // namespace cat::sigframe
