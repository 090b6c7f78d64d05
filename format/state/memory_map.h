// Persistent state of the guest's address space: the VMAs the sandbox kernel handed out, the
// brk heap, and the accounting behind --memory-limit. The platform holds the real mappings;
// this is the kernel's record of them, kept sorted by address.
#pragma once

#include <cstdint>
#include <string>

#include "format/state/persistent.h"

namespace cat::state {

enum class VmaKind : uint32_t {
  kAnonymous = 0,  // mmap(MAP_ANONYMOUS) and copies of overlay files
  kFile = 1,       // MAP_PRIVATE mapping of a host file
  kElf = 2,        // a PT_LOAD segment of the executable
  kBrk = 3,        // the brk heap
  kStack = 4,      // the initial thread's stack
  // MAP_SHARED mapping of an overlay file (inode `ino`): the guest's pages and the file's data
  // are kept coherent by the kernel at syscall boundaries (loader/kernel/shared_file_maps.h).
  kSharedFile = 5,
};
constexpr uint32_t kNumVmaKinds = 6;  // kinds are 0 .. kNumVmaKinds-1; others are refused

// A kind's name for people (catimg inspect); numbers no kind has are shown as numbers.
inline std::string VmaKindName(uint32_t kind) {
  switch (static_cast<VmaKind>(kind)) {
    case VmaKind::kAnonymous:
      return "anon";
    case VmaKind::kFile:
      return "file";
    case VmaKind::kElf:
      return "elf";
    case VmaKind::kBrk:
      return "brk";
    case VmaKind::kStack:
      return "stack";
    case VmaKind::kSharedFile:
      return "shared";
  }
  return std::to_string(kind);
}

struct Vma {
  uint64_t start;
  uint64_t end;  // exclusive, page-aligned
  uint32_t prot;
  uint32_t flags;  // MAP_* flags the guest asked for
  VmaKind kind;
  // MAP_SHARED mappings (kSharedFile, and kFile of a host file on a rw mount): the fd was open
  // for writing, so the guest may write the file through the mapping (mprotect may add
  // PROT_WRITE; otherwise EACCES, as Linux's VM_MAYWRITE). 0 for every other mapping.
  uint32_t shared_may_write;
  uint64_t file_offset;  // kFile, kSharedFile: offset of `start` in the file
  uint64_t ino;          // kSharedFile: the overlay inode (state::Inode::ino); else 0
};

struct MemoryMap {
  PArray<Vma> vmas;
  uint64_t brk_start;
  uint64_t brk_end;       // current program break (not page-aligned)
  uint64_t brk_mapped;    // end of pages mapped for brk
  uint64_t mmap_top;      // new mappings are placed below this address, top-down
  uint64_t mapped_bytes;  // sum of VMA sizes, checked against limit_bytes
  uint64_t limit_bytes;
  // Overlay file data, overlay entries and pipe buffers, charged against limit_bytes next to
  // mapped_bytes (loader/kernel/memory_budget.h). Recomputed from the state whenever a kernel
  // adopts it, so a value stored in an image or checkpoint is never trusted.
  uint64_t file_bytes;
};

}  // namespace cat::state
