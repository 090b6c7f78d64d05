// Path resolution, the overlay and host directories behind the guest's filesystem (vfs.h).
#include "loader/kernel/vfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
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

namespace cat {
namespace {

constexpr int kMaxSymlinks = 40;
constexpr dev_t kOverlayDev = 0x3f;  // st_dev of overlay inodes (any fixed value not 0)

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  for (std::string_view p : SplitGuestPath(path)) parts.emplace_back(p);
  return parts;
}

std::string JoinParts(const std::vector<std::string>& parts) {
  if (parts.empty()) return "/";
  std::string out;
  for (const std::string& p : parts) out += "/" + p;
  return out;
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

// openat2 below `dirfd`: never follows a symlink, never leaves the directory.
int OpenBeneath(int dirfd, const std::string& rel, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(
      syscall(SYS_openat2, dirfd, rel.empty() ? "." : rel.c_str(), &how, sizeof(how)));
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
  st.st_size = S_ISDIR(inode.mode) ? 4096 : inode.data.size;
  st.st_blksize = 4096;
  st.st_blocks = (st.st_size + 511) / 512;
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
    OverlayTable::SetInode(overlay_.Upsert(path), dir);
  };
  auto make_dev = [&](std::string_view path, state::DeviceKind kind) {
    state::Inode* dev = overlay_.NewInode(S_IFCHR | 0666, 0, 0);
    dev->device = kind;
    OverlayTable::SetInode(overlay_.Upsert(path), dev);
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
  const int r = n.host_rel.empty()
                    ? fstatat(m.host_dirfd, "", &n.st, AT_EMPTY_PATH)
                    : fstatat(m.host_dirfd, n.host_rel.c_str(), &n.st, AT_SYMLINK_NOFOLLOW);
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
    const int fd = OpenBeneath(mount_dirfd(n.mount), n.host_rel, O_PATH | O_NOFOLLOW, 0);
    if (fd < 0) return FailErrno("open " + n.path);
    return fd;
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
  std::vector<std::string> cur;
  std::vector<bool> cur_in_overlay;  // per component of cur: is that directory an overlay one
  TRY(Node root, Lookup("/", false));
  const bool root_in_overlay = root.layer == Node::Layer::kOverlay;
  if (path[0] != '/') {
    for (std::string& p : SplitPath(base)) {
      cur.push_back(std::move(p));
      TRY(Node dir, Lookup(JoinParts(cur), false));
      cur_in_overlay.push_back(dir.layer == Node::Layer::kOverlay);
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
      if (!cur.empty()) {
        cur.pop_back();
        cur_in_overlay.pop_back();
      }
      node.reset();
      continue;
    }
    const bool parent_in_overlay = cur.empty() ? root_in_overlay : cur_in_overlay.back();
    cur.push_back(c);
    TRY(Node n, Lookup(JoinParts(cur), parent_in_overlay));
    cur.pop_back();
    const bool last = todo.empty();
    if (!n.exists()) {
      if (!last) return Fail(ENOENT, "no such directory: " + n.path);
      return n;
    }
    if (n.is_symlink() && (!last || follow_last || trailing_slash)) {
      if (++links > kMaxSymlinks) return Fail(ELOOP, "too many symlinks");
      TRY(std::string target, ReadLink(n));
      if (target.empty()) return Fail(ENOENT, "empty symlink");
      if (target[0] == '/') {
        cur.clear();
        cur_in_overlay.clear();
      }
      std::vector<std::string> parts = SplitPath(target);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      node.reset();
      continue;
    }
    if (!last && !n.is_dir()) return Fail(ENOTDIR, "not a directory: " + n.path);
    cur.push_back(std::move(c));
    cur_in_overlay.push_back(n.layer == Node::Layer::kOverlay);
    node = std::move(n);
  }
  if (!node) {
    const bool parent_in_overlay = cur.size() <= 1
                                       ? (cur.empty() ? false : root_in_overlay)
                                       : static_cast<bool>(cur_in_overlay[cur.size() - 2]);
    TRY(Node n, Lookup(JoinParts(cur), parent_in_overlay));
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
  ssize_t n = readlinkat(mount_dirfd(node.mount), node.host_rel.c_str(), buf, sizeof(buf));
  if (n < 0) return FailErrno("readlink " + node.path);
  return std::string(buf, static_cast<size_t>(n));
}

Result<int> Vfs::OpenHost(const Node& node, int flags, mode_t mode) const {
  const int dirfd = mount_dirfd(node.mount);
  if (dirfd < 0) return Fail(ENOENT, "no host directory behind " + node.path);
  int fd = OpenBeneath(dirfd, node.host_rel, flags | O_NOFOLLOW, mode);
  if (fd < 0) return FailErrno("open " + node.path);
  return fd;
}

Result<state::Inode*> Vfs::CreateOverlayFile(const Node& where, uint32_t mode) {
  if (where.sealed) return Fail(EACCES, "read-only synthetic directory: " + where.path);
  state::Inode* inode = overlay_.NewInode(S_IFREG | (mode & 07777 & ~s_.process.umask),
                                          s_.process.uid, s_.process.gid);
  inode->nlink = 1;
  OverlayTable::SetInode(overlay_.Upsert(where.path), inode);
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
  state::Inode* dir = overlay_.NewInode(S_IFDIR | (mode & 07777 & ~s_.process.umask),
                                        s_.process.uid, s_.process.gid);
  dir->nlink = 2;
  OverlayTable::SetInode(overlay_.Upsert(where.path), dir);
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
  state::Inode* link = overlay_.NewInode(S_IFLNK | 0777, s_.process.uid, s_.process.gid);
  link->nlink = 1;
  for (char ch : target) link->data.PushBack(ch);
  OverlayTable::SetInode(overlay_.Upsert(where.path), link);
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
  if (node.st.st_size >= (1ll << 31)) return Fail(EFBIG, "too large to copy up: " + node.path);
  TRY(int raw, OpenHost(node, O_RDONLY, 0));
  UniqueFd fd(raw);
  state::Inode* inode = overlay_.NewInode(node.st.st_mode, node.st.st_uid, node.st.st_gid);
  inode->nlink = 1;
  inode->data.Resize(static_cast<uint32_t>(node.st.st_size));
  uint64_t done = 0;
  while (done < inode->data.size) {
    ssize_t n =
        pread(fd.get(), inode->data.data + done, inode->data.size - done, static_cast<off_t>(done));
    if (n <= 0) break;
    done += static_cast<uint64_t>(n);
  }
  inode->data.size = static_cast<uint32_t>(done);
  OverlayTable::SetInode(overlay_.Upsert(node.path), inode);
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
      OverlayTable::SetInode(overlay_.Upsert(path), child);
      if (child) OverlayTable::Unref(child);
    }
  }
  OverlayTable::SetInode(overlay_.Upsert(to.path), inode);
  if (from.parent_in_overlay)
    overlay_.Erase(from.path);
  else
    overlay_.Whiteout(from.path);
  OverlayTable::Unref(inode);
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
