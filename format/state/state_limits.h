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

}  // namespace cat::state
