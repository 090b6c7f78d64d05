// Unpacking one layer blob into a directory, treating the layer as hostile input: the blob's
// bytes are decompressed and hashed (the result must equal the config's diff_id), and every
// tar entry is checked before libarchive writes it: no absolute path, no '..', no path
// through a symlink an earlier entry made, no hard link to anything but a file this unpack
// wrote, only files, directories and symlinks, no set-id bits, no owner restored. OCI
// whiteouts (.wh.NAME, .wh..wh..opq) remove what lower layers put there. Symlinks are kept
// with their targets (a rootfs's absolute symlinks are resolved inside the guest's view by the
// sandbox, spec/sandbox.md) and are never followed while unpacking.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "catimg/oci/image_layout.h"
#include "format/base/error.h"

namespace cat::oci {

// What earlier layers of the same unpack wrote (relative paths), for the link and whiteout
// rules.
struct UnpackState {
  std::set<std::string> symlinks;
  std::set<std::string> files;  // regular files: the only hard-link targets
};

struct LayerStats {
  uint64_t files = 0, dirs = 0, symlinks = 0, whiteouts = 0, tar_bytes = 0;
};

// Extracts the blob `layer` of the layout into `dest` (an existing directory, absolute and
// free of symlinks) and checks its uncompressed digest against `diff_id`. `what` names the
// layer in errors ("layer 2").
Result<LayerStats> ExtractLayer(const std::string& layout_dir, const Descriptor& layer,
                                const std::string& diff_id, const std::string& dest,
                                UnpackState& state, const std::string& what);

// The checked, normalized relative form of a tar entry name ("./a//b/" -> "a/b"), or the
// reason it is refused (absolute, '..', empty).
Result<std::string> SafeEntryName(std::string_view name);

}  // namespace cat::oci
