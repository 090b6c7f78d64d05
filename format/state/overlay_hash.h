// The overlay table's hash of a canonical guest path: shared by the kernel's table
// (loader/kernel/overlay_table.cc) and the state verifier, which checks that every entry sits
// where a lookup of its path finds it.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <string_view>

namespace cat::state {

inline uint64_t OverlayPathHash(std::string_view path) {
  return XXH3_64bits(path.data(), path.size());
}

}  // namespace cat::state
