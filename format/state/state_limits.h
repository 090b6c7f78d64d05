// The bounds the sandbox kernel keeps its persistent state within, stated once in format/ so
// that the state verifier (state_verifier.h) can refuse an arena or stream that exceeds them.
// The loader's own definitions of the same limits static_assert that they agree.
#pragma once

#include <cstdint>

namespace cat::state {

// The guest address space's bounds are in format/base/guest_layout.h.

// fds: catload's --max-fds accepts at most 2^20 (Linux's nr_open), and the guest can only lower
// RLIMIT_NOFILE, so neither max_fds nor the fd table ever exceeds it.
constexpr uint32_t kMaxFds = 1u << 20;

// Paths: PATH_MAX including the NUL (a path of 4095 characters is valid).
constexpr uint32_t kMaxPathLength = 4095;
// A directory entry's name (NAME_MAX).
constexpr uint32_t kMaxNameLength = 255;
// One argv/envp string (MAX_ARG_STRLEN).
constexpr uint32_t kMaxArgLength = 131072;
// Auxiliary vector pairs (Linux passes about 20; AT_VECTOR_SIZE bounds the kernel's own).
constexpr uint32_t kMaxAuxv = 64;
// Mount table entries (catload takes them from the command line).
constexpr uint32_t kMaxMounts = 1024;

// A pipe buffers at most this many bytes (loader/kernel/files.cc), and an overlay file is at
// most Linux's MAX_LFS_FILESIZE long (its data is sparse: extents, format/state/overlay.h).
constexpr uint32_t kPipeCapacity = 65536;
constexpr uint64_t kMaxOverlayFileSize = (1ull << 63) - 1;

// Threads of the guest process a state may hold (catload's --max-procs is at most this).
constexpr uint32_t kMaxThreads = 4096;

// Guest pids and tids are below PID_MAX_LIMIT.
constexpr int32_t kMaxPid = 4194304;

// Clock offsets are bounded so that "host clock + offset" cannot overflow int64 (the host's
// CLOCK_MONOTONIC is far below 2^62 ns, about 146 years).
constexpr int64_t kMaxClockOffsetNs = int64_t{1} << 62;

// An eventfd counts up to 2^64-2 (eventfd(2): a write never makes it reach 2^64-1).
constexpr uint64_t kMaxEventFdCount = 0xfffffffffffffffe;
// A timerfd's times: the interval is at most what timerfd_settime accepts (sys_timerfd.cc,
// under 2^62 ns), the next expiry at most that plus a clock reading.
constexpr int64_t kMaxTimerIntervalNs = int64_t{1} << 62;
constexpr int64_t kMaxTimerNs = int64_t{3} << 61;
// The epoll event bits epoll_ctl accepts (sys_epoll.cc).
constexpr uint32_t kEpollKnownEvents = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 |
                                       0x400 | 0x2000 | (1u << 28) | (1u << 29) | (1u << 30) |
                                       (1u << 31);

}  // namespace cat::state
