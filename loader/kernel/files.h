// Open files and the fd table: installing and closing fds, and I/O on an open file of every
// kind (catload's stdio, host files, overlay inodes and devices, pipes). Host files are
// (re)connected on first use: a restored instance holds no host fd until the guest touches
// the file, and then it checks that the file is still the one it had open.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "format/base/error.h"
#include "format/base/host_clock.h"
#include "format/state/sandbox_state.h"
#include "loader/kernel/host_bindings.h"
#include "loader/kernel/logger.h"
#include "loader/kernel/vfs.h"

namespace cat {

class Deadline;
class LiveFile;
class SharedFileMaps;
class FileLocks;
class Wakeup;

class Files {
 public:
  using Logger = cat::Logger;
  // Blocking stdio I/O waits on `wakeup` (wait_queue.h), bounded by `deadline`.
  Files(state::SandboxState& s, Vfs& vfs, const HostBindings& bindings, const Deadline& deadline,
        const Wakeup& wakeup, Logger log);
  ~Files();  // in files.cc, where LiveFile is complete

  // fd table
  Result<int> Install(state::OpenFile* file, int min_fd, bool cloexec);
  Status InstallAt(state::OpenFile* file, int fd, bool cloexec);  // dup2/dup3
  Result<state::OpenFile*> Get(int fd) const;
  Status Close(int fd);
  // The fd table in the state was swapped for another process's (process_table.h).
  void FdTableSwapped() { lowest_free_ = 0; }
  state::FdEntry* Entry(int fd);
  void CloseAll();

  // Open files
  state::OpenFile* NewFile(state::FileKind kind, uint32_t status_flags);
  static void Ref(state::OpenFile* f) { ++f->refs; }
  void Unref(state::OpenFile* f);
  // A new kLive open file around `live` (refs = 1), and the object behind one (null if none).
  state::OpenFile* NewLiveFile(std::unique_ptr<LiveFile> live, uint32_t status_flags);
  LiveFile* Live(const state::OpenFile& f) const;
  // Capture: writes every live file's object into its OpenFile (LiveFile::Persist); the first
  // that cannot be carried (a socket) fails, naming its fd and what it is.
  Status PersistLiveFiles();
  // Boot: rebuilds the objects of a restored state's live files from what capture wrote.
  Status RestoreLiveFiles();
  size_t live_files() const { return live_.size(); }
  // MAP_SHARED overlay mappings, kept coherent with reads, writes and truncation of their files.
  void set_shared_maps(SharedFileMaps* shared) { shared_ = shared; }
  // fcntl locks, dropped as Linux drops them: a process's POSIX locks on a file when it closes
  // any fd of it, an open file description's OFD locks when its last fd goes.
  void set_locks(FileLocks* locks) { locks_ = locks; }
  // While `should_park` says so (other guest tasks could run), a blocking read of stdin or of
  // a live file (timerfd, eventfd) that would wait fails with kMustParkErrno instead of holding
  // the tracer thread; the read syscall then parks its task (io_wait.h, poll_parking.h).
  void set_park_instead_of_blocking(std::function<bool()> should_park) {
    should_park_ = std::move(should_park);
  }
  MemoryBudget& budget() { return vfs_.budget(); }
  const Deadline& deadline() const { return deadline_; }
  // Opens a resolved node with open(2) flags; handles creation, truncation and copy-up.
  Result<state::OpenFile*> Open(const Node& node, int flags, mode_t mode);

  // I/O. `pos` empty = at and advancing the file offset.
  Result<uint64_t> Read(state::OpenFile& f, char* buf, uint64_t len, std::optional<int64_t> pos);
  Result<uint64_t> Write(state::OpenFile& f, const char* buf, uint64_t len,
                         std::optional<int64_t> pos);
  Result<int64_t> Seek(state::OpenFile& f, int64_t offset, int whence);
  Result<struct stat> Stat(state::OpenFile& f);
  Status Truncate(state::OpenFile& f, int64_t length);
  // The host fd behind a kHost file, reconnecting it if needed. Valid until the next call
  // that may connect another file (at most max_host_fds() are held at once).
  Result<int> HostFd(state::OpenFile& f);
  // The host fd bound to a kStdio file's channel; EBADF if the channel is not bound, or
  // (kIn / kOut) the channel does not carry data that way.
  enum class Direction { kAny, kIn, kOut };
  Result<int> StdioFd(const state::OpenFile& f, Direction d = Direction::kAny) const;
  // At capture, the request channel is shown as what it will be at boot: an empty pipe whose
  // writer is open (fstat says FIFO, lseek ESPIPE, no tty, never ready), whatever catload's
  // own stdin is then (/dev/null, a terminal). State a program derives from it (zsh: "is
  // stdin seekable") is then right after restore.
  void set_request_as_pipe(bool on) { request_as_pipe_ = on; }
  bool ShownAsEmptyPipe(const state::OpenFile& f) const {
    return request_as_pipe_ && f.kind == state::FileKind::kStdio &&
           f.channel == state::StdioChannel::kRequest;
  }
  size_t max_host_fds() const { return max_host_fds_; }
  size_t connected_host_fds() const { return connected_.size(); }

 private:
  // Opens a /proc node or a denied host directory: a read-only snapshot (kSynthetic).
  Result<state::OpenFile*> OpenSynthetic(const Node& node, int flags);
  // Waits until host fd `fd` has `events` (true) or the deadline passes (false).
  Result<bool> WaitHost(int fd, short events);
  Result<uint64_t> ReadHost(int fd, char* buf, uint64_t len, std::optional<int64_t> pos,
                            bool stream);
  // The LRU of connected host files (see connected_).
  void Connected(state::OpenFile& f);
  void Disconnect(state::OpenFile& f);
  // A read (rbuf) or write (wbuf) of a kLive file, waiting while it would block.
  Result<uint64_t> LiveIo(state::OpenFile& f, char* rbuf, const char* wbuf, uint64_t len);

  state::SandboxState& s_;
  Vfs& vfs_;
  const HostBindings& bindings_;
  const Deadline& deadline_;
  const Wakeup& wakeup_;
  std::function<bool()> should_park_;
  Logger log_;
  // Transient: all fds below it are in use (0 is always safe, e.g. after a restore).
  uint32_t lowest_free_ = 0;
  // Transient: the kHost files holding a host fd, most recently used first. A guest may hold
  // as many files open as its own fd limit allows, but catload's host fds are bounded apart
  // from it: past max_host_fds_ the least recently used file is disconnected (its fd closed,
  // host_fd = -1) and reconnects on its next use, identity-checked, as after a restore.
  std::list<state::OpenFile*> connected_;
  std::unordered_map<const state::OpenFile*, std::list<state::OpenFile*>::iterator> lru_pos_;
  size_t max_host_fds_;
  bool request_as_pipe_ = false;
  SharedFileMaps* shared_ = nullptr;
  FileLocks* locks_ = nullptr;
  // Transient: the objects behind kLive files (live_file.h), owned here, released with the file.
  std::unordered_map<const state::OpenFile*, std::unique_ptr<LiveFile>> live_;
};

// The wall-clock limit of a run, which blocking emulated calls (reads of stdin, sleeps) must
// not outlast.
class Deadline {
 public:
  void Set(int64_t deadline_ns) { deadline_ns_ = deadline_ns; }
  // The next timer expiry (host CLOCK_MONOTONIC, 0 = none): blocking waits end there too, so
  // that the timer's signal interrupts them (signal_delivery.cc restarts or fails them).
  void SetWake(int64_t wake_ns) { wake_ns_ = wake_ns; }
  bool enabled() const { return deadline_ns_ > 0 || wake_ns_ > 0; }
  // Milliseconds left to the deadline or the wake-up, whichever is first (-1 if neither), 0
  // once passed.
  int RemainingMs() const;
  // The --timeout deadline itself has passed.
  bool Passed() const;
  int64_t deadline_ns() const { return deadline_ns_; }
  // Where a wait must end: the earlier of the deadline and the wake-up, in CLOCK_MONOTONIC
  // nanoseconds, 0 if neither (Wakeup::Wait's form).
  int64_t ns() const {
    if (wake_ns_ > 0 && (deadline_ns_ == 0 || wake_ns_ < deadline_ns_)) return wake_ns_;
    return deadline_ns_;
  }

 private:
  int64_t deadline_ns_ = 0;
  int64_t wake_ns_ = 0;
};

}  // namespace cat
