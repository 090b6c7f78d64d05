// Separated state recovery: the sandbox kernel's state laid out as one arena — its objects
// in their in-memory layout, pointers stored as arena offsets — plus the relocation table
// that lists every pointer slot. Booting maps the arena and adds its base address at each
// slot; the kernel then runs on those very objects (nothing is parsed or allocated).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/state/sandbox_state.h"

namespace cat::state {

// Where the arena is meant to be mapped in the loader. Pointers are stored as this base plus
// the target's offset, so an arena mapped here needs no pointer rewritten: relocation only
// checks the table, and the arena's pages stay shared with the page cache instead of being
// copied on write. Elsewhere every slot gets the difference added (any base works).
constexpr uint64_t kArenaPreferredBase = 0x7e0000000000ull;

struct ArenaImage {
  std::vector<uint8_t> bytes;                     // the root object is at offset 0
  std::vector<uint64_t> relocations;              // arena offsets of pointer slots, ascending
  std::map<std::string, uint64_t> object_counts;  // distinct blocks by type
};

// Lays out everything reachable from `s`. Deterministic: the same state gives the same bytes.
ArenaImage BuildArena(SandboxState& s);

// Relocates an arena mapped (writable, private) at `base`: checks that each slot listed in
// `relocations` lies inside the arena, is 8-byte aligned and points inside the arena, and
// unless base is kArenaPreferredBase, adds base - kArenaPreferredBase to it. Registers the
// arena with the state heap (its memory is never freed) and returns the root object.
Result<SandboxState*> RelocateArena(uint8_t* base, uint64_t size, const uint64_t* relocations,
                                    uint64_t count);

// Clears what is only meaningful in the process that captured the state (host fds), so that
// files reconnect on first use and mounts are reopened.
void ResetTransientState(SandboxState& s);

}  // namespace cat::state
