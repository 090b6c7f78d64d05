// Computes the layout fingerprint over a table of every persistent struct and field. A field
// added to a struct in format/state must be added here too: a change of size alone is caught
// by the STRUCT entries, but a reordering of same-sized fields only by the FIELD entries.
#include "format/state/layout_fingerprint.h"

#include <xxhash.h>

#include <cstddef>
#include <string>

#include "format/state/arena.h"
#include "format/state/sandbox_state.h"

namespace cat::state {
namespace {

void Add(std::string& out, const char* name, size_t value) {
  out += name;
  out += '=';
  out += std::to_string(value);
  out += ';';
}

#define STRUCT(T) Add(text, #T, sizeof(T))
#define FIELD(T, f) Add(text, #T "." #f, offsetof(T, f))

std::string LayoutText() {
  std::string text;
  Add(text, "arena_preferred_base", kArenaPreferredBase);  // part of the pointer encoding
  STRUCT(PString);
  FIELD(PString, data), FIELD(PString, size);
  STRUCT(PArray<char>);
  FIELD(PArray<char>, data), FIELD(PArray<char>, size), FIELD(PArray<char>, capacity);
  STRUCT(SignalAction);
  STRUCT(Rlimit);
  STRUCT(Process);
  FIELD(Process, pid), FIELD(Process, ppid), FIELD(Process, umask);
  FIELD(Process, uid), FIELD(Process, gid), FIELD(Process, next_tid);
  FIELD(Process, signal_actions), FIELD(Process, rlimits), FIELD(Process, cwd);
  FIELD(Process, exe);
  STRUCT(Thread);
  FIELD(Thread, tid), FIELD(Thread, run_state), FIELD(Thread, clear_child_tid);
  FIELD(Thread, robust_list), FIELD(Thread, robust_list_len), FIELD(Thread, signal_mask);
  FIELD(Thread, altstack_sp), FIELD(Thread, altstack_size), FIELD(Thread, altstack_flags);
  STRUCT(Vma);
  FIELD(Vma, start), FIELD(Vma, end), FIELD(Vma, prot), FIELD(Vma, flags), FIELD(Vma, kind);
  FIELD(Vma, shared_may_write), FIELD(Vma, file_offset), FIELD(Vma, ino);
  STRUCT(MemoryMap);
  FIELD(MemoryMap, vmas), FIELD(MemoryMap, brk_start), FIELD(MemoryMap, brk_end);
  FIELD(MemoryMap, brk_mapped), FIELD(MemoryMap, mmap_top), FIELD(MemoryMap, mapped_bytes);
  FIELD(MemoryMap, limit_bytes), FIELD(MemoryMap, file_bytes);
  STRUCT(FileExtent);
  FIELD(FileExtent, offset), FIELD(FileExtent, bytes);
  STRUCT(Inode);
  FIELD(Inode, ino), FIELD(Inode, mode), FIELD(Inode, nlink), FIELD(Inode, refs);
  FIELD(Inode, device), FIELD(Inode, atime_ns), FIELD(Inode, mtime_ns), FIELD(Inode, ctime_ns);
  FIELD(Inode, uid), FIELD(Inode, gid), FIELD(Inode, data), FIELD(Inode, size);
  FIELD(Inode, extents);
  STRUCT(OverlayEntry);
  FIELD(OverlayEntry, path), FIELD(OverlayEntry, inode);
  STRUCT(Overlay);
  FIELD(Overlay, slots), FIELD(Overlay, count), FIELD(Overlay, next_ino);
  STRUCT(Pipe);
  FIELD(Pipe, buffer), FIELD(Pipe, head), FIELD(Pipe, readers), FIELD(Pipe, writers);
  STRUCT(HostIdentity);
  FIELD(HostIdentity, dev), FIELD(HostIdentity, ino), FIELD(HostIdentity, size);
  FIELD(HostIdentity, mtime_ns);
  STRUCT(DirEntry);
  FIELD(DirEntry, name), FIELD(DirEntry, ino), FIELD(DirEntry, type);
  STRUCT(EpollItem);
  FIELD(EpollItem, fd), FIELD(EpollItem, events), FIELD(EpollItem, data);
  FIELD(EpollItem, reported), FIELD(EpollItem, disarmed);
  STRUCT(LiveState);
  FIELD(LiveState, kind), FIELD(LiveState, flags), FIELD(LiveState, count);
  FIELD(LiveState, next_ns), FIELD(LiveState, interval_ns), FIELD(LiveState, items);
  STRUCT(OpenFile);
  FIELD(OpenFile, refs), FIELD(OpenFile, kind), FIELD(OpenFile, status_flags);
  FIELD(OpenFile, mount_index), FIELD(OpenFile, offset), FIELD(OpenFile, guest_path);
  FIELD(OpenFile, host_path), FIELD(OpenFile, identity), FIELD(OpenFile, inode);
  FIELD(OpenFile, pipe), FIELD(OpenFile, channel), FIELD(OpenFile, host_fd);
  FIELD(OpenFile, is_directory), FIELD(OpenFile, listing_valid), FIELD(OpenFile, listing);
  FIELD(OpenFile, live);
  STRUCT(FdEntry);
  FIELD(FdEntry, file), FIELD(FdEntry, cloexec);
  STRUCT(FdTable);
  FIELD(FdTable, entries), FIELD(FdTable, max_fds);
  STRUCT(Mount);
  FIELD(Mount, guest_path), FIELD(Mount, access), FIELD(Mount, host_dirfd);
  STRUCT(Clocks);
  FIELD(Clocks, monotonic_offset_ns), FIELD(Clocks, snapshot_monotonic_ns);
  STRUCT(Auxv);
  STRUCT(SandboxState);
  FIELD(SandboxState, process), FIELD(SandboxState, threads), FIELD(SandboxState, memory),
      FIELD(SandboxState, fds);
  FIELD(SandboxState, overlay), FIELD(SandboxState, mounts), FIELD(SandboxState, clocks);
  FIELD(SandboxState, argv), FIELD(SandboxState, envp), FIELD(SandboxState, auxv);
  FIELD(SandboxState, signals);
  STRUCT(PendingSignal);
  FIELD(PendingSignal, signo), FIELD(PendingSignal, code), FIELD(PendingSignal, pid);
  FIELD(PendingSignal, uid), FIELD(PendingSignal, timer_id), FIELD(PendingSignal, overrun);
  FIELD(PendingSignal, value), FIELD(PendingSignal, tid);
  STRUCT(IntervalTimer);
  FIELD(IntervalTimer, expiry_ns), FIELD(IntervalTimer, interval_ns);
  STRUCT(PosixTimer);
  FIELD(PosixTimer, in_use), FIELD(PosixTimer, clock), FIELD(PosixTimer, notify);
  FIELD(PosixTimer, signo), FIELD(PosixTimer, value), FIELD(PosixTimer, tid);
  FIELD(PosixTimer, overrun), FIELD(PosixTimer, timer);
  STRUCT(SignalState);
  FIELD(SignalState, count), FIELD(SignalState, queue), FIELD(SignalState, itimer_real);
  FIELD(SignalState, timers);
  return text;
}

#undef STRUCT
#undef FIELD

}  // namespace

uint64_t StateLayoutFingerprint() {
  static const uint64_t fingerprint = [] {
    const std::string text = LayoutText();
    return XXH3_64bits(text.data(), text.size());
  }();
  return fingerprint;
}

}  // namespace cat::state
