// eventfd and eventfd2: a 64-bit counter in a file (counter and EFD_SEMAPHORE modes), as
// Linux's eventfd(2); and timerfd (sys_timerfd.cc) registers beside it.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include <cstring>

#include "format/state/state_limits.h"
#include "loader/kernel/live_file.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {

void RegisterTimerFdSyscalls(SyscallHandler* t);  // sys_timerfd.cc

namespace {

constexpr uint64_t kMaxCount = state::kMaxEventFdCount;  // a write never makes it reach 2^64-1

class EventFd final : public LiveFile {
 public:
  EventFd(uint64_t initial, bool semaphore) : count_(initial), semaphore_(semaphore) {}

  Result<uint64_t> Read(state::OpenFile&, char* buf, uint64_t len) override {
    if (len < 8) return Fail(EINVAL, "eventfd read of less than 8 bytes");
    if (count_ == 0) return Fail(EAGAIN, "eventfd is zero");
    const uint64_t v = semaphore_ ? 1 : count_;
    count_ -= v;
    std::memcpy(buf, &v, 8);
    return 8;
  }
  Result<uint64_t> Write(state::OpenFile&, const char* buf, uint64_t len) override {
    if (len < 8) return Fail(EINVAL, "eventfd write of less than 8 bytes");
    uint64_t v;
    std::memcpy(&v, buf, 8);
    if (v == ~uint64_t{0}) return Fail(EINVAL, "eventfd write of 2^64-1");
    if (v > kMaxCount - count_) return Fail(EAGAIN, "eventfd would overflow");
    count_ += v;
    return 8;
  }
  short Ready(WaitSpec*) override {
    short r = 0;
    if (count_ > 0) r |= POLLIN | POLLRDNORM;
    if (count_ < kMaxCount) r |= POLLOUT | POLLWRNORM;
    return r;
  }
  struct stat Stat() const override {
    return AnonInodeStat(0);
  }
  const char* Name() const override { return "anon_inode:[eventfd]"; }
  Status Persist(state::OpenFile& f, const state::SandboxState&) const override {
    f.live.kind = state::LiveKind::kEventFd;
    f.live.flags = semaphore_ ? 1 : 0;
    f.live.count = count_;
    return {};
  }

 private:
  uint64_t count_;
  bool semaphore_;
};

int64_t DoEventFd(SandboxKernel& k, uint64_t initial, uint64_t flags) {
  if (flags & ~uint64_t{EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE}) return -EINVAL;
  const uint32_t status = O_RDWR | ((flags & EFD_NONBLOCK) ? O_NONBLOCK : 0);
  state::OpenFile* f = k.files.NewLiveFile(
      std::make_unique<EventFd>(static_cast<uint32_t>(initial), (flags & EFD_SEMAPHORE) != 0),
      status);
  auto fd = k.files.Install(f, 0, (flags & EFD_CLOEXEC) != 0);
  return fd ? *fd : Errno(fd.error());
}

// The initial value is an unsigned int in both calls (Linux truncates it to 32 bits).
SyscallResult SysEventFd(SandboxKernel& k, const SyscallArgs& a) {
  return DoEventFd(k, a.a[0], 0);
}
SyscallResult SysEventFd2(SandboxKernel& k, const SyscallArgs& a) {
  return DoEventFd(k, a.a[0], a.a[1] & 0xffffffff);
}

}  // namespace

std::unique_ptr<LiveFile> RestoreEventFd(const state::LiveState& l) {
  return std::make_unique<EventFd>(l.count, (l.flags & 1) != 0);
}

void RegisterEventFdSyscalls(SyscallHandler* t) {
  t[SYS_eventfd] = SysEventFd;
  t[SYS_eventfd2] = SysEventFd2;
  RegisterTimerFdSyscalls(t);
}

}  // namespace cat
