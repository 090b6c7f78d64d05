// The state heap: where every persistent sandbox-kernel object lives. Objects created at run
// time come from malloc; objects restored from a func-image live in its mapped arena and are
// never handed back to malloc. Nothing else distinguishes the two. Thread-safe: instances on
// several threads allocate, free and register arenas at once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cat::state {

void* StateAlloc(size_t bytes);
// Frees p unless it is null or lies inside a registered arena.
void StateFree(void* p);
// Whether p lies inside a registered arena.
bool InArena(const void* p);

// Registers [base, base+size) as arena memory (restored objects); StateFree ignores it. Any
// number of arenas may be registered at once; they must not overlap.
void RegisterArena(const void* base, size_t size);
void UnregisterArena(const void* base);
// How many arenas are registered now (for leak checks: it returns to its old value when the
// sandboxes using them are gone).
size_t RegisteredArenaCount();

}  // namespace cat::state
