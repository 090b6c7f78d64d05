// timerfd_create, timerfd_settime, timerfd_gettime: a timer on the guest's CLOCK_MONOTONIC
// (the host's plus the sandbox's offset, as clock_gettime) or CLOCK_REALTIME / CLOCK_BOOTTIME,
// armed absolute or relative, one-shot or periodic; a read returns the expirations since the
// last read (8 bytes), blocking until the first one unless O_NONBLOCK.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>

#include <cstring>

#include "format/base/host_clock.h"
#include "loader/kernel/live_file.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

constexpr int64_t kNsPerSec = 1000000000;

class TimerFd final : public LiveFile {
 public:
  TimerFd(clockid_t clock, const state::Clocks& clocks) : clock_(clock), clocks_(clocks) {}

  // The timer's clock now, as the guest reads it.
  int64_t Now() const {
    if (clock_ == CLOCK_REALTIME) return RealtimeNowNs();
    timespec ts{};
    clock_gettime(clock_, &ts);
    return ts.tv_sec * kNsPerSec + ts.tv_nsec + clocks_.monotonic_offset_ns;
  }
  // Arms at the guest-clock time `next_ns` (0 = disarm), repeating every `interval_ns`.
  void Arm(int64_t next_ns, int64_t interval_ns) {
    next_ns_ = next_ns;
    interval_ns_ = next_ns ? interval_ns : 0;
    ticks_ = 0;
  }
  // {time to the next expiry (0 if disarmed), interval}
  std::pair<int64_t, int64_t> Remaining() {
    Advance();
    if (!next_ns_) return {0, interval_ns_};
    const int64_t left = next_ns_ - Now();
    return {left > 0 ? left : 1, interval_ns_};  // an expired, unread one-shot shows 1 ns
  }

  Result<uint64_t> Read(state::OpenFile&, char* buf, uint64_t len) override {
    if (len < 8) return Fail(EINVAL, "timerfd read of less than 8 bytes");
    Advance();
    if (ticks_ == 0) return Fail(EAGAIN, "timer has not expired");
    std::memcpy(buf, &ticks_, 8);
    ticks_ = 0;
    return 8;
  }
  Result<uint64_t> Write(state::OpenFile&, const char*, uint64_t) override {
    return Fail(EINVAL, "timerfd is not writable");
  }
  short Ready(WaitSpec* wait) override {
    Advance();
    if (ticks_) return POLLIN | POLLRDNORM;
    if (wait && next_ns_) wait->WakeAt(MonotonicNowNs() + (next_ns_ - Now()));
    return 0;
  }
  struct stat Stat() const override {
    return AnonInodeStat(0);
  }
  const char* Name() const override { return "anon_inode:[timerfd]"; }
  // Times are on the timer's own clock as the guest reads it, which a restored guest's clock
  // continues (the monotonic offset: spec/boot.md), so they are stored as they are.
  Status Persist(state::OpenFile& f, const state::SandboxState&) const override {
    f.live.kind = state::LiveKind::kTimerFd;
    f.live.flags = static_cast<uint32_t>(clock_);
    f.live.count = ticks_;
    f.live.next_ns = next_ns_;
    f.live.interval_ns = interval_ns_;
    return {};
  }
  void Restore(const state::LiveState& l) {
    next_ns_ = l.next_ns;
    interval_ns_ = l.interval_ns;
    ticks_ = l.count;
  }

 private:
  // Moves expirations that have passed into ticks_.
  void Advance() {
    if (!next_ns_) return;
    const int64_t now = Now();
    if (now < next_ns_) return;
    if (interval_ns_ == 0) {
      ticks_ += 1;
      next_ns_ = 0;
      return;
    }
    const uint64_t n = 1 + static_cast<uint64_t>((now - next_ns_) / interval_ns_);
    ticks_ += n;
    next_ns_ += static_cast<int64_t>(n) * interval_ns_;
  }

  clockid_t clock_;
  const state::Clocks& clocks_;
  int64_t next_ns_ = 0;
  int64_t interval_ns_ = 0;
  uint64_t ticks_ = 0;
};

Result<TimerFd*> TimerOf(SandboxKernel& k, int fd) {
  TRY(state::OpenFile * f, k.files.Get(fd));
  auto* t = dynamic_cast<TimerFd*>(k.files.Live(*f));
  if (!t) return Fail(EINVAL, "not a timerfd");
  return t;
}

Result<int64_t> SpecNs(const timespec& ts) {
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= kNsPerSec) return Fail(EINVAL, "bad time");
  if (ts.tv_sec >= INT64_MAX / kNsPerSec / 2) return Fail(EINVAL, "time out of range");
  return ts.tv_sec * kNsPerSec + ts.tv_nsec;
}

itimerspec ToItimerspec(std::pair<int64_t, int64_t> r) {
  return {{r.second / kNsPerSec, r.second % kNsPerSec}, {r.first / kNsPerSec, r.first % kNsPerSec}};
}

SyscallResult SysTimerfdCreate(SandboxKernel& k, const SyscallArgs& a) {
  const clockid_t clock = static_cast<clockid_t>(a.a[0]);
  const uint64_t flags = a.a[1] & 0xffffffff;
  if (clock == CLOCK_REALTIME_ALARM || clock == CLOCK_BOOTTIME_ALARM) return -EPERM;
  if (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME && clock != CLOCK_BOOTTIME)
    return -EINVAL;
  if (flags & ~uint64_t{TFD_CLOEXEC | TFD_NONBLOCK}) return -EINVAL;
  state::OpenFile* f = k.files.NewLiveFile(std::make_unique<TimerFd>(clock, k.s.clocks),
                                           O_RDWR | ((flags & TFD_NONBLOCK) ? O_NONBLOCK : 0));
  auto fd = k.files.Install(f, 0, (flags & TFD_CLOEXEC) != 0);
  return fd ? *fd : Errno(fd.error());
}

SyscallResult SysTimerfdSettime(SandboxKernel& k, const SyscallArgs& a) {
  const uint64_t flags = a.a[1] & 0xffffffff;
  // TFD_TIMER_CANCEL_ON_SET is accepted: the guest cannot set the clock, so it never fires.
  if (flags & ~uint64_t{TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET}) return -EINVAL;
  auto t = TimerOf(k, static_cast<int>(a.a[0]));
  if (!t) return Errno(t.error());
  auto spec = k.mem.ReadObject<itimerspec>(a.a[2]);
  if (!spec) return -EFAULT;
  auto value = SpecNs(spec->it_value);
  auto interval = SpecNs(spec->it_interval);
  if (!value || !interval) return -EINVAL;
  const itimerspec old = ToItimerspec((*t)->Remaining());
  if (a.a[3] && !k.mem.WriteObject(a.a[3], old)) return -EFAULT;
  int64_t next = 0;
  if (*value) {
    next = (flags & TFD_TIMER_ABSTIME) ? *value : (*t)->Now() + *value;
    if (next <= 0) next = 1;  // an absolute time in the past expires at once
  }
  (*t)->Arm(next, *interval);
  return 0;
}

SyscallResult SysTimerfdGettime(SandboxKernel& k, const SyscallArgs& a) {
  auto t = TimerOf(k, static_cast<int>(a.a[0]));
  if (!t) return Errno(t.error());
  return k.mem.WriteObject(a.a[1], ToItimerspec((*t)->Remaining())) ? 0 : -EFAULT;
}

}  // namespace

std::unique_ptr<LiveFile> RestoreTimerFd(const state::LiveState& l, const state::Clocks& clocks) {
  auto t = std::make_unique<TimerFd>(static_cast<clockid_t>(l.flags), clocks);
  t->Restore(l);
  return t;
}

void RegisterTimerFdSyscalls(SyscallHandler* t) {
  t[SYS_timerfd_create] = SysTimerfdCreate;
  t[SYS_timerfd_settime] = SysTimerfdSettime;
  t[SYS_timerfd_gettime] = SysTimerfdGettime;
}

}  // namespace cat
