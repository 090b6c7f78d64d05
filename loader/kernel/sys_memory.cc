// Memory syscalls: brk, mmap, munmap, mprotect, mremap, madvise. Placement, accounting and
// the VMA list are the MemoryManager's; this file turns syscall arguments into its calls.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>

#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

constexpr int kProtMask = static_cast<int>(kGuestProtMask);  // PROT_READ | WRITE | EXEC
static_assert(kProtMask == (PROT_READ | PROT_WRITE | PROT_EXEC));

SyscallResult SysBrk(SandboxKernel& k, const SyscallArgs& a) {
  return static_cast<int64_t>(k.mm.Brk(a.a[0]));
}

SyscallResult SysMmap(SandboxKernel& k, const SyscallArgs& a) {
  const uint64_t addr = a.a[0], len = a.a[1], offset = a.a[5];
  const int prot = static_cast<int>(a.a[2]), flags = static_cast<int>(a.a[3]);
  const int fd = static_cast<int>(a.a[4]);
  if (prot & ~kProtMask) return -EINVAL;
  const int type = flags & MAP_TYPE;
  if (type != MAP_PRIVATE && type != MAP_SHARED && type != MAP_SHARED_VALIDATE) return -EINVAL;
  if (len == 0 || offset % kPageSize != 0) return -EINVAL;
  const bool noreplace = flags & MAP_FIXED_NOREPLACE;
  const bool fixed = (flags & MAP_FIXED) || noreplace;
  MapSource source;
  state::VmaKind kind = state::VmaKind::kAnonymous;
  if (!(flags & MAP_ANONYMOUS)) {
    auto f = k.files.Get(fd);
    if (!f) return Errno(f.error());
    state::OpenFile& file = **f;
    if ((file.status_flags & O_ACCMODE) == O_WRONLY) return -EACCES;
    const bool shared = type != MAP_PRIVATE;
    const bool fd_writes = (file.status_flags & O_ACCMODE) == O_RDWR;
    // A shared writable mapping writes the file: the fd must allow that, as in Linux.
    if (shared && (prot & PROT_WRITE) && !fd_writes) return -EACCES;
    if (file.kind == state::FileKind::kHost && !file.is_directory) {
      auto host_fd = k.files.HostFd(file);
      if (!host_fd) return Errno(host_fd.error());
      source = {MapSource::Kind::kHostFile, *host_fd, offset, nullptr};
      // Only a host file the guest may write (a rw mount, an fd open for writing) is mapped
      // shared; any other stays MAP_PRIVATE in the shell, so nothing reaches the host file.
      source.shared_host = shared && fd_writes && k.vfs.mount_read_write(file.mount_index);
      source.may_write = source.shared_host;
      kind = state::VmaKind::kFile;
    } else if (file.kind == state::FileKind::kOverlay && S_ISREG(file.inode->mode)) {
      // The new pages start as the file is now, stores through other mappings included.
      auto pulled = k.shared_maps.BeforeRead(*file.inode);
      if (!pulled) return Errno(pulled.error());
      source = {MapSource::Kind::kOverlayFile, -1, offset, file.inode};
      if (shared) {
        kind = state::VmaKind::kSharedFile;
        source.may_write = fd_writes;
      }
    } else if (file.kind == state::FileKind::kOverlay &&
               file.inode->device == state::DeviceKind::kZero) {
      source = MapSource{};
    } else {
      return -ENODEV;
    }
  }
  auto r = k.mm.Map(addr, len, prot, flags, fixed, noreplace, kind, source);
  return r ? static_cast<int64_t>(*r) : Errno(r.error());
}

SyscallResult SysMunmap(SandboxKernel& k, const SyscallArgs& a) {
  auto r = k.mm.Unmap(a.a[0], a.a[1]);
  return r ? 0 : Errno(r.error());
}

SyscallResult SysMprotect(SandboxKernel& k, const SyscallArgs& a) {
  const int prot = static_cast<int>(a.a[2]) & ~(PROT_GROWSDOWN | PROT_GROWSUP);
  if (prot & ~kProtMask) return -EINVAL;
  auto r = k.mm.Protect(a.a[0], a.a[1], prot);
  return r ? 0 : Errno(r.error());
}

SyscallResult SysMremap(SandboxKernel& k, const SyscallArgs& a) {
  auto r = k.mm.Remap(a.a[0], a.a[1], a.a[2], static_cast<int>(a.a[3]), a.a[4]);
  return r ? static_cast<int64_t>(*r) : Errno(r.error());
}

// msync: the range's stores reach its files now. Overlay mappings are coherent at every
// syscall anyway (shared_file_maps.h) and a shared host mapping is the host's page cache, so
// this only checks its arguments, pulls, and is done; MS_INVALIDATE has nothing to drop.
SyscallResult SysMsync(SandboxKernel& k, const SyscallArgs& a) {
  const uint64_t addr = a.a[0], len = PageUp(a.a[1]);
  const int flags = static_cast<int>(a.a[2]);
  if (addr % kPageSize != 0 || (flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE)) ||
      ((flags & MS_ASYNC) && (flags & MS_SYNC)))
    return -EINVAL;
  if (len == 0) return 0;
  if (addr + len < addr || MemoryManager::IsReserved(addr, len)) return -ENOMEM;
  // Linux: ENOMEM if part of the range is unmapped (after syncing what is mapped).
  uint64_t mapped = 0;
  for (const state::Vma& v : k.mm.map().vmas)
    if (v.start < addr + len && v.end > addr)
      mapped += std::min(v.end, addr + len) - std::max(v.start, addr);
  auto pulled = k.shared_maps.PullRange(addr, addr + len);
  if (!pulled) return Errno(pulled.error());
  return mapped == len ? 0 : -ENOMEM;
}

SyscallResult SysMadvise(SandboxKernel& k, const SyscallArgs& a) {
  const uint64_t addr = a.a[0], len = PageUp(a.a[1]);
  if (addr % kPageSize != 0) return -EINVAL;
  if (MemoryManager::IsReserved(addr, len)) return -EINVAL;
  const int advice = static_cast<int>(a.a[2]);
  if (advice == MADV_DONTNEED || advice == MADV_FREE) {
    // glibc relies on DONTNEED zeroing pages; FREE may do the same. Pages of a shared file
    // mapping read as the file again, with what was stored in them kept in the file.
    if (!k.shared_maps.PullRange(addr, addr + len)) return -ENOMEM;
    auto r = k.shell.Discard(addr, len);
    if (!r || !k.shared_maps.PushRange(addr, addr + len)) return -ENOMEM;
    return 0;
  }
  return 0;  // other advice is a hint
}

}  // namespace

void RegisterMemorySyscalls(SyscallHandler* t) {
  t[SYS_brk] = SysBrk;
  t[SYS_mmap] = SysMmap;
  t[SYS_munmap] = SysMunmap;
  t[SYS_mprotect] = SysMprotect;
  t[SYS_mremap] = SysMremap;
  t[SYS_madvise] = SysMadvise;
  t[SYS_msync] = SysMsync;
}

}  // namespace cat
