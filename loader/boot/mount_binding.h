// Binding a snapshot's mounts to host directories at boot (catload run / restore). A snapshot
// (image or checkpoint) is untrusted and records only guest paths and the access each mount
// was captured with; the operator supplies the host side. The rules (spec/sandbox.md, "Host
// bindings"):
//   * every mount with host backing needs a host directory: --rootfs for "/", --mount H:G for
//     the others, or, only when the operator says so (--mounts-from-image), the capture-time
//     path recorded in the snapshot's metadata;
//   * the mode must match what was captured, and read-write is only granted by the operator's
//     own --mount H:G:rw (never taken from the snapshot);
//   * a --rootfs or --mount the snapshot has no place for is an error, as is a snapshot mount
//     the operator left unbound. Every error is one line naming the mount and the fix.
#pragma once

#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/base/mount_spec.h"
#include "format/state/sandbox_state.h"

namespace cat {

// What the operator passed for a boot from a snapshot.
struct MountChoice {
  std::string rootfs;             // --rootfs; "" = not given
  std::vector<MountSpec> mounts;  // --mount
  bool from_image = false;        // --mounts-from-image: use recorded paths for unbound mounts
};

// What the snapshot's metadata recorded at capture (manifest Function.rootfs / .mounts,
// checkpoint meta): host paths in the canonical form capture writes (mount_spec.h).
struct RecordedMounts {
  std::string rootfs;
  std::vector<std::string> mounts;
};

// Checks that `dir` is an existing directory ("rootfs /x: No such file or directory").
Status CheckHostDirectory(const std::string& what, const std::string& dir);

// The host directory of each of s.mounts (HostBindings::mount_dirs), or a one-line error.
Result<std::vector<std::string>> BindMounts(const state::SandboxState& s, const MountChoice& choice,
                                            const RecordedMounts& recorded);

}  // namespace cat
