// The conventional serialization of the sandbox kernel's state, as a checkpoint carries it:
// a versioned stream of blocks and pointer fix-ups that restore parses and re-allocates
// object by object (the way gVisor restores its kernel). It is the baseline the arena's
// relocation is measured against, so it is straightforward, not slow on purpose.
#pragma once

#include <cstdint>
#include <vector>

#include "format/base/error.h"
#include "format/state/sandbox_state.h"

namespace cat::state {

constexpr uint32_t kStateStreamVersion = 1;

std::vector<uint8_t> SerializeState(SandboxState& s);

// Parses a stream, allocating every object separately on the state heap. Every length,
// index and offset is checked; a stream from a build with another struct layout is refused.
Result<SandboxState*> DeserializeState(const uint8_t* data, uint64_t size);

}  // namespace cat::state
