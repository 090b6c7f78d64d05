// Verification of a state arena before anything follows it (cold boot, catimg verify and
// inspect): every pointer slot reachable from the root, every length, count, type tag, index
// and reference count, and the relocation table against the slots it must list exactly. See
// spec/func-image.md, "Arena verification", for the rules.
#pragma once

#include <cstdint>

#include "format/base/error.h"

namespace cat::state {

// Verifies the arena [base, base + size) as stored (pointers as kArenaPreferredBase + offset,
// nothing relocated yet) with its relocation table. A pure function of the bytes: it reads
// them only, writes nothing, and allocates one scratch array (see arena_verifier.cc); callable
// from a fuzz target. The error names the first bad object ("state arena:
// fds.entries[3].file -> OpenFile at offset 0x1a40: refs 7 but 2 fd entries refer to it").
// `base` must be 16-byte aligned (a mapping or a fresh allocation is).
Status VerifyArena(const uint8_t* base, uint64_t size, const uint64_t* relocations, uint64_t count);

}  // namespace cat::state
