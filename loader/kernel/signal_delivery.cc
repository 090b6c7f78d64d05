// Signal generation, delivery and timers (see signal_delivery.h). Mirrors kernel/signal.c and
// arch/x86/kernel/signal.c where the guest can tell the difference.
#include "loader/kernel/signal_delivery.h"

#include <signal.h>
#include <sys/syscall.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "loader/kernel/sandbox_kernel.h"
#include "loader/kernel/signal_access.h"
#include "loader/kernel/signal_frame.h"

namespace cat {
namespace {

constexpr uint64_t Bit(int sig) {
  return uint64_t{1} << (sig - 1);
}
constexpr int kSiKernel = 0x80;
constexpr int kSiTimer = -2;
constexpr int kFirstRtSignal = 32;
constexpr uint64_t kSigDfl = 0, kSigIgn = 1;
constexpr uint64_t kSaRestorer = 0x04000000;  // SA_RESTORER (kernel ABI; not in <signal.h>)

enum class DefaultAction { kTerminate, kIgnore, kStop };

DefaultAction DefaultOf(int sig) {
  switch (sig) {
    case SIGCHLD:
    case SIGURG:
    case SIGWINCH:
    case SIGCONT:  // continues a stopped process: nothing for a running one
      return DefaultAction::kIgnore;
    case SIGSTOP:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
      return DefaultAction::kStop;
    default:
      return DefaultAction::kTerminate;
  }
}

bool Ignored(const state::SignalAction& a, int sig) {
  return a.handler == kSigIgn || (a.handler == kSigDfl && DefaultOf(sig) == DefaultAction::kIgnore);
}

// Syscalls that SA_RESTART restarts after a handler (signal(7)); the rest return EINTR. An
// interruption whose signal runs no handler restarts these transparently.
bool RestartsUnderSaRestart(uint64_t nr) {
  switch (nr) {
    case SYS_read:
    case SYS_readv:
    case SYS_pread64:
    case SYS_preadv:
    case SYS_preadv2:
    case SYS_write:
    case SYS_writev:
    case SYS_pwrite64:
    case SYS_pwritev:
    case SYS_pwritev2:
    case SYS_ioctl:
    case SYS_open:
    case SYS_openat:
    case SYS_wait4:
    case SYS_waitid:
    case SYS_flock:
    case SYS_fcntl:
    case SYS_accept:
    case SYS_accept4:
    case SYS_connect:
    case SYS_recvfrom:
    case SYS_recvmsg:
    case SYS_sendto:
    case SYS_sendmsg:
    case SYS_futex:
      return true;
    default:
      return false;
  }
}

// The signal a thread takes next: the lowest-numbered one pending for thread `tid` alone,
// else the lowest-numbered of the process's shared set (Linux's dequeue_signal: the thread's
// own set first), not in `blocked` and allowed by `wanted`. Faults never pend here, so no
// synchronous ones come first. `set` says which set it is in (0: the shared one).
struct Next {
  int sig = 0;
  int32_t set = 0;
};
Next NextSignal(const state::SignalState& q, int32_t tid, uint64_t blocked, uint64_t wanted) {
  int own = 0, shared = 0;
  for (uint32_t i = 0; i < q.count; ++i) {
    const state::PendingSignal& p = q.queue[i];
    if ((p.tid != 0 && p.tid != tid) || (Bit(p.signo) & blocked) || !(Bit(p.signo) & wanted))
      continue;  // another thread's, blocked or not wanted
    int& best = p.tid == 0 ? shared : own;
    if (best == 0 || p.signo < best) best = p.signo;
  }
  if (own) return {own, tid};
  return {shared, 0};
}

// The mask that decides whether a generated signal that is ignored is kept: the target
// thread's, or for the shared set the leader's (Linux's sig_ignored on the task kill found).
uint64_t TargetMask(const SandboxKernel& k, int32_t tid) {
  for (const state::Thread& t : k.s.threads)
    if (tid == 0 || t.tid == tid) return t.signal_mask;
  return 0;
}

}  // namespace

bool ThreadOfProcess(const SandboxKernel& k, int32_t tid) {
  for (const state::Thread& t : k.s.threads)
    if (t.tid == tid) return true;
  return false;
}

state::PendingSignal MakeSignal(int signo, int code, int32_t pid, uint32_t uid) {
  state::PendingSignal p{};
  p.signo = signo;
  p.code = code;
  p.pid = pid;
  p.uid = uid;
  return p;
}

int64_t SendSignal(SandboxKernel& k, const state::PendingSignal& sig) {
  if (sig.signo == 0) return 0;
  if (sig.signo < 1 || sig.signo > state::kNumSignals) return -EINVAL;
  state::SignalState& q = k.s.signals;
  // A blocked signal is kept even if ignored now: the action may change before it is unblocked.
  if (Ignored(SignalActionOf(k, sig.signo), sig.signo) &&
      !(TargetMask(k, sig.tid) & Bit(sig.signo)))
    return 0;
  uint32_t queued_rt = 0;
  for (uint32_t i = 0; i < q.count; ++i) {
    // A standard signal is pending once per set: the shared one, or each thread's own.
    if (sig.signo < kFirstRtSignal && q.queue[i].signo == sig.signo && q.queue[i].tid == sig.tid)
      return 0;  // coalesced
    if (q.queue[i].signo >= kFirstRtSignal) ++queued_rt;
  }
  if (sig.signo >= kFirstRtSignal && queued_rt >= state::kMaxQueuedRtSignals) return -EAGAIN;
  // Only threads' own sets together can fill it (31 + 32 < 64 for one set): spec/abi.md.
  if (q.count >= state::kMaxPendingSignals) return -EAGAIN;
  q.queue[q.count++] = sig;
  return 0;
}

std::optional<state::PendingSignal> DequeueSignal(SandboxKernel& k, uint64_t blocked,
                                                  uint64_t wanted) {
  state::SignalState& q = k.s.signals;
  const Next next = NextSignal(q, k.thread().tid, blocked, wanted);
  if (next.sig == 0) return std::nullopt;
  for (uint32_t i = 0; i < q.count; ++i) {
    if (q.queue[i].signo != next.sig || q.queue[i].tid != next.set) continue;
    const state::PendingSignal out = q.queue[i];
    std::memmove(&q.queue[i], &q.queue[i + 1], (q.count - i - 1) * sizeof(q.queue[0]));
    q.queue[--q.count] = {};
    if (out.code == kSiTimer && out.timer_id >= 0 && out.timer_id < state::kMaxPosixTimers)
      q.timers[out.timer_id].overrun = out.overrun;  // timer_getoverrun reports this delivery's
    return out;
  }
  return std::nullopt;
}

namespace {

// Removes the entries `drop` says, keeping the others in order of generation.
template <typename Drop>
void DropPending(state::SignalState& q, Drop drop) {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < q.count; ++i)
    if (!drop(q.queue[i])) q.queue[kept++] = q.queue[i];
  for (uint32_t i = kept; i < q.count; ++i) q.queue[i] = {};
  q.count = kept;
}

}  // namespace

void DiscardPending(SandboxKernel& k, int sig) {
  DropPending(k.s.signals, [sig](const state::PendingSignal& p) { return p.signo == sig; });
}

void DropThreadPending(SandboxKernel& k, int32_t tid) {
  DropPending(k.s.signals, [tid](const state::PendingSignal& p) { return p.tid == tid; });
}

uint64_t PendingSet(const SandboxKernel& k) {
  const int32_t tid = k.thread().tid;
  uint64_t set = 0;
  for (uint32_t i = 0; i < k.s.signals.count; ++i) {
    const state::PendingSignal& p = k.s.signals.queue[i];
    if (p.tid == 0 || p.tid == tid) set |= Bit(p.signo);
  }
  return set;
}

bool SignalDeliverableUnder(const SandboxKernel& k, uint64_t mask) {
  return NextSignal(k.s.signals, k.thread().tid, mask, ~uint64_t{0}).sig != 0;
}
bool SignalDeliverable(SandboxKernel& k) {
  return SignalDeliverableUnder(k, SignalMask(k));
}

sigframe::Siginfo ToSiginfo(const state::PendingSignal& p) {
  sigframe::Siginfo info{};
  info.si_signo = p.signo;
  info.si_code = p.code;
  uint8_t* u = info.fields;  // the union, at offset 16 of siginfo_t
  if (p.code == kSiTimer) {
    std::memcpy(u + 0, &p.timer_id, 4);
    std::memcpy(u + 4, &p.overrun, 4);
  } else {
    std::memcpy(u + 0, &p.pid, 4);
    std::memcpy(u + 4, &p.uid, 4);
  }
  std::memcpy(u + 8, &p.value, 8);  // si_value (queued and timer signals; 0 otherwise)
  return info;
}

namespace {

// The guest's FPU/extended state as a frame carries it: XSAVE layout sealed with the magics, or
// a bare FXSAVE area where the platform has no XSAVE.
struct FpuArea {
  std::vector<uint8_t> bytes;
  bool xstate = false;
  uint32_t xstate_size = 0;
};

std::optional<FpuArea> SaveFpu(SandboxKernel& k) {
  FpuArea a;
  auto xs = k.shell.GetXstate();
  if (xs && xs->size() >= 576) {
    a.xstate = true;
    a.xstate_size = static_cast<uint32_t>(xs->size());
    a.bytes = std::move(*xs);
    uint64_t xfeatures;  // ptrace puts XCR0 first in the software-reserved bytes
    std::memcpy(&xfeatures, a.bytes.data() + sigframe::kFxSwBytesOffset, 8);
    a.bytes.resize(a.xstate_size + 4);
    sigframe::SealXstate(a.bytes.data(), a.xstate_size, xfeatures);
    return a;
  }
  auto fpu = k.shell.GetFpu();
  if (!fpu) return std::nullopt;
  a.bytes.assign(fpu->fxsave, fpu->fxsave + sizeof(fpu->fxsave));
  return a;
}

// An XSAVE area holding only `legacy` (512 FXSAVE bytes): every other component initial.
std::vector<uint8_t> LegacyOnlyXstate(const uint8_t* legacy, const std::vector<uint8_t>& current) {
  std::vector<uint8_t> area(current.size(), 0);
  std::memcpy(area.data(), legacy, 512);
  // The software-reserved bytes as ptrace wants them, not as the frame had them.
  std::memcpy(area.data() + sigframe::kFxSwBytesOffset, current.data() + sigframe::kFxSwBytesOffset,
              48);
  const uint64_t xstate_bv = 0x3;  // x87 and SSE from the legacy area
  std::memcpy(area.data() + 512, &xstate_bv, 8);
  return area;
}

// The FPU a handler starts with (Linux resets it): FCW 0x37f, MXCSR 0x1f80, the rest initial.
Status ResetFpuForHandler(SandboxKernel& k, const FpuArea& saved) {
  const FpuState init = DefaultFpuState();
  if (!saved.xstate) return k.shell.SetFpu(init);
  std::vector<uint8_t> current(saved.bytes.begin(), saved.bytes.begin() + saved.xstate_size);
  // The area's sw bytes were sealed for the frame: put back XCR0 first, as ptrace reads it.
  uint64_t xfeatures;
  std::memcpy(&xfeatures, saved.bytes.data() + sigframe::kFxSwBytesOffset + 8, 8);
  std::memset(current.data() + sigframe::kFxSwBytesOffset, 0, 48);
  std::memcpy(current.data() + sigframe::kFxSwBytesOffset, &xfeatures, 8);
  return k.shell.SetXstate(LegacyOnlyXstate(init.fxsave, current));
}

// MXCSR (FXSAVE offset 24) without bits outside the CPU's MXCSR_MASK (offset 28 of the
// current area; 0 there means the architectural default 0xffbf): Linux's sigreturn fails on
// such a frame (its FXRSTOR/XRSTOR would fault), while ptrace would quietly clear the bits.
bool MxcsrValid(const uint8_t* legacy, const uint8_t* current) {
  uint32_t mxcsr, mask;
  std::memcpy(&mxcsr, legacy + 24, 4);
  std::memcpy(&mask, current + 28, 4);
  if (mask == 0) mask = 0xffbf;
  return (mxcsr & ~mask) == 0;
}

void LogDenied(SandboxKernel& k, const std::string& what) {
  k.Log("rt_sigreturn: " + what + "; guest ended by SIGSEGV");
}

// Pushes the frame and points the guest at the handler. false: the frame cannot be built (no
// restorer, no room, unwritable stack) — the guest gets SIGSEGV like Linux's force_sigsegv.
bool SetupFrame(SandboxKernel& k, state::SignalAction& act, const sigframe::Siginfo& info,
                uint64_t fault_address) {
  SignalRuntime& rt = k.signal_rt;
  if (!(act.flags & kSaRestorer)) return false;  // x86-64 has no vDSO restorer to fall back on
  GuestRegs r = k.shell.regs();
  const uint64_t old_mask = rt.restore_mask ? rt.saved_mask : SignalMask(k);
  rt.restore_mask = false;
  std::optional<FpuArea> fpu = SaveFpu(k);
  if (!fpu) return false;
  sigframe::AltStack alt = AltStackOf(k);
  auto place = sigframe::Place(r.rsp, act.flags & SA_ONSTACK, alt, fpu->bytes.size());
  if (!place) return false;
  const sigframe::RtSigframe frame = sigframe::Build(r, old_mask, alt, info, act.restorer,
                                                     place->fpstate, fpu->xstate, fault_address);
  if (!k.mem.CopyOut(place->fpstate, fpu->bytes.data(), fpu->bytes.size()) ||
      !k.mem.WriteObject(place->frame, frame))
    return false;
  r.rip = act.handler;
  r.rsp = place->frame;
  r.rdi = static_cast<uint64_t>(info.si_signo);
  r.rsi = place->frame + offsetof(sigframe::RtSigframe, info);
  r.rdx = place->frame + offsetof(sigframe::RtSigframe, uc);
  r.rax = 0;
  r.eflags &= ~uint64_t{0x400 | 0x10000 | 0x100};  // DF, RF, TF: the handler starts clean
  r.orig_rax = ~uint64_t{0};
  k.shell.SetRegs(r);
  if (!ResetFpuForHandler(k, *fpu)) return false;
  if (place->on_altstack && alt.autodisarm) SetAltStack(k, {});
  uint64_t mask = SignalMask(k) | act.mask;
  if (!(act.flags & SA_NODEFER)) mask |= Bit(info.si_signo);
  SetSignalMask(k, mask);
  if (act.flags & SA_RESETHAND) act.handler = kSigDfl;
  return true;
}

// Delivers one signal: runs its handler, drops it, or ends the guest (its default action).
void DeliverOne(SandboxKernel& k, const state::PendingSignal& p) {
  state::SignalAction& act = SignalActionOf(k, p.signo);
  if (act.handler == kSigIgn) return;
  if (act.handler == kSigDfl) {
    if (DefaultOf(p.signo) == DefaultAction::kIgnore) return;
    // Terminate, and the stop signals too: nothing in the sandbox could continue the guest.
    k.Kill(p.signo);
    return;
  }
  if (!SetupFrame(k, act, ToSiginfo(p), 0)) k.Kill(SIGSEGV);
}

void DeliverPending(SandboxKernel& k) {
  // Each delivery blocks at least its own signal unless SA_NODEFER; bounded either way.
  for (int i = 0; i <= state::kMaxPendingSignals && k.running(); ++i) {
    auto p = DequeueSignal(k, SignalMask(k), ~uint64_t{0});
    if (!p) break;
    DeliverOne(k, *p);
  }
  SignalRuntime& rt = k.signal_rt;
  if (rt.restore_mask && k.running()) {  // sigsuspend woke but no handler ran
    SetSignalMask(k, rt.saved_mask);
    rt.restore_mask = false;
  }
}

void Restart(SandboxKernel& k, const SyscallArgs& args) {
  GuestRegs r = k.shell.regs();
  r.rax = args.nr;
  r.rip -= 2;  // back onto the `syscall` (or `int 0x80`): both are two bytes
  k.shell.SetRegs(r);
}

}  // namespace

void SignalsAtSyscallExit(SandboxKernel& k, const SyscallArgs& args, int64_t result) {
  SignalRuntime& rt = k.signal_rt;
  if (rt.wake_ns && MonotonicNowNs() >= rt.wake_ns) FireTimers(k);
  const bool interrupted = result == -kRestartSys || (result == -EINTR && !k.deadline.Passed() &&
                                                      RestartsUnderSaRestart(args.nr));
  if (interrupted) {
    const int sig = NextSignal(k.s.signals, k.thread().tid, SignalMask(k), ~uint64_t{0}).sig;
    const state::SignalAction* act = sig ? &SignalActionOf(k, sig) : nullptr;
    if (act && act->handler > kSigIgn && !(act->flags & SA_RESTART))
      k.shell.SetSyscallResult(-EINTR);
    else
      Restart(k, args);  // SA_RESTART, or no handler will run: the guest never notices
  }
  DeliverPending(k);
}

void SignalsAtInterrupt(SandboxKernel& k) {
  if (k.signal_rt.wake_ns && MonotonicNowNs() >= k.signal_rt.wake_ns)
    FireTimers(k);  // re-arms the timer thread
  else if (k.signal_rt.interrupter)
    RearmTimers(k);  // an interrupt before the expiry: the timer thread must wait for it again
  if (SignalWorkPending(k.s.signals, k.signal_rt)) DeliverPending(k);
}

bool DeliverFault(SandboxKernel& k, const Stop& stop) {
  const int sig = stop.signal;
  if (sig < 1 || sig > state::kNumSignals) return false;
  state::SignalAction& act = SignalActionOf(k, sig);
  // A fault that is blocked or ignored cannot be survived (force_sig_fault): default action.
  if (act.handler <= kSigIgn || (SignalMask(k) & Bit(sig))) return false;
  sigframe::Siginfo info{};
  info.si_signo = sig;
  info.si_code = stop.code;
  std::memcpy(info.fields, &stop.fault_address, 8);  // si_addr
  if (!SetupFrame(k, act, info, stop.fault_address)) return false;
  // A fault stop has no syscall result to keep: the handler's registers are all that matter.
  if (SignalWorkPending(k.s.signals, k.signal_rt)) DeliverPending(k);
  return k.running();
}

int64_t SignalReturn(SandboxKernel& k) {
  const GuestRegs current = k.shell.regs();
  const uint64_t frame = current.rsp - 8;  // the handler's `ret` popped pretcode
  auto uc = k.mem.ReadObject<sigframe::Ucontext>(frame + offsetof(sigframe::RtSigframe, uc));
  if (!uc) {
    LogDenied(k, "bad signal frame pointer");
    k.Kill(SIGSEGV);
    return 0;
  }
  const sigframe::Restored back = sigframe::Restore(*uc, current);
  if (!back.canonical_rip) {
    LogDenied(k, "frame's rip is outside the guest's address space");
    k.Kill(SIGSEGV);
    return 0;
  }
  if (!back.user_cs) {
    LogDenied(k, "frame's cs is not the user code selector");
    k.Kill(SIGSEGV);
    return 0;
  }
  // The FPU: the area the frame points at, checked by the host kernel's own XSAVE rules
  // (reserved header bits, MXCSR) when set; a frame without one gets the initial state.
  auto current_x = k.shell.GetXstate();
  const bool xsave = current_x && current_x->size() >= 576;
  Status fpu_ok;
  if (back.fpstate == 0) {
    const FpuState init = DefaultFpuState();
    fpu_ok =
        xsave ? k.shell.SetXstate(LegacyOnlyXstate(init.fxsave, *current_x)) : k.shell.SetFpu(init);
  } else if (xsave) {
    const uint32_t size = static_cast<uint32_t>(current_x->size());
    std::vector<uint8_t> area(size + 4);
    if (!k.mem.CopyIn(back.fpstate, area.data(), 512)) {
      fpu_ok = Fail(EFAULT, "fpstate");
    } else if (!MxcsrValid(area.data(), current_x->data())) {
      fpu_ok = Fail(EINVAL, "reserved MXCSR bits");  // the host would mask them silently
    } else if ((uc->uc_flags & sigframe::kUcFpXstate) &&
               k.mem.CopyIn(back.fpstate, area.data(), area.size()) &&
               sigframe::XstateSealed(area.data(), size)) {
      area.resize(size);
      std::memcpy(area.data() + sigframe::kFxSwBytesOffset,
                  current_x->data() + sigframe::kFxSwBytesOffset, 48);
      fpu_ok = k.shell.SetXstate(area);
    } else {
      fpu_ok = k.shell.SetXstate(LegacyOnlyXstate(area.data(), *current_x));  // fx_only
    }
  } else {
    FpuState fpu;
    fpu_ok = k.mem.CopyIn(back.fpstate, fpu.fxsave, sizeof(fpu.fxsave))
                 ? k.shell.SetFpu(fpu)
                 : Status(Fail(EFAULT, "fpstate"));
  }
  if (!fpu_ok) {
    LogDenied(k, "bad FPU state in the signal frame");
    k.Kill(SIGSEGV);
    return 0;
  }
  SetSignalMask(k, back.mask);
  // restore_altstack(): sigaltstack's own checks; errors other than EFAULT are ignored.
  (void)SetAltStackChecked(k, back.altstack, back.regs.rsp);
  k.shell.SetRegs(back.regs);
  return static_cast<int64_t>(back.regs.rax);  // HandleSyscall stores it in rax again
}

int64_t GuestMonotonicNs(const SandboxKernel& k) {
  return MonotonicNowNs() + k.s.clocks.monotonic_offset_ns;
}

namespace {

// Advances an expired timer; returns how many periods passed (>= 1).
int64_t Expire(state::IntervalTimer& t, int64_t now) {
  if (t.interval_ns == 0) {
    t.expiry_ns = 0;
    return 1;
  }
  const int64_t periods = (now - t.expiry_ns) / t.interval_ns + 1;
  t.expiry_ns += periods * t.interval_ns;
  return periods;
}

}  // namespace

void FireTimers(SandboxKernel& k) {
  state::SignalState& q = k.s.signals;
  const int64_t now = GuestMonotonicNs(k);
  if (q.itimer_real.expiry_ns && q.itimer_real.expiry_ns <= now) {
    Expire(q.itimer_real, now);
    (void)SendSignal(k, MakeSignal(SIGALRM, kSiKernel));
  }
  for (int id = 0; id < state::kMaxPosixTimers; ++id) {
    state::PosixTimer& t = q.timers[id];
    if (!t.in_use || !t.timer.expiry_ns || t.timer.expiry_ns > now) continue;
    const int64_t periods = Expire(t.timer, now);
    if (t.notify == SIGEV_NONE) continue;
    // SIGEV_THREAD_ID: that thread's own set; its signal is lost once the thread is gone (as
    // Linux, whose timer then names no task).
    const int32_t target = t.notify == SIGEV_THREAD_ID ? t.tid : 0;
    if (target != 0 && (!ThreadOfProcess(k, target) || !k.tasks.Find(target))) continue;
    bool queued = false;
    for (uint32_t i = 0; i < q.count; ++i) {
      state::PendingSignal& p = q.queue[i];
      if (p.code == kSiTimer && p.timer_id == id) {  // still pending: count an overrun
        p.overrun = static_cast<int32_t>(std::min<int64_t>(INT_MAX, p.overrun + periods));
        queued = true;
      }
    }
    if (queued) continue;
    state::PendingSignal p = MakeSignal(t.signo, kSiTimer);
    p.timer_id = id;
    p.overrun = static_cast<int32_t>(std::min<int64_t>(INT_MAX, periods - 1));
    p.value = t.value;
    p.tid = target;
    (void)SendSignal(k, p);
  }
  RearmTimers(k);
}

void RearmTimers(SandboxKernel& k) {
  const state::SignalState& q = k.s.signals;
  int64_t next = q.itimer_real.expiry_ns;
  for (const state::PosixTimer& t : q.timers)
    if (t.in_use && t.timer.expiry_ns && (!next || t.timer.expiry_ns < next))
      next = t.timer.expiry_ns;
  SignalRuntime& rt = k.signal_rt;
  rt.wake_ns = next ? std::max<int64_t>(1, next - k.s.clocks.monotonic_offset_ns) : 0;
  k.deadline.SetWake(rt.wake_ns);
  if (rt.wake_ns && !rt.interrupter) rt.interrupter = std::make_unique<TimerInterrupter>(k.shell);
  if (rt.interrupter) rt.interrupter->WakeAt(rt.wake_ns);
}

bool WaitForSignal(SandboxKernel& k, uint64_t mask, int64_t until_ns) {
  const int64_t until_host = until_ns ? until_ns - k.s.clocks.monotonic_offset_ns : 0;
  for (;;) {
    FireTimers(k);
    if (SignalDeliverableUnder(k, mask)) return true;
    const int64_t now = MonotonicNowNs();
    if ((until_host && now >= until_host) || k.deadline.Passed()) return false;
    int64_t target = 0;
    for (int64_t t : {k.signal_rt.wake_ns, until_host, k.deadline.deadline_ns()})
      if (t > 0 && (target == 0 || t < target)) target = t;
    if (target == 0) {
      // Only a timer could send a signal to a single-threaded guest, and none is armed.
      k.Log(
          "guest waits for a signal while no timer is armed and nothing else can send one; "
          "ending it with SIGKILL");
      k.Kill(SIGKILL);
      return false;
    }
    if (target > now && !k.wakeup.Wait({}, target))
      std::this_thread::sleep_for(std::chrono::nanoseconds(target - now));
  }
}

}  // namespace cat
