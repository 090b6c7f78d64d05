// The sandbox kernel's memory manager: decides where guest mappings go, keeps the VMA list in
// the persistent state (state::MemoryMap), enforces --memory-limit, and asks the platform to
// make the real mappings. Implements mmap, munmap, mprotect, mremap and brk.
#pragma once

#include <cstdint>
#include <optional>

#include "format/base/error.h"
#include "format/state/memory_map.h"
#include "format/state/overlay.h"
#include "loader/platform/platform.h"

namespace cat {

constexpr uint64_t kPageSize = 4096;
inline uint64_t PageDown(uint64_t v) {
  return v & ~(kPageSize - 1);
}
inline uint64_t PageUp(uint64_t v) {
  return (v + kPageSize - 1) & ~(kPageSize - 1);
}

// Where the contents of a new mapping come from.
struct MapSource {
  enum class Kind { kZero, kHostFile, kOverlayFile } kind = Kind::kZero;
  int host_fd = -1;                     // kHostFile
  uint64_t offset = 0;                  // kHostFile, kOverlayFile
  const state::Inode* inode = nullptr;  // kOverlayFile: its bytes copied in, rest zero
  // MAP_SHARED of a host file: the shell maps it shared (platform.h, MapFileShared).
  bool shared_host = false;
  // MAP_SHARED (VMA kinds kSharedFile, kFile): the fd was open for writing (Vma::shared_may_write).
  bool may_write = false;
};

class SharedFileMaps;

class MemoryManager {
 public:
  MemoryManager(state::MemoryMap& map, Shell& shell) : map_(map), shell_(shell) {}
  // Where MAP_SHARED overlay mappings are kept coherent with their files: ranges are pulled
  // into their files before they are unmapped, re-protected, moved or replaced.
  void set_shared_maps(SharedFileMaps* shared) { shared_ = shared; }

  // Maps len bytes. With `fixed`, exactly at addr (replacing what is there, unless
  // `noreplace`); otherwise at addr if it is free, else wherever there is room.
  Result<uint64_t> Map(uint64_t addr, uint64_t len, int prot, int flags, bool fixed, bool noreplace,
                       state::VmaKind kind, const MapSource& source);
  Status Unmap(uint64_t addr, uint64_t len);
  Status Protect(uint64_t addr, uint64_t len, int prot);
  Result<uint64_t> Remap(uint64_t old_addr, uint64_t old_len, uint64_t new_len, int flags,
                         uint64_t new_addr);
  // brk(2): returns the new (or unchanged, on failure) program break.
  uint64_t Brk(uint64_t requested);

  // True if [addr, addr+len) is entirely outside what the guest may ever map.
  static bool IsReserved(uint64_t addr, uint64_t len);
  const state::MemoryMap& map() const { return map_; }
  // Mappings refused because they would pass the memory limit (not persisted).
  uint64_t limit_refusals() const { return limit_refusals_; }

 private:
  bool RangeFree(uint64_t start, uint64_t end) const;
  std::optional<uint64_t> FindFree(uint64_t len) const;
  uint64_t MappedIn(uint64_t start, uint64_t end) const;
  void RemoveRange(uint64_t start, uint64_t end);
  void InsertVma(const state::Vma& vma);
  void SplitAt(uint64_t addr);
  Status Populate(uint64_t addr, uint64_t len, int prot, const MapSource& source);

  Status PullShared(uint64_t start, uint64_t end);

  SharedFileMaps* shared_ = nullptr;
  uint64_t limit_refusals_ = 0;
  state::MemoryMap& map_;
  Shell& shell_;
};

}  // namespace cat
