// The HOST:GUEST[:ro|rw] form of a mount, shared by the command line (`--mount`), capture,
// which records every mount in its canonical form ("/abs/host:/guest:ro|rw") in the
// checkpoint's metadata and the func-image's manifest, and FuncImage::Open, which refuses a
// manifest whose mounts are not in that form. Lives in format/ because both the loader and
// the format library need it.
#pragma once

#include <string>
#include <string_view>

#include "format/base/error.h"

namespace cat {

struct MountSpec {
  std::string host;   // host directory
  std::string guest;  // absolute guest path
  bool read_write = false;
};

// An absolute path without '.', '..', '//' or a trailing '/' ("/" itself is canonical).
bool IsCanonicalAbsolutePath(std::string_view p);

// Parses HOST:GUEST[:ro|rw] as the operator writes it (default ro).
Result<MountSpec> ParseMountSpec(const std::string& spec);

// The recorded form: "HOST:GUEST:ro" or "HOST:GUEST:rw", HOST absolute and canonical.
std::string MountRecord(const MountSpec& m);
// Parses a recorded mount; anything capture would not have written is an error.
Result<MountSpec> ParseMountRecord(const std::string& record);
// The recorded rootfs: "" (an empty root) or an absolute canonical host path.
bool IsRootfsRecord(std::string_view rootfs);

}  // namespace cat
