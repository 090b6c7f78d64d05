// Which host files the guest may reach at all, whatever the operator's rootfs and mounts
// contain. Two rules (spec/sandbox.md §6.1):
//  * No kernel-interface filesystem: a host directory on procfs, sysfs, cgroupfs, debugfs,
//    devpts, ... (a deny list by statfs f_type) is shown to the guest as an empty, read-only
//    directory, and nothing below it exists. Those files are the host kernel's live state and
//    controls (catload's own /proc/self among them), not data an operator meant to share.
//  * No host special file: device nodes, FIFOs and sockets anywhere in a rootfs or mount can be
//    stat-ed but never opened (EACCES, as on a `nodev` mount).
// Decisions are cached per st_dev for the life of the kernel object (transient state: a
// restored instance decides again on its own host), so a path walk costs one statfs per
// distinct filesystem it meets, not one per component.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "format/base/error.h"

namespace cat {

// The name of a denied filesystem type ("proc", "sysfs", ...), or nullptr if files on a
// filesystem of that type may reach the guest.
const char* DeniedFsTypeName(int64_t f_type);

// Device nodes, FIFOs and sockets: host files the guest may see but never open.
inline bool IsHostSpecialFile(mode_t mode) {
  return S_ISCHR(mode) || S_ISBLK(mode) || S_ISFIFO(mode) || S_ISSOCK(mode);
}

class HostFsPolicy {
 public:
  // Whether the filesystem `fd` is on (st_dev `dev`, from a stat of the same file) is denied.
  // One fstatfs per device; later calls for the same device are a hash lookup.
  Result<bool> DeniedFd(int fd, dev_t dev);
  // The same for a file known only by its st_dev: `open_path` opens it (O_PATH) when the
  // device was not seen before.
  template <class OpenFn>
  Result<bool> Denied(dev_t dev, OpenFn&& open_path) {
    if (auto it = cache_.find(dev); it != cache_.end()) return it->second;
    TRY(int fd, open_path());
    auto r = DeniedFd(fd, dev);
    CloseFd(fd);
    return r;
  }
  // Refuses an fd the guest would do I/O on: EACCES for a special file or a denied filesystem.
  Status CheckOpenable(int fd, const struct stat& st, const std::string& guest_path);

  size_t devices_seen() const { return cache_.size(); }

 private:
  static void CloseFd(int fd);
  std::unordered_map<dev_t, bool> cache_;
};

}  // namespace cat
