// epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait, epoll_pwait2: an interest
// list of (fd, open file) items asked for their readiness (readiness.h) at each wait,
// level-triggered by default, EPOLLET and EPOLLONESHOT as Linux. Limits: an item costs
// kItemCharge bytes of the guest's memory budget (ENOSPC past it, as max_user_watches);
// epoll instances nest at most kMaxNesting deep and never in a cycle (ELOOP).
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include <algorithm>
#include <climits>
#include <list>
#include <vector>

#include "format/base/host_clock.h"
#include "format/state/state_limits.h"
#include "loader/kernel/live_file.h"
#include "loader/kernel/poll_parking.h"
#include "loader/kernel/readiness.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

constexpr uint64_t kItemCharge = 128;  // Linux's epitem plus its wait entry, rounded up
constexpr int kMaxNesting = 4;         // Linux's EP_MAX_NESTS
constexpr uint32_t kKnownEvents = EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLRDHUP |
                                  EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG |
                                  EPOLLET | EPOLLONESHOT | EPOLLWAKEUP | EPOLLEXCLUSIVE;
constexpr uint32_t kAlways = EPOLLERR | EPOLLHUP;  // reported whether asked or not
constexpr uint64_t kSigsetSize = 8;

// Files Linux cannot poll (regular files, directories, /dev/null): EPERM, as Linux.
bool Pollable(const state::OpenFile& f) {
  return f.kind == state::FileKind::kStdio || f.kind == state::FileKind::kPipe ||
         f.kind == state::FileKind::kLive;
}

static_assert(kKnownEvents == state::kEpollKnownEvents, "the state verifier checks the same bits");

class Epoll final : public LiveFile {
 public:
  struct Item {
    int fd;
    state::OpenFile* file;  // not a reference: Forget() drops the item when the file goes
    uint32_t events;        // as given, with EPOLLET / EPOLLONESHOT
    uint64_t data;
    uint32_t reported = 0;  // EPOLLET: the ready bits already reported
    bool disarmed = false;  // EPOLLONESHOT: reported once, until EPOLL_CTL_MOD
  };

  Epoll(Files& files, MemoryBudget& budget) : files_(files), budget_(budget) {}
  ~Epoll() override { budget_.Uncharge(items_.size() * kItemCharge); }

  std::list<Item>& items() { return items_; }
  Item* Find(int fd, const state::OpenFile* f) {
    for (Item& i : items_)
      if (i.fd == fd && i.file == f) return &i;
    return nullptr;
  }
  Status Add(Item item) {
    if (!budget_.TryCharge(kItemCharge)) return Fail(ENOSPC, "epoll watches past the memory limit");
    items_.push_back(item);
    return {};
  }
  void Remove(Item* item) {
    items_.remove_if([item](const Item& i) { return &i == item; });
    budget_.Uncharge(kItemCharge);
  }

  // The events of `item` to report now (0: none), updating its edge and one-shot state when
  // `consume`.
  uint32_t Pending(Item& item, WaitSpec* wait, bool consume) {
    if (item.disarmed) return 0;
    const uint32_t now = static_cast<uint16_t>(FileReadiness(files_, *item.file, wait));
    uint32_t hit = now & ((item.events & ~(EPOLLET | EPOLLONESHOT)) | kAlways);
    if (item.events & EPOLLET) {
      // Edge-triggered: a bit is reported when it becomes ready, and again only after it
      // was seen not ready (an approximation: Linux also reports new data on a ready fd).
      item.reported &= hit;
      const uint32_t fresh = hit & ~item.reported;
      if (consume) item.reported |= fresh;
      hit = fresh;
    }
    if (hit && consume && (item.events & EPOLLONESHOT)) item.disarmed = true;
    return hit;
  }

  // Up to `max` ready items, each once; level-triggered items move to the back so that a
  // busy fd does not starve the others (as Linux's ready list).
  std::vector<epoll_event> Collect(size_t max, WaitSpec* wait) {
    std::vector<epoll_event> out;
    size_t n = items_.size();
    for (auto it = items_.begin(); n-- > 0 && it != items_.end();) {
      auto cur = it++;
      if (out.size() >= max) break;
      const uint32_t hit = Pending(*cur, wait, true);
      if (!hit) continue;
      out.push_back({hit, {.u64 = cur->data}});
      if (!(cur->events & (EPOLLET | EPOLLONESHOT))) items_.splice(items_.end(), items_, cur);
    }
    return out;
  }

  Result<uint64_t> Read(state::OpenFile&, char*, uint64_t) override {
    return Fail(EINVAL, "epoll fd is not readable");
  }
  Result<uint64_t> Write(state::OpenFile&, const char*, uint64_t) override {
    return Fail(EINVAL, "epoll fd is not writable");
  }
  // Readable when an item has something to report (an epoll fd inside another epoll, poll).
  short Ready(WaitSpec* wait) override {
    if (depth_guard_) return 0;  // cannot happen: cycles are refused at EPOLL_CTL_ADD
    depth_guard_ = true;
    short r = 0;
    for (Item& i : items_)
      if (Pending(i, wait, false)) r = POLLIN | POLLRDNORM;
    depth_guard_ = false;
    return r;
  }
  struct stat Stat() const override {
    return AnonInodeStat(0);
  }
  const char* Name() const override { return "anon_inode:[eventpoll]"; }
  // Items are written by fd (file_table.h, EpollItem): each must still be at its fd, and an
  // epoll inside another is not carried (its nesting would have to be re-checked at boot).
  Status Persist(state::OpenFile& f, const state::SandboxState& s) const override {
    f.live.kind = state::LiveKind::kEpoll;
    f.live.items.Release();
    for (const Item& i : items_) {
      const bool there = i.fd >= 0 && static_cast<uint32_t>(i.fd) < s.fds.entries.size &&
                         s.fds.entries[static_cast<uint32_t>(i.fd)].file == i.file;
      if (!there)
        return Fail(ENOTSUP, "it watches fd " + std::to_string(i.fd) +
                                 ", which was closed or reused since: close the epoll instance "
                                 "or remove the item before the func-entry point");
      if (dynamic_cast<Epoll*>(files_.Live(*i.file)))
        return Fail(ENOTSUP, "it watches another epoll instance (fd " + std::to_string(i.fd) +
                                 "): nested epoll instances are not carried across a snapshot");
      f.live.items.PushBack({i.fd, i.events, i.data, i.reported, i.disarmed ? 1u : 0u});
    }
    return {};
  }
  Status RestoreItems(const state::LiveState& l, const state::SandboxState& s) {
    for (const state::EpollItem& p : l.items) {
      const uint32_t fd = static_cast<uint32_t>(p.fd);  // CheckEpollItem: 0 <= fd < kMaxFds
      state::OpenFile* file = fd < s.fds.entries.size ? s.fds.entries[fd].file : nullptr;
      if (!file || !Pollable(*file) ||
          (file->kind == state::FileKind::kLive && file->live.kind == state::LiveKind::kEpoll))
        return Fail(EBADMSG, "epoll item fd " + std::to_string(p.fd) +
                                 " names no open file epoll could watch (or an epoll)");
      TRY_STATUS(Add({p.fd, file, p.events, p.data, p.reported, p.disarmed != 0}));
    }
    return {};
  }
  void Forget(const state::OpenFile* f) override {
    const size_t before = items_.size();
    items_.remove_if([f](const Item& i) { return i.file == f; });
    budget_.Uncharge((before - items_.size()) * kItemCharge);
  }

 private:
  Files& files_;
  MemoryBudget& budget_;
  std::list<Item> items_;
  bool depth_guard_ = false;
};

Epoll* EpollOf(Files& files, const state::OpenFile& f) {
  return dynamic_cast<Epoll*>(files.Live(f));
}

// How deep the epoll nesting below `e` goes (1 = no epoll inside), or -1 if `target` is
// reachable from it (adding e to target would make a cycle).
int NestingBelow(Files& files, Epoll& e, const Epoll* target, int level) {
  if (&e == target) return -1;
  if (level > kMaxNesting) return level;
  int deepest = 1;
  for (Epoll::Item& i : e.items())
    if (Epoll* inner = EpollOf(files, *i.file)) {
      const int d = NestingBelow(files, *inner, target, level + 1);
      if (d < 0) return -1;
      deepest = std::max(deepest, d + 1);
    }
  return deepest;
}

// How deep `e` sits inside other epoll instances (0 = in none).
int NestingAbove(Files& files, const state::SandboxState& s, const Epoll& e, int level) {
  if (level > kMaxNesting) return level;
  int deepest = 0;
  for (const state::FdEntry& fe : s.fds.entries) {
    if (!fe.file) continue;
    Epoll* outer = EpollOf(files, *fe.file);
    if (!outer) continue;
    for (Epoll::Item& i : outer->items())
      if (EpollOf(files, *i.file) == &e)
        deepest = std::max(deepest, 1 + NestingAbove(files, s, *outer, level + 1));
  }
  return deepest;
}

int64_t DoCreate(SandboxKernel& k, bool cloexec) {
  state::OpenFile* f =
      k.files.NewLiveFile(std::make_unique<Epoll>(k.files, k.files.budget()), O_RDWR);
  auto fd = k.files.Install(f, 0, cloexec);
  return fd ? *fd : Errno(fd.error());
}

SyscallResult SysEpollCreate(SandboxKernel& k, const SyscallArgs& a) {
  if (static_cast<int>(a.a[0]) <= 0) return -EINVAL;  // the size hint must be positive
  return DoCreate(k, false);
}

SyscallResult SysEpollCreate1(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[0] & ~uint64_t{EPOLL_CLOEXEC}) return -EINVAL;
  return DoCreate(k, (a.a[0] & EPOLL_CLOEXEC) != 0);
}

SyscallResult SysEpollCtl(SandboxKernel& k, const SyscallArgs& a) {
  const int op = static_cast<int>(a.a[1]);
  const int fd = static_cast<int>(a.a[2]);
  epoll_event ev{};
  if (op != EPOLL_CTL_DEL) {
    auto e = k.mem.ReadObject<epoll_event>(a.a[3]);
    if (!e) return -EFAULT;
    ev = *e;
  }
  auto ef = k.files.Get(static_cast<int>(a.a[0]));
  if (!ef) return -EBADF;
  auto tf = k.files.Get(fd);
  if (!tf) return -EBADF;
  if (!Pollable(**tf)) return -EPERM;
  Epoll* ep = EpollOf(k.files, **ef);
  if (!ep || *ef == *tf) return -EINVAL;
  if ((ev.events & ~kKnownEvents) && op != EPOLL_CTL_DEL) return -EINVAL;
  Epoll::Item* item = ep->Find(fd, *tf);
  switch (op) {
    case EPOLL_CTL_ADD: {
      if (item) return -EEXIST;
      if (Epoll* inner = EpollOf(k.files, **tf)) {
        if (ev.events & EPOLLEXCLUSIVE) return -EINVAL;
        const int below = NestingBelow(k.files, *inner, ep, 1);
        if (below < 0) return -ELOOP;  // a cycle
        if (below + NestingAbove(k.files, k.s, *ep, 0) > kMaxNesting) return -ELOOP;
      }
      auto added = ep->Add({fd, *tf, ev.events, ev.data.u64});
      return added ? 0 : Errno(added.error());
    }
    case EPOLL_CTL_MOD:
      if (!item) return -ENOENT;
      if ((ev.events | item->events) & EPOLLEXCLUSIVE) return -EINVAL;
      item->events = ev.events;
      item->data = ev.data.u64;
      item->reported = 0;
      item->disarmed = false;
      return 0;
    case EPOLL_CTL_DEL:
      if (!item) return -ENOENT;
      ep->Remove(item);
      return 0;
  }
  return -EINVAL;
}

SyscallResult DoWait(SandboxKernel& k, int epfd, uint64_t events_addr, int64_t maxevents,
                     int64_t timeout_ns, int timeout_arg) {
  if (maxevents <= 0 || maxevents > INT_MAX / static_cast<int64_t>(sizeof(epoll_event)))
    return -EINVAL;
  auto ef = k.files.Get(epfd);
  if (!ef) return -EBADF;
  Epoll* ep = EpollOf(k.files, **ef);
  if (!ep) return -EINVAL;
  // At most as many events as there are items: the copy is bounded by the interest list.
  const size_t max = std::min<size_t>(static_cast<size_t>(maxevents), ep->items().size());
  int64_t end_ns = -1;
  if (timeout_ns >= 0) {
    const int64_t now = MonotonicNowNs();
    end_ns = timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
  }
  for (;;) {
    WaitSpec wait;
    std::vector<epoll_event> out = ep->Collect(max, timeout_ns == 0 ? nullptr : &wait);
    if (!out.empty()) {
      if (!k.mem.CopyOut(events_addr, out.data(), out.size() * sizeof(epoll_event))) return -EFAULT;
      return static_cast<int64_t>(out.size());
    }
    if (timeout_ns == 0) return 0;
    if (k.tasks.live() > 1) return ParkAndPoll(k, end_ns, timeout_arg);
    if (end_ns >= 0) wait.WakeAt(end_ns);
    switch (BlockGuest(wait, k.deadline, k.wakeup)) {
      case WaitEnd::kWoken:
        continue;
      case WaitEnd::kTimedOut:
        timeout_ns = 0;  // one last look, then 0
        continue;
      case WaitEnd::kDeadline:
        return -EINTR;
    }
  }
}

int64_t CheckSigmask(SandboxKernel& k, uint64_t addr, uint64_t size) {
  if (!addr) return 0;
  if (size != kSigsetSize) return -EINVAL;
  return k.mem.ReadObject<uint64_t>(addr) ? 0 : -EFAULT;
}

int64_t MsTimeout(uint64_t arg) {
  const int ms = static_cast<int>(arg);
  return ms < 0 ? -1 : int64_t{ms} * 1000000;
}

SyscallResult SysEpollWait(SandboxKernel& k, const SyscallArgs& a) {
  return DoWait(k, static_cast<int>(a.a[0]), a.a[1], static_cast<int>(a.a[2]), MsTimeout(a.a[3]),
                3);
}

// The signal mask is checked, not applied yet (as ppoll: sys_poll.cc).
SyscallResult SysEpollPwait(SandboxKernel& k, const SyscallArgs& a) {
  if (int64_t r = CheckSigmask(k, a.a[4], a.a[5]); r) return r;
  return DoWait(k, static_cast<int>(a.a[0]), a.a[1], static_cast<int>(a.a[2]), MsTimeout(a.a[3]),
                3);
}

SyscallResult SysEpollPwait2(SandboxKernel& k, const SyscallArgs& a) {
  int64_t timeout_ns = -1;
  if (a.a[3]) {
    auto ts = k.mem.ReadObject<timespec>(a.a[3]);
    if (!ts) return -EFAULT;
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000) return -EINVAL;
    timeout_ns =
        ts->tv_sec >= INT64_MAX / 1000000000 ? INT64_MAX : ts->tv_sec * 1000000000 + ts->tv_nsec;
  }
  if (int64_t r = CheckSigmask(k, a.a[4], a.a[5]); r) return r;
  return DoWait(k, static_cast<int>(a.a[0]), a.a[1], static_cast<int>(a.a[2]), timeout_ns, -1);
}

}  // namespace

Result<std::unique_ptr<LiveFile>> RestoreEpoll(const state::LiveState& l, Files& files,
                                               const state::SandboxState& s) {
  auto e = std::make_unique<Epoll>(files, files.budget());
  TRY_STATUS(e->RestoreItems(l, s));
  return std::unique_ptr<LiveFile>(std::move(e));
}

void RegisterEpollSyscalls(SyscallHandler* t) {
  t[SYS_epoll_create] = SysEpollCreate;
  t[SYS_epoll_create1] = SysEpollCreate1;
  t[SYS_epoll_ctl] = SysEpollCtl;
  t[SYS_epoll_wait] = SysEpollWait;
  t[SYS_epoll_pwait] = SysEpollPwait;
  t[SYS_epoll_pwait2] = SysEpollPwait2;
}

}  // namespace cat
