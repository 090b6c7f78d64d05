// `catimg pack`: a func-image and the host directories it was captured with, as an OCI image
// in an image layout (spec/oci.md): one layer per directory (the rootfs at /, each mount at its
// guest path hiding what is below it), the func-image's layer last, at kFuncImagePath; an
// image config whose labels, like the manifest's annotations, carry the function's metadata.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "catimg/oci/image_layout.h"
#include "catimg/oci/layer_writer.h"
#include "catimg/oci/oci_spec.h"
#include "format/base/error.h"
#include "format/base/mount_spec.h"

namespace cat::oci {

struct PackOptions {
  std::string image;  // the .cfi
  ImageRef out;       // tag defaulted by the caller
  Compression compression = Compression::kZstd;
  // Host directories in place of the recorded ones (the image records the capture machine's
  // paths): the rootfs, and mounts by guest path.
  std::string rootfs;
  std::vector<MountSpec> mounts;
  // Called with the layer being written ("rootfs", "mount /data", "func-image") and the
  // uncompressed bytes written so far.
  std::function<void(const std::string& layer, uint64_t bytes)> progress;
};

struct PackedLayer {
  std::string kind;   // "rootfs" | "mount" | "func-image"
  std::string guest;  // where it lands in the container's root
  std::string host;   // what was packed
  LayerResult layer;
};

struct PackResult {
  Descriptor manifest;
  Descriptor config;
  std::vector<PackedLayer> layers;
};

Result<PackResult> Pack(const PackOptions& options);

}  // namespace cat::oci
