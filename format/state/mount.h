// Persistent state of the guest's mount table: guest-side names only. Which host directory
// backs a mount is never persisted (an image or checkpoint is untrusted and must not name a
// host object): the boot caller binds each mount to a host directory the operator chose
// (loader/boot/mount_binding.h), and only then is host_dirfd opened.
#pragma once

#include <cstdint>

#include "format/state/persistent.h"

namespace cat::state {

// How the function was captured with this mount. kNone only for "/" (an empty root).
enum class MountAccess : uint32_t {
  kNone = 0,       // no host directory: everything is the overlay (the empty root)
  kReadOnly = 1,   // a host directory; writes go to the overlay
  kReadWrite = 2,  // a host directory; writes reach it (only the operator grants this)
};
constexpr uint32_t kNumMountAccess = 3;

struct Mount {
  PString guest_path;  // canonical, "/" for the rootfs
  MountAccess access;  // as captured; checked against the operator's binding at boot
  int32_t host_dirfd;  // transient: O_PATH fd of the bound host directory, -1 if none
};

}  // namespace cat::state
