// The guest's memory budget: --memory-limit (MemoryMap.limit_bytes) bounds the guest's mappings
// (mapped_bytes, charged by the memory manager) and everything else the guest makes catload hold
// in its own memory: overlay file data, overlay entries and pipe buffers (file_bytes, charged
// here). A charge that does not fit fails the way Linux says so (ENOSPC for file data, as tmpfs;
// ENOMEM for mappings and pipe buffers). spec/sandbox.md, "Limits".
#pragma once

#include <cstdint>
#include <string_view>

#include "format/state/sandbox_state.h"

namespace cat {

class MemoryBudget {
 public:
  explicit MemoryBudget(state::MemoryMap& map) : m_(map) {}

  uint64_t limit() const { return m_.limit_bytes; }
  uint64_t used() const { return m_.mapped_bytes + m_.file_bytes; }
  // Bytes that may still be charged or mapped.
  uint64_t available() const { return used() >= limit() ? 0 : limit() - used(); }
  // Charges `bytes` of file memory if they fit; false (nothing charged) otherwise.
  bool TryCharge(uint64_t bytes) {
    if (bytes > available()) {
      NoteRefusal();
      return false;
    }
    m_.file_bytes += bytes;
    return true;
  }
  // For memory the guest cannot be refused (a whiteout that records an unlink).
  void Charge(uint64_t bytes) { m_.file_bytes += bytes; }
  void Uncharge(uint64_t bytes) { m_.file_bytes -= bytes < m_.file_bytes ? bytes : m_.file_bytes; }
  // Something the guest asked for was refused for want of budget. Counted (never persisted) so
  // that a run that then fails can be reported as past its memory limit (GuestOutcome).
  void NoteRefusal() const { ++refusals_; }
  uint64_t refusals() const { return refusals_; }

 private:
  state::MemoryMap& m_;
  mutable uint64_t refusals_ = 0;
};

// What one overlay entry costs besides its file data: the entry, its path and (for the first
// name) its inode, plus its share of the hash table; a fixed estimate so that charge and
// uncharge always agree.
inline uint64_t OverlayEntryCharge(std::string_view path) {
  return 256 + path.size();
}
// What a pipe buffer of `capacity` bytes costs: whole pages, as Linux allocates them.
inline uint64_t PipeBufferCharge(uint32_t capacity) {
  return (uint64_t{capacity} + 4095) & ~uint64_t{4095};
}

// Everything the state holds that file_bytes charges, computed from scratch: run when a kernel
// adopts a state (a restored checkpoint or image), whose stored file_bytes is not trusted.
uint64_t ComputeFileBytes(const state::SandboxState& s);

}  // namespace cat
