// An OCI image-layout directory (oci-layout, index.json, blobs/sha256/<hex>): writing blobs
// content-addressed (temporary file, then rename to its digest), reading them back with their
// digest and size verified, and the index that maps tags to manifests.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catimg/oci/sha256.h"
#include "format/base/error.h"
#include "format/base/temp_file.h"

namespace cat::oci {

// An OCI content descriptor.
struct Descriptor {
  std::string media_type;
  std::string digest;
  uint64_t size = 0;
  nlohmann::json ToJson() const;
};

// A blob being written: bytes go to a temporary in blobs/sha256/ and through the hash;
// Commit() renames it to its digest (an existing blob of that digest is the same bytes).
class BlobWriter {
 public:
  static Result<BlobWriter> Create(const std::string& layout_dir);
  Status Write(const void* data, size_t size);
  Result<Descriptor> Commit(std::string media_type);
  uint64_t size() const { return size_; }

 private:
  BlobWriter(std::string dir, TempFile file) : dir_(std::move(dir)), file_(std::move(file)) {}
  std::string dir_;
  TempFile file_;
  Sha256 hash_;
  uint64_t size_ = 0;
};

// Creates DIR, DIR/blobs/sha256 and DIR/oci-layout if missing (an existing layout is kept:
// several tags may live in one).
Status InitLayout(const std::string& dir);

// Writes `bytes` as a blob (JSON documents).
Result<Descriptor> WriteBlob(const std::string& layout_dir, std::string_view bytes,
                             std::string media_type);

// The path of a blob; the digest must pass IsSha256Digest (checked: it comes from input).
Result<std::string> BlobPath(const std::string& layout_dir, const std::string& digest);

// Reads a small blob (a JSON document, at most `limit` bytes) and checks its size and digest.
Result<std::string> ReadBlob(const std::string& layout_dir, const Descriptor& d, uint64_t limit);

// Hashes a blob on disk and checks its size and digest (layers: before anything is unpacked).
Status VerifyBlob(const std::string& layout_dir, const Descriptor& d);

// Parses a descriptor object (mediaType, digest, size), refusing malformed ones.
Result<Descriptor> ParseDescriptor(const nlohmann::json& j, const std::string& what);

// index.json: adds (or replaces) the manifest tagged `tag`, entries sorted by tag so that the
// file depends only on the set of tags. `platform` is the manifest's platform object.
Status PutIndexEntry(const std::string& layout_dir, const std::string& tag, const Descriptor& m,
                     const nlohmann::json& platform);

// Finds the manifest tagged `tag` in index.json (`tag` empty: the index's only manifest).
Result<Descriptor> FindManifest(const std::string& layout_dir, const std::string& tag);

}  // namespace cat::oci
