// Freeing a whole persistent state (see state_release.h).
#include "format/state/state_release.h"

#include <unordered_set>
#include <vector>

#include "format/state/state_graph.h"

namespace cat::state {

void ReleaseState(SandboxState* state) {
  if (!state) return;
  // Collected first, freed after the walk: the walk reads each block's pointers after it is
  // reported, and a shared block is reported once per slot.
  std::unordered_set<void*> seen;
  std::vector<void*> blocks;
  WalkState(*state, [&](const Slot& slot) {
    void* block = ReadSlot(slot.slot);
    if (!seen.insert(block).second) return false;
    blocks.push_back(block);
    return true;
  });
  for (void* block : blocks) StateFree(block);
  StateFree(state);
}

}  // namespace cat::state
