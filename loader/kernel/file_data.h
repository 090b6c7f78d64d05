// A regular overlay file's contents, sparse: reads, writes and truncation on an Inode's extents
// (state::FileExtent, format/state/overlay.h), charged against the guest's memory budget. Only
// written bytes hold memory: a file truncated to 2 GiB and written one byte at its end costs
// one extent of a page, not 2 GiB.
#pragma once

#include <cstdint>

#include "format/base/error.h"
#include "format/state/overlay.h"
#include "format/state/state_limits.h"
#include "loader/kernel/memory_budget.h"

namespace cat {

// Largest overlay file (st_size), as Linux's MAX_LFS_FILESIZE; EFBIG past it. The state
// verifier bounds restored files by the same constant.
constexpr uint64_t kMaxOverlayFileSize = state::kMaxOverlayFileSize;

// Memory charged for an inode's data: its extents' buffers in whole pages.
uint64_t FileDataCharge(const state::Inode& inode);

// Copies bytes [offset, offset + len) (clamped to the file's size) into buf; holes are zeros.
// Returns the count copied.
uint64_t ReadFileData(const state::Inode& inode, uint64_t offset, char* buf, uint64_t len);

// Writes buf at offset, growing the file. With a budget, memory that does not fit ends the
// write short; ENOSPC if not one byte fit (as tmpfs). EFBIG past kMaxOverlayFileSize.
Result<uint64_t> WriteFileData(state::Inode& inode, uint64_t offset, const char* buf, uint64_t len,
                               MemoryBudget* budget);

// Sets the file's length: shrinking frees the extents past it, growing makes a hole.
Status TruncateFileData(state::Inode& inode, uint64_t length, MemoryBudget* budget);

// Frees all of an inode's data (the inode is being freed).
void ReleaseFileData(state::Inode& inode, MemoryBudget* budget);

// Calls fn(file_offset, bytes, len) for every written piece of [offset, offset + len), in order.
template <class Fn>
void ForEachFileExtent(const state::Inode& inode, uint64_t offset, uint64_t len, Fn&& fn) {
  const uint64_t end = offset + len < offset ? UINT64_MAX : offset + len;
  for (const state::FileExtent& e : inode.extents) {
    const uint64_t e_end = e.offset + e.bytes.size;
    if (e_end <= offset) continue;
    if (e.offset >= end) break;
    const uint64_t from = e.offset > offset ? e.offset : offset;
    const uint64_t to = e_end < end ? e_end : end;
    fn(from, e.bytes.data + (from - e.offset), to - from);
  }
}

}  // namespace cat
