// The fd table and I/O on open files of every kind (see files.h).
#include "loader/kernel/files.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <iterator>

#include "format/state/state_limits.h"
#include "loader/kernel/file_data.h"
#include "loader/kernel/file_locks.h"
#include "loader/kernel/guest_wait.h"
#include "loader/kernel/live_file.h"
#include "loader/kernel/overlay_table.h"
#include "loader/kernel/poll_parking.h"
#include "loader/kernel/shared_file_maps.h"
#include "loader/kernel/wait_queue.h"

namespace cat {
namespace {

constexpr uint32_t kPipeCapacity = 65536;
// The state verifier bounds restored pipes by the same limit.
static_assert(kPipeCapacity == state::kPipeCapacity);

int64_t StatMtimeNs(const struct stat& st) {
  return st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
}

bool Readable(const state::OpenFile& f) {
  return (f.status_flags & O_ACCMODE) != O_WRONLY;
}
bool Writable(const state::OpenFile& f) {
  return (f.status_flags & O_ACCMODE) != O_RDONLY;
}

}  // namespace

// A quarter of catload's own fd limit, within [8, 256]: the rest stays free for catload's own
// files (the image, mounts, the checkpoint it writes at capture).
size_t HostFdBudget() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return 256;
  return std::clamp<size_t>(r.rlim_cur / 4, 8, 256);
}

bool Deadline::Passed() const {
  return deadline_ns_ > 0 && MonotonicNowNs() >= deadline_ns_;
}

int Deadline::RemainingMs() const {
  if (!enabled()) return -1;
  int64_t end = deadline_ns_;
  if (wake_ns_ > 0 && (end == 0 || wake_ns_ < end)) end = wake_ns_;
  const int64_t left = end - MonotonicNowNs();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<int64_t>((left + 999999) / 1000000, INT_MAX));
}

Files::Files(state::SandboxState& s, Vfs& vfs, const HostBindings& bindings,
             const Deadline& deadline, const Wakeup& wakeup, Logger log)
    : s_(s),
      vfs_(vfs),
      bindings_(bindings),
      deadline_(deadline),
      wakeup_(wakeup),
      log_(std::move(log)),
      max_host_fds_(HostFdBudget()) {}

Files::~Files() {
  // Sockets going may drop files in flight (unix_socket.h) through Unref, which must find
  // every member alive: the live objects go first, out of the map Unref looks in.
  auto doomed = std::move(live_);
  live_.clear();
  doomed.clear();
}

// ---- fd table ----

state::FdEntry* Files::Entry(int fd) {
  if (fd < 0 || static_cast<uint32_t>(fd) >= s_.fds.entries.size) return nullptr;
  state::FdEntry* e = &s_.fds.entries[static_cast<uint32_t>(fd)];
  return e->file ? e : nullptr;
}

Result<state::OpenFile*> Files::Get(int fd) const {
  if (fd < 0 || static_cast<uint32_t>(fd) >= s_.fds.entries.size) return Fail(EBADF, "bad fd");
  state::OpenFile* f = s_.fds.entries[static_cast<uint32_t>(fd)].file;
  if (!f) return Fail(EBADF, "bad fd");
  return f;
}

Result<int> Files::Install(state::OpenFile* file, int min_fd, bool cloexec) {
  // Every fd below lowest_free_ is in use, so the search for the lowest free one starts
  // there: a function opening thousands of files does not rescan the table each time.
  uint32_t fd = std::max(static_cast<uint32_t>(std::max(min_fd, 0)), lowest_free_);
  while (fd < s_.fds.entries.size && s_.fds.entries[fd].file) ++fd;
  if (static_cast<uint32_t>(std::max(min_fd, 0)) <= lowest_free_) lowest_free_ = fd + 1;
  if (fd >= s_.fds.max_fds) {
    Unref(file);
    return Fail(EMFILE, "too many open files");
  }
  if (fd >= s_.fds.entries.size) s_.fds.entries.Resize(fd + 1);
  s_.fds.entries[fd] = {file, cloexec ? 1u : 0u, 0};
  return static_cast<int>(fd);
}

Status Files::InstallAt(state::OpenFile* file, int fd, bool cloexec) {
  if (fd < 0 || static_cast<uint32_t>(fd) >= s_.fds.max_fds) {
    Unref(file);
    return Fail(EBADF, "fd out of range");
  }
  const uint32_t at = static_cast<uint32_t>(fd);
  if (at >= s_.fds.entries.size) s_.fds.entries.Resize(at + 1);
  state::OpenFile* old = s_.fds.entries[at].file;
  s_.fds.entries[at] = {file, cloexec ? 1u : 0u, 0};
  if (old) Unref(old);
  return {};
}

Status Files::Close(int fd) {
  state::FdEntry* e = Entry(fd);
  if (!e) return Fail(EBADF, "bad fd");
  state::OpenFile* f = e->file;
  e->file = nullptr;
  lowest_free_ = std::min(lowest_free_, static_cast<uint32_t>(fd));
  if (locks_ && !locks_->empty())
    locks_->Release({false, static_cast<uint64_t>(s_.process.pid), s_.process.pid}, LockKeyOf(*f));
  Unref(f);
  return {};
}

void Files::CloseAll() {
  for (uint32_t i = 0; i < s_.fds.entries.size; ++i) (void)Close(static_cast<int>(i));
}

// ---- open files ----

state::OpenFile* Files::NewFile(state::FileKind kind, uint32_t status_flags) {
  state::OpenFile* f = state::New<state::OpenFile>();
  f->refs = 1;
  f->kind = kind;
  f->status_flags = status_flags;
  f->host_fd = -1;
  return f;
}

state::OpenFile* Files::NewLiveFile(std::unique_ptr<LiveFile> live, uint32_t status_flags) {
  state::OpenFile* f = NewFile(state::FileKind::kLive, status_flags);
  live_[f] = std::move(live);
  return f;
}

LiveFile* Files::Live(const state::OpenFile& f) const {
  auto it = live_.find(&f);
  return it == live_.end() ? nullptr : it->second.get();
}

Status Files::PersistLiveFiles() {
  for (uint32_t fd = 0; fd < s_.fds.entries.size; ++fd) {
    state::OpenFile* f = s_.fds.entries[fd].file;
    if (!f || f->kind != state::FileKind::kLive) continue;
    const LiveFile* live = Live(*f);
    Status st = live ? live->Persist(*f, s_) : Fail(ENOTSUP, "a live file without its object");
    if (!st)
      return Fail(st.error().code(), "fd " + std::to_string(fd) + " is " +
                                         (live ? live->Name() : "a live-only file") + ": " +
                                         st.error().message());
  }
  return {};
}

Status Files::RestoreLiveFiles() {
  for (uint32_t fd = 0; fd < s_.fds.entries.size; ++fd) {
    state::OpenFile* f = s_.fds.entries[fd].file;
    if (!f || f->kind != state::FileKind::kLive || live_.count(f)) continue;  // dup-ed: once
    const state::LiveState& l = f->live;
    std::unique_ptr<LiveFile> live;
    switch (l.kind) {
      case state::LiveKind::kEventFd:
        live = RestoreEventFd(l);
        break;
      case state::LiveKind::kTimerFd:
        live = RestoreTimerFd(l, s_.clocks);
        break;
      case state::LiveKind::kEpoll: {
        auto e = RestoreEpoll(l, *this, s_);
        if (!e)
          return Fail(e.error().code(), "fd " + std::to_string(fd) + ": " + e.error().message());
        live = std::move(*e);
        break;
      }
      case state::LiveKind::kNone:
        // The state verifier refuses this (CheckLiveState); kept as a second line.
        return Fail(EBADMSG, "fd " + std::to_string(fd) + " is a live-only file");
    }
    live_[f] = std::move(live);
  }
  return {};
}

Result<uint64_t> Files::LiveIo(state::OpenFile& f, char* rbuf, const char* wbuf, uint64_t len) {
  LiveFile* live = Live(f);
  if (!live) return Fail(EBADF, "live file without its object");
  for (;;) {
    auto n = rbuf ? live->Read(f, rbuf, len) : live->Write(f, wbuf, len);
    if (n || n.error().code() != EAGAIN || (f.status_flags & O_NONBLOCK)) return n;
    // A blocking call waits for what could change the answer. With nothing that could (the
    // guest is single-threaded and the object is in the sandbox), it fails with EAGAIN
    // rather than hang, as reads of an empty pipe do (spec/abi.md).
    WaitSpec wait;
    live->Ready(&wait);
    if (wait.host.empty() && wait.until_ns < 0) return n;
    if (should_park_ && should_park_()) return Fail(kMustParkErrno, "parks among tasks");
    if (BlockGuest(wait, deadline_, wakeup_) == WaitEnd::kDeadline)
      return Fail(EINTR, "deadline passed");
  }
}

Result<int> Files::StdioFd(const state::OpenFile& f, Direction d) const {
  const int fd = bindings_.ChannelFd(f.channel);
  if (fd < 0) return Fail(EBADF, "stdio channel not bound");
  const bool in = f.channel == state::StdioChannel::kRequest;
  if ((d == Direction::kIn && !in) || (d == Direction::kOut && in))
    return Fail(EBADF, "stdio channel carries data the other way");
  return fd;
}

void Files::Unref(state::OpenFile* f) {
  if (--f->refs > 0) return;
  if (locks_ && !locks_->empty()) locks_->Release({true, reinterpret_cast<uintptr_t>(f), -1}, {});
  if (auto it = lru_pos_.find(f); it != lru_pos_.end()) {
    connected_.erase(it->second);
    lru_pos_.erase(it);
  }
  if (f->host_fd >= 0) close(f->host_fd);
  if (f->inode) vfs_.overlay().Unref(f->inode);
  if (state::Pipe* p = f->pipe) {
    if (Readable(*f)) --p->readers;
    if (Writable(*f)) --p->writers;
    if (p->readers == 0 && p->writers == 0) {
      vfs_.budget().Uncharge(PipeBufferCharge(p->buffer.capacity));
      p->buffer.Release();
      state::Delete(p);
    }
  }
  if (auto it = live_.find(f); it != live_.end()) {
    std::unique_ptr<LiveFile> gone = std::move(it->second);
    live_.erase(it);
    gone.reset();
  }
  // Epoll instances watching it drop it, as Linux does when a file's last reference goes.
  for (auto& [file, live] : live_) live->Forget(f);
  f->live.items.Release();
  for (state::DirEntry& d : f->listing) d.name.Release();
  f->listing.Release();
  f->guest_path.Release();
  f->host_path.Release();
  state::Delete(f);
}

Result<state::OpenFile*> Files::OpenSynthetic(const Node& node, int flags) {
  const bool writable = (flags & O_ACCMODE) != O_RDONLY;
  if (!node.exists())
    return Fail((flags & O_CREAT) ? EACCES : ENOENT, "no such file: " + node.path);
  if ((flags & O_CREAT) && (flags & O_EXCL)) return Fail(EEXIST, "exists: " + node.path);
  if (node.is_symlink()) return Fail(ELOOP, "is a symlink: " + node.path);
  const bool is_dir = node.is_dir();
  if (is_dir && writable) return Fail(EISDIR, "is a directory: " + node.path);
  if (writable || (flags & O_TRUNC)) return Fail(EACCES, "read-only: " + node.path);
  if ((flags & O_DIRECTORY) && !is_dir) return Fail(ENOTDIR, "not a directory: " + node.path);
  // The snapshot inode is in no overlay entry: only this open file refers to it.
  state::Inode* inode = vfs_.overlay().NewInode(node.st.st_mode, node.st.st_uid, node.st.st_gid);
  inode->ino = node.st.st_ino;
  inode->nlink = static_cast<uint32_t>(node.st.st_nlink);
  if (!is_dir) {
    auto content = vfs_.SyntheticContent(node.path);
    if (!content) {
      OverlayTable::Ref(inode);
      vfs_.overlay().Unref(inode);
      return std::unexpected(content.error());
    }
    inode->data.Resize(static_cast<uint32_t>(content->size()));
    if (!content->empty()) std::memcpy(inode->data.data, content->data(), content->size());
  }
  state::OpenFile* f =
      NewFile(state::FileKind::kSynthetic, static_cast<uint32_t>(flags & (O_ACCMODE | O_NONBLOCK)));
  OverlayTable::Ref(inode);
  f->inode = inode;
  f->is_directory = is_dir;
  f->guest_path.Assign(node.path);
  return f;
}

Result<state::OpenFile*> Files::Open(const Node& node, int flags, mode_t mode) {
  if (node.sealed || node.layer == Node::Layer::kSynthetic) return OpenSynthetic(node, flags);
  const bool writable = (flags & O_ACCMODE) != O_RDONLY;
  const uint32_t status = static_cast<uint32_t>(flags & (O_ACCMODE | O_APPEND | O_NONBLOCK));
  state::Inode* inode = nullptr;
  int host_fd = -1;
  bool is_dir = false;
  if (!node.exists()) {
    if (!(flags & O_CREAT)) return Fail(ENOENT, "no such file: " + node.path);
    if (node.rw) {
      TRY(host_fd, vfs_.OpenHost(node, flags & (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND),
                                 mode & ~s_.process.umask));
    } else {
      TRY(inode, vfs_.CreateOverlayFile(node, mode));
    }
  } else {
    if ((flags & O_CREAT) && (flags & O_EXCL)) return Fail(EEXIST, "exists: " + node.path);
    if (node.is_symlink()) return Fail(ELOOP, "is a symlink: " + node.path);
    is_dir = node.is_dir();
    if (is_dir && writable) return Fail(EISDIR, "is a directory: " + node.path);
    if ((flags & O_DIRECTORY) && !is_dir) return Fail(ENOTDIR, "not a directory: " + node.path);
    if (node.layer == Node::Layer::kOverlay) {
      inode = node.inode;
    } else if (!node.rw && (writable || (flags & O_TRUNC))) {
      TRY(inode, vfs_.CopyUp(node));  // the first write to a lower file copies it up
    } else {
      // Host devices, FIFOs and sockets are never opened (host_fs_policy.h), as on `nodev`.
      if (IsHostSpecialFile(node.st.st_mode))
        return Fail(EACCES, node.path + " is a host device, FIFO or socket");
      const int host_flags = is_dir
                                 ? (O_RDONLY | O_DIRECTORY)
                                 : (flags & (O_ACCMODE | O_TRUNC | O_APPEND | O_PATH | O_NONBLOCK));
      TRY(host_fd, vfs_.OpenHost(node, host_flags, 0));
    }
  }
  if (inode) {
    if ((flags & O_TRUNC) && writable && S_ISREG(inode->mode)) {
      const uint64_t old_size = inode->size;
      TRY_STATUS(TruncateFileData(*inode, 0, &vfs_.budget()));
      if (shared_) TRY_STATUS(shared_->AfterWrite(*inode, 0, old_size));
    }
    state::OpenFile* f = NewFile(state::FileKind::kOverlay, status);
    OverlayTable::Ref(inode);
    f->inode = inode;
    f->is_directory = S_ISDIR(inode->mode);
    f->guest_path.Assign(node.path);
    return f;
  }
  state::OpenFile* f = NewFile(state::FileKind::kHost, status);
  f->host_fd = host_fd;
  f->mount_index = node.mount;
  f->is_directory = is_dir;
  f->guest_path.Assign(node.path);
  f->host_path.Assign(node.host_rel);
  struct stat st {};
  if (fstat(host_fd, &st) == 0) {
    f->identity = {st.st_dev, st.st_ino, st.st_size, StatMtimeNs(st)};
    // What was opened may differ from what was resolved (the host tree can change between the
    // two): the policy is checked again on the fd itself, at no extra cost per known device.
    if (auto ok = vfs_.CheckHostOpenable(host_fd, st, node.path); !ok) {
      Unref(f);
      return std::unexpected(ok.error());
    }
  }
  Connected(*f);
  return f;
}

void Files::Connected(state::OpenFile& f) {
  if (auto it = lru_pos_.find(&f); it != lru_pos_.end()) {
    connected_.splice(connected_.begin(), connected_, it->second);  // most recent first
    return;
  }
  connected_.push_front(&f);
  lru_pos_[&f] = connected_.begin();
  // Over the budget: disconnect from the least recently used end. A file unlinked on the host
  // cannot be reopened by path, so it keeps its fd (it moves to the front).
  for (size_t tries = connected_.size(); connected_.size() > max_host_fds_ && tries > 0; --tries) {
    state::OpenFile* old = connected_.back();
    struct stat st {};
    if (old == &f || (fstat(old->host_fd, &st) == 0 && st.st_nlink == 0)) {
      connected_.splice(connected_.begin(), connected_, std::prev(connected_.end()));
      continue;
    }
    Disconnect(*old);
  }
}

void Files::Disconnect(state::OpenFile& f) {
  // The identity it reconnects against is the file as it was left (the guest may have written
  // it in a rw mount), so only a change from outside makes the reconnection fail.
  struct stat st {};
  if (fstat(f.host_fd, &st) == 0) f.identity = {st.st_dev, st.st_ino, st.st_size, StatMtimeNs(st)};
  close(f.host_fd);
  f.host_fd = -1;
  connected_.erase(lru_pos_.at(&f));
  lru_pos_.erase(&f);
}

// host_fd value of a file whose reconnection failed: its I/O fails with EIO from then on
// without another log line.
constexpr int32_t kReconnectFailed = -2;

Result<int> Files::HostFd(state::OpenFile& f) {
  if (f.host_fd >= 0) {
    Connected(f);
    return f.host_fd;
  }
  if (f.host_fd == kReconnectFailed) return Fail(EIO, "reconnect failed earlier");
  // On-demand reconnection: reopen by path below the same mount, then check identity.
  Node n;
  n.layer = Node::Layer::kHost;
  n.path = std::string(f.guest_path.view());
  n.mount = f.mount_index;
  n.host_rel = std::string(f.host_path.view());
  const int flags = f.is_directory ? (O_RDONLY | O_DIRECTORY)
                                   : static_cast<int>(f.status_flags & (O_ACCMODE | O_APPEND));
  // Only files in rw mounts are ever open for writing on the host (Open copies others up); a
  // restored state that says otherwise must not get a writable host fd below a ro mount.
  if ((flags & O_ACCMODE) != O_RDONLY && !vfs_.mount_read_write(f.mount_index)) {
    f.host_fd = kReconnectFailed;
    log_("reconnect " + n.path + ": open for writing in a read-only mount; its I/O fails with EIO");
    return Fail(EIO, "writable host file in a read-only mount");
  }
  auto fd = vfs_.OpenHost(n, flags, 0);
  if (!fd) {
    f.host_fd = kReconnectFailed;
    log_("reconnect " + n.path + ": " + fd.error().message() + "; its I/O fails with EIO");
    return Fail(EIO, "reconnect failed");
  }
  struct stat st {};
  fstat(*fd, &st);
  std::string change;
  if (auto ok = vfs_.CheckHostOpenable(*fd, st, n.path); !ok)
    change = ok.error().message();  // the host it was restored on has another file system there
  else if (st.st_size != f.identity.size)
    change = "size " + std::to_string(f.identity.size) + " -> " + std::to_string(st.st_size);
  else if (StatMtimeNs(st) != f.identity.mtime_ns)
    change = "modification time changed, same size";
  if (!change.empty()) {
    close(*fd);
    f.host_fd = kReconnectFailed;
    log_("reconnect " + n.path + ": file changed since the snapshot (" + change +
         "); its I/O fails with EIO");
    return Fail(EIO, "file changed");
  }
  f.host_fd = *fd;
  Connected(f);
  return f.host_fd;
}

Result<bool> Files::WaitHost(int fd, short events) {
  for (;;) {
    pollfd p{fd, events, 0};
    TRY(Wakeup::Reason why, wakeup_.Wait(std::span<pollfd>(&p, 1), deadline_.ns()));
    switch (why) {
      case Wakeup::Reason::kReady:
        return true;  // ready, or an error/hang-up the read or write itself reports
      case Wakeup::Reason::kDeadline:
        return false;
      case Wakeup::Reason::kWoken:
        // Someone needs the tracer (a timer, another thread, the watchdog): nothing for this
        // call yet — a pending signal would end it with EINTR here (s9-signal). Wait again.
        if (deadline_.Passed()) return false;
        continue;
    }
  }
}

Result<uint64_t> Files::ReadHost(int fd, char* buf, uint64_t len, std::optional<int64_t> pos,
                                 bool stream) {
  for (;;) {
    if (stream) {
      // With other tasks to run, a read that would wait parks its task instead.
      if (should_park_ && should_park_()) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 0) == 0) return Fail(kMustParkErrno, "parks among tasks");
      }
      // Blocking reads must not outlast --timeout: wait on the kernel's wakeup (interruptible),
      // bounded by the deadline.
      TRY(bool ready, WaitHost(fd, POLLIN));
      if (!ready) return Fail(EINTR, "deadline passed");
    }
    const ssize_t n = pos ? pread(fd, buf, len, *pos) : read(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read");
    return static_cast<uint64_t>(n);
  }
}

Result<uint64_t> Files::Read(state::OpenFile& f, char* buf, uint64_t len,
                             std::optional<int64_t> pos) {
  if (!Readable(f)) return Fail(EBADF, "not open for reading");
  if (f.is_directory) return Fail(EISDIR, "is a directory");
  switch (f.kind) {
    case state::FileKind::kStdio: {
      TRY(int fd, StdioFd(f, Direction::kIn));
      return ReadHost(fd, buf, len, pos, !pos);
    }
    case state::FileKind::kHost: {
      TRY(int fd, HostFd(f));
      TRY(uint64_t n, ReadHost(fd, buf, len, pos ? *pos : f.offset, false));
      if (!pos) f.offset += static_cast<int64_t>(n);
      return n;
    }
    case state::FileKind::kOverlay: {
      state::Inode* in = f.inode;
      switch (in->device) {
        case state::DeviceKind::kNull:
          return 0;
        case state::DeviceKind::kZero:
          std::memset(buf, 0, len);
          return len;
        case state::DeviceKind::kUrandom: {
          ssize_t n = getrandom(buf, len, 0);
          if (n < 0) return FailErrno("getrandom");
          return static_cast<uint64_t>(n);
        }
        case state::DeviceKind::kNone:
          break;
      }
      const int64_t off = pos ? *pos : f.offset;
      if (off < 0) return Fail(EINVAL, "negative offset");
      if (shared_) TRY_STATUS(shared_->BeforeRead(*in));
      const uint64_t n = ReadFileData(*in, static_cast<uint64_t>(off), buf, len);
      if (!pos) f.offset += static_cast<int64_t>(n);
      return n;
    }
    case state::FileKind::kSynthetic: {
      const int64_t off = pos ? *pos : f.offset;
      if (off < 0) return Fail(EINVAL, "negative offset");
      state::Inode* in = f.inode;
      if (off == 0) {
        // A read from the start generates the file again, as Linux's seq files do; reads
        // further on continue in the snapshot (also one carried across a checkpoint).
        if (auto fresh = vfs_.SyntheticContent(f.guest_path.view())) {
          in->data.Resize(static_cast<uint32_t>(fresh->size()));
          if (!fresh->empty()) std::memcpy(in->data.data, fresh->data(), fresh->size());
        }
      }
      if (static_cast<uint64_t>(off) >= in->data.size) return 0;
      const uint64_t n = std::min<uint64_t>(len, in->data.size - static_cast<uint64_t>(off));
      std::memcpy(buf, in->data.data + off, n);
      if (!pos) f.offset += static_cast<int64_t>(n);
      return n;
    }
    case state::FileKind::kPipe: {
      if (pos) return Fail(ESPIPE, "pipe");
      state::Pipe* p = f.pipe;
      const uint64_t avail = p->buffer.size - p->head;
      if (avail == 0) {
        // The guest is single-threaded: with a writer still open, nothing can ever arrive.
        if (p->writers == 0) return 0;
        return Fail(EAGAIN, "pipe empty");
      }
      const uint64_t n = std::min(len, avail);
      std::memcpy(buf, p->buffer.data + p->head, n);
      p->head += static_cast<uint32_t>(n);
      if (p->head == p->buffer.size) p->head = p->buffer.size = 0;
      return n;
    }
    case state::FileKind::kLive:
      if (pos) return Fail(ESPIPE, "not seekable");
      return LiveIo(f, buf, nullptr, len);
  }
  return Fail(EBADF, "bad file kind");
}

Result<uint64_t> Files::Write(state::OpenFile& f, const char* buf, uint64_t len,
                              std::optional<int64_t> pos) {
  if (!Writable(f)) return Fail(EBADF, "not open for writing");
  switch (f.kind) {
    case state::FileKind::kStdio: {
      TRY(int fd, StdioFd(f, Direction::kOut));
      uint64_t done = 0;
      while (done < len) {
        // A reader that never reads must not hold the guest past --timeout.
        TRY(bool ready, WaitHost(fd, POLLOUT));
        if (!ready) {
          if (done > 0) return done;
          return Fail(EINTR, "deadline passed");
        }
        ssize_t n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          if (done > 0) return done;
          return FailErrno("write");
        }
        done += static_cast<uint64_t>(n);
      }
      return done;
    }
    case state::FileKind::kHost: {
      TRY(int fd, HostFd(f));
      int64_t off = pos ? *pos : f.offset;
      if (!pos && (f.status_flags & O_APPEND)) {
        struct stat st {};
        fstat(fd, &st);
        off = st.st_size;
      }
      ssize_t n = pwrite(fd, buf, len, off);
      if (n < 0) return FailErrno("write");
      if (!pos) f.offset = off + n;
      return static_cast<uint64_t>(n);
    }
    case state::FileKind::kOverlay: {
      state::Inode* in = f.inode;
      if (in->device != state::DeviceKind::kNone) return len;
      int64_t off = pos ? *pos : f.offset;
      if (!pos && (f.status_flags & O_APPEND)) off = static_cast<int64_t>(in->size);
      if (off < 0) return Fail(EINVAL, "negative offset");
      TRY(uint64_t n, WriteFileData(*in, static_cast<uint64_t>(off), buf, len, &vfs_.budget()));
      if (shared_) TRY_STATUS(shared_->AfterWrite(*in, static_cast<uint64_t>(off), n));
      in->mtime_ns = in->ctime_ns = RealtimeNowNs();
      if (!pos) f.offset = off + static_cast<int64_t>(n);
      return n;
    }
    case state::FileKind::kSynthetic:
      return Fail(EACCES, "read-only");  // never opened for writing
    case state::FileKind::kPipe: {
      if (pos) return Fail(ESPIPE, "pipe");
      state::Pipe* p = f.pipe;
      if (p->readers == 0) return Fail(EPIPE, "no reader");
      const uint64_t room = kPipeCapacity - (p->buffer.size - p->head);
      if (room == 0) return Fail(EAGAIN, "pipe full");
      uint64_t n = std::min(len, room);
      if (p->head > 0) {  // drop what was read before growing
        std::memmove(p->buffer.data, p->buffer.data + p->head, p->buffer.size - p->head);
        p->buffer.size -= p->head;
        p->head = 0;
      }
      const uint32_t at = p->buffer.size;
      if (at + n > p->buffer.capacity) {
        // Growing the buffer is guest memory: what does not fit the budget is not written,
        // and a write that fits nothing is ENOMEM (as Linux's pipe_write when no page comes).
        const uint32_t cap = p->buffer.capacity;
        uint32_t grown = cap ? cap : 4;
        while (grown < at + n) grown *= 2;
        const uint64_t more = PipeBufferCharge(grown) - PipeBufferCharge(cap);
        if (!vfs_.budget().TryCharge(more)) {
          n = cap - at;
          if (n == 0) return Fail(ENOMEM, "guest memory limit reached (pipe buffer)");
        } else {
          p->buffer.Reserve(grown);
        }
      }
      p->buffer.Resize(at + static_cast<uint32_t>(n));
      std::memcpy(p->buffer.data + at, buf, n);
      return n;
    }
    case state::FileKind::kLive:
      if (pos) return Fail(ESPIPE, "not seekable");
      return LiveIo(f, nullptr, buf, len);
  }
  return Fail(EBADF, "bad file kind");
}

Result<int64_t> Files::Seek(state::OpenFile& f, int64_t offset, int whence) {
  int64_t size = 0;
  switch (f.kind) {
    case state::FileKind::kPipe:
    case state::FileKind::kLive:
      return Fail(ESPIPE, "pipe");
    case state::FileKind::kStdio: {
      if (ShownAsEmptyPipe(f)) return Fail(ESPIPE, "pipe");
      TRY(int fd, StdioFd(f));
      off_t r = lseek(fd, offset, whence);
      if (r < 0) return FailErrno("lseek");
      return r;
    }
    case state::FileKind::kHost: {
      if (f.is_directory) break;
      TRY(int fd, HostFd(f));
      struct stat st {};
      if (fstat(fd, &st) != 0) return FailErrno("fstat");
      size = st.st_size;
      break;
    }
    case state::FileKind::kOverlay:
      if (f.inode->device != state::DeviceKind::kNone) return 0;
      size = static_cast<int64_t>(f.inode->size);
      break;
    case state::FileKind::kSynthetic:
      // Like Linux's seq files: no end to seek from (the size is what a read generates).
      if (whence == SEEK_END && !f.is_directory) return Fail(EINVAL, "synthetic file");
      size = f.inode->data.size;
      break;
  }
  int64_t target = 0;
  switch (whence) {
    case SEEK_SET:
      target = offset;
      break;
    case SEEK_CUR:
      // A sum past INT64_MAX wraps negative in Linux and is EINVAL there; here it is checked
      // without signed overflow.
      if (__builtin_add_overflow(f.offset, offset, &target))
        return Fail(EINVAL, "offset overflows");
      break;
    case SEEK_END:
      if (__builtin_add_overflow(size, offset, &target)) return Fail(EINVAL, "offset overflows");
      break;
    default:
      return Fail(EINVAL, "bad whence");
  }
  if (target < 0) return Fail(EINVAL, "negative offset");
  if (f.is_directory) {
    // A directory offset is an index into its listing; seeking back to 0 re-reads it.
    if (target == 0) f.listing_valid = 0;
  }
  f.offset = target;
  return target;
}

// What fstat says of an in-sandbox pipe (and of the request channel at capture).
static struct stat PipeStat(const state::Process& p) {
  struct stat st {};
  st.st_mode = S_IFIFO | 0600;
  st.st_nlink = 1;
  st.st_blksize = 4096;
  st.st_uid = p.uid;
  st.st_gid = p.gid;
  return st;
}

Result<struct stat> Files::Stat(state::OpenFile& f) {
  struct stat st {};
  if (ShownAsEmptyPipe(f)) return PipeStat(s_.process);
  switch (f.kind) {
    case state::FileKind::kStdio: {
      TRY(int fd, StdioFd(f));
      if (fstat(fd, &st) != 0) return FailErrno("fstat");
      return st;
    }
    case state::FileKind::kHost: {
      TRY(int fd, HostFd(f));
      if (fstat(fd, &st) != 0) return FailErrno("fstat");
      return st;
    }
    case state::FileKind::kOverlay:
      return Vfs::StatOf(*f.inode);
    case state::FileKind::kSynthetic:
      st = Vfs::StatOf(*f.inode);
      st.st_dev = kSyntheticDev;
      st.st_size = 0;  // as Linux's /proc: the size is known only by reading
      st.st_blocks = 0;
      st.st_blksize = 1024;
      return st;
    case state::FileKind::kPipe:
      return PipeStat(s_.process);
    case state::FileKind::kLive: {
      LiveFile* live = Live(f);
      if (!live) return Fail(EBADF, "live file without its object");
      st = live->Stat();
      st.st_uid = s_.process.uid;
      st.st_gid = s_.process.gid;
      return st;
    }
  }
  return Fail(EBADF, "bad file kind");
}

Status Files::Truncate(state::OpenFile& f, int64_t length) {
  if (length < 0) return Fail(EINVAL, "negative length");
  if (!Writable(f)) return Fail(EINVAL, "not open for writing");
  if (f.kind == state::FileKind::kOverlay && S_ISREG(f.inode->mode)) {
    // Stores through a shared mapping below the old end are the file's before it changes size;
    // afterwards every mapped byte between the old and the new end reads as the file does.
    const uint64_t old_size = f.inode->size, new_size = static_cast<uint64_t>(length);
    if (shared_) TRY_STATUS(shared_->BeforeRead(*f.inode));
    TRY_STATUS(TruncateFileData(*f.inode, new_size, &vfs_.budget()));
    if (shared_) {
      const uint64_t lo = std::min(old_size, new_size), hi = std::max(old_size, new_size);
      TRY_STATUS(shared_->AfterWrite(*f.inode, lo, hi - lo));
    }
    return {};
  }
  if (f.kind == state::FileKind::kHost) {
    TRY(int fd, HostFd(f));
    if (ftruncate(fd, length) != 0) return FailErrno("ftruncate");
    return {};
  }
  return Fail(EINVAL, "cannot truncate");
}

}  // namespace cat
