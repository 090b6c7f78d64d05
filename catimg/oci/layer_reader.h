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
#include <functional>
#include <set>
#include <string>

#include "catimg/oci/image_layout.h"
#include "format/base/error.h"

namespace cat::oci {

// Bounds on what an image may unpack to, over all its layers together (a layer blob can be
// named by many manifest entries, so a per-layer bound alone would not bound the image). A
// small zstd or gzip blob can expand to terabytes — a decompression bomb would fill the disk
// — and a tar of millions of empty entries costs memory here and inodes there. The defaults
// are far above any function's image (the Lua fixture's layers are 60 MB, ~30 entries) and
// `catimg unpack --max-unpacked-size/--max-entries` change them (spec/oci.md, "Unpacking").
struct UnpackLimits {
  static constexpr uint64_t kDefaultBytes = uint64_t{16} << 30;  // 16 GiB
  static constexpr uint64_t kDefaultEntries = 1'000'000;
  // Longer names could not be written (PATH_MAX) and only cost memory: a fixed bound.
  static constexpr size_t kMaxName = 4095;
  // Uncompressed tar bytes, and separately the file sizes the entries declare (a sparse
  // entry declares more than its tar holds).
  uint64_t max_bytes = kDefaultBytes;
  uint64_t max_entries = kDefaultEntries;
};

// What earlier layers of the same unpack wrote (relative paths), for the link and whiteout
// rules, and what the image has used of its limits so far.
struct UnpackState {
  std::set<std::string> symlinks;
  std::set<std::string> files;  // regular files: the only hard-link targets
  UnpackLimits limits;
  uint64_t tar_bytes = 0, declared_bytes = 0, entries = 0;
  // Called with the layer's uncompressed bytes so far, every few MiB (progress on a terminal).
  std::function<void(uint64_t layer_bytes)> progress;
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

// "16 GiB", "512 MiB", "1000 bytes": a limit as people set it.
std::string SizeText(uint64_t bytes);

// The checked, normalized relative form of a tar entry name ("./a//b/" -> "a/b"), or the
// reason it is refused (absolute, '..', empty).
Result<std::string> SafeEntryName(std::string_view name);

}  // namespace cat::oci
