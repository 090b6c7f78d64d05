// The func-image cache of catload-oci (spec/oci.md, "Runtime: snapshot cache"): a container
// whose config asks for it (annotation dev.catalyzer.snapshot=cache) is captured at its
// func-entry point the first time, compiled by `catimg build` into ROOT/snapshots/KEY.cfi, and
// every container with the same key cold-boots from that image instead of running its init.
#pragma once

#include <string>

#include "format/base/error.h"
#include "loader/oci/bundle_config.h"

namespace cat::oci {

// XXH3-128 over every entry of the rootfs in path order: path, type, mode, size, symlink
// target and file contents. The annotation dev.catalyzer.rootfs-digest replaces it (an image
// digest the engine knows) when given.
Result<std::string> RootfsDigest(const std::string& rootfs);

// The cache key: XXH3-128 (hex) over the rootfs digest, args, env, cwd and bind mounts.
std::string SnapshotKey(const BundleConfig& config, const std::string& rootfs_digest);

// The cached func-image for `config` (exe_host: args[0] resolved in the rootfs): opened from
// ROOT/snapshots/KEY.cfi if it is there and opens, else captured and built now (concurrent
// first containers each build; the last rename wins, all images are equivalent). `built` says
// which happened.
Result<std::string> CachedSnapshot(const std::string& root, const BundleConfig& config,
                                   const std::string& exe_host, bool& built);

}  // namespace cat::oci
