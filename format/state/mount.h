// Persistent state of the guest's mount table: which host directory backs which guest path.
#pragma once

#include <cstdint>

#include "format/state/persistent.h"

namespace cat::state {

struct Mount {
  PString guest_path;   // canonical, "/" for the rootfs
  PString host_path;    // absolute host directory; empty = no host backing (empty root)
  uint32_t read_write;  // 0: writes go to the overlay; 1: writes reach the host directory
  int32_t host_dirfd;   // transient: O_PATH fd of host_path, -1 until opened
};

}  // namespace cat::state
