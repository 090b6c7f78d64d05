// poll, ppoll, select and pselect6: the readiness of a set of fds (readiness.h), waiting in
// the one blocking primitive (guest_wait.h) until one is ready, the timeout passes or the run's
// deadline does (EINTR). The signal masks of ppoll and pselect6 are read and checked (EFAULT,
// EINVAL for a size other than 8) and otherwise unused: signals are not delivered during the
// wait yet (s9-signal installs the mask for the wait's duration).
#include <poll.h>
#include <sys/select.h>
#include <sys/syscall.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "format/base/host_clock.h"
#include "loader/kernel/poll_parking.h"
#include "loader/kernel/readiness.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

constexpr int64_t kNsPerSec = 1000000000;
constexpr uint64_t kSigsetSize = 8;  // the kernel's sigset_t

// Host CLOCK_MONOTONIC at which a relative timeout ends; -1 = never.
int64_t EndOf(int64_t timeout_ns) {
  if (timeout_ns < 0) return -1;
  const int64_t now = MonotonicNowNs();
  return timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
}

Result<int64_t> ReadTimespecNs(SandboxKernel& k, uint64_t addr) {
  TRY(timespec ts, k.mem.ReadObject<timespec>(addr));
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= kNsPerSec) return Fail(EINVAL, "bad time");
  if (ts.tv_sec >= INT64_MAX / kNsPerSec) return INT64_MAX;
  return ts.tv_sec * kNsPerSec + ts.tv_nsec;
}

// The sigmask argument of ppoll and pselect6: checked, not applied (see the file comment).
int64_t CheckSigmask(SandboxKernel& k, uint64_t addr, uint64_t size) {
  if (!addr) return 0;
  if (size != kSigsetSize) return -EINVAL;
  return k.mem.ReadObject<uint64_t>(addr) ? 0 : -EFAULT;
}

// `left` ns written back into a timespec or timeval, as Linux does for select, pselect6 and
// ppoll (glibc's pselect and ppoll wrappers hide it).
template <class T>
void WriteLeft(SandboxKernel& k, uint64_t addr, int64_t left) {
  if (!addr) return;
  T t{};
  t.tv_sec = left / kNsPerSec;
  if constexpr (requires { t.tv_nsec; })
    t.tv_nsec = left % kNsPerSec;
  else
    t.tv_usec = (left % kNsPerSec) / 1000;
  (void)k.mem.WriteObject(addr, t);
}

// The time left of a wait that ends at `end_ns` (-1: none, nothing written).
template <class T>
void WriteRemaining(SandboxKernel& k, uint64_t addr, int64_t end_ns) {
  if (end_ns >= 0) WriteLeft<T>(k, addr, std::max<int64_t>(0, end_ns - MonotonicNowNs()));
}

// What WaitReady returns when it did not wait because other tasks run (poll_parking.h): the
// caller parks the task. Not a count or an errno.
constexpr int64_t kMustPark = INT64_MIN;

// Runs `scan` (which returns how many fds are ready, or -errno, and adds to the WaitSpec what
// to wait for) until it finds something, the wait ends at `end_ns` (0 = do not wait), or the
// run's deadline passes. With other tasks to run it does not wait: kMustPark.
template <class Scan>
int64_t WaitReady(SandboxKernel& k, int64_t end_ns, bool no_wait, Scan scan) {
  for (;;) {
    WaitSpec wait;
    const int64_t n = scan(no_wait ? nullptr : &wait);
    if (n != 0 || no_wait) return n;
    if (k.tasks.live() > 1) return kMustPark;
    if (end_ns >= 0) wait.WakeAt(end_ns);
    switch (BlockGuest(wait, k.deadline, k.wakeup)) {
      case WaitEnd::kWoken:
        continue;
      case WaitEnd::kTimedOut:
        return scan(nullptr);  // a last look: something may have become ready meanwhile
      case WaitEnd::kDeadline:
        return -EINTR;
    }
  }
}

int64_t DoPoll(SandboxKernel& k, uint64_t fds_addr, uint64_t nfds, int64_t timeout_ns) {
  // Linux: more entries than RLIMIT_NOFILE is EINVAL (so the copy is bounded by the limit).
  if (nfds > k.s.fds.max_fds) return -EINVAL;
  std::vector<pollfd> fds(nfds);
  if (nfds && !k.mem.CopyIn(fds_addr, fds.data(), nfds * sizeof(pollfd))) return -EFAULT;
  const int64_t end_ns = EndOf(timeout_ns);
  const int64_t n = WaitReady(k, end_ns, timeout_ns == 0, [&](WaitSpec* wait) -> int64_t {
    int64_t ready = 0;
    for (pollfd& p : fds) {
      p.revents = 0;
      if (p.fd < 0) continue;  // ignored, as Linux
      auto f = k.files.Get(p.fd);
      if (!f) {
        p.revents = POLLNVAL;
      } else {
        const short now = FileReadiness(k.files, **f, wait);
        p.revents = static_cast<short>(now & (p.events | POLLHUP | POLLERR));
      }
      if (p.revents) ++ready;
    }
    return ready;
  });
  if (n < 0) return n;  // kMustPark too
  if (nfds && !k.mem.CopyOut(fds_addr, fds.data(), nfds * sizeof(pollfd))) return -EFAULT;
  return n;
}

SyscallResult SysPoll(SandboxKernel& k, const SyscallArgs& a) {
  const int timeout_ms = static_cast<int>(a.a[2]);
  const int64_t timeout_ns = timeout_ms < 0 ? -1 : int64_t{timeout_ms} * 1000000;
  const int64_t end_ns = EndOf(timeout_ns);
  const int64_t r = DoPoll(k, a.a[0], a.a[1], timeout_ns);
  if (r == kMustPark) return ParkAndPoll(k, end_ns, 2);
  return r;
}

SyscallResult SysPpoll(SandboxKernel& k, const SyscallArgs& a) {
  if (int64_t r = CheckSigmask(k, a.a[3], a.a[4]); r) return r;
  int64_t timeout_ns = -1;
  if (a.a[2]) {
    auto t = ReadTimespecNs(k, a.a[2]);
    if (!t) return Errno(t.error());
    timeout_ns = *t;
  }
  const int64_t end_ns = EndOf(timeout_ns);
  const int64_t r = DoPoll(k, a.a[0], a.a[1], timeout_ns);
  if (r == kMustPark)
    return ParkAndPoll(k, end_ns, -1, [&](int64_t left) { WriteLeft<timespec>(k, a.a[2], left); });
  WriteRemaining<timespec>(k, a.a[2], end_ns);
  return r;
}

// select's three fd sets, as the guest passes them: bit i of word i/64 is fd i.
struct FdSets {
  std::vector<uint64_t> in[3];
  std::vector<uint64_t> out[3];
};

int64_t DoSelect(SandboxKernel& k, int64_t nfds_arg, const uint64_t set_addr[3],
                 int64_t timeout_ns) {
  if (nfds_arg < 0 || nfds_arg > INT_MAX) return -EINVAL;
  // Linux caps nfds at its fd table's allocated size (at least 64, grown in steps), so set bits
  // past every fd ever opened are ignored, not EBADF; here the table's size rounded up to 64,
  // and never past RLIMIT_NOFILE, which bounds the copy.
  const uint64_t table = std::max<uint64_t>(64, (uint64_t{k.s.fds.entries.size} + 63) / 64 * 64);
  const uint64_t nfds =
      std::min<uint64_t>({static_cast<uint64_t>(nfds_arg), table, uint64_t{k.s.fds.max_fds}});
  const uint64_t words = (nfds + 63) / 64;
  FdSets sets;
  for (int i = 0; i < 3; ++i) {
    if (!set_addr[i]) continue;
    sets.in[i].resize(words);
    if (words && !k.mem.CopyIn(set_addr[i], sets.in[i].data(), words * 8)) return -EFAULT;
    if (nfds % 64) sets.in[i].back() &= (uint64_t{1} << (nfds % 64)) - 1;  // bits past nfds
  }
  // Set bits on fds that are not open: EBADF before any wait, as Linux.
  for (uint64_t fd = 0; fd < nfds; ++fd) {
    const uint64_t bit = uint64_t{1} << (fd % 64);
    bool asked = false;
    for (int i = 0; i < 3; ++i) asked |= !sets.in[i].empty() && (sets.in[i][fd / 64] & bit);
    if (asked && !k.files.Get(static_cast<int>(fd))) return -EBADF;
  }
  constexpr short kReadSet = POLLIN | POLLRDNORM | POLLHUP | POLLERR;
  constexpr short kWriteSet = POLLOUT | POLLWRNORM | POLLERR;
  constexpr short kExceptSet = POLLPRI;
  const int64_t end_ns = EndOf(timeout_ns);
  const int64_t n = WaitReady(k, end_ns, timeout_ns == 0, [&](WaitSpec* wait) -> int64_t {
    int64_t ready = 0;
    for (int i = 0; i < 3; ++i) sets.out[i].assign(sets.in[i].size(), 0);
    for (uint64_t fd = 0; fd < nfds; ++fd) {
      const uint64_t w = fd / 64, bit = uint64_t{1} << (fd % 64);
      const bool r = !sets.in[0].empty() && (sets.in[0][w] & bit);
      const bool wr = !sets.in[1].empty() && (sets.in[1][w] & bit);
      const bool ex = !sets.in[2].empty() && (sets.in[2][w] & bit);
      if (!r && !wr && !ex) continue;
      auto f = k.files.Get(static_cast<int>(fd));
      if (!f) continue;  // closed meanwhile: cannot happen single-threaded
      const short now = FileReadiness(k.files, **f, wait);
      if (r && (now & kReadSet)) sets.out[0][w] |= bit, ++ready;
      if (wr && (now & kWriteSet)) sets.out[1][w] |= bit, ++ready;
      if (ex && (now & kExceptSet)) sets.out[2][w] |= bit, ++ready;
    }
    return ready;
  });
  if (n < 0) return n;  // kMustPark too
  for (int i = 0; i < 3; ++i)
    if (set_addr[i] && words && !k.mem.CopyOut(set_addr[i], sets.out[i].data(), words * 8))
      return -EFAULT;
  return n;
}

SyscallResult SysSelect(SandboxKernel& k, const SyscallArgs& a) {
  int64_t timeout_ns = -1;
  if (a.a[4]) {
    auto tv = k.mem.ReadObject<timeval>(a.a[4]);
    if (!tv) return -EFAULT;
    if (tv->tv_sec < 0 || tv->tv_usec < 0) return -EINVAL;
    // Linux normalizes tv_usec >= 1000000 instead of refusing it.
    const int64_t sec = tv->tv_sec + tv->tv_usec / 1000000;
    timeout_ns =
        sec >= INT64_MAX / kNsPerSec ? INT64_MAX : sec * kNsPerSec + (tv->tv_usec % 1000000) * 1000;
  }
  const uint64_t sets[3] = {a.a[1], a.a[2], a.a[3]};
  const int64_t end_ns = EndOf(timeout_ns);
  const int64_t r = DoSelect(k, static_cast<int64_t>(static_cast<int>(a.a[0])), sets, timeout_ns);
  if (r == kMustPark)
    return ParkAndPoll(k, end_ns, -1, [&](int64_t left) { WriteLeft<timeval>(k, a.a[4], left); });
  WriteRemaining<timeval>(k, a.a[4], end_ns);
  return r;
}

SyscallResult SysPselect6(SandboxKernel& k, const SyscallArgs& a) {
  // The sixth argument points at {const sigset_t *ss; size_t ss_len;}.
  if (a.a[5]) {
    struct {
      uint64_t addr, size;
    } sig{};
    auto s = k.mem.ReadObject<decltype(sig)>(a.a[5]);
    if (!s) return -EFAULT;
    if (int64_t r = CheckSigmask(k, s->addr, s->size); r) return r;
  }
  int64_t timeout_ns = -1;
  if (a.a[4]) {
    auto t = ReadTimespecNs(k, a.a[4]);
    if (!t) return Errno(t.error());
    timeout_ns = *t;
  }
  const uint64_t sets[3] = {a.a[1], a.a[2], a.a[3]};
  const int64_t end_ns = EndOf(timeout_ns);
  const int64_t r = DoSelect(k, static_cast<int64_t>(static_cast<int>(a.a[0])), sets, timeout_ns);
  if (r == kMustPark)
    return ParkAndPoll(k, end_ns, -1, [&](int64_t left) { WriteLeft<timespec>(k, a.a[4], left); });
  WriteRemaining<timespec>(k, a.a[4], end_ns);
  return r;
}

}  // namespace

bool PollWaitsForRequest(SandboxKernel& k, const SyscallArgs& a) {
  switch (a.nr) {
    case SYS_poll:
    case SYS_ppoll: {
      if (a.nr == SYS_poll && static_cast<int>(a.a[2]) == 0) return false;
      if (a.nr == SYS_ppoll && a.a[2]) {
        auto t = ReadTimespecNs(k, a.a[2]);
        if (!t || *t == 0) return false;
      }
      const uint64_t n = std::min<uint64_t>(a.a[1], k.s.fds.max_fds);
      for (uint64_t i = 0; i < n; ++i) {
        auto p = k.mem.ReadObject<pollfd>(a.a[0] + i * sizeof(pollfd));
        if (!p) return false;
        if (p->fd == 0 && (p->events & (POLLIN | POLLRDNORM))) return true;
      }
      return false;
    }
    case SYS_select:
    case SYS_pselect6: {
      if (a.a[4]) {
        auto t = k.mem.ReadObject<timespec>(a.a[4]);  // timeval: the same 16 bytes
        if (!t || (t->tv_sec == 0 && t->tv_nsec == 0)) return false;
      }
      if (static_cast<int>(a.a[0]) < 1 || !a.a[1]) return false;
      auto bits = k.mem.ReadObject<uint8_t>(a.a[1]);
      return bits && (*bits & 1);
    }
  }
  return false;
}

void RegisterPollSyscalls(SyscallHandler* t) {
  t[SYS_poll] = SysPoll;
  t[SYS_ppoll] = SysPpoll;
  t[SYS_select] = SysSelect;
  t[SYS_pselect6] = SysPselect6;
}

}  // namespace cat
