// MAP_SHARED mappings of overlay files (state::VmaKind::kSharedFile): keeps the guest's pages
// and the file's data (its extents, file_data.h) coherent. The file's data stays the one store
// the state carries; the guest's pages are private memory of its shell that the kernel
// reconciles with it at every point the guest could observe a difference, that is at syscall
// boundaries:
//  - before the file's data is read (read, pread, a new mapping of it, capture), what the
//    guest wrote through a writable mapping is copied into the file (a pull);
//  - after the file's data changed (write, pwrite, ftruncate, O_TRUNC), the changed bytes are
//    copied into every mapping of them (a push);
//  - before a shared range is unmapped, re-protected, moved or replaced, and on msync, it is
//    pulled.
// One guest process runs at a time on one tracer thread, so nothing reads the file between a
// store and the next syscall. Two mappings of the same file (aliases) are made coherent with
// each other at every syscall while they exist (SyncAliases): a store through one is seen
// through the other from the next syscall on (spec/sandbox.md §7.1 says why and what comes
// next).
#pragma once

#include <cstdint>
#include <unordered_map>

#include "format/base/error.h"
#include "format/state/sandbox_state.h"
#include "loader/kernel/memory_budget.h"
#include "loader/platform/platform.h"

namespace cat {

class SharedFileMaps {
 public:
  SharedFileMaps(state::MemoryMap& map, Shell& shell, MemoryBudget& budget)
      : map_(map), shell_(shell), budget_(budget) {}

  // A restored state: finds the inodes its kSharedFile VMAs name among the overlay's entries
  // and the open files. A VMA naming none (its file is gone) is plain memory from then on.
  void Adopt(state::SandboxState& s);
  // A kSharedFile VMA of `inode` was just made.
  void Track(state::Inode* inode);
  // The inode is being freed (no entry, no open file): its mappings become plain memory.
  void Forget(const state::Inode* inode);
  bool empty() const { return inodes_.empty(); }
  // Some file is mapped shared more than once: every syscall calls SyncAliases first.
  bool aliased() const { return aliased_; }
  // Pulls every shared mapping (a pull pushes what changed into the file's other mappings);
  // clears aliased() once no file is mapped twice.
  Status SyncAliases();

  // Pull: what the guest wrote through writable mappings of `inode` goes into its data.
  Status BeforeRead(const state::Inode& inode);
  // Push: bytes [offset, offset + len) of the file, as its data now says (zeros past its end),
  // go into every mapping of them.
  Status AfterWrite(const state::Inode& inode, uint64_t offset, uint64_t len);
  // Pull of the shared mappings in guest range [start, end) (munmap, mprotect, mremap, msync).
  Status PullRange(uint64_t start, uint64_t end);
  // Push into the shared mappings in guest range [start, end) (a moved or grown mapping).
  Status PushRange(uint64_t start, uint64_t end);
  // Pull of every shared mapping (capture: the file's data is the state).
  Status PullAll() { return PullRange(0, UINT64_MAX); }

 private:
  state::Inode* InodeOf(const state::Vma& v) const;
  // Pulls the part [start, end) of v into its file.
  Status PullVma(const state::Vma& v, uint64_t start, uint64_t end);
  // Pushes file bytes [from, to) into v, where v maps them.
  Status PushVma(const state::Vma& v, const state::Inode& inode, uint64_t from, uint64_t to);

  state::MemoryMap& map_;
  Shell& shell_;
  MemoryBudget& budget_;
  std::unordered_map<uint64_t, state::Inode*> inodes_;  // ino -> inode, of kSharedFile VMAs
  bool aliased_ = false;
};

}  // namespace cat
