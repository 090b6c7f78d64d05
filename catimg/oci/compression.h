// Streaming compression of layer tars (libzstd, zlib's gzip framing) and the reverse, with no
// timestamps or names in the output (zstd frames have none; the gzip header's mtime is 0 and
// it names no file), so the same tar always compresses to the same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "catimg/oci/oci_spec.h"
#include "format/base/error.h"

namespace cat::oci {

// Where compressed (or decompressed) bytes go.
using ByteSink = std::function<Status(const uint8_t* data, size_t size)>;

class Compressor {
 public:
  static Result<std::unique_ptr<Compressor>> Create(Compression c, ByteSink out);
  virtual ~Compressor() = default;
  virtual Status Write(const uint8_t* data, size_t size) = 0;
  virtual Status Finish() = 0;  // flushes the end of the stream
};

// Reads compressed bytes from `in` (returns 0 bytes at its end) and gives plain bytes.
using ByteSource = std::function<Result<size_t>(uint8_t* buf, size_t size)>;

class Decompressor {
 public:
  // `media_type`: one of the three layer media types (plain tar passes bytes through).
  static Result<std::unique_ptr<Decompressor>> Create(std::string_view media_type, ByteSource in);
  virtual ~Decompressor() = default;
  // Up to `size` plain bytes; 0 at the end of the stream. A stream that ends early or holds
  // bytes after its end is an error.
  virtual Result<size_t> Read(uint8_t* buf, size_t size) = 0;
};

}  // namespace cat::oci
