// Path resolution, the overlay and host directories behind the guest's filesystem (vfs.h).
#include "loader/kernel/vfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <deque>
#include <optional>
#include <set>

#include "format/base/host_clock.h"
#include "format/base/unique_fd.h"
#include "loader/kernel/file_data.h"
#include "loader/kernel/host_open.h"

namespace cat {
namespace {

constexpr int kMaxSymlinks = 40;
constexpr dev_t kOverlayDev = 0x3f;  // st_dev of overlay inodes (any fixed value not 0)

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  for (std::string_view p : SplitGuestPath(path)) parts.emplace_back(p);
  return parts;
}

std::string_view BaseName(std::string_view path) {
  return path.substr(path.rfind('/') + 1);
}

uint8_t DirentType(mode_t mode) {
  if (S_ISDIR(mode)) return DT_DIR;
  if (S_ISLNK(mode)) return DT_LNK;
  if (S_ISCHR(mode)) return DT_CHR;
  if (S_ISREG(mode)) return DT_REG;
  if (S_ISFIFO(mode)) return DT_FIFO;
  return DT_UNKNOWN;
}

// A host directory and a path below it that the host kernel accepts. The guest's own path is
// shorter than PATH_MAX, but its canonical form below a mount can be longer (a relative path
// from a deep cwd), and Linux resolves that fine: so the leading directories of a long path
// are opened one PATH_MAX-sized piece at a time, each beneath the previous one.
struct HostAt {
  UniqueFd held;  // the last piece opened, if any
  int dirfd;
  std::string rel;
};
Result<HostAt> Beneath(int dirfd, const std::string& rel) {
  HostAt at{UniqueFd(), dirfd, rel};
  while (at.rel.size() >= PATH_MAX) {
    const size_t cut = at.rel.rfind('/', PATH_MAX - 1);
    if (cut == std::string::npos || cut == 0) return Fail(ENAMETOOLONG, "name too long");
    TRY(at.held, OpenHostBeneath(at.dirfd, at.rel.substr(0, cut), O_PATH | O_DIRECTORY, 0,
                                 "open a directory on the way"));
    at.dirfd = at.held.get();
    at.rel.erase(0, cut + 1);
  }
  return at;
}

}  // namespace

std::vector<std::string_view> SplitGuestPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

struct stat Vfs::StatOf(const state::Inode& inode) {
  struct stat st {};
  st.st_dev = kOverlayDev;
  st.st_ino = inode.ino;
  st.st_mode = inode.mode;
  st.st_nlink = inode.nlink ? inode.nlink : 1;
  st.st_uid = inode.uid;
  st.st_gid = inode.gid;
  st.st_size = S_ISDIR(inode.mode)   ? 4096
               : S_ISREG(inode.mode) ? static_cast<off_t>(inode.size)
                                     : inode.data.size;
  st.st_blksize = 4096;
  // What the file really holds (a sparse file's holes hold nothing), as tmpfs reports it.
  st.st_blocks = S_ISREG(inode.mode) ? static_cast<blkcnt_t>(FileDataCharge(inode) / 512)
                                     : (st.st_size + 511) / 512;
  switch (inode.device) {
    case state::DeviceKind::kNull:
      st.st_rdev = makedev(1, 3);
      break;
    case state::DeviceKind::kZero:
      st.st_rdev = makedev(1, 5);
      break;
    case state::DeviceKind::kUrandom:
      st.st_rdev = makedev(1, 9);
      break;
    case state::DeviceKind::kNone:
      break;
  }
  st.st_atim = {inode.atime_ns / 1000000000, inode.atime_ns % 1000000000};
  st.st_mtim = {inode.mtime_ns / 1000000000, inode.mtime_ns % 1000000000};
  st.st_ctim = {inode.ctime_ns / 1000000000, inode.ctime_ns % 1000000000};
  return st;
}

Status Vfs::OpenMounts(const std::vector<std::string>& host_dirs) {
  for (state::Mount& m : s_.mounts) m.host_dirfd = -1;
  if (host_dirs.size() != s_.mounts.size)
    return Fail(EINVAL, std::to_string(host_dirs.size()) + " host directories bound for " +
                            std::to_string(s_.mounts.size) + " mounts");
  for (uint32_t i = 0; i < s_.mounts.size; ++i) {
    state::Mount& m = s_.mounts[i];
    const std::string& dir = host_dirs[i];
    // The binding decides (mount_binding.h); the captured access only has to agree with it.
    if (dir.empty() != (m.access == state::MountAccess::kNone))
      return Fail(EINVAL, "mount " + std::string(m.guest_path.view()) +
                              (dir.empty() ? ": no host directory bound"
                                           : ": a host directory bound to a mount without one"));
    if (dir.empty()) continue;
    int fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      return FailErrno("host directory " + dir + " of mount " + std::string(m.guest_path.view()));
    // A kernel interface is never a mount (host_fs_policy.h); below a mount it is hidden.
    struct statfs sfs {};
    const char* denied = fstatfs(fd, &sfs) == 0 ? DeniedFsTypeName(sfs.f_type) : nullptr;
    if (denied) {
      close(fd);
      return Fail(EACCES, "host directory " + dir + " of mount " +
                              std::string(m.guest_path.view()) + " is on a " + denied +
                              " filesystem: kernel interfaces are never exposed to the guest");
    }
    m.host_dirfd = fd;
  }
  return {};
}

Status Vfs::Init(const std::vector<std::string>& host_dirs) {
  for (const state::Mount& m : s_.mounts)
    if (Procfs::Covers(m.guest_path.view()))
      return Fail(EINVAL, "mount " + std::string(m.guest_path.view()) +
                              ": /proc is the sandbox's own procfs, nothing can be mounted there");
  TRY_STATUS(OpenMounts(host_dirs));
  const uint32_t uid = s_.process.uid, gid = s_.process.gid;
  auto make_dir = [&](std::string_view path, uint32_t perms = 0755) {
    state::Inode* dir = overlay_.NewInode(S_IFDIR | perms, uid, gid);
    dir->nlink = 2;
    overlay_.SetInode(overlay_.Upsert(path), dir);
  };
  auto make_dev = [&](std::string_view path, state::DeviceKind kind) {
    state::Inode* dev = overlay_.NewInode(S_IFCHR | 0666, 0, 0);
    dev->device = kind;
    overlay_.SetInode(overlay_.Upsert(path), dev);
  };
  // An empty root is an overlay directory; /dev always is (a rootfs's device nodes would name
  // host devices, so they are hidden); /tmp exists so that functions have scratch space.
  if (s_.mounts[0].host_dirfd < 0) make_dir("/");
  make_dir("/dev");
  make_dev("/dev/null", state::DeviceKind::kNull);
  make_dev("/dev/zero", state::DeviceKind::kZero);
  make_dev("/dev/urandom", state::DeviceKind::kUrandom);
  make_dev("/dev/random", state::DeviceKind::kUrandom);
  TRY(Node tmp, Lookup("/tmp", s_.mounts[0].host_dirfd < 0));
  if (!tmp.exists()) make_dir("/tmp", 01777);
  // Like mount(8) with a created target: the directories leading to a mount point exist even
  // where the rootfs lacks them (as overlay directories).
  for (const state::Mount& m : s_.mounts) {
    const std::string mp(m.guest_path.view());
    for (size_t slash = mp.find('/', 1); slash != std::string::npos;
         slash = mp.find('/', slash + 1)) {
      TRY(Node dir, Resolve("/", mp.substr(0, slash), true));
      if (!dir.exists())
        make_dir(dir.path);
      else if (!dir.is_dir())
        return Fail(ENOTDIR, "mount point " + mp + ": " + dir.path + " is not a directory");
    }
  }
  return {};
}

int Vfs::MountOf(std::string_view path) const {
  int best = 0;
  size_t best_len = 0;
  for (uint32_t i = 0; i < s_.mounts.size; ++i) {
    std::string_view mp = s_.mounts[i].guest_path.view();
    const bool match = mp == "/" || path == mp ||
                       (path.starts_with(mp) && path.size() > mp.size() && path[mp.size()] == '/');
    if (match && mp.size() >= best_len) {
      best = static_cast<int>(i);
      best_len = mp.size();
    }
  }
  return best;
}

Result<Node> Vfs::Lookup(const std::string& path, bool parent_in_overlay) const {
  ++lookups_;
  Node n;
  n.path = path;
  n.parent_in_overlay = parent_in_overlay;
  if (Procfs::Covers(path)) {
    // /proc is synthetic whatever the rootfs holds there: a host /proc directory is hidden.
    n.sealed = true;
    if (auto st = procfs_.Lookup(path)) {
      n.layer = Node::Layer::kSynthetic;
      n.st = *st;
    }
    return n;
  }
  n.mount = static_cast<uint32_t>(MountOf(path));
  const state::Mount& m = s_.mounts[n.mount];
  n.rw = m.access == state::MountAccess::kReadWrite;
  const std::string_view mp = m.guest_path.view();
  const bool mount_root = path == mp;
  n.host_rel = mount_root ? "" : path.substr(mp == "/" ? 1 : mp.size() + 1);
  if (!n.rw) {
    if (const state::OverlayEntry* e = overlay_.Find(path)) {
      if (!e->inode) return n;  // whiteout
      n.layer = Node::Layer::kOverlay;
      n.inode = e->inode;
      n.st = StatOf(*e->inode);
      return n;
    }
  }
  if ((parent_in_overlay && !mount_root) || m.host_dirfd < 0) return n;
  if (BelowDeniedDir(n.mount, path)) {
    n.sealed = true;
    return n;
  }
  auto at = Beneath(m.host_dirfd, n.host_rel);
  if (!at) {
    if (at.error().code() == ENOENT || at.error().code() == ENOTDIR) return n;
    return Fail(at.error().code(), "stat " + path + ": " + at.error().message());
  }
  const int r = at->rel.empty() ? fstatat(at->dirfd, "", &n.st, AT_EMPTY_PATH)
                                : fstatat(at->dirfd, at->rel.c_str(), &n.st, AT_SYMLINK_NOFOLLOW);
  if (r != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return n;
    return FailErrno("stat " + path);
  }
  n.layer = Node::Layer::kHost;
  TRY_STATUS(ApplyFsPolicy(n));
  return n;
}

bool Vfs::BelowDeniedDir(uint32_t mount, std::string_view path) const {
  for (const auto& [m, d] : denied_dirs_)
    if (m == mount && path.size() > d.size() && path.starts_with(d) &&
        (d == "/" || path[d.size()] == '/'))
      return true;
  return false;
}

Status Vfs::ApplyFsPolicy(Node& n) const {
  TRY(bool denied, fs_policy_.Denied(n.st.st_dev, [&]() -> Result<int> {
    TRY(UniqueFd fd, OpenHostBeneath(mount_dirfd(n.mount), n.host_rel, O_PATH | O_NOFOLLOW, 0,
                                     "open " + n.path));
    return fd.Release();
  }));
  if (!denied) return {};
  n.sealed = true;
  if (!S_ISDIR(n.st.st_mode)) {
    n.layer = Node::Layer::kMissing;  // a file bind-mounted from a kernel interface
    return {};
  }
  // The topmost denied directory of a walk (its parent was allowed, or the walk would have
  // stopped there): shown as an empty directory, and remembered, so that what lies below it
  // is missing without another host call.
  n.layer = Node::Layer::kSynthetic;
  n.st.st_dev = kSyntheticDev;
  n.st.st_mode = S_IFDIR | 0555;
  n.st.st_nlink = 2;
  n.st.st_size = 0;
  n.st.st_blocks = 0;
  const std::pair<uint32_t, std::string> key{n.mount, n.path};
  if (std::find(denied_dirs_.begin(), denied_dirs_.end(), key) == denied_dirs_.end())
    denied_dirs_.push_back(key);
  return {};
}

Result<Node> Vfs::Resolve(std::string_view base, std::string_view path, bool follow_last) const {
  if (path.empty()) return Fail(ENOENT, "empty path");
  if (path.size() >= PATH_MAX) return Fail(ENAMETOOLONG, "path too long");
  // The canonical path so far, one entry per component: where it ends in `cur` and whether that
  // directory is an overlay one (-1: not known yet). The work is linear in the components: each
  // step appends to or cuts `cur`, never rebuilds it, and a relative path's base directories
  // are not looked up unless `..` climbs back into them.
  std::string cur;
  struct Dir {
    size_t end;
    int8_t in_overlay;
  };
  std::vector<Dir> dirs;
  TRY(Node root, Lookup("/", false));
  const bool root_in_overlay = root.layer == Node::Layer::kOverlay;
  auto path_of = [&](size_t end) { return end == 0 ? std::string("/") : cur.substr(0, end); };
  auto in_overlay = [&](size_t i) -> Result<bool> {  // of the directory dirs[i]
    if (dirs[i].in_overlay < 0) {
      TRY(Node dir, Lookup(path_of(dirs[i].end), false));
      dirs[i].in_overlay = dir.layer == Node::Layer::kOverlay ? 1 : 0;
    }
    return dirs[i].in_overlay == 1;
  };
  auto parent_in_overlay = [&]() -> Result<bool> {
    if (dirs.empty()) return root_in_overlay;
    return in_overlay(dirs.size() - 1);
  };
  if (path[0] != '/') {
    for (const std::string& p : SplitPath(base)) {
      cur += "/" + p;
      dirs.push_back({cur.size(), -1});
    }
  }
  std::deque<std::string> todo;
  for (std::string& p : SplitPath(path)) todo.push_back(std::move(p));
  const bool trailing_slash = path.back() == '/';
  int links = 0;
  std::optional<Node> node;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == ".") {
      node.reset();
      continue;
    }
    if (c == "..") {
      if (!dirs.empty()) {
        dirs.pop_back();
        cur.resize(dirs.empty() ? 0 : dirs.back().end);
      }
      node.reset();
      continue;
    }
    TRY(bool parent_overlay, parent_in_overlay());
    const size_t before = cur.size();
    cur += "/" + c;
    TRY(Node n, Lookup(cur, parent_overlay));
    const bool last = todo.empty();
    if (!n.exists()) {
      if (!last) return Fail(ENOENT, "no such directory: " + n.path);
      return n;
    }
    if (n.is_symlink() && (!last || follow_last || trailing_slash)) {
      cur.resize(before);
      if (++links > kMaxSymlinks) return Fail(ELOOP, "too many symlinks");
      TRY(std::string target, ReadLink(n));
      if (target.empty()) return Fail(ENOENT, "empty symlink");
      if (target[0] == '/') {
        cur.clear();
        dirs.clear();
      }
      std::vector<std::string> parts = SplitPath(target);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      node.reset();
      continue;
    }
    if (!last && !n.is_dir()) return Fail(ENOTDIR, "not a directory: " + n.path);
    dirs.push_back({cur.size(), static_cast<int8_t>(n.layer == Node::Layer::kOverlay ? 1 : 0)});
    node = std::move(n);
  }
  if (!node) {
    // Ended on "." or ".." (or nothing): look up the directory reached.
    bool parent_overlay = false;
    if (dirs.size() == 1) {
      parent_overlay = root_in_overlay;
    } else if (dirs.size() > 1) {
      TRY(parent_overlay, in_overlay(dirs.size() - 2));
    }
    TRY(Node n, Lookup(cur.empty() ? std::string("/") : cur, parent_overlay));
    if (!n.exists()) return Fail(ENOENT, "no such file: " + n.path);
    node = std::move(n);
  }
  if (trailing_slash && !node->is_dir()) return Fail(ENOTDIR, "not a directory: " + node->path);
  return std::move(*node);
}

Result<std::string> Vfs::ReadLink(const Node& node) const {
  if (!node.is_symlink()) return Fail(EINVAL, "not a symlink");
  if (node.layer == Node::Layer::kSynthetic) return procfs_.ReadLink(node.path);
  if (node.layer == Node::Layer::kOverlay)
    return std::string(node.inode->data.data, node.inode->data.size);
  char buf[PATH_MAX];
  TRY(HostAt at, Beneath(mount_dirfd(node.mount), node.host_rel));
  ssize_t n = readlinkat(at.dirfd, at.rel.c_str(), buf, sizeof(buf));
  if (n < 0) return FailErrno("readlink " + node.path);
  return std::string(buf, static_cast<size_t>(n));
}

Result<int> Vfs::OpenHost(const Node& node, int flags, mode_t mode) const {
  const int dirfd = mount_dirfd(node.mount);
  if (dirfd < 0) return Fail(ENOENT, "no host directory behind " + node.path);
  TRY(HostAt at, WithContext(Beneath(dirfd, node.host_rel), "open " + node.path));
  // Never blocks, and never opens a device, FIFO or socket (host_open.h): the node was stat-ed
  // before, but the host tree may have changed since (or since the snapshot, for a reconnect).
  TRY(UniqueFd fd,
      OpenHostBeneath(at.dirfd, at.rel, flags | O_NOFOLLOW, mode, "open " + node.path));
  return fd.Release();
}

Status Vfs::RoomFor(std::string_view path, uint64_t extra) const {
  const uint64_t need = OverlayEntryCharge(path) + extra;
  if (need > budget_.available()) {
    budget_.NoteRefusal();
    return Fail(ENOSPC, "guest memory limit reached (overlay): " + std::string(path));
  }
  return {};
}

Result<state::Inode*> Vfs::CreateOverlayFile(const Node& where, uint32_t mode) {
  if (where.sealed) return Fail(EACCES, "read-only synthetic directory: " + where.path);
  TRY_STATUS(RoomFor(where.path, 0));
  state::Inode* inode = overlay_.NewInode(S_IFREG | (mode & 07777 & ~s_.process.umask),
                                          s_.process.uid, s_.process.gid);
  inode->nlink = 1;
  overlay_.SetInode(overlay_.Upsert(where.path), inode);
  return inode;
}

namespace {
// The parent directory of a host node, opened safely, and the node's base name.
struct HostParent {
  UniqueFd fd;
  std::string name;
};
Result<HostParent> OpenHostParent(const Vfs& vfs, const Node& node) {
  Node parent = node;
  const size_t slash = node.host_rel.rfind('/');
  parent.host_rel = slash == std::string::npos ? "" : node.host_rel.substr(0, slash);
  TRY(int fd, vfs.OpenHost(parent, O_PATH | O_DIRECTORY, 0));
  return HostParent{UniqueFd(fd), std::string(BaseName(node.path))};
}
}  // namespace

Status Vfs::MakeDir(const Node& where, mode_t mode) {
  if (where.exists()) return Fail(EEXIST, "exists: " + where.path);
  if (where.sealed) return Fail(EACCES, "read-only synthetic directory: " + where.path);
  if (where.rw) {
    TRY(HostParent p, OpenHostParent(*this, where));
    if (mkdirat(p.fd.get(), p.name.c_str(), mode) != 0) return FailErrno("mkdir " + where.path);
    return {};
  }
  TRY_STATUS(RoomFor(where.path, 0));
  state::Inode* dir = overlay_.NewInode(S_IFDIR | (mode & 07777 & ~s_.process.umask),
                                        s_.process.uid, s_.process.gid);
  dir->nlink = 2;
  overlay_.SetInode(overlay_.Upsert(where.path), dir);
  return {};
}

Status Vfs::MakeSymlink(const Node& where, std::string_view target) {
  if (where.exists()) return Fail(EEXIST, "exists: " + where.path);
  if (where.sealed) return Fail(EACCES, "read-only synthetic directory: " + where.path);
  if (where.rw) {
    TRY(HostParent p, OpenHostParent(*this, where));
    if (symlinkat(std::string(target).c_str(), p.fd.get(), p.name.c_str()) != 0)
      return FailErrno("symlink " + where.path);
    return {};
  }
  TRY_STATUS(RoomFor(where.path, target.size()));
  state::Inode* link = overlay_.NewInode(S_IFLNK | 0777, s_.process.uid, s_.process.gid);
  link->nlink = 1;
  for (char ch : target) link->data.PushBack(ch);
  overlay_.SetInode(overlay_.Upsert(where.path), link);
  return {};
}

Status Vfs::Remove(const Node& node, bool dir) {
  if (!node.exists()) return Fail(ENOENT, "no such file: " + node.path);
  if (node.sealed) return Fail(EPERM, "synthetic: " + node.path);
  if (dir && !node.is_dir()) return Fail(ENOTDIR, "not a directory: " + node.path);
  if (!dir && node.is_dir()) return Fail(EISDIR, "is a directory: " + node.path);
  if (node.path == "/") return Fail(EBUSY, "the root");
  for (const state::Mount& m : s_.mounts)
    if (m.guest_path.view() == node.path) return Fail(EBUSY, "a mount point");
  if (dir) {
    TRY(std::vector<Entry> entries, List(node));
    if (entries.size() > 2) return Fail(ENOTEMPTY, "directory not empty: " + node.path);
  }
  if (node.rw) {
    TRY(HostParent p, OpenHostParent(*this, node));
    if (unlinkat(p.fd.get(), p.name.c_str(), dir ? AT_REMOVEDIR : 0) != 0)
      return FailErrno("remove " + node.path);
    return {};
  }
  // Inside an overlay directory nothing lower can show through: drop the entry. Elsewhere a
  // whiteout hides the lower file (or the one the overlay file was copied up from).
  if (node.parent_in_overlay)
    overlay_.Erase(node.path);
  else
    overlay_.Whiteout(node.path);
  return {};
}

Result<state::Inode*> Vfs::CopyUp(const Node& node) {
  if (node.layer == Node::Layer::kOverlay) return node.inode;
  if (node.sealed || !S_ISREG(node.st.st_mode)) return Fail(EACCES, "cannot write " + node.path);
  // The copy is the guest's memory: it must fit the budget (ENOSPC, as a full tmpfs says).
  const uint64_t size = static_cast<uint64_t>(node.st.st_size);
  TRY_STATUS(RoomFor(node.path, size));
  TRY(int raw, OpenHost(node, O_RDONLY, 0));
  UniqueFd fd(raw);
  state::Inode* inode = overlay_.NewInode(node.st.st_mode, node.st.st_uid, node.st.st_gid);
  inode->nlink = 1;
  std::vector<char> buf(state::kExtentWindow);
  while (inode->size < size) {
    const uint64_t want = std::min<uint64_t>(buf.size(), size - inode->size);
    const ssize_t n = pread(fd.get(), buf.data(), want, static_cast<off_t>(inode->size));
    if (n <= 0) break;
    auto wrote = WriteFileData(*inode, inode->size, buf.data(), static_cast<uint64_t>(n), &budget_);
    if (!wrote || *wrote < static_cast<uint64_t>(n)) {
      ReleaseFileData(*inode, &budget_);
      state::Delete(inode);
      return Fail(ENOSPC, "guest memory limit reached (copy-up of " + node.path + ")");
    }
  }
  overlay_.SetInode(overlay_.Upsert(node.path), inode);
  return inode;
}

Status Vfs::Rename(const Node& from, const Node& to) {
  if (!from.exists()) return Fail(ENOENT, "no such file: " + from.path);
  if (from.sealed) return Fail(EPERM, "synthetic: " + from.path);
  if (to.sealed) return Fail(EACCES, "read-only synthetic directory: " + to.path);
  if (from.path == to.path) return {};
  if (to.path.starts_with(from.path + "/")) return Fail(EINVAL, "rename into itself");
  if (from.mount != to.mount || from.rw != to.rw) return Fail(EXDEV, "across mounts");
  if (to.exists()) {
    if (from.is_dir() && !to.is_dir()) return Fail(ENOTDIR, "not a directory: " + to.path);
    if (!from.is_dir() && to.is_dir()) return Fail(EISDIR, "is a directory: " + to.path);
    if (to.is_dir()) {
      TRY(std::vector<Entry> entries, List(to));
      if (entries.size() > 2) return Fail(ENOTEMPTY, "directory not empty: " + to.path);
    }
  }
  if (from.rw) {
    TRY(HostParent pf, OpenHostParent(*this, from));
    TRY(HostParent pt, OpenHostParent(*this, to));
    if (renameat(pf.fd.get(), pf.name.c_str(), pt.fd.get(), pt.name.c_str()) != 0)
      return FailErrno("rename " + from.path);
    return {};
  }
  // Like overlayfs without redirect_dir: a lower directory cannot be renamed.
  if (from.layer == Node::Layer::kHost && from.is_dir()) return Fail(EXDEV, "lower directory");
  state::Inode* inode = nullptr;
  if (from.layer == Node::Layer::kHost && from.is_symlink()) {
    // A lower symlink moves as a new overlay symlink with the same target.
    TRY(std::string target, ReadLink(from));
    inode = overlay_.NewInode(S_IFLNK | 0777, from.st.st_uid, from.st.st_gid);
    inode->nlink = 1;
    for (char ch : target) inode->data.PushBack(ch);
  } else {
    TRY(inode, CopyUp(from));
  }
  OverlayTable::Ref(inode);  // keep it alive while entries move
  if (S_ISDIR(inode->mode)) {
    // Entries are keyed by full path: re-key every descendant.
    std::vector<std::pair<std::string, state::Inode*>> moved;
    const std::string prefix = from.path + "/";
    overlay_.ForEach([&](const state::OverlayEntry& e) {
      if (e.path.view().starts_with(prefix))
        moved.emplace_back(to.path + "/" + std::string(e.path.view().substr(prefix.size())),
                           e.inode);
    });
    for (auto& [path, child] : moved) {
      if (child) OverlayTable::Ref(child);
      overlay_.Erase(from.path + path.substr(to.path.size()));
    }
    for (auto& [path, child] : moved) {
      overlay_.SetInode(overlay_.Upsert(path), child);
      if (child) overlay_.Unref(child);
    }
  }
  overlay_.SetInode(overlay_.Upsert(to.path), inode);
  if (from.parent_in_overlay)
    overlay_.Erase(from.path);
  else
    overlay_.Whiteout(from.path);
  overlay_.Unref(inode);
  inode->ctime_ns = RealtimeNowNs();
  return {};
}

Result<std::vector<Vfs::Entry>> Vfs::List(const Node& dir) const {
  if (!dir.is_dir()) return Fail(ENOTDIR, "not a directory: " + dir.path);
  std::vector<Entry> out;
  out.push_back({".", dir.st.st_ino, DT_DIR});
  out.push_back({"..", dir.st.st_ino, DT_DIR});
  std::set<std::string> seen;
  if (dir.layer == Node::Layer::kSynthetic && Procfs::Covers(dir.path)) {
    TRY(std::vector<Procfs::Entry> entries, procfs_.List(dir.path));
    for (Procfs::Entry& e : entries) out.push_back({std::move(e.name), e.ino, e.type});
    return out;
  }
  if (dir.path == "/") {
    // /proc is always there, synthetic; the rootfs's own /proc (and any overlay entry left by
    // an older catload) is hidden.
    seen.insert("proc");
    if (auto st = procfs_.Lookup("/proc")) out.push_back({"proc", st->st_ino, DT_DIR});
  }
  if (dir.layer == Node::Layer::kHost) {
    TRY(int raw, OpenHost(dir, O_RDONLY | O_DIRECTORY, 0));
    DIR* d = fdopendir(raw);
    if (!d) {
      close(raw);
      return FailErrno("list " + dir.path);
    }
    while (dirent* de = readdir(d)) {
      std::string name = de->d_name;
      if (name == "." || name == ".." || (dir.path == "/" && name == "proc")) continue;
      if (!dir.rw) {
        if (const state::OverlayEntry* e = overlay_.Find(JoinPath(dir.path, name))) {
          (void)e;
          continue;  // the overlay's version (or its whiteout) wins; added below
        }
      }
      seen.insert(name);
      out.push_back({name, de->d_ino, de->d_type});
    }
    closedir(d);
  }
  if (!dir.rw) {
    overlay_.ForEachChild(dir.path, [&](const state::OverlayEntry& e) {
      if (!e.inode || e.path.view() == dir.path) return;
      std::string name(BaseName(e.path.view()));
      if (seen.insert(name).second) out.push_back({name, e.inode->ino, DirentType(e.inode->mode)});
    });
  }
  for (const state::Mount& m : s_.mounts) {
    std::string_view mp = m.guest_path.view();
    if (mp != "/" && OverlayTable::ParentOf(mp) == dir.path) {
      std::string name(BaseName(mp));
      if (seen.insert(name).second) out.push_back({name, 0, DT_DIR});
    }
  }
  return out;
}

}  // namespace cat
