// Syscalls on file descriptors: read/write and their vector and positional forms, lseek,
// close, dup*, fcntl, pipe*, ioctl, ftruncate, fsync, getdents64.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include "loader/kernel/io_wait.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

// Reads and writes go through a bounce buffer in catload; one call moves at most this much
// (a short count, as Linux itself returns for very large requests).
constexpr uint64_t kMaxIoChunk = 16ull << 20;
constexpr int kMaxIov = 1024;

// One per thread: instances run on several threads at once (a shared buffer mixed their bytes).
// It is kept for the thread's life at the size of its largest I/O (at most kMaxIoChunk).
std::vector<char>& Bounce(uint64_t len) {
  thread_local std::vector<char> buf;
  if (buf.size() < len) buf.resize(len);
  return buf;
}

// Files whose writes leave the sandbox and count against --max-output: catload's stdio and
// host files (only rw mounts hold writable host files; the overlay is catload's memory).
bool LeavesSandbox(const state::OpenFile& f) {
  return f.kind == state::FileKind::kStdio || f.kind == state::FileKind::kHost;
}

// Every write, after its bytes were copied in: applies --max-output the way Linux applies
// RLIMIT_FSIZE (a write crossing the limit is cut short; one that can write nothing fails
// with EFBIG and raises SIGXFSZ), and turns EPIPE into SIGPIPE. Raised signals end the guest
// unless it ignores them.
int64_t WriteOut(SandboxKernel& k, state::OpenFile& f, const char* buf, uint64_t len,
                 std::optional<int64_t> pos) {
  // A file not open for writing fails with EBADF first, whatever the budget (as in Linux).
  const bool counted = LeavesSandbox(f) && (f.status_flags & O_ACCMODE) != O_RDONLY;
  if (counted && len > 0) {
    len = k.output.Allow(len);
    if (len == 0) {
      k.RaiseSignal(SIGXFSZ);
      if (k.running() && k.output.FirstRefusal())
        k.Log("guest reached the output limit of " + std::to_string(k.output.limit()) +
              " bytes (--max-output); its writes to stdout, stderr and rw mounts fail with "
              "EFBIG");
      return -EFBIG;
    }
  }
  auto n = k.files.Write(f, buf, len, pos);
  if (!n) {
    if (n.error().code() == EPIPE) k.RaiseSignal(SIGPIPE);
    return Errno(n.error());
  }
  if (counted) k.output.Consume(*n);
  return static_cast<int64_t>(*n);
}

int64_t DoRead(SandboxKernel& k, int fd, uint64_t addr, uint64_t len, std::optional<int64_t> pos) {
  auto f = k.files.Get(fd);
  if (!f) return Errno(f.error());
  len = std::min(len, kMaxIoChunk);
  std::vector<char>& buf = Bounce(len);
  auto n = k.files.Read(**f, buf.data(), len, pos);
  if (!n) return Errno(n.error());
  if (auto w = k.mem.CopyOut(addr, buf.data(), *n); !w) return -EFAULT;
  return static_cast<int64_t>(*n);
}

int64_t DoWrite(SandboxKernel& k, int fd, uint64_t addr, uint64_t len, std::optional<int64_t> pos) {
  auto f = k.files.Get(fd);
  if (!f) return Errno(f.error());
  len = std::min(len, kMaxIoChunk);
  std::vector<char>& buf = Bounce(len);
  if (auto r = k.mem.CopyIn(addr, buf.data(), len); !r) return -EFAULT;
  return WriteOut(k, **f, buf.data(), len, pos);
}

// A guest iovec array and its total length, capped at kMaxIoChunk like read/write.
struct GuestIov {
  std::vector<iovec> vecs;
  uint64_t total;
};

Result<GuestIov> ReadIov(SandboxKernel& k, uint64_t addr, uint64_t count) {
  if (count > kMaxIov) return Fail(EINVAL, "too many iovecs");
  GuestIov out{std::vector<iovec>(count), 0};
  TRY_STATUS(k.mem.CopyIn(addr, out.vecs.data(), count * sizeof(iovec)));
  // As Linux's import_iovec: a length that does not fit ssize_t is EINVAL (checked for every
  // entry first, so a sum past 2^63 can never wrap into a short count), a buffer that runs past
  // the guest's address space is EFAULT, and the total is cut to one call's maximum.
  for (const iovec& v : out.vecs)
    if (v.iov_len > static_cast<uint64_t>(SSIZE_MAX)) return Fail(EINVAL, "iovec length");
  for (const iovec& v : out.vecs) {
    const uint64_t base = reinterpret_cast<uint64_t>(v.iov_base);
    if (v.iov_len > kGuestAddressLimit || base > kGuestAddressLimit - v.iov_len)
      return Fail(EFAULT, "iovec outside the guest");
    out.total = std::min(out.total + v.iov_len, kMaxIoChunk);  // no overflow: both < 2^48
  }
  return out;
}

int64_t DoReadv(SandboxKernel& k, int fd, uint64_t iov_addr, uint64_t count,
                std::optional<int64_t> pos) {
  auto iov = ReadIov(k, iov_addr, count);
  if (!iov) return Errno(iov.error());
  auto f = k.files.Get(fd);
  if (!f) return Errno(f.error());
  // One read of the total length, scattered afterwards: like Linux, a readv returns what one
  // read returns (it must not block for the second iovec once the first got data).
  std::vector<char>& buf = Bounce(iov->total);
  auto n = k.files.Read(**f, buf.data(), iov->total, pos);
  if (!n) return Errno(n.error());
  uint64_t at = 0;
  for (const iovec& v : iov->vecs) {
    const uint64_t part = std::min<uint64_t>(v.iov_len, *n - at);
    if (part == 0) break;
    if (!k.mem.CopyOut(reinterpret_cast<uint64_t>(v.iov_base), buf.data() + at, part))
      return -EFAULT;
    at += part;
  }
  return static_cast<int64_t>(*n);
}

int64_t DoWritev(SandboxKernel& k, int fd, uint64_t iov_addr, uint64_t count,
                 std::optional<int64_t> pos) {
  auto iov = ReadIov(k, iov_addr, count);
  if (!iov) return Errno(iov.error());
  // Gather into one buffer so that one writev is one write (atomic for pipes and stdout).
  std::vector<char>& buf = Bounce(iov->total);
  uint64_t at = 0;
  for (const iovec& v : iov->vecs) {
    const uint64_t n = std::min<uint64_t>(v.iov_len, iov->total - at);
    if (n == 0) continue;
    if (!k.mem.CopyIn(reinterpret_cast<uint64_t>(v.iov_base), buf.data() + at, n)) return -EFAULT;
    at += n;
  }
  auto f = k.files.Get(fd);
  if (!f) return Errno(f.error());
  return WriteOut(k, **f, buf.data(), iov->total, pos);
}

SyscallResult SysRead(SandboxKernel& k, const SyscallArgs& a) {
  const int fd = static_cast<int>(a.a[0]);
  return BlockOnInSandboxIo(k, fd, DoRead(k, fd, a.a[1], a.a[2], std::nullopt), a);
}
SyscallResult SysWrite(SandboxKernel& k, const SyscallArgs& a) {
  const int fd = static_cast<int>(a.a[0]);
  return BlockOnInSandboxIo(k, fd, DoWrite(k, fd, a.a[1], a.a[2], std::nullopt), a);
}
SyscallResult SysPread(SandboxKernel& k, const SyscallArgs& a) {
  if (static_cast<int64_t>(a.a[3]) < 0) return -EINVAL;
  return DoRead(k, static_cast<int>(a.a[0]), a.a[1], a.a[2], static_cast<int64_t>(a.a[3]));
}
SyscallResult SysPwrite(SandboxKernel& k, const SyscallArgs& a) {
  if (static_cast<int64_t>(a.a[3]) < 0) return -EINVAL;
  return DoWrite(k, static_cast<int>(a.a[0]), a.a[1], a.a[2], static_cast<int64_t>(a.a[3]));
}
SyscallResult SysReadv(SandboxKernel& k, const SyscallArgs& a) {
  const int fd = static_cast<int>(a.a[0]);
  return BlockOnInSandboxIo(k, fd, DoReadv(k, fd, a.a[1], a.a[2], std::nullopt), a);
}
SyscallResult SysWritev(SandboxKernel& k, const SyscallArgs& a) {
  const int fd = static_cast<int>(a.a[0]);
  return BlockOnInSandboxIo(k, fd, DoWritev(k, fd, a.a[1], a.a[2], std::nullopt), a);
}
SyscallResult SysPreadv(SandboxKernel& k, const SyscallArgs& a) {
  return DoReadv(k, static_cast<int>(a.a[0]), a.a[1], a.a[2], static_cast<int64_t>(a.a[3]));
}
SyscallResult SysPwritev(SandboxKernel& k, const SyscallArgs& a) {
  return DoWritev(k, static_cast<int>(a.a[0]), a.a[1], a.a[2], static_cast<int64_t>(a.a[3]));
}

SyscallResult SysLseek(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  if (!f) return Errno(f.error());
  auto r = k.files.Seek(**f, static_cast<int64_t>(a.a[1]), static_cast<int>(a.a[2]));
  return r ? *r : Errno(r.error());
}

SyscallResult SysClose(SandboxKernel& k, const SyscallArgs& a) {
  auto r = k.files.Close(static_cast<int>(a.a[0]));
  return r ? 0 : Errno(r.error());
}

// close_range(first, last, flags): closes, or with CLOSE_RANGE_CLOEXEC marks close-on-exec,
// every open fd in [first, last]. CLOSE_RANGE_UNSHARE is EINVAL: the fd table is the
// process's (its threads share it) and is not split (spec/abi.md).
SyscallResult SysCloseRange(SandboxKernel& k, const SyscallArgs& a) {
  constexpr uint64_t kCloexec = 4;  // CLOSE_RANGE_CLOEXEC
  const auto first = static_cast<uint32_t>(a.a[0]), last = static_cast<uint32_t>(a.a[1]);
  if ((a.a[2] & ~kCloexec) || first > last) return -EINVAL;
  const uint32_t end = std::min<uint64_t>(uint64_t{last} + 1, k.s.fds.entries.size);
  for (uint32_t fd = first; fd < end; ++fd) {
    state::FdEntry* e = k.files.Entry(static_cast<int>(fd));
    if (!e || !e->file) continue;
    if (a.a[2] & kCloexec) {
      e->cloexec = 1;
    } else if (auto r = k.files.Close(static_cast<int>(fd)); !r) {
      return Errno(r.error());
    }
  }
  return 0;
}

int64_t DupTo(SandboxKernel& k, int oldfd, int newfd, bool cloexec) {
  auto f = k.files.Get(oldfd);
  if (!f) return Errno(f.error());
  Files::Ref(*f);
  auto r = k.files.InstallAt(*f, newfd, cloexec);
  return r ? newfd : Errno(r.error());
}

SyscallResult SysDup(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  if (!f) return Errno(f.error());
  Files::Ref(*f);
  auto fd = k.files.Install(*f, 0, false);
  return fd ? *fd : Errno(fd.error());
}
SyscallResult SysDup2(SandboxKernel& k, const SyscallArgs& a) {
  const int oldfd = static_cast<int>(a.a[0]), newfd = static_cast<int>(a.a[1]);
  if (oldfd == newfd) {
    auto f = k.files.Get(oldfd);
    return f ? newfd : Errno(f.error());
  }
  return DupTo(k, oldfd, newfd, false);
}
SyscallResult SysDup3(SandboxKernel& k, const SyscallArgs& a) {
  const int oldfd = static_cast<int>(a.a[0]), newfd = static_cast<int>(a.a[1]);
  if (oldfd == newfd || (a.a[2] & ~static_cast<uint64_t>(O_CLOEXEC))) return -EINVAL;
  return DupTo(k, oldfd, newfd, a.a[2] & O_CLOEXEC);
}

SyscallResult SysFcntl(SandboxKernel& k, const SyscallArgs& a) {
  const int fd = static_cast<int>(a.a[0]);
  auto f = k.files.Get(fd);
  if (!f) return Errno(f.error());
  state::FdEntry* e = k.files.Entry(fd);
  switch (static_cast<int>(a.a[1])) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      if (a.a[2] >= k.s.fds.max_fds) return -EINVAL;
      Files::Ref(*f);
      auto nfd = k.files.Install(*f, static_cast<int>(a.a[2]),
                                 static_cast<int>(a.a[1]) == F_DUPFD_CLOEXEC);
      return nfd ? *nfd : Errno(nfd.error());
    }
    case F_GETFD:
      return e->cloexec ? FD_CLOEXEC : 0;
    case F_SETFD:
      e->cloexec = (a.a[2] & FD_CLOEXEC) ? 1 : 0;
      return 0;
    case F_GETFL:
      return (*f)->status_flags | ((*f)->is_directory ? O_DIRECTORY : 0);
    case F_SETFL: {
      const uint32_t settable = O_APPEND | O_NONBLOCK;
      (*f)->status_flags = ((*f)->status_flags & ~settable) | (a.a[2] & settable);
      return 0;
    }
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
      return FcntlLock(k, **f, static_cast<int>(a.a[1]), a.a[2]);
    default:
      return -EINVAL;
  }
}

int64_t MakePipe(SandboxKernel& k, uint64_t fds_addr, uint64_t flags) {
  if (flags & ~static_cast<uint64_t>(O_CLOEXEC | O_NONBLOCK)) return -EINVAL;
  state::Pipe* p = state::New<state::Pipe>();
  p->readers = p->writers = 1;
  const uint32_t nb = (flags & O_NONBLOCK) ? O_NONBLOCK : 0;
  state::OpenFile* r = k.files.NewFile(state::FileKind::kPipe, O_RDONLY | nb);
  state::OpenFile* w = k.files.NewFile(state::FileKind::kPipe, O_WRONLY | nb);
  r->pipe = w->pipe = p;
  auto rfd = k.files.Install(r, 0, flags & O_CLOEXEC);
  if (!rfd) {
    k.files.Unref(w);
    return Errno(rfd.error());
  }
  auto wfd = k.files.Install(w, 0, flags & O_CLOEXEC);
  if (!wfd) {
    (void)k.files.Close(*rfd);
    return Errno(wfd.error());
  }
  const int fds[2] = {*rfd, *wfd};
  if (!k.mem.CopyOut(fds_addr, fds, sizeof(fds))) {
    (void)k.files.Close(*rfd);
    (void)k.files.Close(*wfd);
    return -EFAULT;
  }
  return 0;
}
SyscallResult SysPipe(SandboxKernel& k, const SyscallArgs& a) {
  return MakePipe(k, a.a[0], 0);
}
SyscallResult SysPipe2(SandboxKernel& k, const SyscallArgs& a) {
  return MakePipe(k, a.a[0], a.a[1]);
}

SyscallResult SysIoctl(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  if (!f) return Errno(f.error());
  const uint64_t req = a.a[1];
  // Only terminal queries are answered, and only for catload's own stdio when it is a tty.
  if ((*f)->kind != state::FileKind::kStdio || k.files.ShownAsEmptyPipe(**f)) return -ENOTTY;
  auto host = k.files.StdioFd(**f);
  if (!host) return Errno(host.error());
  const int stdio_fd = *host;
  if (!isatty(stdio_fd)) return -ENOTTY;
  if (req == TCGETS) {
    // The kernel's struct termios (36 bytes), not glibc's larger one.
    struct KernelTermios {
      char bytes[36];
    } t{};
    if (ioctl(stdio_fd, TCGETS, &t) != 0) return -errno;
    return k.mem.WriteObject(a.a[2], t) ? 0 : -EFAULT;
  }
  if (req == TIOCGWINSZ) {
    struct winsize w {};
    if (ioctl(stdio_fd, TIOCGWINSZ, &w) != 0) return -errno;
    return k.mem.WriteObject(a.a[2], w) ? 0 : -EFAULT;
  }
  return -ENOTTY;
}

SyscallResult SysFtruncate(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  if (!f) return Errno(f.error());
  auto r = k.files.Truncate(**f, static_cast<int64_t>(a.a[1]));
  return r ? 0 : Errno(r.error());
}

SyscallResult SysFsync(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  return f ? 0 : Errno(f.error());
}

SyscallResult SysGetdents64(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  if (!f) return Errno(f.error());
  state::OpenFile& file = **f;
  if (!file.is_directory) return -ENOTDIR;
  if (!file.listing_valid) {
    // Snapshot the listing at the first call (and after a rewind).
    auto node = k.vfs.Resolve("/", file.guest_path.view(), false);
    if (!node) return Errno(node.error());
    auto entries = k.vfs.List(*node);
    if (!entries) return Errno(entries.error());
    for (state::DirEntry& d : file.listing) d.name.Release();
    file.listing.Resize(0);
    for (const Vfs::Entry& e : *entries) {
      state::DirEntry d{};
      d.name.Assign(e.name);
      d.ino = e.ino;
      d.type = e.type;
      file.listing.PushBack(d);
    }
    file.listing_valid = 1;
  }
  const uint64_t cap = std::min<uint64_t>(a.a[2], kMaxIoChunk);
  std::vector<char> out;
  out.reserve(cap);
  while (file.offset >= 0 && static_cast<uint64_t>(file.offset) < file.listing.size) {
    const state::DirEntry& d = file.listing[static_cast<uint32_t>(file.offset)];
    const size_t reclen = (offsetof(struct dirent64, d_name) + d.name.size + 1 + 7) & ~size_t{7};
    if (out.size() + reclen > cap) break;
    const size_t at = out.size();
    out.resize(at + reclen, 0);
    struct dirent64 hdr {};
    hdr.d_ino = d.ino ? d.ino : 1;
    hdr.d_off = file.offset + 1;
    hdr.d_reclen = static_cast<unsigned short>(reclen);
    hdr.d_type = d.type;
    std::memcpy(out.data() + at, &hdr, offsetof(struct dirent64, d_name));
    std::memcpy(out.data() + at + offsetof(struct dirent64, d_name), d.name.data, d.name.size);
    ++file.offset;
  }
  if (out.empty() && static_cast<uint64_t>(file.offset) < file.listing.size) return -EINVAL;
  if (!k.mem.CopyOut(a.a[1], out.data(), out.size())) return -EFAULT;
  return static_cast<int64_t>(out.size());
}

}  // namespace

void RegisterFileIoSyscalls(SyscallHandler* t) {
  t[SYS_read] = SysRead;
  t[SYS_write] = SysWrite;
  t[SYS_pread64] = SysPread;
  t[SYS_pwrite64] = SysPwrite;
  t[SYS_readv] = SysReadv;
  t[SYS_writev] = SysWritev;
  t[SYS_preadv] = SysPreadv;
  t[SYS_pwritev] = SysPwritev;
  t[SYS_lseek] = SysLseek;
  t[SYS_close] = SysClose;
  t[SYS_close_range] = SysCloseRange;
  t[SYS_dup] = SysDup;
  t[SYS_dup2] = SysDup2;
  t[SYS_dup3] = SysDup3;
  t[SYS_fcntl] = SysFcntl;
  t[SYS_pipe] = SysPipe;
  t[SYS_pipe2] = SysPipe2;
  t[SYS_ioctl] = SysIoctl;
  t[SYS_ftruncate] = SysFtruncate;
  t[SYS_fsync] = SysFsync;
  t[SYS_fdatasync] = SysFsync;
  t[SYS_getdents64] = SysGetdents64;
}

}  // namespace cat
