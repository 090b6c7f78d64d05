// Recomputing the file memory a state holds (see memory_budget.h).
#include "loader/kernel/memory_budget.h"

#include <unordered_set>

#include "loader/kernel/file_data.h"

namespace cat {

uint64_t ComputeFileBytes(const state::SandboxState& s) {
  uint64_t total = 0;
  // An inode can have several names and open files; a pipe two ends: count each once.
  std::unordered_set<const void*> seen;
  auto inode = [&](const state::Inode* in) {
    if (in && seen.insert(in).second) total += FileDataCharge(*in);
  };
  for (const state::OverlayEntry* e : s.overlay.slots) {
    if (!e) continue;
    total += OverlayEntryCharge(e->path.view());
    inode(e->inode);
  }
  for (const state::FdEntry& fd : s.fds.entries) {
    const state::OpenFile* f = fd.file;
    if (!f) continue;
    inode(f->inode);
    if (f->pipe && seen.insert(f->pipe).second) total += PipeBufferCharge(f->pipe->buffer.capacity);
  }
  return total;
}

}  // namespace cat
