// The guest vCPU's register state, in the layouts Linux uses for ptrace and ELF core notes
// (NT_PRSTATUS's user_regs_struct, NT_PRFPREG's FXSAVE area), so that the platforms, the
// checkpoint and the func-image all share one definition.
#pragma once

#include <cstdint>
#include <vector>

namespace cat {

// General-purpose registers, in the order of the kernel's struct user_regs_struct (and of an
// ELF core's NT_PRSTATUS), so that both can be filled with one copy.
struct GuestRegs {
  uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
  uint64_t rax, rcx, rdx, rsi, rdi, orig_rax;
  uint64_t rip, cs, eflags, rsp, ss;
  uint64_t fs_base, gs_base, ds, es, fs, gs;
};

// The x87/SSE state in FXSAVE layout (512 bytes), as in NT_PRFPREG.
struct FpuState {
  alignas(16) uint8_t fxsave[512];
};
// One guest thread's saved vCPU context, as a snapshot carries it beside the state (one
// NT_PRSTATUS/NT_PRFPREG/NT_X86_XSTATE group per thread in a checkpoint, one
// Manifest.threads entry in a func-image). `tid` names the state::Thread it belongs to.
struct ThreadContext;

// A freshly reset FPU: FCW 0x37f, MXCSR 0x1f80, everything else zero.
FpuState DefaultFpuState();

struct ThreadContext {
  int32_t tid = 0;
  GuestRegs regs{};
  FpuState fpu{};
  std::vector<uint8_t> xstate;  // XSAVE layout; empty without XSAVE
};

}  // namespace cat
