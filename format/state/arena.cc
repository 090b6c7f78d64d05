// Building and relocating the state arena (see arena.h).
#include "format/state/arena.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "format/state/state_graph.h"
#include "format/state/state_heap.h"

namespace cat::state {
namespace {

constexpr uint64_t kAlign = 16;

}  // namespace

ArenaImage BuildArena(SandboxState& s) {
  ArenaImage out;
  // Pass 1: give every distinct block an offset, in walk order (deterministic).
  std::unordered_map<const void*, uint64_t> offset_of;
  std::vector<std::pair<const void*, uint64_t>> blocks;  // (address, bytes) in offset order
  offset_of[&s] = 0;
  blocks.emplace_back(&s, sizeof(SandboxState));
  uint64_t end = (sizeof(SandboxState) + kAlign - 1) & ~(kAlign - 1);
  WalkState(s, [&](const Slot& slot) {
    const void* target = ReadSlot(slot.slot);
    if (slot.bytes == 0 || offset_of.count(target)) return false;
    offset_of[target] = end;
    blocks.emplace_back(target, slot.bytes);
    ++out.object_counts[slot.type];
    end = (end + slot.bytes + kAlign - 1) & ~(kAlign - 1);
    return true;
  });
  // Pass 2: copy the blocks, then rewrite each slot (and array capacity) in the copy.
  out.bytes.assign(end, 0);
  for (const auto& [addr, bytes] : blocks)
    std::memcpy(out.bytes.data() + offset_of[addr], addr, bytes);
  std::unordered_set<const void*> seen;
  WalkState(s, [&](const Slot& slot) {
    const uint64_t at = offset_of.at(slot.parent) + (static_cast<const uint8_t*>(slot.slot) -
                                                     static_cast<const uint8_t*>(slot.parent));
    const void* target = ReadSlot(slot.slot);
    uint32_t capacity = slot.count;
    if (slot.bytes == 0) {
      WriteSlot(out.bytes.data() + at, 0);  // an empty buffer is carried as no buffer
      capacity = 0;
    } else {
      WriteSlot(out.bytes.data() + at, kArenaPreferredBase + offset_of.at(target));
      out.relocations.push_back(at);
    }
    if (slot.capacity) {
      const uint64_t cap_at =
          offset_of.at(slot.parent) + (reinterpret_cast<const uint8_t*>(slot.capacity) -
                                       static_cast<const uint8_t*>(slot.parent));
      std::memcpy(out.bytes.data() + cap_at, &capacity, sizeof(capacity));
    }
    return slot.bytes != 0 && seen.insert(target).second;
  });
  std::sort(out.relocations.begin(), out.relocations.end());
  return out;
}

Result<SandboxState*> RelocateArena(uint8_t* base, uint64_t size, const uint64_t* relocations,
                                    uint64_t count) {
  if (size < sizeof(SandboxState)) return Fail(EINVAL, "arena smaller than its root object");
  const uint64_t delta = reinterpret_cast<uint64_t>(base) - kArenaPreferredBase;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t at = relocations[i];
    if (at % 8 != 0 || at > size - 8)
      return Fail(EINVAL, "relocation " + std::to_string(i) + " points outside the arena");
    uint64_t value;
    std::memcpy(&value, base + at, sizeof(value));
    const uint64_t offset = value - kArenaPreferredBase;
    if (offset == 0 || offset >= size)
      return Fail(EINVAL, "relocation " + std::to_string(i) + " holds an offset outside the arena");
    // At the preferred base the slot is already right: reading it does not copy the page.
    if (delta != 0) {
      value += delta;
      std::memcpy(base + at, &value, sizeof(value));
    }
  }
  RegisterArena(base, size);
  return reinterpret_cast<SandboxState*>(base);
}

void ResetTransientState(SandboxState& s) {
  for (FdEntry& e : s.fds.entries)
    if (e.file) e.file->host_fd = -1;
  for (Mount& m : s.mounts) m.host_dirfd = -1;
}

}  // namespace cat::state
