// Persistent state of open files and the fd table. An OpenFile is shared by dup-ed fds (one
// offset, one set of status flags), as in Linux. Host-backed files record their identity at
// open so that a restored instance can reconnect them lazily and check they did not change.
#pragma once

#include <cstdint>

#include "format/state/overlay.h"
#include "format/state/persistent.h"

namespace cat::state {

enum class FileKind : uint32_t {
  kStdio = 0,    // a stdio channel (request, response, log), bound to a host fd at boot
  kHost = 1,     // a file or directory in the rootfs or a mount
  kOverlay = 2,  // an overlay inode (regular file, directory, symlink or device)
  kPipe = 3,     // one end of an in-sandbox pipe
  // A synthetic file or directory (/proc, a denied host directory): `inode` is its own
  // read-only snapshot (S_IFREG: the generated content; S_IFDIR: no data), in no overlay
  // entry, referenced by this file alone; guest_path names what it was generated from.
  kSynthetic = 4,
  // An eventfd, timerfd, epoll instance or AF_UNIX socket: its object lives in the running
  // kernel (loader/kernel/live_file.h). Eventfds, timerfds and epoll instances are written into
  // `live` at capture and rebuilt from it at boot; a socket (live.kind kNone) is refused by
  // capture, and by the state verifier in anything restored.
  kLive = 5,
};

// The stdio channels a function talks through. The state names a channel, never a host fd: the
// boot caller binds each channel to a host fd (loader/kernel/host_bindings.h), and a channel
// carries data one way only (the request in, the response and log out).
enum class StdioChannel : uint32_t { kRequest = 0, kResponse = 1, kLog = 2 };
constexpr uint32_t kNumStdioChannels = 3;

struct Pipe {
  PArray<char> buffer;  // bytes written, not yet read, from `head`
  uint32_t head;
  uint32_t readers;
  uint32_t writers;
  uint32_t pad0;
};

// Identity of a host file at open, checked when it is reconnected.
struct HostIdentity {
  uint64_t dev;
  uint64_t ino;
  int64_t size;
  int64_t mtime_ns;
};

// A directory listing snapshot taken at the first getdents64 (Linux gives no stronger guarantee).
struct DirEntry {
  PString name;
  uint64_t ino;
  uint8_t type;  // DT_*
  uint8_t pad[7];
};

// Which object a kLive file carries across a snapshot (spec/boot.md, "Eventfd, timerfd and
// epoll across snapshots").
enum class LiveKind : uint32_t { kNone = 0, kEventFd = 1, kTimerFd = 2, kEpoll = 3 };

// One entry of an epoll interest list. The watched file is named by its fd: at capture it is
// the file open at that fd (capture refuses an item whose fd was closed or reused since, and an
// epoll inside another), so a snapshot holds no pointer from one open file to another.
struct EpollItem {
  int32_t fd;
  uint32_t events;    // as given to epoll_ctl, with EPOLLET / EPOLLONESHOT
  uint64_t data;      // epoll_data, returned as given
  uint32_t reported;  // EPOLLET: the ready bits already reported
  uint32_t disarmed;  // EPOLLONESHOT: 1 once reported, until EPOLL_CTL_MOD
};

// The persisted form of a kLive file's object, valid in a snapshot (written at capture; the
// running kernel keeps the object itself in Files and does not update this).
struct LiveState {
  LiveKind kind;
  uint32_t flags;       // kEventFd: 1 = EFD_SEMAPHORE; kTimerFd: its clockid
  uint64_t count;       // kEventFd: the counter; kTimerFd: expirations not read yet
  int64_t next_ns;      // kTimerFd: next expiry on its clock as the guest reads it; 0 = disarmed
  int64_t interval_ns;  // kTimerFd: the period, 0 = one-shot
  PArray<EpollItem> items;  // kEpoll: the interest list, in ready-list order
};

struct OpenFile {
  uint32_t refs;
  FileKind kind;
  uint32_t status_flags;  // O_ACCMODE | O_APPEND | O_NONBLOCK | ...
  uint32_t mount_index;   // kHost: which mount the path lives in
  int64_t offset;
  PString guest_path;  // canonical guest path ("" for stdio and pipes)
  PString host_path;   // kHost: path relative to the mount's host directory
  HostIdentity identity;
  Inode* inode;          // kOverlay, kSynthetic
  Pipe* pipe;            // kPipe
  StdioChannel channel;  // kStdio: which channel
  int32_t host_fd;       // kHost: transient host fd; -1 = not connected (yet)
  uint32_t is_directory;
  uint32_t listing_valid;
  PArray<DirEntry> listing;
  LiveState live;  // kLive only (zero otherwise)
};

struct FdEntry {
  OpenFile* file;  // null = free slot
  uint32_t cloexec;
  uint32_t pad0;
};

struct FdTable {
  PArray<FdEntry> entries;
  uint32_t max_fds;  // RLIMIT_NOFILE, enforced
  uint32_t pad0;
};

}  // namespace cat::state
