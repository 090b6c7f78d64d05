// The signal state's home (see signal_access.h): mask and alternate stack per thread
// (state::Thread), actions per process (state::Process).
#include "loader/kernel/signal_access.h"

#include <signal.h>

#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

constexpr uint64_t kNeverBlocked = (uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1));
constexpr uint64_t kMinSigStackSize = 2048;  // MINSIGSTKSZ

}  // namespace

uint64_t SignalMask(SandboxKernel& k) {
  return k.thread().signal_mask;
}

void SetSignalMask(SandboxKernel& k, uint64_t mask) {
  k.thread().signal_mask = mask & ~kNeverBlocked;
}

state::SignalAction& SignalActionOf(SandboxKernel& k, int sig) {
  return k.s.process.signal_actions[sig - 1];
}

sigframe::AltStack AltStackOf(SandboxKernel& k) {
  const state::Thread& p = k.thread();
  return {p.altstack_sp, p.altstack_size, (p.altstack_flags & sigframe::kSsAutodisarm) != 0};
}

void SetAltStack(SandboxKernel& k, const sigframe::AltStack& alt) {
  state::Thread& p = k.thread();
  p.altstack_sp = alt.size ? alt.sp : 0;
  p.altstack_size = alt.size;
  p.altstack_flags =
      alt.size ? (alt.autodisarm ? sigframe::kSsAutodisarm : 0u) : uint32_t{SS_DISABLE};
}

int64_t SetAltStackChecked(SandboxKernel& k, const sigframe::StackT& ss, uint64_t sp) {
  // Not while running on it (do_sigaltstack's EPERM).
  if (sigframe::AltStackFlags(AltStackOf(k), sp) == SS_ONSTACK) return -EPERM;
  const uint32_t flags = static_cast<uint32_t>(ss.ss_flags);
  const uint32_t mode = flags & ~sigframe::kSsAutodisarm;
  if (mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK) return -EINVAL;
  if (mode == SS_DISABLE) {
    SetAltStack(k, {});
    return 0;
  }
  if (ss.ss_size < kMinSigStackSize) return -ENOMEM;
  // A stack that wraps the address space could never hold a frame; refuse it here.
  if (ss.ss_sp + ss.ss_size < ss.ss_sp) return -EINVAL;
  SetAltStack(k, {ss.ss_sp, ss.ss_size, (flags & sigframe::kSsAutodisarm) != 0});
  return 0;
}

}  // namespace cat
