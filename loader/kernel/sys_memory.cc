// Memory syscalls: brk, mmap, munmap, mprotect, mremap, madvise. Placement, accounting and
// the VMA list are the MemoryManager's; this file turns syscall arguments into its calls.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

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
    // A shared writable mapping would have to write back to the file: not supported.
    if (type != MAP_PRIVATE && (prot & PROT_WRITE)) return -ENODEV;
    if (file.kind == state::FileKind::kHost && !file.is_directory) {
      auto host_fd = k.files.HostFd(file);
      if (!host_fd) return Errno(host_fd.error());
      source = {MapSource::Kind::kHostFile, *host_fd, offset, nullptr};
      kind = state::VmaKind::kFile;
    } else if (file.kind == state::FileKind::kOverlay && S_ISREG(file.inode->mode)) {
      source = {MapSource::Kind::kOverlayFile, -1, offset, file.inode};
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

SyscallResult SysMadvise(SandboxKernel& k, const SyscallArgs& a) {
  const uint64_t addr = a.a[0], len = PageUp(a.a[1]);
  if (addr % kPageSize != 0) return -EINVAL;
  if (MemoryManager::IsReserved(addr, len)) return -EINVAL;
  const int advice = static_cast<int>(a.a[2]);
  if (advice == MADV_DONTNEED || advice == MADV_FREE) {
    // glibc relies on DONTNEED zeroing pages; FREE may do the same.
    auto r = k.shell.Discard(addr, len);
    return r ? 0 : -ENOMEM;
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
}

}  // namespace cat
