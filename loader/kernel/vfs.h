// The guest's filesystem view: mounts of host directories (the rootfs at "/"), the in-memory
// overlay on top of every read-only mount, and path resolution done by the sandbox kernel
// itself. A guest path is resolved component by component against this view: `..` stops at
// the guest's root, symlinks are read and re-resolved inside the guest's root, and host
// directories are only ever opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) below
// their mount's directory fd, so no guest path can name a host file outside its mounts.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>
#include <vector>

#include "format/base/error.h"
#include "format/state/sandbox_state.h"
#include "loader/kernel/host_fs_policy.h"
#include "loader/kernel/memory_budget.h"
#include "loader/kernel/overlay_table.h"
#include "loader/kernel/procfs.h"

namespace cat {

// What a canonical guest path refers to.
struct Node {
  // kSynthetic: made up by the sandbox, backed by no host file: a /proc node (procfs.h), or a
  // host directory on a denied filesystem, shown as an empty directory (host_fs_policy.h).
  enum class Layer { kMissing, kOverlay, kHost, kSynthetic } layer = Layer::kMissing;
  std::string path;               // canonical guest path
  state::Inode* inode = nullptr;  // kOverlay
  uint32_t mount = 0;             // kHost (and kMissing: the mount a new file would go to)
  std::string host_rel;           // kHost / kMissing: path relative to the mount's directory
  bool rw = false;                // in a read-write mount
  bool parent_in_overlay = false;
  // In a tree the guest cannot change (/proc, at or below a denied host directory): creating
  // and writing fail with EACCES, removing and renaming with EPERM.
  bool sealed = false;
  struct stat st {};  // kOverlay / kHost: lstat-like metadata

  bool exists() const { return layer != Layer::kMissing; }
  bool is_dir() const { return exists() && S_ISDIR(st.st_mode); }
  bool is_symlink() const { return exists() && S_ISLNK(st.st_mode); }
};

class Vfs {
 public:
  explicit Vfs(state::SandboxState& s)
      : s_(s), budget_(s.memory), overlay_(s.overlay, &budget_), procfs_(s) {}

  // Sets up a new guest filesystem: opens the mounts' host directories and creates the
  // synthetic /dev nodes, /tmp and mount-point parents. mounts[0] must be "/".
  Status Init(const std::vector<std::string>& host_dirs);
  // For restored state: only (re)opens the mounts' host directories. host_dirs[i] is the
  // directory the boot caller bound to mounts[i] (HostBindings::mount_dirs), "" for none.
  Status OpenMounts(const std::vector<std::string>& host_dirs);

  // Resolves `path` relative to `base` (a canonical guest directory). With follow_last, a
  // final symlink is followed. A missing final component is not an error (Node kMissing,
  // parent checked to exist); a missing intermediate one is ENOENT.
  Result<Node> Resolve(std::string_view base, std::string_view path, bool follow_last) const;
  Result<Node> Lookup(const std::string& path, bool parent_in_overlay) const;

  Result<std::string> ReadLink(const Node& node) const;
  // Opens a host node for I/O with the given open(2) flags (no symlink is followed).
  Result<int> OpenHost(const Node& node, int flags, mode_t mode) const;
  // Whether writes to the mount reach its host directory (captured rw, bound by the operator).
  bool mount_read_write(uint32_t mount) const {
    return mount < s_.mounts.size && s_.mounts[mount].access == state::MountAccess::kReadWrite;
  }
  int mount_dirfd(uint32_t mount) const {
    return mount < s_.mounts.size ? s_.mounts[mount].host_dirfd : -1;
  }

  // Mutations. Paths are Nodes from Resolve (kMissing for creation).
  Result<state::Inode*> CreateOverlayFile(const Node& where, uint32_t mode);
  Status MakeDir(const Node& where, mode_t mode);
  Status MakeSymlink(const Node& where, std::string_view target);
  Status Remove(const Node& node, bool dir);
  Status Rename(const Node& from, const Node& to);
  // Copies a read-only host file into the overlay so it can be written (copy-up).
  Result<state::Inode*> CopyUp(const Node& node);

  // Directory listing: (name, ino, DT_type) of a directory node, "." and ".." first.
  struct Entry {
    std::string name;
    uint64_t ino;
    uint8_t type;
  };
  Result<std::vector<Entry>> List(const Node& dir) const;

  OverlayTable& overlay() { return overlay_; }
  Procfs& procfs() { return procfs_; }
  // The generated content of a synthetic regular file (a /proc file).
  Result<std::string> SyntheticContent(std::string_view path) const {
    return procfs_.Generate(path);
  }
  // Refuses a host fd the guest is about to do I/O on (host_fs_policy.h): EACCES.
  Status CheckHostOpenable(int fd, const struct stat& st, const std::string& guest_path) const {
    return fs_policy_.CheckOpenable(fd, st, guest_path);
  }
  // Lookups made so far (one overlay probe and at most one host stat each): the work a path
  // resolution costs, for tests.
  uint64_t lookups() const { return lookups_; }
  MemoryBudget& budget() { return budget_; }
  static struct stat StatOf(const state::Inode& inode);

 private:
  int MountOf(std::string_view path) const;
  // Applies the host filesystem policy to a host node just stat-ed (kHost): a node on a denied
  // filesystem becomes an empty synthetic directory, or missing below one.
  Status ApplyFsPolicy(Node& n) const;
  bool BelowDeniedDir(uint32_t mount, std::string_view path) const;
  // ENOSPC unless a new overlay entry at path, plus `extra` bytes of data, fits the budget.
  Status RoomFor(std::string_view path, uint64_t extra) const;

  state::SandboxState& s_;
  MemoryBudget budget_;  // before overlay_, which charges it
  OverlayTable overlay_;
  Procfs procfs_;
  // Transient (never in the state): decisions by host st_dev, and the guest paths of denied
  // host directories found so far, with their mount (everything below them in that mount is
  // hidden; mounts below them are not).
  mutable HostFsPolicy fs_policy_;
  mutable std::vector<std::pair<uint32_t, std::string>> denied_dirs_;
  mutable uint64_t lookups_ = 0;
};

// Joins and splits canonical guest paths.
std::string JoinPath(std::string_view dir, std::string_view name);
// The non-empty components of a path ("/a//b/" -> "a", "b"), viewing into `path`.
std::vector<std::string_view> SplitGuestPath(std::string_view path);

}  // namespace cat
