// Semantic invariants of the sandbox kernel's persistent objects: what the kernel
// (loader/kernel/*) assumes of each field it indexes with, loops over, frees or hands to the
// host. Each check looks at one object whose memory has already been bounds-checked by the
// structural walk (state_verifier.h) and returns a bare message naming the bad field; the walk
// adds where the object is. Shared by the arena verifier (cold boot, catimg verify/inspect)
// and the state stream decoder (restore, catimg build).
#pragma once

#include <cstdint>
#include <string_view>

#include "format/base/error.h"
#include "format/state/cpu_state.h"
#include "format/state/sandbox_state.h"

namespace cat::state {

// An absolute canonical guest path: "/" or "/a/b", no empty, "." or ".." component, no
// trailing slash.
bool IsCanonicalGuestPath(std::string_view p);
// A canonical path relative to a mount's root: "" (the root itself) or "a/b" likewise.
bool IsCanonicalRelativePath(std::string_view p);

Status CheckProcess(const Process& p);
// One thread's fields, then the process's whole thread array (at least one, leader first with
// tid == pid, sorted unique tids below next_tid).
Status CheckThread(const Thread& t);
Status CheckThreads(const Process& p, const Thread* threads, uint32_t count);
// The saved vCPU contexts of a snapshot (the func-entry thread's tid, the others' contexts in
// tid order) name exactly the state's threads: none missing, none extra.
Status CheckThreadContexts(const SandboxState& s, int32_t entry_tid,
                           const std::vector<ThreadContext>& others);
Status CheckClocks(const Clocks& c);
Status CheckSignals(const SignalState& s);
// Every signal pending for one thread (queue[].tid != 0) names one of `threads`.
Status CheckPendingTargets(const SignalState& s, const Thread* threads, uint32_t count);
// The memory map with its VMA array (`vmas` holds m.vmas.size elements, or is null if empty).
Status CheckMemoryMap(const MemoryMap& m, const Vma* vmas);
Status CheckFdTable(const FdTable& t);
Status CheckFdEntry(const FdEntry& e);

// OpenFile: the scalar fields, then its paths once they are read. When the image/checkpoint
// boundary changes (host names moving out of the state), these two functions and
// CheckMount are the ones to adapt.
Status CheckOpenFile(const OpenFile& f, uint32_t mount_count);
Status CheckOpenFilePaths(const OpenFile& f, std::string_view guest_path,
                          std::string_view host_path);
// An overlay file against its inode (a directory is opened read-only, as a directory).
Status CheckOpenFileInode(const OpenFile& f, const Inode& inode);
Status CheckDirEntry(const DirEntry& d, std::string_view name);
// A kLive file's persisted object (eventfd, timerfd, epoll) and one epoll interest-list item.
// That an item's fd names an open, pollable file that is no epoll is checked when the kernel
// rebuilds the instance (Files::RestoreLiveFiles), where the fd table is at hand.
Status CheckLiveState(const LiveState& l);
Status CheckEpollItem(const EpollItem& i);

Status CheckInode(const Inode& i);
// One extent of a regular file (format/state/overlay.h): inside one window, past the
// previous extent's window (`first_window`), non-empty, ending at or before the file's size.
Status CheckFileExtent(const FileExtent& e, uint64_t file_size, uint64_t first_window);
Status CheckPipe(const Pipe& p);
Status CheckMount(const Mount& m, uint32_t index, std::string_view guest_path);

}  // namespace cat::state
