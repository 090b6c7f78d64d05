// The layout fingerprint: a hash of the size and field offsets of every persistent struct.
// A func-image's arena *is* these structs, so a loader built with another layout must refuse
// it (and a state stream carries it too).
#pragma once

#include <cstdint>

namespace cat::state {

uint64_t StateLayoutFingerprint();

}  // namespace cat::state
