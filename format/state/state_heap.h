// The state heap: where every persistent sandbox-kernel object lives. Objects created at run
// time come from malloc; objects restored from a func-image live in its mapped arena and are
// never handed back to malloc. Nothing else distinguishes the two.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cat::state {

void* StateAlloc(size_t bytes);
// Frees p unless it is null or lies inside a registered arena.
void StateFree(void* p);

// Registers [base, base+size) as arena memory (restored objects); StateFree ignores it.
void RegisterArena(const void* base, size_t size);
void UnregisterArena(const void* base);

}  // namespace cat::state
