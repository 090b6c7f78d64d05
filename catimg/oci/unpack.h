// `catimg unpack`: an image of a layout back into a directory (spec/oci.md). Every digest is
// checked before anything is written (the manifest against the index, the config and every
// layer blob against the manifest), each layer's uncompressed digest against the config while
// it is unpacked, and the layers are unpacked in order into a fresh directory next to the
// output, renamed into place only when all of it checked out.
#pragma once

#include <string>
#include <vector>

#include "catimg/oci/layer_reader.h"
#include "catimg/oci/oci_spec.h"
#include "format/base/error.h"

namespace cat::oci {

struct UnpackedLayer {
  std::string kind, guest, mode;  // from the layer's annotations ("" when absent)
  Descriptor blob;
  LayerStats stats;
};

struct UnpackResult {
  Descriptor manifest;
  std::vector<UnpackedLayer> layers;
  std::string func_image;           // DIR + kFuncImagePath, when the image has one
  std::string root;                 // the function's root: "rootfs" or "empty" (annotation)
  std::vector<std::string> mounts;  // GUEST:ro|rw (annotation)
};

// `limits` bound the layers' uncompressed bytes and entries, all layers together.
Result<UnpackResult> Unpack(
    const ImageRef& in, const std::string& out_dir,
    const std::function<void(size_t layer, size_t of, uint64_t bytes)>& progress,
    const UnpackLimits& limits = {});

}  // namespace cat::oci
