// VMA bookkeeping and placement for the guest address space (see memory_manager.h).
#include "loader/kernel/memory_manager.h"

#include <sys/mman.h>

#include <algorithm>

#include "format/base/guest_layout.h"
#include "loader/kernel/file_data.h"
#include "loader/kernel/shared_file_maps.h"

namespace cat {

// Never handed to the guest: the null-pointer guard below vm.mmap_min_addr and the ptrace
// trampoline pages (format/base/guest_layout.h, shared with the image and checkpoint readers).
bool MemoryManager::IsReserved(uint64_t addr, uint64_t len) {
  return IsReservedGuestRange(addr, len);
}

bool MemoryManager::RangeFree(uint64_t start, uint64_t end) const {
  if (IsReserved(start, end - start)) return false;
  for (const state::Vma& v : map_.vmas)
    if (v.start < end && v.end > start) return false;
  return true;
}

std::optional<uint64_t> MemoryManager::FindFree(uint64_t len) const {
  // Top-down from mmap_top, like Linux's default layout: walk the gaps between VMAs from the
  // highest one down.
  uint64_t top = map_.mmap_top;
  for (uint32_t i = map_.vmas.size; i-- > 0;) {
    const state::Vma& v = map_.vmas[i];
    if (v.start >= top) continue;
    if (v.end <= top && top - v.end >= len && !IsReserved(top - len, len)) return top - len;
    top = std::min(top, v.start);
  }
  if (top >= len && !IsReserved(top - len, len)) return top - len;
  return std::nullopt;
}

uint64_t MemoryManager::MappedIn(uint64_t start, uint64_t end) const {
  uint64_t total = 0;
  for (const state::Vma& v : map_.vmas)
    if (v.start < end && v.end > start) total += std::min(v.end, end) - std::max(v.start, start);
  return total;
}

void MemoryManager::SplitAt(uint64_t addr) {
  for (uint32_t i = 0; i < map_.vmas.size; ++i) {
    state::Vma v = map_.vmas[i];
    if (v.start < addr && addr < v.end) {
      state::Vma tail = v;
      tail.start = addr;
      if (tail.kind == state::VmaKind::kFile || tail.kind == state::VmaKind::kSharedFile)
        tail.file_offset += addr - v.start;
      map_.vmas[i].end = addr;
      map_.vmas.Insert(i + 1, tail);
      return;
    }
  }
}

void MemoryManager::RemoveRange(uint64_t start, uint64_t end) {
  SplitAt(start);
  SplitAt(end);
  for (uint32_t i = 0; i < map_.vmas.size;) {
    const state::Vma& v = map_.vmas[i];
    if (v.start >= start && v.end <= end) {
      map_.mapped_bytes -= v.end - v.start;
      map_.vmas.Erase(i);
    } else {
      ++i;
    }
  }
}

void MemoryManager::InsertVma(const state::Vma& vma) {
  uint32_t at = 0;
  while (at < map_.vmas.size && map_.vmas[at].start < vma.start) ++at;
  map_.vmas.Insert(at, vma);
  map_.mapped_bytes += vma.end - vma.start;
}

Status MemoryManager::Populate(uint64_t addr, uint64_t len, int prot, const MapSource& source) {
  switch (source.kind) {
    case MapSource::Kind::kZero:
      return shell_.MapAnonymous(addr, len, prot);
    case MapSource::Kind::kHostFile:
      if (source.shared_host)
        return shell_.MapFileShared(addr, len, prot, source.host_fd, source.offset);
      return shell_.MapFile(addr, len, prot, source.host_fd, source.offset);
    case MapSource::Kind::kOverlayFile: {
      // Contents that exist only in catload's memory (an overlay file): map writable, copy
      // the written pieces (holes stay zero), then apply the protection the guest asked for.
      TRY_STATUS(shell_.MapAnonymous(addr, len, PROT_READ | PROT_WRITE));
      Status copied;
      ForEachFileExtent(*source.inode, source.offset, len,
                        [&](uint64_t at, const char* bytes, uint64_t n) {
                          if (copied) copied = shell_.Write(addr + (at - source.offset), bytes, n);
                        });
      TRY_STATUS(copied);
      if (prot != (PROT_READ | PROT_WRITE)) TRY_STATUS(shell_.Protect(addr, len, prot));
      return {};
    }
  }
  return {};
}

Result<uint64_t> MemoryManager::Map(uint64_t addr, uint64_t len, int prot, int flags, bool fixed,
                                    bool noreplace, state::VmaKind kind, const MapSource& source) {
  if (len == 0) return Fail(EINVAL, "zero-length mapping");
  len = PageUp(len);
  if (len == 0 || len >= kGuestAddressLimit) return Fail(ENOMEM, "mapping too large");
  uint64_t start;
  if (fixed) {
    if (addr % kPageSize != 0) return Fail(EINVAL, "unaligned fixed address");
    if (IsReserved(addr, len)) return Fail(noreplace ? EEXIST : EINVAL, "reserved range");
    if (noreplace && !RangeFree(addr, addr + len)) return Fail(EEXIST, "range in use");
    start = addr;
  } else if (addr != 0 && addr % kPageSize == 0 && RangeFree(addr, addr + len)) {
    start = addr;
  } else {
    auto found = FindFree(len);
    if (!found) return Fail(ENOMEM, "no room in the guest address space");
    start = *found;
  }
  const uint64_t replaced = MappedIn(start, start + len);
  // file_bytes: the overlay's and pipes' memory shares the limit (memory_budget.h).
  if (map_.mapped_bytes + map_.file_bytes - replaced + len > map_.limit_bytes) {
    ++limit_refusals_;
    return Fail(ENOMEM, "guest memory limit reached");
  }
  // What the guest stored in a shared mapping being replaced belongs to its file.
  if (replaced) TRY_STATUS(PullShared(start, start + len));
  // The platform's MAP_FIXED replaces whatever was there in one step; the record follows.
  TRY_STATUS(Populate(start, len, prot, source));
  RemoveRange(start, start + len);
  state::Vma vma{};
  vma.start = start;
  vma.end = start + len;
  vma.prot = static_cast<uint32_t>(prot);
  vma.flags = static_cast<uint32_t>(flags);
  vma.kind = kind;
  vma.file_offset = source.kind == MapSource::Kind::kHostFile || kind == state::VmaKind::kSharedFile
                        ? source.offset
                        : 0;
  const bool shared = kind == state::VmaKind::kSharedFile || source.shared_host ||
                      (kind == state::VmaKind::kFile && (flags & MAP_TYPE) != MAP_PRIVATE);
  vma.shared_may_write = shared && source.may_write ? 1 : 0;
  vma.ino = kind == state::VmaKind::kSharedFile ? source.inode->ino : 0;
  InsertVma(vma);
  if (kind == state::VmaKind::kSharedFile && shared_)
    shared_->Track(const_cast<state::Inode*>(source.inode));
  return start;
}

Status MemoryManager::Unmap(uint64_t addr, uint64_t len) {
  if (addr % kPageSize != 0 || len == 0) return Fail(EINVAL, "bad munmap range");
  len = PageUp(len);
  if (IsReserved(addr, len)) return Fail(EINVAL, "reserved range");
  if (MappedIn(addr, addr + len) == 0) return {};
  TRY_STATUS(PullShared(addr, addr + len));
  TRY_STATUS(shell_.Unmap(addr, len));
  RemoveRange(addr, addr + len);
  return {};
}

Status MemoryManager::Protect(uint64_t addr, uint64_t len, int prot) {
  if (addr % kPageSize != 0) return Fail(EINVAL, "unaligned mprotect");
  len = PageUp(len);
  if (len == 0) return {};
  if (IsReserved(addr, len)) return Fail(ENOMEM, "reserved range");
  if (MappedIn(addr, addr + len) != len) return Fail(ENOMEM, "range not fully mapped");
  // A shared mapping of a file the fd could not write never becomes writable (VM_MAYWRITE).
  if (prot & PROT_WRITE)
    for (const state::Vma& v : map_.vmas)
      if (v.start < addr + len && v.end > addr && (v.flags & MAP_TYPE) != MAP_PRIVATE &&
          (v.kind == state::VmaKind::kFile || v.kind == state::VmaKind::kSharedFile) &&
          !v.shared_may_write)
        return Fail(EACCES, "shared mapping of a file not open for writing");
  TRY_STATUS(PullShared(addr, addr + len));
  TRY_STATUS(shell_.Protect(addr, len, prot));
  SplitAt(addr);
  SplitAt(addr + len);
  for (state::Vma& v : map_.vmas)
    if (v.start >= addr && v.end <= addr + len) v.prot = static_cast<uint32_t>(prot);
  return {};
}

Result<uint64_t> MemoryManager::Remap(uint64_t old_addr, uint64_t old_len, uint64_t new_len,
                                      int flags, uint64_t new_addr) {
  if (old_addr % kPageSize != 0) return Fail(EINVAL, "unaligned mremap");
  if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) return Fail(EINVAL, "unsupported mremap flags");
  if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))
    return Fail(EINVAL, "FIXED needs MAYMOVE");
  old_len = PageUp(old_len);
  new_len = PageUp(new_len);
  if (new_len == 0 || old_len == 0) return Fail(EINVAL, "zero-length mremap");
  // The old range must lie inside one VMA, as in Linux.
  const state::Vma* vma = nullptr;
  for (const state::Vma& v : map_.vmas)
    if (v.start <= old_addr && old_addr + old_len <= v.end) vma = &v;
  if (!vma) return Fail(EFAULT, "mremap of an unmapped range");
  const state::Vma base = *vma;
  const bool fixed = flags & MREMAP_FIXED;
  if (!fixed && new_len <= old_len) {
    if (new_len < old_len) TRY_STATUS(Unmap(old_addr + new_len, old_len - new_len));
    return old_addr;
  }
  if (map_.mapped_bytes + map_.file_bytes - old_len + new_len > map_.limit_bytes) {
    ++limit_refusals_;
    return Fail(ENOMEM, "guest memory limit reached");
  }
  const uint64_t grow_end = old_addr + new_len;
  if (!fixed && base.kind != state::VmaKind::kFile && base.kind != state::VmaKind::kSharedFile &&
      grow_end > old_addr && RangeFree(old_addr + old_len, grow_end)) {
    // Grow in place with fresh zero pages of the same protection.
    TRY(uint64_t got, Map(old_addr + old_len, new_len - old_len, static_cast<int>(base.prot),
                          static_cast<int>(base.flags), true, true, base.kind, MapSource{}));
    (void)got;
    return old_addr;
  }
  if (!(flags & MREMAP_MAYMOVE)) return Fail(ENOMEM, "cannot grow in place");
  uint64_t target;
  if (fixed) {
    if (new_addr % kPageSize != 0 || IsReserved(new_addr, new_len))
      return Fail(EINVAL, "bad mremap target");
    if (new_addr < old_addr + old_len && old_addr < new_addr + new_len)
      return Fail(EINVAL, "mremap target overlaps source");
    TRY_STATUS(Unmap(new_addr, new_len));
    target = new_addr;
  } else {
    auto found = FindFree(new_len);
    if (!found) return Fail(ENOMEM, "no room in the guest address space");
    target = *found;
  }
  TRY_STATUS(PullShared(old_addr, old_addr + old_len));
  TRY_STATUS(shell_.Remap(old_addr, old_len, target, new_len));
  RemoveRange(old_addr, old_addr + old_len);
  state::Vma moved = base;
  moved.file_offset = base.file_offset + (old_addr - base.start);
  moved.start = target;
  moved.end = target + new_len;
  InsertVma(moved);
  // A grown shared mapping shows the file in its new pages too.
  if (moved.kind == state::VmaKind::kSharedFile && shared_)
    TRY_STATUS(shared_->PushRange(moved.start, moved.end));
  return target;
}

Status MemoryManager::PullShared(uint64_t start, uint64_t end) {
  return shared_ ? shared_->PullRange(start, end) : Status{};
}

uint64_t MemoryManager::Brk(uint64_t requested) {
  if (requested < map_.brk_start) return map_.brk_end;
  const uint64_t want = PageUp(requested);
  if (want > map_.brk_mapped) {
    auto got = Map(map_.brk_mapped, want - map_.brk_mapped, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, true, true, state::VmaKind::kBrk, MapSource{});
    if (!got) return map_.brk_end;
    map_.brk_mapped = want;
  } else if (want < map_.brk_mapped) {
    if (!Unmap(want, map_.brk_mapped - want)) return map_.brk_end;
    map_.brk_mapped = want;
  }
  map_.brk_end = requested;
  return map_.brk_end;
}

}  // namespace cat
