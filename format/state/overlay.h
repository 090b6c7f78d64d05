// Persistent state of the in-memory overlay: every file, directory and symlink the guest
// created or modified outside rw mounts, plus whiteouts for what it deleted from the lower
// (read-only) layers. Entries are keyed by canonical guest path in an open-addressing hash
// table of pointers, so that the table survives relocation unchanged.
#pragma once

#include <cstdint>

#include "format/state/persistent.h"

namespace cat::state {

enum class DeviceKind : uint32_t { kNone = 0, kNull = 1, kZero = 2, kUrandom = 3 };

// An overlay inode. Directories in the overlay are opaque: nothing of a lower layer shows
// through them (they were created by the guest, so no lower directory exists at that path).
struct Inode {
  uint64_t ino;
  uint32_t mode;  // S_IFREG / S_IFDIR / S_IFLNK / S_IFCHR with permission bits
  uint32_t nlink;
  uint32_t refs;  // links from entries + open files; freed at zero
  DeviceKind device;
  int64_t atime_ns;
  int64_t mtime_ns;
  int64_t ctime_ns;
  uint32_t uid;
  uint32_t gid;
  PArray<char> data;  // regular file contents or symlink target (no NUL)
};

struct OverlayEntry {
  PString path;  // canonical guest path, e.g. "/tmp/x"
  Inode* inode;  // null for a whiteout (deleted lower file)
};

struct Overlay {
  PArray<OverlayEntry*> slots;  // power-of-two open-addressing table; null = empty
  uint32_t count;               // live entries, whiteouts included
  uint32_t pad0;                // (removal shifts entries back: no tombstones)
  uint64_t next_ino;
};

}  // namespace cat::state
