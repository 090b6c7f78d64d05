// A func-image held in memory for editing: the header, the manifest unpacked with the
// FlatBuffers object API (every field, including ones added to func_image.fbs later, is
// carried over), and the body (segments, arena, relocations) byte for byte. ResealImage lays it
// out again and recomputes every checksum over whatever the (possibly edited) manifest points
// at. Shared by tests/tools/cfi_mutate and the func-image fuzz target (which reseals each input
// so that mutations reach the structural checks behind the checksums).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/image/func_image_generated.h"

namespace cat::testing {

struct Image {
  std::vector<uint8_t> header;  // header_size bytes
  uint64_t manifest_offset = 0;
  std::unique_ptr<fbs::ManifestT> manifest;
  uint64_t body_offset = 0;   // file offset of body[0]
  std::vector<uint8_t> body;  // everything after the manifest's page-aligned end
};

// Parses a well-formed image's header and manifest (the manifest must pass the FlatBuffers
// Verifier; checksums are not checked). PATH only names it in errors.
Result<Image> LoadImage(const std::vector<uint8_t>& bytes, const std::string& path);

// [offset, offset+size) of the file as a range inside the body (*rel), if it lies there whole.
bool InBody(const Image& img, uint64_t offset, uint64_t size, uint64_t* rel);

// The whole file: the body stays at its offset unless the repacked manifest no longer fits
// before it (then it moves back by whole pages and every file offset with it); then the
// checksums of each stored segment, the arena and the relocation table (where they lie inside
// the file), the manifest and the header are recomputed.
std::vector<uint8_t> ResealImage(Image& img);

}  // namespace cat::testing
