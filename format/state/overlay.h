// Persistent state of the in-memory overlay: every file, directory and symlink the guest
// created or modified outside rw mounts, plus whiteouts for what it deleted from the lower
// (read-only) layers. Entries are keyed by canonical guest path in an open-addressing hash
// table of pointers, so that the table survives relocation unchanged.
#pragma once

#include <cstdint>

#include "format/state/persistent.h"

namespace cat::state {

enum class DeviceKind : uint32_t { kNone = 0, kNull = 1, kZero = 2, kUrandom = 3 };

// A regular file's contents are held sparse, as extents: each covers bytes
// [offset, offset + bytes.size) of the file and lies inside one kExtentWindow-aligned window of
// the file (offset / kExtentWindow == (offset + bytes.size - 1) / kExtentWindow); a file's
// extents are sorted by offset, at most one per window, none empty, none past Inode.size. Bytes
// no extent covers read as zeros, so ftruncate to 2 GiB costs nothing until the bytes are
// written. What the extents hold is charged against the guest's memory limit
// (MemoryMap.file_bytes, loader/kernel/file_data.h).
constexpr uint64_t kExtentWindow = 64 * 1024;
struct FileExtent {
  uint64_t offset;
  PArray<char> bytes;  // capacity <= kExtentWindow
};

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
  PArray<char> data;           // symlink target (no NUL); empty for every other kind
  uint64_t size;               // regular files: the length (st_size); holes read as zeros
  PArray<FileExtent> extents;  // regular files: the bytes written (see FileExtent)
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
