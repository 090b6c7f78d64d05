// Syscalls that name files by path: open*, stat family, access, readlink, getcwd/chdir,
// mkdir, unlink/rmdir, rename, symlink, chmod-like metadata calls. Every path goes through
// SandboxKernel::ResolveAt (the guest's own path resolution), never to the host.
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

constexpr int kAtFdcwd = AT_FDCWD;

int Dirfd(uint64_t v) {
  return static_cast<int>(v);
}

int64_t DoOpen(SandboxKernel& k, int dirfd, uint64_t path, uint64_t flags, uint64_t mode) {
  const int f = static_cast<int>(flags);
  const bool excl_create = (f & O_CREAT) && (f & O_EXCL);
  auto node = k.ResolveAt(dirfd, path, !(f & O_NOFOLLOW) && !excl_create);
  if (!node) return Errno(node.error());
  auto file = k.files.Open(*node, f, static_cast<mode_t>(mode));
  if (!file) return Errno(file.error());
  auto fd = k.files.Install(*file, 0, f & O_CLOEXEC);
  return fd ? *fd : Errno(fd.error());
}

SyscallResult SysOpen(SandboxKernel& k, const SyscallArgs& a) {
  return DoOpen(k, kAtFdcwd, a.a[0], a.a[1], a.a[2]);
}
SyscallResult SysOpenat(SandboxKernel& k, const SyscallArgs& a) {
  return DoOpen(k, Dirfd(a.a[0]), a.a[1], a.a[2], a.a[3]);
}
SyscallResult SysCreat(SandboxKernel& k, const SyscallArgs& a) {
  return DoOpen(k, kAtFdcwd, a.a[0], O_CREAT | O_WRONLY | O_TRUNC, a.a[1]);
}

// stat of a path or (AT_EMPTY_PATH) of an fd.
Result<struct stat> StatAt(SandboxKernel& k, int dirfd, uint64_t path, int flags) {
  if (flags & AT_EMPTY_PATH) {
    TRY(std::string p, k.mem.ReadString(path));
    if (p.empty()) {
      TRY(state::OpenFile * f, k.files.Get(dirfd));
      return k.files.Stat(*f);
    }
  }
  TRY(Node node, k.ResolveAt(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW)));
  if (!node.exists()) return Fail(ENOENT, "no such file: " + node.path);
  return node.st;
}

int64_t PutStat(SandboxKernel& k, const Result<struct stat>& st, uint64_t buf) {
  if (!st) return Errno(st.error());
  return k.mem.WriteObject(buf, *st) ? 0 : -EFAULT;
}

SyscallResult SysStat(SandboxKernel& k, const SyscallArgs& a) {
  return PutStat(k, StatAt(k, kAtFdcwd, a.a[0], 0), a.a[1]);
}
SyscallResult SysLstat(SandboxKernel& k, const SyscallArgs& a) {
  return PutStat(k, StatAt(k, kAtFdcwd, a.a[0], AT_SYMLINK_NOFOLLOW), a.a[1]);
}
SyscallResult SysFstat(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  if (!f) return Errno(f.error());
  return PutStat(k, k.files.Stat(**f), a.a[1]);
}
SyscallResult SysNewfstatat(SandboxKernel& k, const SyscallArgs& a) {
  return PutStat(k, StatAt(k, Dirfd(a.a[0]), a.a[1], static_cast<int>(a.a[3])), a.a[2]);
}

SyscallResult SysStatx(SandboxKernel& k, const SyscallArgs& a) {
  auto st = StatAt(k, Dirfd(a.a[0]), a.a[1], static_cast<int>(a.a[2]));
  if (!st) return Errno(st.error());
  struct statx x {};
  x.stx_mask = STATX_BASIC_STATS;
  x.stx_blksize = static_cast<uint32_t>(st->st_blksize);
  x.stx_nlink = static_cast<uint32_t>(st->st_nlink);
  x.stx_uid = st->st_uid;
  x.stx_gid = st->st_gid;
  x.stx_mode = static_cast<uint16_t>(st->st_mode);
  x.stx_ino = st->st_ino;
  x.stx_size = static_cast<uint64_t>(st->st_size);
  x.stx_blocks = static_cast<uint64_t>(st->st_blocks);
  x.stx_atime = {st->st_atim.tv_sec, static_cast<uint32_t>(st->st_atim.tv_nsec), 0};
  x.stx_mtime = {st->st_mtim.tv_sec, static_cast<uint32_t>(st->st_mtim.tv_nsec), 0};
  x.stx_ctime = {st->st_ctim.tv_sec, static_cast<uint32_t>(st->st_ctim.tv_nsec), 0};
  x.stx_rdev_major = major(st->st_rdev);
  x.stx_rdev_minor = minor(st->st_rdev);
  x.stx_dev_major = major(st->st_dev);
  x.stx_dev_minor = minor(st->st_dev);
  return k.mem.WriteObject(a.a[4], x) ? 0 : -EFAULT;
}

int64_t DoAccess(SandboxKernel& k, int dirfd, uint64_t path, uint64_t mode, uint64_t flags) {
  auto node = k.ResolveAt(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW));
  if (!node) return Errno(node.error());
  if (!node->exists()) return -ENOENT;
  if (mode & ~static_cast<uint64_t>(R_OK | W_OK | X_OK)) return -EINVAL;
  // Writes always succeed somewhere (the overlay), so only permission bits decide.
  const mode_t m = node->st.st_mode;
  if ((mode & X_OK) && !S_ISDIR(m) && !(m & 0111)) return -EACCES;
  return 0;
}
SyscallResult SysAccess(SandboxKernel& k, const SyscallArgs& a) {
  return DoAccess(k, kAtFdcwd, a.a[0], a.a[1], 0);
}
SyscallResult SysFaccessat(SandboxKernel& k, const SyscallArgs& a) {
  return DoAccess(k, Dirfd(a.a[0]), a.a[1], a.a[2], 0);
}
SyscallResult SysFaccessat2(SandboxKernel& k, const SyscallArgs& a) {
  return DoAccess(k, Dirfd(a.a[0]), a.a[1], a.a[2], a.a[3]);
}

int64_t DoReadlink(SandboxKernel& k, int dirfd, uint64_t path, uint64_t buf, uint64_t size) {
  if (static_cast<int64_t>(size) <= 0) return -EINVAL;
  auto node = k.ResolveAt(dirfd, path, false);
  if (!node) return Errno(node.error());
  if (!node->exists()) return -ENOENT;
  auto target = k.vfs.ReadLink(*node);
  if (!target) return Errno(target.error());
  const uint64_t n = std::min<uint64_t>(size, target->size());
  return k.mem.CopyOut(buf, target->data(), n) ? static_cast<int64_t>(n) : -EFAULT;
}
SyscallResult SysReadlink(SandboxKernel& k, const SyscallArgs& a) {
  return DoReadlink(k, kAtFdcwd, a.a[0], a.a[1], a.a[2]);
}
SyscallResult SysReadlinkat(SandboxKernel& k, const SyscallArgs& a) {
  return DoReadlink(k, Dirfd(a.a[0]), a.a[1], a.a[2], a.a[3]);
}

SyscallResult SysGetcwd(SandboxKernel& k, const SyscallArgs& a) {
  std::string_view cwd = k.s.process.cwd.view();
  if (a.a[1] < cwd.size() + 1) return -ERANGE;
  std::string out(cwd);
  out.push_back('\0');
  return k.mem.CopyOut(a.a[0], out.data(), out.size()) ? static_cast<int64_t>(out.size()) : -EFAULT;
}

int64_t SetCwd(SandboxKernel& k, const Result<Node>& node) {
  if (!node) return Errno(node.error());
  if (!node->exists()) return -ENOENT;
  if (!node->is_dir()) return -ENOTDIR;
  k.s.process.cwd.Assign(node->path);
  return 0;
}
SyscallResult SysChdir(SandboxKernel& k, const SyscallArgs& a) {
  return SetCwd(k, k.ResolveAt(kAtFdcwd, a.a[0], true));
}
SyscallResult SysFchdir(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  if (!f) return Errno(f.error());
  return SetCwd(k, k.vfs.Resolve("/", (*f)->guest_path.view(), false));
}

int64_t DoMkdir(SandboxKernel& k, int dirfd, uint64_t path, uint64_t mode) {
  auto node = k.ResolveAt(dirfd, path, false);
  if (!node) return Errno(node.error());
  auto r = k.vfs.MakeDir(*node, static_cast<mode_t>(mode));
  return r ? 0 : Errno(r.error());
}
SyscallResult SysMkdir(SandboxKernel& k, const SyscallArgs& a) {
  return DoMkdir(k, kAtFdcwd, a.a[0], a.a[1]);
}
SyscallResult SysMkdirat(SandboxKernel& k, const SyscallArgs& a) {
  return DoMkdir(k, Dirfd(a.a[0]), a.a[1], a.a[2]);
}

int64_t DoUnlink(SandboxKernel& k, int dirfd, uint64_t path, bool dir) {
  auto node = k.ResolveAt(dirfd, path, false);
  if (!node) return Errno(node.error());
  auto r = k.vfs.Remove(*node, dir);
  return r ? 0 : Errno(r.error());
}
SyscallResult SysUnlink(SandboxKernel& k, const SyscallArgs& a) {
  return DoUnlink(k, kAtFdcwd, a.a[0], false);
}
SyscallResult SysRmdir(SandboxKernel& k, const SyscallArgs& a) {
  return DoUnlink(k, kAtFdcwd, a.a[0], true);
}
SyscallResult SysUnlinkat(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[2] & ~static_cast<uint64_t>(AT_REMOVEDIR)) return -EINVAL;
  return DoUnlink(k, Dirfd(a.a[0]), a.a[1], a.a[2] & AT_REMOVEDIR);
}

int64_t DoRename(SandboxKernel& k, int olddir, uint64_t oldpath, int newdir, uint64_t newpath,
                 uint64_t flags) {
  if (flags != 0) return -EINVAL;  // RENAME_NOREPLACE / EXCHANGE / WHITEOUT: not supported
  auto from = k.ResolveAt(olddir, oldpath, false);
  if (!from) return Errno(from.error());
  auto to = k.ResolveAt(newdir, newpath, false);
  if (!to) return Errno(to.error());
  auto r = k.vfs.Rename(*from, *to);
  return r ? 0 : Errno(r.error());
}
SyscallResult SysRename(SandboxKernel& k, const SyscallArgs& a) {
  return DoRename(k, kAtFdcwd, a.a[0], kAtFdcwd, a.a[1], 0);
}
SyscallResult SysRenameat(SandboxKernel& k, const SyscallArgs& a) {
  return DoRename(k, Dirfd(a.a[0]), a.a[1], Dirfd(a.a[2]), a.a[3], 0);
}
SyscallResult SysRenameat2(SandboxKernel& k, const SyscallArgs& a) {
  return DoRename(k, Dirfd(a.a[0]), a.a[1], Dirfd(a.a[2]), a.a[3], a.a[4]);
}

int64_t DoSymlink(SandboxKernel& k, uint64_t target_addr, int dirfd, uint64_t path) {
  auto target = k.mem.ReadString(target_addr);
  if (!target) return Errno(target.error());
  if (target->empty()) return -ENOENT;
  auto node = k.ResolveAt(dirfd, path, false);
  if (!node) return Errno(node.error());
  auto r = k.vfs.MakeSymlink(*node, *target);
  return r ? 0 : Errno(r.error());
}
SyscallResult SysSymlink(SandboxKernel& k, const SyscallArgs& a) {
  return DoSymlink(k, a.a[0], kAtFdcwd, a.a[1]);
}
SyscallResult SysSymlinkat(SandboxKernel& k, const SyscallArgs& a) {
  return DoSymlink(k, a.a[0], Dirfd(a.a[1]), a.a[2]);
}

int64_t DoTruncate(SandboxKernel& k, uint64_t path, int64_t length) {
  auto node = k.ResolveAt(kAtFdcwd, path, true);
  if (!node) return Errno(node.error());
  auto f = k.files.Open(*node, O_WRONLY, 0);
  if (!f) return Errno(f.error());
  auto r = k.files.Truncate(**f, length);
  k.files.Unref(*f);
  return r ? 0 : Errno(r.error());
}
SyscallResult SysTruncate(SandboxKernel& k, const SyscallArgs& a) {
  return DoTruncate(k, a.a[0], static_cast<int64_t>(a.a[1]));
}

// Metadata changes (modes, owners, times) are accepted for overlay files and ignored
// elsewhere: the guest's files are its own, and the lower layers are read-only.
int64_t ChmodNode(const Result<Node>& node, uint64_t mode) {
  if (!node) return Errno(node.error());
  if (!node->exists()) return -ENOENT;
  if (node->layer == Node::Layer::kOverlay)
    node->inode->mode = (node->inode->mode & S_IFMT) | (mode & 07777);
  return 0;
}
SyscallResult SysChmod(SandboxKernel& k, const SyscallArgs& a) {
  return ChmodNode(k.ResolveAt(kAtFdcwd, a.a[0], true), a.a[1]);
}
SyscallResult SysFchmodat(SandboxKernel& k, const SyscallArgs& a) {
  return ChmodNode(k.ResolveAt(Dirfd(a.a[0]), a.a[1], true), a.a[2]);
}
SyscallResult SysFchmod(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  if (!f) return Errno(f.error());
  if ((*f)->kind == state::FileKind::kOverlay)
    (*f)->inode->mode = ((*f)->inode->mode & S_IFMT) | (a.a[1] & 07777);
  return 0;
}
// Ownership and time changes are accepted once the file is found: the guest runs as one user
// and the lower layers are read-only, so there is nothing to change.
int64_t Found(const Result<struct stat>& st) {
  return st ? 0 : Errno(st.error());
}
SyscallResult SysChown(SandboxKernel& k, const SyscallArgs& a) {
  return Found(StatAt(k, kAtFdcwd, a.a[0], 0));
}
SyscallResult SysLchown(SandboxKernel& k, const SyscallArgs& a) {
  return Found(StatAt(k, kAtFdcwd, a.a[0], AT_SYMLINK_NOFOLLOW));
}
SyscallResult SysFchown(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  return f ? 0 : Errno(f.error());
}
SyscallResult SysFchownat(SandboxKernel& k, const SyscallArgs& a) {
  return Found(StatAt(k, Dirfd(a.a[0]), a.a[1], static_cast<int>(a.a[4])));
}
SyscallResult SysUtimensat(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[1] == 0) {  // futimens(fd): the path is NULL
    auto f = k.files.Get(Dirfd(a.a[0]));
    return f ? 0 : Errno(f.error());
  }
  return Found(StatAt(k, Dirfd(a.a[0]), a.a[1], static_cast<int>(a.a[3])));
}

}  // namespace

void RegisterPathSyscalls(SyscallHandler* t) {
  t[SYS_open] = SysOpen;
  t[SYS_openat] = SysOpenat;
  t[SYS_creat] = SysCreat;
  t[SYS_stat] = SysStat;
  t[SYS_lstat] = SysLstat;
  t[SYS_fstat] = SysFstat;
  t[SYS_newfstatat] = SysNewfstatat;
  t[SYS_statx] = SysStatx;
  t[SYS_access] = SysAccess;
  t[SYS_faccessat] = SysFaccessat;
  t[SYS_faccessat2] = SysFaccessat2;
  t[SYS_readlink] = SysReadlink;
  t[SYS_readlinkat] = SysReadlinkat;
  t[SYS_getcwd] = SysGetcwd;
  t[SYS_chdir] = SysChdir;
  t[SYS_fchdir] = SysFchdir;
  t[SYS_mkdir] = SysMkdir;
  t[SYS_mkdirat] = SysMkdirat;
  t[SYS_unlink] = SysUnlink;
  t[SYS_rmdir] = SysRmdir;
  t[SYS_unlinkat] = SysUnlinkat;
  t[SYS_rename] = SysRename;
  t[SYS_renameat] = SysRenameat;
  t[SYS_renameat2] = SysRenameat2;
  t[SYS_symlink] = SysSymlink;
  t[SYS_symlinkat] = SysSymlinkat;
  t[SYS_truncate] = SysTruncate;
  t[SYS_chmod] = SysChmod;
  t[SYS_fchmodat] = SysFchmodat;
  t[SYS_fchmod] = SysFchmod;
  t[SYS_chown] = SysChown;
  t[SYS_fchown] = SysFchown;
  t[SYS_lchown] = SysLchown;
  t[SYS_fchownat] = SysFchownat;
  t[SYS_utimensat] = SysUtimensat;
}

}  // namespace cat
