// The byte-range lock table (see file_locks.h).
#include "loader/kernel/file_locks.h"

#include <fcntl.h>

#include <algorithm>

namespace cat {

std::optional<FileLock> FileLocks::Conflict(const LockFileKey& file, const LockOwner& owner,
                                            uint64_t start, uint64_t end, int16_t type) const {
  std::optional<FileLock> first;  // the lowest conflicting range
  for (const FileLock& l : locks_) {
    if (!(l.file == file) || l.owner == owner) continue;
    if (l.start >= end || l.end <= start) continue;
    if ((type == F_WRLCK || l.type == F_WRLCK) && (!first || l.start < first->start)) first = l;
  }
  return first;
}

Status FileLocks::Set(const LockFileKey& file, const LockOwner& owner, uint64_t start, uint64_t end,
                      int16_t type) {
  if (type != F_UNLCK && Conflict(file, owner, start, end, type))
    return Fail(EAGAIN, "range locked by another owner");
  // The owner's locks of the same type that overlap or touch [start, end) merge into the new
  // lock (F_GETLK then reports one range, as Linux's); its other overlapping locks keep only
  // their parts outside it: at most two new records (one lock split around the range).
  std::vector<FileLock> kept;
  kept.reserve(locks_.size() + 2);
  const uint64_t set_start = start, set_end = end;
  for (const FileLock& l : locks_) {
    const bool mine = l.file == file && l.owner == owner;
    if (mine && type != F_UNLCK && l.type == type && l.start <= set_end && l.end >= set_start) {
      start = std::min(start, l.start);
      end = std::max(end, l.end);
      continue;
    }
    if (!mine || l.start >= set_end || l.end <= set_start) {
      kept.push_back(l);
      continue;
    }
    if (l.start < set_start) {
      FileLock head = l;
      head.end = set_start;
      kept.push_back(head);
    }
    if (l.end > set_end) {
      FileLock tail = l;
      tail.start = set_end;
      kept.push_back(tail);
    }
  }
  if (type != F_UNLCK) kept.push_back({file, owner, start, end, type});
  if (kept.size() > kMaxLocks && kept.size() > locks_.size())
    return Fail(ENOLCK, "too many file locks");
  locks_ = std::move(kept);
  return {};
}

void FileLocks::Release(const LockOwner& owner, const std::optional<LockFileKey>& file) {
  std::erase_if(locks_,
                [&](const FileLock& l) { return l.owner == owner && (!file || l.file == *file); });
}

}  // namespace cat
