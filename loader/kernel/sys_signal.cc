// Signal syscalls: actions, masks, the alternate stack, sending within the sandbox (kill,
// tgkill, tkill, rt_sigqueueinfo: the guest's own pid namespace, never a host process),
// waiting (pause, rt_sigsuspend, rt_sigtimedwait), rt_sigpending and rt_sigreturn. Delivery
// itself is in signal_delivery.cc.
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <utility>
#include <vector>

#include "loader/kernel/poll_parking.h"
#include "loader/kernel/process_ops.h"
#include "loader/kernel/sandbox_kernel.h"
#include "loader/kernel/signal_access.h"
#include "loader/kernel/signal_delivery.h"

namespace cat {
namespace {

constexpr uint64_t kSigSetSize = 8;
constexpr int kSiUser = 0, kSiQueue = -1, kSiTkill = -6;
constexpr int64_t kNsPerSec = 1000000000;

SyscallResult SysRtSigaction(SandboxKernel& k, const SyscallArgs& a) {
  const uint64_t sig = a.a[0];
  if (sig < 1 || sig > state::kNumSignals || a.a[3] != kSigSetSize) return -EINVAL;
  state::SignalAction& slot = SignalActionOf(k, static_cast<int>(sig));
  state::SignalAction fresh{};
  if (a.a[1]) {
    if (sig == SIGKILL || sig == SIGSTOP) return -EINVAL;
    auto v = k.mem.ReadObject<state::SignalAction>(a.a[1]);
    if (!v) return -EFAULT;
    fresh = *v;
    fresh.mask &= ~((uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1)));
  }
  if (a.a[2] && !k.mem.WriteObject(a.a[2], slot)) return -EFAULT;
  if (a.a[1]) {
    slot = fresh;
    // Setting an action that ignores the signal discards it where it is pending (POSIX).
    const bool default_ignored =
        sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT;
    if (fresh.handler == 1 || (fresh.handler == 0 && default_ignored))
      DiscardPending(k, static_cast<int>(sig));
  }
  return 0;
}

SyscallResult SysRtSigprocmask(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[3] != kSigSetSize) return -EINVAL;
  const uint64_t mask = SignalMask(k);
  uint64_t set = 0;
  if (a.a[1]) {
    auto v = k.mem.ReadObject<uint64_t>(a.a[1]);
    if (!v) return -EFAULT;
    set = *v;
  }
  if (a.a[2] && !k.mem.WriteObject(a.a[2], mask)) return -EFAULT;
  if (!a.a[1]) return 0;
  switch (a.a[0]) {
    case SIG_BLOCK:
      SetSignalMask(k, mask | set);
      break;
    case SIG_UNBLOCK:
      SetSignalMask(k, mask & ~set);
      break;
    case SIG_SETMASK:
      SetSignalMask(k, set);
      break;
    default:
      return -EINVAL;
  }
  return 0;  // a signal it unblocks is delivered on the way back (signal_delivery.cc)
}

SyscallResult SysSigaltstack(SandboxKernel& k, const SyscallArgs& a) {
  const uint64_t sp = k.shell.regs().rsp;
  const sigframe::AltStack alt = AltStackOf(k);
  const sigframe::StackT old{
      alt.sp,
      sigframe::AltStackFlags(alt, sp) |
          (alt.autodisarm ? static_cast<int32_t>(sigframe::kSsAutodisarm) : 0),
      0, alt.size};
  if (a.a[0]) {
    auto v = k.mem.ReadObject<sigframe::StackT>(a.a[0]);
    if (!v) return -EFAULT;
    if (int64_t r = SetAltStackChecked(k, *v, sp); r != 0) return r;
  }
  if (a.a[1] && !k.mem.WriteObject(a.a[1], old)) return -EFAULT;
  return 0;
}

state::PendingSignal FromGuest(SandboxKernel& k, int sig, int code) {
  return MakeSignal(sig, code, k.s.process.pid, k.s.process.uid);
}

SyscallResult SysKill(SandboxKernel& k, const SyscallArgs& a) {
  const int pid = static_cast<int>(a.a[0]);
  const int sig = static_cast<int>(a.a[1]);
  if (sig < 0 || sig > state::kNumSignals) return -EINVAL;
  // Only the sandbox's own pid namespace (process_table.h) is reachable: a pid or group not in
  // it names nobody — never a host process. kill(-1) reaches every process but the caller
  // and the sandbox's init, as in a pid namespace.
  const state::PendingSignal info = FromGuest(k, sig, kSiUser);
  if (pid > 0) {
    GuestProcess* p = k.procs.Find(pid);
    if (!p) return -ESRCH;
    return sig == 0 ? 0 : SendSignalToProcess(k, *p, info);
  }
  const int32_t self = k.procs.current().pid;
  const int32_t group = pid == 0 ? k.procs.current().pgid : -pid;
  std::vector<GuestProcess*> targets;
  for (auto& p : k.procs.all()) {
    if (pid == -1 ? (p->pid != self && p->ppid != 0) : p->pgid == group) targets.push_back(p.get());
  }
  if (targets.empty()) return -ESRCH;
  if (sig == 0) return 0;
  // The caller last: a fatal signal to itself must not stop the others from getting theirs.
  int64_t result = 0;
  GuestProcess* me = nullptr;
  for (GuestProcess* p : targets) {
    if (p->pid == self) {
      me = p;
      continue;
    }
    if (int64_t r = SendSignalToProcess(k, *p, info); r < 0) result = r;
  }
  if (me)
    if (int64_t r = SendSignal(k, info); r < 0) result = r;
  return result;
}

int64_t ThreadSignal(SandboxKernel& k, int tgid, int tid, int sig) {
  if (tid <= 0 || (tgid != -1 && tgid <= 0)) return -EINVAL;
  if (sig < 0 || sig > state::kNumSignals) return -EINVAL;
  // Any live thread of any guest process (the sandbox's pid namespace: tids are unique in it).
  // The signal is pending for that thread alone: only it takes it, at its next syscall exit or
  // when its wait ends (spec/abi.md, "Signals").
  const Task* t = k.tasks.Find(tid);
  GuestProcess* p = t ? k.procs.FindByShell(t->shell) : nullptr;
  if (!p || (tgid != -1 && tgid != p->pid)) return -ESRCH;
  if (sig == 0) return 0;
  state::PendingSignal info = FromGuest(k, sig, kSiTkill);
  info.tid = tid;
  return SendSignalToProcess(k, *p, info);
}
SyscallResult SysTgkill(SandboxKernel& k, const SyscallArgs& a) {
  return ThreadSignal(k, static_cast<int>(a.a[0]), static_cast<int>(a.a[1]),
                      static_cast<int>(a.a[2]));
}
SyscallResult SysTkill(SandboxKernel& k, const SyscallArgs& a) {
  return ThreadSignal(k, -1, static_cast<int>(a.a[0]), static_cast<int>(a.a[1]));
}

// rt_sigqueueinfo / rt_tgsigqueueinfo: the guest's siginfo supplies code, pid, uid and value;
// `tid` 0 queues it for the process, else for that thread of it.
int64_t QueueInfo(SandboxKernel& k, int sig, uint64_t info_addr, int32_t tid) {
  if (sig < 0 || sig > state::kNumSignals) return -EINVAL;
  auto info = k.mem.ReadObject<sigframe::Siginfo>(info_addr);
  if (!info) return -EFAULT;
  state::PendingSignal p = MakeSignal(sig, info->si_code);
  std::memcpy(&p.pid, info->fields + 0, 4);
  std::memcpy(&p.uid, info->fields + 4, 4);
  std::memcpy(&p.value, info->fields + 8, 8);
  p.tid = tid;
  // Sending to itself, any si_code is allowed (Linux checks only for other processes).
  return SendSignal(k, p);
}
SyscallResult SysRtSigqueueinfo(SandboxKernel& k, const SyscallArgs& a) {
  if (static_cast<int>(a.a[0]) != k.s.process.pid) return -ESRCH;
  return QueueInfo(k, static_cast<int>(a.a[1]), a.a[2], 0);
}
SyscallResult SysRtTgsigqueueinfo(SandboxKernel& k, const SyscallArgs& a) {
  const int32_t tid = static_cast<int32_t>(a.a[1]);
  if (static_cast<int>(a.a[0]) != k.s.process.pid || tid <= 0 || !ThreadOfProcess(k, tid) ||
      !k.tasks.Find(tid))
    return -ESRCH;
  return QueueInfo(k, static_cast<int>(a.a[2]), a.a[3], tid);
}

SyscallResult SysRtSigpending(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[1] > kSigSetSize) return -EINVAL;
  // The thread's own set and the shared one, pending because blocked.
  const uint64_t set = PendingSet(k) & SignalMask(k);
  return k.mem.CopyOut(a.a[0], &set, a.a[1]) ? 0 : -EFAULT;
}

// With other threads, a wait for a signal parks the task (tasks.h): they may send it, and
// must run meanwhile. The run loop ends the wait with -EINTR once a signal it does not block
// is pending.
SyscallResult ParkForSignal(SandboxKernel& k, const SyscallArgs& a) {
  k.tasks.Park(k.tasks.signal_waits, 0, ~0u, 0, -EINTR,
               {a.nr, {a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]}});
  return SyscallResult::Block();
}

SyscallResult SysPause(SandboxKernel& k, const SyscallArgs& a) {
  if (k.tasks.live() > 1 && !SignalDeliverableUnder(k, SignalMask(k))) return ParkForSignal(k, a);
  WaitForSignal(k, SignalMask(k), 0);
  return -EINTR;  // ERESTARTNOHAND: only a signal that runs a handler wakes it
}

SyscallResult SysRtSigsuspend(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[1] != kSigSetSize) return -EINVAL;
  auto set = k.mem.ReadObject<uint64_t>(a.a[0]);
  if (!set) return -EFAULT;
  SignalRuntime& rt = k.signal_rt;
  rt.saved_mask = SignalMask(k);
  rt.restore_mask = true;  // the handler's frame saves the old mask; DeliverPending restores it
  SetSignalMask(k, *set);
  if (k.tasks.live() > 1 && !SignalDeliverableUnder(k, SignalMask(k))) return ParkForSignal(k, a);
  WaitForSignal(k, SignalMask(k), 0);
  return -EINTR;
}

SyscallResult SysRtSigtimedwait(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[3] != kSigSetSize) return -EINVAL;
  auto set = k.mem.ReadObject<uint64_t>(a.a[0]);
  if (!set) return -EFAULT;
  const uint64_t wanted = *set & ~((uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1)));
  // A call re-issued after a parked quantum (below) keeps the end its first issue computed.
  int64_t& retry_end = k.tasks.current().retry_end_ns;
  int64_t until = 0;
  if (retry_end) {
    until = std::exchange(retry_end, 0);
  } else if (a.a[2]) {
    auto ts = k.mem.ReadObject<timespec>(a.a[2]);
    if (!ts) return -EFAULT;
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= kNsPerSec) return -EINVAL;
    const int64_t ns = ts->tv_sec > INT64_MAX / kNsPerSec / 4
                           ? INT64_MAX / 4
                           : ts->tv_sec * kNsPerSec + ts->tv_nsec;
    until = GuestMonotonicNs(k) + std::max<int64_t>(ns, 1);
  }
  // The waited-for signals count even while blocked; any other unblocked one interrupts.
  auto take = [&]() -> int64_t {
    auto p = DequeueSignal(k, ~wanted, wanted);
    if (!p) return 0;
    const sigframe::Siginfo info = ToSiginfo(*p);
    if (a.a[1] && !k.mem.WriteObject(a.a[1], info)) return -EFAULT;
    return p->signo;
  };
  FireTimers(k);
  if (int64_t r = take(); r != 0) return r;
  if (until && until - GuestMonotonicNs(k) <= 1) return -EAGAIN;  // a zero timeout polls
  if (k.tasks.live() > 1) {
    // Another thread may send it: park for a quantum among them, then look again (the run
    // loop ends the wait with EINTR for a signal the thread does not block).
    retry_end = until ? until : 0;
    const int64_t end_host = until ? until - k.s.clocks.monotonic_offset_ns : -1;
    return ParkAndPoll(k, end_host, -1, [](int64_t) {});
  }
  if (!WaitForSignal(k, SignalMask(k) & ~wanted, until)) return k.running() ? -EAGAIN : 0;
  if (int64_t r = take(); r != 0) return r;
  return -EINTR;  // another signal, with a handler, came first
}

SyscallResult SysRtSigreturn(SandboxKernel& k, const SyscallArgs&) {
  return SignalReturn(k);
}

}  // namespace

void RegisterSignalSyscalls(SyscallHandler* t) {
  t[SYS_rt_sigaction] = SysRtSigaction;
  t[SYS_rt_sigprocmask] = SysRtSigprocmask;
  t[SYS_sigaltstack] = SysSigaltstack;
  t[SYS_kill] = SysKill;
  t[SYS_tgkill] = SysTgkill;
  t[SYS_tkill] = SysTkill;
  t[SYS_rt_sigqueueinfo] = SysRtSigqueueinfo;
  t[SYS_rt_tgsigqueueinfo] = SysRtTgsigqueueinfo;
  t[SYS_rt_sigpending] = SysRtSigpending;
  t[SYS_pause] = SysPause;
  t[SYS_rt_sigsuspend] = SysRtSigsuspend;
  t[SYS_rt_sigtimedwait] = SysRtSigtimedwait;
  t[SYS_rt_sigreturn] = SysRtSigreturn;
}

}  // namespace cat
