// Fuzz target: one OCI layer blob as `catimg unpack` meets it (oci::ExtractLayer: the zstd or
// gzip stream decompressed, the tar read by libarchive, every entry checked before it is
// written). The first input byte picks the layer's media type (tar, tar+zstd, tar+gzip), the
// rest is the blob. It is stored in a fresh layout under its own digest, and its digest is
// given as the diff_id, so the digest checks pass and the decompressors and entry checks are
// what is exercised. Whatever it writes goes to a temporary directory, removed afterwards.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "catimg/oci/image_layout.h"
#include "catimg/oci/layer_reader.h"
#include "catimg/oci/oci_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  constexpr std::string_view kTypes[] = {cat::oci::kMediaLayerTar, cat::oci::kMediaLayerZstd,
                                         cat::oci::kMediaLayerGzip};
  const std::string_view media_type = kTypes[data[0] % 3];
  const std::string_view blob(reinterpret_cast<const char*>(data + 1), size - 1);

  char dir[] = "/tmp/catalyzer-fuzz-oci.XXXXXX";
  if (!mkdtemp(dir)) return 0;
  const std::string root = dir, layout = root + "/layout", dest = root + "/out";
  std::error_code ec;
  std::filesystem::create_directory(dest, ec);
  if (!ec && cat::oci::InitLayout(layout)) {
    auto d = cat::oci::WriteBlob(layout, blob, std::string(media_type));
    if (d) {
      cat::oci::UnpackState state;
      // Small bounds: a bomb among the inputs must not fill the disk or slow the campaign.
      state.limits.max_bytes = 64 << 20;
      state.limits.max_entries = 10000;
      (void)cat::oci::ExtractLayer(layout, *d, d->digest, dest, state, "layer 1");
    }
  }
  std::filesystem::remove_all(root, ec);
  return 0;
}
