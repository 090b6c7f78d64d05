// Host reservations registered as KVM memory slots, and the guest-physical allocator inside
// them (see memory_slot.h).
#include "kvmcore/memory_slot.h"

#include <sys/mman.h>

#include <utility>

namespace cat::kvm {
namespace {

constexpr int kReserveFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

}  // namespace

Result<MemorySlot> MemorySlot::Create(Vm& vm, uint32_t slot, uint64_t gpa, uint64_t size) {
  void* host = mmap(nullptr, size, PROT_NONE, kReserveFlags, -1, 0);
  if (host == MAP_FAILED) return FailErrno("reserve guest memory slot: mmap");
  MemorySlot s(slot, gpa, size, static_cast<uint8_t*>(host));
  TRY_STATUS(vm.SetMemorySlot(slot, gpa, size, host));
  return s;
}

MemorySlot::MemorySlot(MemorySlot&& o) noexcept
    : slot_(o.slot_), gpa_(o.gpa_), size_(o.size_), host_(std::exchange(o.host_, nullptr)) {}

MemorySlot::~MemorySlot() {
  // The VM (and with it the slot's registration) is closed by its owner; the host range can
  // go either way round: KVM holds no page of it after the VM fd is closed.
  if (host_) munmap(host_, size_);
}

Status MemorySlot::CheckRange(uint64_t offset, uint64_t len) const {
  if (offset % 4096 || len % 4096 || len == 0 || offset > size_ || len > size_ - offset)
    return Fail(EINVAL, "guest memory slot: range outside the slot");
  return {};
}

Status MemorySlot::MapAnonymous(uint64_t offset, uint64_t len, int prot, bool noreserve) {
  TRY_STATUS(CheckRange(offset, len));
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | (noreserve ? MAP_NORESERVE : 0);
  if (mmap(host_ + offset, len, prot, flags, -1, 0) == MAP_FAILED)
    return FailErrno("map anonymous guest memory: mmap");
  return {};
}

Status MemorySlot::MapFile(uint64_t offset, uint64_t len, int prot, int fd, uint64_t file_offset) {
  TRY_STATUS(CheckRange(offset, len));
  if (mmap(host_ + offset, len, prot, MAP_PRIVATE | MAP_FIXED, fd,
           static_cast<off_t>(file_offset)) == MAP_FAILED) {
    const int err = errno;
    (void)Release(offset, len);  // whatever mmap left there is reserved again
    return FailErrno("map file into guest memory: mmap", err);
  }
  return {};
}

Status MemorySlot::Protect(uint64_t offset, uint64_t len, int prot) {
  TRY_STATUS(CheckRange(offset, len));
  if (mprotect(host_ + offset, len, prot) != 0) return FailErrno("protect guest memory: mprotect");
  return {};
}

Status MemorySlot::Move(uint64_t from, uint64_t len, uint64_t to, uint64_t new_len) {
  TRY_STATUS(CheckRange(from, len));
  TRY_STATUS(CheckRange(to, new_len));
  if (mremap(host_ + from, len, new_len, MREMAP_MAYMOVE | MREMAP_FIXED, host_ + to) == MAP_FAILED)
    return FailErrno("remap guest memory: mremap");
  // mremap left a hole where the pages were: reserve it again before anything else can land.
  return Release(from, len);
}

Status MemorySlot::Release(uint64_t offset, uint64_t len) {
  TRY_STATUS(CheckRange(offset, len));
  if (mmap(host_ + offset, len, PROT_NONE, kReserveFlags | MAP_FIXED, -1, 0) == MAP_FAILED)
    return FailErrno("release guest memory: mmap");
  return {};
}

Result<uint64_t> GuestPhysAllocator::Allocate(uint64_t len, uint64_t align) {
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    const uint64_t start = (it->first + align - 1) & ~(align - 1);
    const uint64_t end = it->first + it->second;
    if (start >= end || end - start < len) continue;
    const uint64_t block = it->first, block_len = it->second;
    free_.erase(it);
    if (start > block) free_[block] = start - block;
    if (start + len < block + block_len) free_[start + len] = block + block_len - start - len;
    return start;
  }
  return Fail(ENOMEM, "guest-physical space exhausted (" + std::to_string(len) +
                          " bytes asked, the VM's memory slot is full)");
}

void GuestPhysAllocator::Free(uint64_t offset, uint64_t len) {
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && offset + len == next->first) {
    len += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += len;
      return;
    }
  }
  free_[offset] = len;
}

uint64_t GuestPhysAllocator::free_bytes() const {
  uint64_t n = 0;
  for (const auto& [offset, len] : free_) n += len;
  return n;
}

}  // namespace cat::kvm
