// An OCI bundle's config.json as catload-oci runs it (spec/oci.md, "Runtime: config.json"):
// what the sandbox takes (args, env, cwd, rootfs, bind mounts, memory and fd limits,
// annotations), what it refuses (hooks, a terminal) and what it ignores, each ignored feature
// named in a note that create writes to --log.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/base/mount_spec.h"

namespace cat::oci {

// Annotations catload-oci reads from config.json (spec/oci.md, "Runtime: annotations").
inline constexpr const char* kFuncImageAnnotation = "dev.catalyzer.func-image";
inline constexpr const char* kSnapshotAnnotation = "dev.catalyzer.snapshot";
inline constexpr const char* kRootfsDigestAnnotation = "dev.catalyzer.rootfs-digest";
inline constexpr const char* kTimeoutAnnotation = "dev.catalyzer.timeout";
// Where `catimg pack` puts the func-image in an image's rootfs (spec/oci.md, layout part).
inline constexpr const char* kPackedFuncImagePath = "/.catalyzer/function.cfi";

struct BundleConfig {
  std::string bundle;  // absolute bundle directory
  std::string rootfs;  // absolute host path of root.path
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::vector<MountSpec> binds;  // directory bind mounts, in config order
  uint64_t memory_limit = 0;     // linux.resources.memory.limit; 0: catload's default
  uint32_t max_fds = 0;          // process.rlimits RLIMIT_NOFILE soft; 0: catload's default
  double timeout_s = 0;          // dev.catalyzer.timeout; 0: none
  std::map<std::string, std::string> annotations;
  // Features of the config the sandbox does not apply, one line each (logged at create).
  std::vector<std::string> ignored;
};

// Reads BUNDLE/config.json. An error names the field and says what to change.
Result<BundleConfig> ReadBundleConfig(const std::string& bundle);
// The same from the text (tests).
Result<BundleConfig> ParseBundleConfig(const std::string& bundle, const std::string& json_text);

}  // namespace cat::oci
