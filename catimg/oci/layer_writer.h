// One image layer: a tar stream (libarchive, pax format) of host files placed at guest paths,
// compressed (libzstd or zlib) into a blob of the layout while both digests are computed in
// the same pass: the compressed one names the blob, the uncompressed one is the config's
// diff_id. Reproducible: entries sorted, uid/gid 0, no user or group names, no atime/ctime,
// directories at mtime 0; regular files and symlinks keep their own mtime (to the nanosecond:
// reconnection identity-checks a reopened file's size and mtime, spec/oci.md).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "catimg/oci/image_layout.h"
#include "catimg/oci/oci_spec.h"
#include "format/base/error.h"

namespace cat::oci {

// What goes into a layer: the tree of a host directory at a guest path ("/" for a rootfs),
// optionally hiding what lower layers hold there (an OCI opaque whiteout, as a mount hides the
// rootfs directory it is mounted on), or a single host file at a guest path.
struct LayerSource {
  enum class Kind { kTree, kFile } kind = Kind::kTree;
  std::string host_path;
  std::string guest_path;  // absolute and canonical
  bool opaque = false;     // kTree below "/": write GUEST/.wh..wh..opq
};

struct LayerResult {
  Descriptor blob;        // the compressed blob
  std::string diff_id;    // sha256 of the uncompressed tar
  uint64_t tar_size = 0;  // uncompressed bytes
  uint64_t files = 0, dirs = 0, symlinks = 0;
  std::vector<std::string> skipped;  // host paths of special files (devices, fifos, sockets)
};

// Called now and then with the uncompressed bytes written so far.
using Progress = std::function<void(uint64_t tar_bytes)>;

Result<LayerResult> WriteLayer(const std::string& layout_dir, const LayerSource& source,
                               Compression compression, const Progress& progress);

}  // namespace cat::oci
