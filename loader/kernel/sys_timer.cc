// Timer syscalls: alarm, setitimer/getitimer (ITIMER_REAL) and the POSIX timers
// (timer_create/settime/gettime/getoverrun/delete). Expiries are kept on the guest's
// monotonic clock in the persistent state; signal_delivery.cc fires them.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include <algorithm>
#include <climits>

#include "loader/kernel/sandbox_kernel.h"
#include "loader/kernel/signal_delivery.h"

namespace cat {
namespace {

constexpr int64_t kNsPerSec = 1000000000;
// Far enough to never expire, small enough that adding intervals cannot overflow (and within
// the state invariants' bound).
constexpr int64_t kMaxTimerNs = int64_t{1} << 61;

int64_t Clamp(int64_t sec, int64_t sub_ns) {
  if (sec > kMaxTimerNs / kNsPerSec) return kMaxTimerNs;
  return sec * kNsPerSec + sub_ns;
}

// The guest's view of a timer: remaining time and interval, both in ns.
struct Setting {
  int64_t value_ns;
  int64_t interval_ns;
};

Setting Get(SandboxKernel& k, const state::IntervalTimer& t) {
  if (!t.expiry_ns) return {0, t.interval_ns};
  return {std::max<int64_t>(1, t.expiry_ns - GuestMonotonicNs(k)), t.interval_ns};
}

void Set(SandboxKernel& k, state::IntervalTimer& t, Setting s) {
  t.interval_ns = s.value_ns ? std::min(s.interval_ns, kMaxTimerNs) : 0;
  t.expiry_ns = s.value_ns ? GuestMonotonicNs(k) + std::min(s.value_ns, kMaxTimerNs) : 0;
  RearmTimers(k);
}

timeval ToTimeval(int64_t ns) {
  return {ns / kNsPerSec, (ns % kNsPerSec + 999) / 1000};
}
timespec ToTimespec(int64_t ns) {
  return {ns / kNsPerSec, ns % kNsPerSec};
}

SyscallResult SysAlarm(SandboxKernel& k, const SyscallArgs& a) {
  const Setting old = Get(k, k.s.signals.itimer_real);
  Set(k, k.s.signals.itimer_real, {Clamp(static_cast<unsigned>(a.a[0]), 0), 0});
  // Linux rounds the old remaining time to the nearest second, and never to 0 while armed.
  if (!old.value_ns) return 0;
  return std::max<int64_t>(1, (old.value_ns + kNsPerSec / 2) / kNsPerSec);
}

SyscallResult SysGetitimer(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[0] == ITIMER_VIRTUAL || a.a[0] == ITIMER_PROF) return -EINVAL;  // spec/abi.md
  if (a.a[0] != ITIMER_REAL) return -EINVAL;
  const Setting s = Get(k, k.s.signals.itimer_real);
  const itimerval v{ToTimeval(s.interval_ns), ToTimeval(s.value_ns)};
  return k.mem.WriteObject(a.a[1], v) ? 0 : -EFAULT;
}

SyscallResult SysSetitimer(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[0] != ITIMER_REAL) return -EINVAL;  // VIRTUAL/PROF: spec/abi.md
  itimerval v{};
  if (a.a[1]) {  // NULL means "disarm", as Linux still accepts
    auto in = k.mem.ReadObject<itimerval>(a.a[1]);
    if (!in) return -EFAULT;
    v = *in;
  }
  for (const timeval& tv : {v.it_value, v.it_interval})
    if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000) return -EINVAL;
  const Setting old = Get(k, k.s.signals.itimer_real);
  if (a.a[2]) {
    const itimerval o{ToTimeval(old.interval_ns), ToTimeval(old.value_ns)};
    if (!k.mem.WriteObject(a.a[2], o)) return -EFAULT;
  }
  Set(k, k.s.signals.itimer_real,
      {Clamp(v.it_value.tv_sec, v.it_value.tv_usec * 1000),
       Clamp(v.it_interval.tv_sec, v.it_interval.tv_usec * 1000)});
  return 0;
}

// struct sigevent as the kernel reads it.
struct GuestSigevent {
  uint64_t value;
  int32_t signo;
  int32_t notify;
  int32_t tid;
  int32_t pad[11];
};
static_assert(sizeof(GuestSigevent) == 64);

constexpr int kSigevThreadId = 4;

state::PosixTimer* TimerOf(SandboxKernel& k, uint64_t id) {
  if (id >= state::kMaxPosixTimers) return nullptr;
  state::PosixTimer& t = k.s.signals.timers[id];
  return t.in_use ? &t : nullptr;
}

SyscallResult SysTimerCreate(SandboxKernel& k, const SyscallArgs& a) {
  const int clock = static_cast<int>(a.a[0]);
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME)
    return -EINVAL;  // CPU-time and alarm clocks: spec/abi.md
  GuestSigevent ev{};
  ev.signo = SIGALRM;
  ev.notify = SIGEV_SIGNAL;
  if (a.a[1]) {
    auto v = k.mem.ReadObject<GuestSigevent>(a.a[1]);
    if (!v) return -EFAULT;
    ev = *v;
    if (ev.notify != SIGEV_SIGNAL && ev.notify != SIGEV_NONE && ev.notify != kSigevThreadId)
      return -EINVAL;  // SIGEV_THREAD is libc's, made of SIGEV_THREAD_ID
    if (ev.notify != SIGEV_NONE && (ev.signo < 1 || ev.signo > state::kNumSignals)) return -EINVAL;
    // Any live thread of the process (Linux's good_sigevent); the signal is that thread's alone.
    if (ev.notify == kSigevThreadId && (!ThreadOfProcess(k, ev.tid) || !k.tasks.Find(ev.tid)))
      return -EINVAL;
  }
  int id = 0;
  while (id < state::kMaxPosixTimers && k.s.signals.timers[id].in_use) ++id;
  if (id == state::kMaxPosixTimers) return -EAGAIN;
  if (!k.mem.WriteObject(a.a[2], id)) return -EFAULT;
  state::PosixTimer& t = k.s.signals.timers[id];
  t = {};
  t.in_use = 1;
  t.clock = clock;
  t.notify = ev.notify;
  t.signo = ev.notify == SIGEV_NONE ? 0 : ev.signo;
  t.value = a.a[1] ? ev.value : static_cast<uint64_t>(id);  // default sigev_value: the id
  t.tid = ev.tid;
  return 0;
}

Result<Setting> ReadItimerspec(SandboxKernel& k, uint64_t addr) {
  TRY(itimerspec v, k.mem.ReadObject<itimerspec>(addr));
  for (const timespec& ts : {v.it_value, v.it_interval})
    if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= kNsPerSec) return Fail(EINVAL, "time");
  return Setting{Clamp(v.it_value.tv_sec, v.it_value.tv_nsec),
                 Clamp(v.it_interval.tv_sec, v.it_interval.tv_nsec)};
}

SyscallResult SysTimerSettime(SandboxKernel& k, const SyscallArgs& a) {
  state::PosixTimer* t = TimerOf(k, a.a[0]);
  if (!t) return -EINVAL;
  auto s = ReadItimerspec(k, a.a[2]);
  if (!s) return Errno(s.error());
  const Setting old = Get(k, t->timer);
  if (a.a[3]) {
    const itimerspec o{ToTimespec(old.interval_ns), ToTimespec(old.value_ns)};
    if (!k.mem.WriteObject(a.a[3], o)) return -EFAULT;
  }
  if ((a.a[1] & TIMER_ABSTIME) && s->value_ns) {
    // An absolute time on the timer's clock, turned into time from now (a later jump of
    // CLOCK_REALTIME does not move it: spec/abi.md).
    timespec now{};
    clock_gettime(t->clock == CLOCK_REALTIME ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
    int64_t now_ns = now.tv_sec * kNsPerSec + now.tv_nsec;
    if (t->clock != CLOCK_REALTIME) now_ns += k.s.clocks.monotonic_offset_ns;
    s->value_ns = std::max<int64_t>(1, s->value_ns - now_ns);
  }
  t->overrun = 0;
  Set(k, t->timer, *s);
  return 0;
}

SyscallResult SysTimerGettime(SandboxKernel& k, const SyscallArgs& a) {
  state::PosixTimer* t = TimerOf(k, a.a[0]);
  if (!t) return -EINVAL;
  const Setting s = Get(k, t->timer);
  const itimerspec v{ToTimespec(s.interval_ns), ToTimespec(s.value_ns)};
  return k.mem.WriteObject(a.a[1], v) ? 0 : -EFAULT;
}

SyscallResult SysTimerGetoverrun(SandboxKernel& k, const SyscallArgs& a) {
  state::PosixTimer* t = TimerOf(k, a.a[0]);
  return t ? t->overrun : -EINVAL;
}

SyscallResult SysTimerDelete(SandboxKernel& k, const SyscallArgs& a) {
  state::PosixTimer* t = TimerOf(k, a.a[0]);
  if (!t) return -EINVAL;
  *t = {};
  // Its signal, if still pending, goes with it.
  state::SignalState& q = k.s.signals;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < q.count; ++i)
    if (!(q.queue[i].code == -2 /*SI_TIMER*/ && q.queue[i].timer_id == static_cast<int>(a.a[0])))
      q.queue[kept++] = q.queue[i];
  for (uint32_t i = kept; i < q.count; ++i) q.queue[i] = {};
  q.count = kept;
  RearmTimers(k);
  return 0;
}

}  // namespace

void RegisterTimerSyscalls(SyscallHandler* t) {
  t[SYS_alarm] = SysAlarm;
  t[SYS_getitimer] = SysGetitimer;
  t[SYS_setitimer] = SysSetitimer;
  t[SYS_timer_create] = SysTimerCreate;
  t[SYS_timer_settime] = SysTimerSettime;
  t[SYS_timer_gettime] = SysTimerGettime;
  t[SYS_timer_getoverrun] = SysTimerGetoverrun;
  t[SYS_timer_delete] = SysTimerDelete;
}

}  // namespace cat
