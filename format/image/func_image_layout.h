// The func-image's fixed header and file-layout constants, shared by the writer and the reader
// (not part of the public interface: callers use func_image.h). Every multi-byte field is
// little-endian and encoded byte by byte, so the format does not depend on the host's
// struct layout. The byte table is in spec/func-image.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace cat::image_layout {

constexpr char kMagic[8] = {'C', 'A', 'T', 'F', 'I', 'M', 'G', '\0'};
constexpr uint64_t kPageSize = 4096;

// Version 1.0 header: 128 bytes. A later minor version may grow it (header_size says how
// big it is; the checksum is always its last 8 bytes) and may use the reserved bytes.
constexpr uint32_t kHeaderSize = 128;
constexpr uint32_t kMaxHeaderSize = 4096;  // a sanity bound for header_size
constexpr size_t kOffMagic = 0;
constexpr size_t kOffMajor = 8;
constexpr size_t kOffMinor = 10;
constexpr size_t kOffHeaderSize = 12;
constexpr size_t kOffManifestOffset = 16;
constexpr size_t kOffManifestSize = 24;
constexpr size_t kOffManifestChecksum = 32;
constexpr size_t kOffFileSize = 40;
constexpr size_t kOffReserved = 48;  // 72 bytes, zero in 1.0
// The header checksum sits at header_size - 8 and covers bytes [0, header_size - 8).

inline void Put16(uint8_t* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void Put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint16_t Get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
inline uint32_t Get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t Get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

constexpr uint64_t AlignUp(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace cat::image_layout
