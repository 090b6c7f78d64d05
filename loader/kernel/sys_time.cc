// Time and entropy syscalls: clocks (monotonic ones shifted by the sandbox's offset so that
// time never runs backwards across a snapshot), sleeps bounded by --timeout, getrandom,
// sysinfo, times and getrusage (CPU time is the guest shell's own).
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "loader/kernel/guest_view.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

constexpr int64_t kNsPerSec = 1000000000;

bool IsMonotonic(clockid_t id) {
  return id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_RAW || id == CLOCK_MONOTONIC_COARSE ||
         id == CLOCK_BOOTTIME;
}

timespec FromNs(int64_t ns) {
  return {ns / kNsPerSec, ns % kNsPerSec};
}

Result<timespec> GuestClock(SandboxKernel& k, clockid_t id) {
  timespec ts{};
  switch (id) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_TAI:
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
      clock_gettime(id, &ts);
      break;
    case CLOCK_PROCESS_CPUTIME_ID:
    case CLOCK_THREAD_CPUTIME_ID:
      ts = FromNs(k.shell.CpuTimeNs());  // the guest's own CPU time, not catload's
      break;
    default:
      return Fail(EINVAL, "unsupported clock");
  }
  if (IsMonotonic(id) && k.s.clocks.monotonic_offset_ns) {
    int64_t ns = ts.tv_sec * kNsPerSec + ts.tv_nsec + k.s.clocks.monotonic_offset_ns;
    ts = {ns / kNsPerSec, ns % kNsPerSec};
  }
  return ts;
}

SyscallResult SysClockGettime(SandboxKernel& k, const SyscallArgs& a) {
  auto ts = GuestClock(k, static_cast<clockid_t>(a.a[0]));
  if (!ts) return Errno(ts.error());
  return k.mem.WriteObject(a.a[1], *ts) ? 0 : -EFAULT;
}

SyscallResult SysClockGetres(SandboxKernel& k, const SyscallArgs& a) {
  timespec res{};
  if (clock_getres(static_cast<clockid_t>(a.a[0]), &res) != 0) return -EINVAL;
  if (a.a[1] && !k.mem.WriteObject(a.a[1], res)) return -EFAULT;
  return 0;
}

SyscallResult SysGettimeofday(SandboxKernel& k, const SyscallArgs& a) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  if (a.a[0] && !k.mem.WriteObject(a.a[0], tv)) return -EFAULT;
  if (a.a[1]) {
    struct timezone tz {};
    if (!k.mem.WriteObject(a.a[1], tz)) return -EFAULT;
  }
  return 0;
}

SyscallResult SysTime(SandboxKernel& k, const SyscallArgs& a) {
  const int64_t now = ::time(nullptr);
  if (a.a[0] && !k.mem.WriteObject(a.a[0], now)) return -EFAULT;
  return now;
}

// Sleeps for `ns`, but never past the run's deadline; returns -EINTR if cut short by the
// deadline or by a signal that is to be delivered (a timer's), writing the time left.
SyscallResult SleepNs(SandboxKernel& k, int64_t ns, uint64_t remain_addr, const SyscallArgs& a) {
  const int64_t end = MonotonicNowNs() + std::min<int64_t>(ns, INT64_MAX / 4);
  if (k.tasks.live() > 1 && ns > 0) {
    // Other threads must run meanwhile: the task parks until `end` (0 then), or a signal it
    // does not block (-EINTR; the time left is not written back then).
    k.tasks.Park(k.tasks.signal_waits, 0, ~0u, end, 0,
                 {a.nr, {a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]}});
    return SyscallResult::Block();
  }
  for (;;) {
    int64_t left = end - MonotonicNowNs();
    if (left <= 0) return 0;
    // On the kernel's wakeup (wait_queue.h), not sleep_for, so that the tracer thread can be
    // woken from a sleep; it ends at the deadline or the next timer expiry too (Deadline::ns).
    int64_t until = end;
    if (k.deadline.ns() > 0 && k.deadline.ns() < until) until = k.deadline.ns();
    auto why = k.wakeup.Wait({}, until);
    if (!why) std::this_thread::sleep_for(std::chrono::nanoseconds(until - MonotonicNowNs()));
    if (MonotonicNowNs() >= end) return 0;
    // Woken early: by the deadline (the run loop ends the guest), or by a timer whose signal
    // interrupts the sleep only if it is delivered (nanosleep is never restarted after a
    // handler, and goes on sleeping for a signal that is ignored or blocked).
    if (k.signal_rt.wake_ns && MonotonicNowNs() >= k.signal_rt.wake_ns) FireTimers(k);
    if (k.deadline.Passed() || SignalDeliverable(k)) {
      left = std::max<int64_t>(0, end - MonotonicNowNs());
      if (remain_addr) {
        timespec rem{left / kNsPerSec, left % kNsPerSec};
        (void)k.mem.WriteObject(remain_addr, rem);
      }
      return -EINTR;
    }
  }
}

Result<int64_t> ReadDuration(SandboxKernel& k, uint64_t addr) {
  TRY(timespec ts, k.mem.ReadObject<timespec>(addr));
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= kNsPerSec) return Fail(EINVAL, "bad time");
  if (ts.tv_sec > INT64_MAX / kNsPerSec - 1) return INT64_MAX / 2;
  return ts.tv_sec * kNsPerSec + ts.tv_nsec;
}

SyscallResult SysNanosleep(SandboxKernel& k, const SyscallArgs& a) {
  auto ns = ReadDuration(k, a.a[0]);
  if (!ns) return Errno(ns.error());
  return SleepNs(k, *ns, a.a[1], a);
}

SyscallResult SysClockNanosleep(SandboxKernel& k, const SyscallArgs& a) {
  const clockid_t id = static_cast<clockid_t>(a.a[0]);
  auto ns = ReadDuration(k, a.a[2]);
  if (!ns) return Errno(ns.error());
  int64_t wait = *ns;
  if (a.a[1] & TIMER_ABSTIME) {
    auto now = GuestClock(k, id);
    if (!now) return Errno(now.error());
    wait = std::max<int64_t>(0, *ns - (now->tv_sec * kNsPerSec + now->tv_nsec));
  }
  return SleepNs(k, wait, (a.a[1] & TIMER_ABSTIME) ? 0 : a.a[3], a);
}

SyscallResult SysGetrandom(SandboxKernel& k, const SyscallArgs& a) {
  const uint64_t len = std::min<uint64_t>(a.a[1], 1 << 20);
  std::vector<char> buf(len);
  const ssize_t n = getrandom(buf.data(), len, static_cast<unsigned>(a.a[2]) & GRND_NONBLOCK);
  if (n < 0) return -errno;
  return k.mem.CopyOut(a.a[0], buf.data(), static_cast<size_t>(n)) ? n : -EFAULT;
}

SyscallResult SysSysinfo(SandboxKernel& k, const SyscallArgs& a) {
  struct sysinfo info {};
  sysinfo(&info);
  info.procs = 1;
  // The guest's memory is what its limit allows, not the host's (the same figures as
  // /proc/meminfo: guest_view.h): free is what the limit leaves after the guest's mappings and
  // the overlay and pipe memory charged to it. Nothing of the host's page cache, shared memory
  // or swap is shown: those figures describe other processes.
  const GuestMemoryFigures m = GuestMemoryTotals(k.s);
  info.totalram = m.total_bytes / info.mem_unit;
  info.freeram = m.free_bytes() / info.mem_unit;
  info.sharedram = info.bufferram = 0;
  info.totalswap = info.freeswap = 0;
  info.totalhigh = info.freehigh = 0;
  return k.mem.WriteObject(a.a[0], info) ? 0 : -EFAULT;
}

int64_t CpuTicks(SandboxKernel& k) {
  return k.shell.CpuTimeNs() / (kNsPerSec / sysconf(_SC_CLK_TCK));
}

SyscallResult SysTimes(SandboxKernel& k, const SyscallArgs& a) {
  struct tms t {};
  t.tms_utime = CpuTicks(k);
  if (a.a[0] && !k.mem.WriteObject(a.a[0], t)) return -EFAULT;
  return times(nullptr);
}

SyscallResult SysGetrusage(SandboxKernel& k, const SyscallArgs& a) {
  struct rusage ru {};
  const timespec ts = FromNs(k.shell.CpuTimeNs());
  ru.ru_utime = {ts.tv_sec, ts.tv_nsec / 1000};
  ru.ru_maxrss = static_cast<long>(k.s.memory.mapped_bytes / 1024);
  return k.mem.WriteObject(a.a[1], ru) ? 0 : -EFAULT;
}

}  // namespace

void RegisterTimeSyscalls(SyscallHandler* t) {
  t[SYS_clock_gettime] = SysClockGettime;
  t[SYS_clock_getres] = SysClockGetres;
  t[SYS_gettimeofday] = SysGettimeofday;
  t[SYS_time] = SysTime;
  t[SYS_nanosleep] = SysNanosleep;
  t[SYS_clock_nanosleep] = SysClockNanosleep;
  t[SYS_getrandom] = SysGetrandom;
  t[SYS_sysinfo] = SysSysinfo;
  t[SYS_times] = SysTimes;
  t[SYS_getrusage] = SysGetrusage;
}

}  // namespace cat
