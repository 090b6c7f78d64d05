// Byte-range file locks, fcntl(2)'s F_GETLK/F_SETLK/F_SETLKW and F_OFD_*: one table per
// sandbox, keyed by file (an overlay inode, a host file's dev:ino), each lock owned either by a
// process (POSIX locks: every fd of the file in that process shares them, and closing any of
// them drops them all) or by an open file description (OFD locks: dropped when its last fd
// goes). Locks of one owner never conflict with each other; a lock of another owner conflicts
// when the ranges overlap and either is a write lock. Locks live in the running kernel only
// (spec/abi.md, fcntl, says what a snapshot does with them).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "format/base/error.h"
#include "format/state/file_table.h"

namespace cat {

struct LockFileKey {
  uint32_t kind;  // 0 overlay inode (a = ino), 1 host file (a = dev, b = ino), 2 other (a = id)
  uint64_t a, b;
  bool operator==(const LockFileKey&) const = default;
};

// The file an open file's locks are on: all fds of an overlay inode or a host file share them.
inline LockFileKey LockKeyOf(const state::OpenFile& f) {
  if (f.kind == state::FileKind::kOverlay && f.inode) return {0, f.inode->ino, 0};
  if (f.kind == state::FileKind::kHost) return {1, f.identity.dev, f.identity.ino};
  return {2, reinterpret_cast<uintptr_t>(&f), 0};
}

struct LockOwner {
  bool ofd;     // an open file description's lock (F_OFD_*), else a process's (POSIX)
  uint64_t id;  // the open file's address, or the pid
  int32_t pid;  // F_GETLK's l_pid: the owning process (-1 for OFD locks, as Linux)
  bool operator==(const LockOwner& o) const { return ofd == o.ofd && id == o.id; }
};

struct FileLock {
  LockFileKey file;
  LockOwner owner;
  uint64_t start;
  uint64_t end;  // exclusive; UINT64_MAX = to the end of the file, however it grows
  int16_t type;  // F_RDLCK or F_WRLCK
};

class FileLocks {
 public:
  // Bound on the locks held in one sandbox at once (a guest could otherwise split ranges
  // until catload's memory runs out): past it, a lock that needs a new record gets ENOLCK.
  static constexpr size_t kMaxLocks = 4096;

  // The first lock of another owner that a lock of `type` on [start, end) would conflict with.
  std::optional<FileLock> Conflict(const LockFileKey& file, const LockOwner& owner, uint64_t start,
                                   uint64_t end, int16_t type) const;
  // Sets `type` (F_RDLCK, F_WRLCK or F_UNLCK) on [start, end) for owner, replacing what the
  // owner held there (splitting its locks at the edges). EAGAIN on a conflict (nothing
  // changes), ENOLCK past kMaxLocks.
  Status Set(const LockFileKey& file, const LockOwner& owner, uint64_t start, uint64_t end,
             int16_t type);
  // Drops every lock of owner on file (close of a POSIX owner's fd), or on every file (an
  // OFD's last reference, a process's exit) when `file` is empty.
  void Release(const LockOwner& owner, const std::optional<LockFileKey>& file);
  size_t size() const { return locks_.size(); }
  bool empty() const { return locks_.empty(); }

 private:
  std::vector<FileLock> locks_;
};

}  // namespace cat
