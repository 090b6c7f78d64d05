// The x86-64 rt_sigframe (see signal_frame.h); mirrors arch/x86/kernel/signal.c and
// signal_64.c.
#include "loader/kernel/signal_frame.h"

#include <signal.h>

#include <cstring>

#include "format/base/guest_layout.h"

namespace cat::sigframe {
namespace {

constexpr uint64_t kNeverBlocked = (uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1));

bool OnStack(const AltStack& alt, uint64_t sp) {
  return alt.size != 0 && sp > alt.sp && sp - alt.sp <= alt.size;
}

}  // namespace

int32_t AltStackFlags(const AltStack& alt, uint64_t sp) {
  if (alt.size == 0) return SS_DISABLE;
  return OnStack(alt, sp) ? SS_ONSTACK : 0;
}

std::optional<Placement> Place(uint64_t sp, bool onstack, const AltStack& alt,
                               uint64_t fpstate_bytes) {
  const bool nested = OnStack(alt, sp);
  bool entering = false;
  sp -= kRedZone;
  if (onstack && AltStackFlags(alt, sp + kRedZone) == 0) {
    sp = alt.sp + alt.size;
    entering = true;
  }
  if (sp < fpstate_bytes + sizeof(RtSigframe) + 64) return std::nullopt;  // would wrap
  const uint64_t fpstate = (sp - fpstate_bytes) & ~uint64_t{63};
  const uint64_t frame = ((fpstate - sizeof(RtSigframe)) & ~uint64_t{15}) - 8;
  // Overflowing the alternate stack would write below it: refuse as Linux does.
  if ((nested || entering) && !OnStack(alt, frame)) return std::nullopt;
  return Placement{frame, fpstate, entering || nested};
}

RtSigframe Build(const GuestRegs& r, uint64_t mask, const AltStack& alt, const Siginfo& info,
                 uint64_t restorer, uint64_t fpstate, bool xstate, uint64_t fault_address) {
  RtSigframe f{};
  f.pretcode = restorer;
  f.uc.uc_flags = kUcSigcontextSs | kUcStrictRestoreSs | (xstate ? kUcFpXstate : 0);
  f.uc.uc_stack = {
      alt.sp,
      AltStackFlags(alt, r.rsp) | (alt.autodisarm ? static_cast<int32_t>(kSsAutodisarm) : 0), 0,
      alt.size};
  Sigcontext& sc = f.uc.uc_mcontext;
  sc.r8 = r.r8, sc.r9 = r.r9, sc.r10 = r.r10, sc.r11 = r.r11;
  sc.r12 = r.r12, sc.r13 = r.r13, sc.r14 = r.r14, sc.r15 = r.r15;
  sc.rdi = r.rdi, sc.rsi = r.rsi, sc.rbp = r.rbp, sc.rbx = r.rbx;
  sc.rdx = r.rdx, sc.rax = r.rax, sc.rcx = r.rcx, sc.rsp = r.rsp;
  sc.rip = r.rip, sc.eflags = r.eflags;
  sc.cs = static_cast<uint16_t>(r.cs), sc.ss = static_cast<uint16_t>(r.ss);
  sc.oldmask = mask;
  sc.cr2 = fault_address;
  sc.fpstate = fpstate;
  f.uc.uc_sigmask = mask;
  f.info = info;
  return f;
}

Restored Restore(const Ucontext& uc, const GuestRegs& current) {
  const Sigcontext& sc = uc.uc_mcontext;
  Restored out{};
  GuestRegs& r = out.regs;
  r = current;
  r.r8 = sc.r8, r.r9 = sc.r9, r.r10 = sc.r10, r.r11 = sc.r11;
  r.r12 = sc.r12, r.r13 = sc.r13, r.r14 = sc.r14, r.r15 = sc.r15;
  r.rdi = sc.rdi, r.rsi = sc.rsi, r.rbp = sc.rbp, r.rbx = sc.rbx;
  r.rdx = sc.rdx, r.rax = sc.rax, r.rcx = sc.rcx, r.rsp = sc.rsp;
  r.rip = sc.rip;
  // Only the arithmetic/direction/trap flags come from the frame: IOPL, VM, NT and the
  // interrupt flag stay what they are (FIX_EFLAGS).
  r.eflags = (current.eflags & ~kFixEflags) | (sc.eflags & kFixEflags);
  // The user code and stack selectors, whatever the frame says (no far return to ring 0 or
  // to a 32-bit segment).
  r.cs = kUserCs;
  r.ss = kUserSs;
  r.orig_rax = ~uint64_t{0};  // not in a syscall any more: nothing to restart
  out.mask = uc.uc_sigmask & ~kNeverBlocked;
  out.altstack = uc.uc_stack;
  out.fpstate = sc.fpstate;
  out.canonical_rip = sc.rip < kGuestAddressLimit;
  out.user_cs = (sc.cs | 3u) == kUserCs;  // Linux ORs in RPL 3 before returning
  return out;
}

void SealXstate(uint8_t* area, uint32_t xstate_size, uint64_t xfeatures) {
  struct {
    uint32_t magic1, extended_size;
    uint64_t xfeatures;
    uint32_t xstate_size, padding[7];
  } sw{kFpXstateMagic1, xstate_size + 4, xfeatures, xstate_size, {}};
  static_assert(sizeof(sw) == 48);
  std::memcpy(area + kFxSwBytesOffset, &sw, sizeof(sw));
  std::memcpy(area + xstate_size, &kFpXstateMagic2, 4);
}

bool XstateSealed(const uint8_t* area, uint32_t xstate_size) {
  uint32_t magic1, extended, size, magic2;
  std::memcpy(&magic1, area + kFxSwBytesOffset, 4);
  std::memcpy(&extended, area + kFxSwBytesOffset + 4, 4);
  std::memcpy(&size, area + kFxSwBytesOffset + 16, 4);
  std::memcpy(&magic2, area + xstate_size, 4);
  return magic1 == kFpXstateMagic1 && size == xstate_size && extended == xstate_size + 4 &&
         magic2 == kFpXstateMagic2;
}

}  // namespace cat::sigframe
