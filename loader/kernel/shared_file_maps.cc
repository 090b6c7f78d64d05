// Coherence of MAP_SHARED overlay file mappings with the file's data (see shared_file_maps.h).
#include "loader/kernel/shared_file_maps.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "loader/kernel/file_data.h"
#include "loader/kernel/memory_manager.h"

namespace cat {

void SharedFileMaps::Adopt(state::SandboxState& s) {
  inodes_.clear();
  bool any = false;
  for (const state::Vma& v : s.memory.vmas) any |= v.kind == state::VmaKind::kSharedFile;
  if (!any) return;
  std::unordered_map<uint64_t, state::Inode*> reachable;
  for (state::OverlayEntry* e : s.overlay.slots)
    if (e && e->inode) reachable[e->inode->ino] = e->inode;
  for (const state::FdEntry& fd : s.fds.entries)
    if (fd.file && fd.file->kind == state::FileKind::kOverlay && fd.file->inode)
      reachable[fd.file->inode->ino] = fd.file->inode;
  for (state::Vma& v : s.memory.vmas) {
    if (v.kind != state::VmaKind::kSharedFile) continue;
    auto it = reachable.find(v.ino);
    if (it != reachable.end() && S_ISREG(it->second->mode)) {
      inodes_[v.ino] = it->second;
      aliased_ = true;  // SyncAliases finds out at the first syscall
    } else {
      v.kind = state::VmaKind::kAnonymous;  // the file is gone: the pages are all that is left
      v.ino = 0;
      v.shared_may_write = 0;
      v.file_offset = 0;
    }
  }
}

void SharedFileMaps::Track(state::Inode* inode) {
  inodes_[inode->ino] = inode;
  uint32_t maps = 0;
  for (const state::Vma& v : map_.vmas)
    maps += v.kind == state::VmaKind::kSharedFile && v.ino == inode->ino;
  if (maps > 1) aliased_ = true;
}

Status SharedFileMaps::SyncAliases() {
  std::unordered_map<uint64_t, uint32_t> maps;
  for (const state::Vma& v : map_.vmas)
    if (v.kind == state::VmaKind::kSharedFile) ++maps[v.ino];
  aliased_ = false;
  for (const auto& [ino, n] : maps) aliased_ |= n > 1;
  if (!aliased_) return {};
  for (const state::Vma& v : map_.vmas)
    if (v.kind == state::VmaKind::kSharedFile && maps[v.ino] > 1)
      TRY_STATUS(PullVma(v, v.start, v.end));
  return {};
}

void SharedFileMaps::Forget(const state::Inode* inode) {
  auto it = inodes_.find(inode->ino);
  if (it == inodes_.end() || it->second != inode) return;
  inodes_.erase(it);
  for (state::Vma& v : map_.vmas) {
    if (v.kind != state::VmaKind::kSharedFile || v.ino != inode->ino) continue;
    v.kind = state::VmaKind::kAnonymous;
    v.ino = 0;
    v.shared_may_write = 0;
    v.file_offset = 0;
  }
}

state::Inode* SharedFileMaps::InodeOf(const state::Vma& v) const {
  if (v.kind != state::VmaKind::kSharedFile) return nullptr;
  auto it = inodes_.find(v.ino);
  return it == inodes_.end() ? nullptr : it->second;
}

Status SharedFileMaps::PullVma(const state::Vma& v, uint64_t start, uint64_t end) {
  // Only a writable mapping can hold stores the file lacks: a mapping loses PROT_WRITE only
  // through mprotect, which pulls it first.
  if (!v.shared_may_write || !(v.prot & PROT_WRITE)) return {};
  state::Inode* inode = InodeOf(v);
  if (!inode) return {};
  start = std::max(start, v.start);
  end = std::min(end, v.end);
  // Stores past the file's end are not part of it (Linux drops them or raises SIGBUS).
  const uint64_t file_end = v.file_offset + (end - v.start);
  const uint64_t size_end = std::min(file_end, inode->size);
  const uint64_t file_start = v.file_offset + (start - v.start);
  if (size_end <= file_start) return {};
  std::vector<char> mem(kPageSize), file(kPageSize);
  for (uint64_t off = file_start; off < size_end; off += kPageSize) {
    const uint64_t n = std::min<uint64_t>(kPageSize, size_end - off);
    TRY_STATUS(WithContext(shell_.Read(v.start + (off - v.file_offset), mem.data(), n),
                           "read a shared file mapping"));
    std::fill(file.begin(), file.end(), 0);
    ReadFileData(*inode, off, file.data(), n);
    if (std::memcmp(mem.data(), file.data(), n) == 0) continue;  // holes stay holes
    TRY(uint64_t wrote, WriteFileData(*inode, off, mem.data(), n, &budget_));
    if (wrote != n) return Fail(ENOSPC, "no memory left for a shared mapping's file data");
    // Another mapping of the same page sees the store from now on.
    for (const state::Vma& other : map_.vmas)
      if (&other != &v && other.kind == state::VmaKind::kSharedFile && other.ino == v.ino)
        TRY_STATUS(PushVma(other, *inode, off, off + n));
  }
  return {};
}

Status SharedFileMaps::PushVma(const state::Vma& v, const state::Inode& inode, uint64_t from,
                               uint64_t to) {
  const uint64_t v_file_end = v.file_offset + (v.end - v.start);
  from = std::max(from, v.file_offset);
  to = std::min(to, v_file_end);
  if (from >= to) return {};
  const uint64_t addr = v.start + (from - v.file_offset);
  std::vector<char> bytes(to - from, 0);
  ReadFileData(inode, from, bytes.data(), bytes.size());  // zeros past the end and in holes
  const bool writable = v.prot & PROT_WRITE;
  const uint64_t page = PageDown(addr), pages = PageUp(addr + bytes.size()) - page;
  // The guest may have mapped it read-only (or PROT_NONE): the kernel writes it all the same.
  if (!writable) TRY_STATUS(shell_.Protect(page, pages, PROT_READ | PROT_WRITE));
  Status wrote = shell_.Write(addr, bytes.data(), bytes.size());
  if (!writable) TRY_STATUS(shell_.Protect(page, pages, static_cast<int>(v.prot)));
  return WithContext(std::move(wrote), "write a shared file mapping");
}

Status SharedFileMaps::BeforeRead(const state::Inode& inode) {
  if (!inodes_.count(inode.ino)) return {};
  for (const state::Vma& v : map_.vmas)
    if (v.kind == state::VmaKind::kSharedFile && v.ino == inode.ino)
      TRY_STATUS(PullVma(v, v.start, v.end));
  return {};
}

Status SharedFileMaps::AfterWrite(const state::Inode& inode, uint64_t offset, uint64_t len) {
  if (!inodes_.count(inode.ino) || len == 0) return {};
  const uint64_t end = offset + len < offset ? UINT64_MAX : offset + len;
  for (const state::Vma& v : map_.vmas)
    if (v.kind == state::VmaKind::kSharedFile && v.ino == inode.ino)
      TRY_STATUS(PushVma(v, inode, offset, end));
  return {};
}

Status SharedFileMaps::PullRange(uint64_t start, uint64_t end) {
  if (inodes_.empty()) return {};
  for (const state::Vma& v : map_.vmas)
    if (v.kind == state::VmaKind::kSharedFile && v.start < end && v.end > start)
      TRY_STATUS(PullVma(v, start, end));
  return {};
}

Status SharedFileMaps::PushRange(uint64_t start, uint64_t end) {
  if (inodes_.empty()) return {};
  for (const state::Vma& v : map_.vmas) {
    if (v.kind != state::VmaKind::kSharedFile || v.start >= end || v.end <= start) continue;
    state::Inode* inode = InodeOf(v);
    if (!inode) continue;
    const uint64_t s = std::max(start, v.start), e = std::min(end, v.end);
    TRY_STATUS(PushVma(v, *inode, v.file_offset + (s - v.start), v.file_offset + (e - v.start)));
  }
  return {};
}

}  // namespace cat
