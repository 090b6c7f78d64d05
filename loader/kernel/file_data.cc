// Sparse overlay file contents (see file_data.h).
#include "loader/kernel/file_data.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "format/state/state_heap.h"

namespace cat {
namespace {

using state::FileExtent;
using state::kExtentWindow;

uint64_t PagesOf(uint64_t bytes) {
  return (bytes + 4095) & ~uint64_t{4095};
}
uint64_t WindowOf(uint64_t offset) {
  return offset / kExtentWindow;
}

// Index of the first extent whose window is >= window.
uint32_t FirstAtOrAfter(const state::Inode& inode, uint64_t window) {
  const FileExtent* begin = inode.extents.begin();
  const FileExtent* it =
      std::lower_bound(begin, inode.extents.end(), window,
                       [](const FileExtent& e, uint64_t w) { return WindowOf(e.offset) < w; });
  return static_cast<uint32_t>(it - begin);
}

void FreeExtent(FileExtent& e, MemoryBudget* budget) {
  if (budget) budget->Uncharge(PagesOf(e.bytes.capacity));
  e.bytes.Release();
}

// Makes extent e cover [lo, hi) (a superset of what it covers, inside one window), keeping its
// bytes and zeroing the rest. False if the memory does not fit the budget.
bool Cover(FileExtent& e, uint64_t lo, uint64_t hi, MemoryBudget* budget) {
  const uint64_t old_lo = e.offset, old_size = e.bytes.size;
  const uint64_t need = hi - lo, shift = old_lo - lo;
  if (need > e.bytes.capacity) {
    // Grow to a power of two (at most the window): amortized copies for appends.
    const uint64_t cap =
        std::min<uint64_t>(kExtentWindow, std::bit_ceil(std::max<uint64_t>(need, 64)));
    const uint64_t more = PagesOf(cap) - PagesOf(e.bytes.capacity);
    if (budget && more && !budget->TryCharge(more)) return false;
    char* fresh = static_cast<char*>(state::StateAlloc(cap));
    std::memset(fresh, 0, cap);
    if (old_size) std::memcpy(fresh + shift, e.bytes.data, old_size);
    state::StateFree(e.bytes.data);
    e.bytes.data = fresh;
    e.bytes.capacity = static_cast<uint32_t>(cap);
  } else {
    if (shift) {
      std::memmove(e.bytes.data + shift, e.bytes.data, old_size);
      std::memset(e.bytes.data, 0, shift);
    }
    // Bytes past the old end may be left over from a truncation: zero them.
    std::memset(e.bytes.data + shift + old_size, 0, need - shift - old_size);
  }
  e.offset = lo;
  e.bytes.size = static_cast<uint32_t>(need);
  return true;
}

}  // namespace

uint64_t FileDataCharge(const state::Inode& inode) {
  uint64_t total = 0;
  for (const FileExtent& e : inode.extents) total += PagesOf(e.bytes.capacity);
  return total;
}

uint64_t ReadFileData(const state::Inode& inode, uint64_t offset, char* buf, uint64_t len) {
  if (offset >= inode.size) return 0;
  const uint64_t n = std::min(len, inode.size - offset);
  std::memset(buf, 0, n);
  for (uint32_t i = FirstAtOrAfter(inode, WindowOf(offset)); i < inode.extents.size; ++i) {
    const FileExtent& e = inode.extents[i];
    if (e.offset >= offset + n) break;
    const uint64_t from = std::max(e.offset, offset);
    const uint64_t to = std::min(e.offset + e.bytes.size, offset + n);
    if (from < to) std::memcpy(buf + (from - offset), e.bytes.data + (from - e.offset), to - from);
  }
  return n;
}

Result<uint64_t> WriteFileData(state::Inode& inode, uint64_t offset, const char* buf, uint64_t len,
                               MemoryBudget* budget) {
  if (offset > kMaxOverlayFileSize || len > kMaxOverlayFileSize - offset)
    return Fail(EFBIG, "overlay file too large");
  uint64_t done = 0;
  while (done < len) {
    const uint64_t pos = offset + done;
    const uint64_t window = WindowOf(pos);
    const uint64_t n = std::min(len - done, (window + 1) * kExtentWindow - pos);
    uint32_t i = FirstAtOrAfter(inode, window);
    const bool fresh = i == inode.extents.size || WindowOf(inode.extents[i].offset) != window;
    if (fresh) inode.extents.Insert(i, FileExtent{pos, {}});
    FileExtent& e = inode.extents[i];
    const uint64_t lo = fresh ? pos : std::min(e.offset, pos);
    const uint64_t hi = fresh ? pos + n : std::max(e.offset + e.bytes.size, pos + n);
    if (!Cover(e, lo, hi, budget)) {
      if (fresh) inode.extents.Erase(i);
      if (done == 0) return Fail(ENOSPC, "guest memory limit reached (overlay file data)");
      break;
    }
    std::memcpy(e.bytes.data + (pos - e.offset), buf + done, n);
    done += n;
  }
  inode.size = std::max(inode.size, offset + done);
  return done;
}

Status TruncateFileData(state::Inode& inode, uint64_t length, MemoryBudget* budget) {
  if (length > kMaxOverlayFileSize) return Fail(EFBIG, "overlay file too large");
  if (length < inode.size) {
    uint32_t keep = FirstAtOrAfter(inode, WindowOf(length));
    if (keep < inode.extents.size) {
      FileExtent& e = inode.extents[keep];
      if (e.offset < length) {  // straddles the new end: cut short, kept
        e.bytes.size = static_cast<uint32_t>(std::min<uint64_t>(e.bytes.size, length - e.offset));
        ++keep;
      }
    }
    for (uint32_t i = keep; i < inode.extents.size; ++i) FreeExtent(inode.extents[i], budget);
    inode.extents.Erase(keep, inode.extents.size - keep);
  }
  inode.size = length;
  return {};
}

void ReleaseFileData(state::Inode& inode, MemoryBudget* budget) {
  for (FileExtent& e : inode.extents) FreeExtent(e, budget);
  inode.extents.Release();
  inode.size = 0;
}

}  // namespace cat
