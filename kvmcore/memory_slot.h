// Guest memory slots backed by host mappings: a MemorySlot reserves one host range
// (PROT_NONE, no swap reserved) and registers it with the VM as one KVM memory slot. Guest
// mappings are host mmaps *inside* the reservation (the image file MAP_PRIVATE, anonymous
// memory), at offsets a GuestPhysAllocator hands out: one slot serves any number of guest
// mappings, far below KVM's slot limit. A range given back is re-reserved at once, so no
// other host mapping can ever appear under the slot.
#pragma once

#include <cstdint>
#include <map>

#include "format/base/error.h"
#include "kvmcore/vm.h"

namespace cat::kvm {

class MemorySlot {
 public:
  // Reserves `size` bytes and registers them as slot `slot` at guest-physical `gpa`.
  static Result<MemorySlot> Create(Vm& vm, uint32_t slot, uint64_t gpa, uint64_t size);
  MemorySlot(MemorySlot&& o) noexcept;
  MemorySlot& operator=(MemorySlot&&) = delete;
  MemorySlot(const MemorySlot&) = delete;
  ~MemorySlot();

  uint64_t gpa() const { return gpa_; }
  uint64_t size() const { return size_; }
  uint8_t* host() const { return host_; }
  bool Contains(uint64_t gpa, uint64_t len) const {
    return gpa >= gpa_ && len <= size_ && gpa - gpa_ <= size_ - len;
  }
  uint8_t* HostAt(uint64_t gpa) const { return host_ + (gpa - gpa_); }

  // Host mappings at slot offset `offset` (page-aligned, inside the slot), MAP_FIXED over the
  // reservation: anonymous zero pages, or `fd` at `file_offset` MAP_PRIVATE (writes stay
  // private, reads share the page cache). `prot` is the host protection.
  Status MapAnonymous(uint64_t offset, uint64_t len, int prot, bool noreserve = false);
  Status MapFile(uint64_t offset, uint64_t len, int prot, int fd, uint64_t file_offset);
  Status Protect(uint64_t offset, uint64_t len, int prot);
  // Moves host pages (their contents and backing) from one offset to another (mremap) and
  // re-reserves the source.
  Status Move(uint64_t from, uint64_t len, uint64_t to, uint64_t new_len);
  // Gives the range back: its pages are dropped and it is PROT_NONE again.
  Status Release(uint64_t offset, uint64_t len);

 private:
  MemorySlot(uint32_t slot, uint64_t gpa, uint64_t size, uint8_t* host)
      : slot_(slot), gpa_(gpa), size_(size), host_(host) {}
  Status CheckRange(uint64_t offset, uint64_t len) const;
  uint32_t slot_;
  uint64_t gpa_;
  uint64_t size_;
  uint8_t* host_;
};

// First-fit allocation of page ranges inside a slot, with coalescing on free: the platform,
// not KVM, owns the guest-physical space (spec/kvm.md, "guest memory").
class GuestPhysAllocator {
 public:
  explicit GuestPhysAllocator(uint64_t size) { free_[0] = size; }
  // An offset of `len` free bytes (aligned to `align`, a power of two), or ENOMEM.
  Result<uint64_t> Allocate(uint64_t len, uint64_t align = 4096);
  void Free(uint64_t offset, uint64_t len);
  uint64_t free_bytes() const;

 private:
  std::map<uint64_t, uint64_t> free_;  // offset -> length, disjoint, not adjacent
};

}  // namespace cat::kvm
