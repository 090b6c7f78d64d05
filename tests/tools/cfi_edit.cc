// LoadImage / ResealImage: see cfi_edit.h.
#include "tests/tools/cfi_edit.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "format/image/func_image_layout.h"

namespace cat::testing {

using namespace cat::image_layout;

Result<Image> LoadImage(const std::vector<uint8_t>& d, const std::string& path) {
  if (d.size() < kHeaderSize || std::memcmp(d.data(), kMagic, sizeof(kMagic)) != 0)
    return Fail(EINVAL, path + ": not a func-image (bad magic or shorter than a header)");
  Image img;
  const uint32_t header_size = Get32(&d[kOffHeaderSize]);
  if (header_size < kHeaderSize || header_size > kMaxHeaderSize || header_size % 8 != 0 ||
      header_size > d.size())
    return Fail(EINVAL, path + ": bad header size " + std::to_string(header_size));
  img.header.assign(d.begin(), d.begin() + header_size);
  img.manifest_offset = Get64(&d[kOffManifestOffset]);
  const uint64_t manifest_size = Get64(&d[kOffManifestSize]);
  if (img.manifest_offset < header_size || img.manifest_offset > d.size() ||
      manifest_size > d.size() - img.manifest_offset)
    return Fail(EINVAL, path + ": manifest lies outside the file");
  const uint8_t* m = &d[img.manifest_offset];
  flatbuffers::Verifier verifier(m, manifest_size);
  if (!fbs::VerifyManifestBuffer(verifier))
    return Fail(EINVAL, path +
                            ": manifest fails FlatBuffers verification (cfi_mutate needs a "
                            "well-formed image as input)");
  img.manifest = fbs::UnPackManifest(m);
  img.body_offset =
      std::min<uint64_t>(AlignUp(img.manifest_offset + manifest_size, kPageSize), d.size());
  img.body.assign(d.begin() + static_cast<ptrdiff_t>(img.body_offset), d.end());
  return img;
}

bool InBody(const Image& img, uint64_t offset, uint64_t size, uint64_t* rel) {
  if (offset < img.body_offset) return false;
  const uint64_t r = offset - img.body_offset;
  if (r > img.body.size() || size > img.body.size() - r) return false;
  *rel = r;
  return true;
}

namespace {

std::vector<uint8_t> PackManifest(const fbs::ManifestT& m) {
  flatbuffers::FlatBufferBuilder fbb(4096);
  fbb.ForceDefaults(true);  // as the writer does: the size does not depend on the values
  fbs::FinishManifestBuffer(fbb, fbs::Manifest::Pack(fbb, &m));
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

// Moves every file offset the manifest holds that points into the body by delta bytes.
void ShiftOffsets(Image& img, uint64_t delta) {
  auto shift = [&](uint64_t& off) {
    if (off >= img.body_offset) off += delta;
  };
  for (auto& s : img.manifest->segments)
    if (s && s->stored) shift(s->file_offset);
  if (img.manifest->arena) shift(img.manifest->arena->offset);
  if (img.manifest->relocations) shift(img.manifest->relocations->offset);
  img.body_offset += delta;
}

}  // namespace

std::vector<uint8_t> ResealImage(Image& img) {
  std::vector<uint8_t> manifest = PackManifest(*img.manifest);
  const uint64_t need = AlignUp(img.manifest_offset + manifest.size(), kPageSize);
  if (need > img.body_offset) {
    ShiftOffsets(img, need - img.body_offset);
  }
  fbs::ManifestT& m = *img.manifest;
  uint64_t rel = 0;
  // data() + rel, not &body[rel]: a zero-size block may sit at the body's end, or the body be
  // empty (found by fuzz_func_image: UBSan's reference binding to null).
  auto hash = [&](uint64_t at, uint64_t size) { return XXH3_64bits(img.body.data() + at, size); };
  for (auto& s : m.segments)
    if (s && s->stored && InBody(img, s->file_offset, s->size, &rel))
      s->checksum = hash(rel, s->size);
  if (m.arena && InBody(img, m.arena->offset, m.arena->size, &rel))
    m.arena->checksum = hash(rel, m.arena->size);
  if (m.relocations && InBody(img, m.relocations->offset, m.relocations->size, &rel))
    m.relocations->checksum = hash(rel, m.relocations->size);
  manifest = PackManifest(m);  // same size as above: ForceDefaults, only values changed

  std::vector<uint8_t> out(img.body_offset + img.body.size(), 0);
  // std::copy, not memcpy: an empty body has a null data() (found by fuzz_func_image).
  std::copy(manifest.begin(), manifest.end(),
            out.begin() + static_cast<ptrdiff_t>(img.manifest_offset));
  std::copy(img.body.begin(), img.body.end(),
            out.begin() + static_cast<ptrdiff_t>(img.body_offset));
  std::vector<uint8_t>& h = img.header;
  Put64(&h[kOffManifestSize], manifest.size());
  Put64(&h[kOffManifestChecksum], XXH3_64bits(manifest.data(), manifest.size()));
  Put64(&h[kOffFileSize], out.size());
  Put64(&h[h.size() - 8], XXH3_64bits(h.data(), h.size() - 8));
  std::memcpy(out.data(), h.data(), h.size());
  return out;
}

}  // namespace cat::testing
