// Guest paths of a container's rootfs as host paths, resolved the way the guest would see them:
// every symlink (absolute or relative) is followed inside the rootfs, and '..' stops at its
// root, so that an image's `/bin/sh -> /usr/bin/busybox` or a hostile `/x -> ../../etc` never
// names a host file outside it.
#pragma once

#include <string>
#include <vector>

#include "format/base/error.h"

namespace cat::oci {

// The host path of guest path `path` (absolute, or relative to `cwd`) in `rootfs`.
Result<std::string> ResolveInRootfs(const std::string& rootfs, const std::string& path,
                                    const std::string& cwd = "/");

// process.args[0] as an exec would find it: a name with a '/' as a path, a bare name through
// the PATH of `env` (the OCI default PATH if it has none). Returns the host path.
Result<std::string> FindProgram(const std::string& rootfs, const std::string& name,
                                const std::vector<std::string>& env, const std::string& cwd);

}  // namespace cat::oci
