// Non-blocking opens of host files for the sandbox kernel (see host_open.h).
#include "loader/kernel/host_open.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "loader/kernel/host_fs_policy.h"

namespace cat {
namespace {

int OpenAt2(int dirfd, const std::string& rel, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(
      syscall(SYS_openat2, dirfd, rel.empty() ? "." : rel.c_str(), &how, sizeof(how)));
}

std::unexpected<Error> Special(const std::string& what) {
  return Fail(EACCES, what + ": a host device, FIFO or socket (never opened)");
}

}  // namespace

Result<UniqueFd> OpenHostBeneath(int dirfd, const std::string& rel, int flags, mode_t mode,
                                 const std::string& what) {
  // An O_PATH open never blocks and never reaches a driver.
  if (flags & O_PATH) {
    // open(2) ignores the other flags with O_PATH; openat2 would refuse them (EINVAL).
    UniqueFd fd(OpenAt2(dirfd, rel, flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW), 0));
    if (!fd.valid()) return FailErrno(what);
    return fd;
  }
  UniqueFd fd(OpenAt2(dirfd, rel, flags | O_NONBLOCK | O_NOCTTY, mode));
  if (!fd.valid()) {
    // A FIFO without a reader opened for writing, or a socket: ENXIO. Either is special.
    if (errno == ENXIO) return Special(what);
    return FailErrno(what);
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return FailErrno(what + ": fstat");
  // Whatever the path held when it was looked up, this is what was opened.
  if (IsHostSpecialFile(st.st_mode)) return Special(what);
  if (!(flags & O_NONBLOCK)) {
    const int fl = fcntl(fd.get(), F_GETFL);
    if (fl < 0 || fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK) != 0)
      return FailErrno(what + ": clear O_NONBLOCK");
  }
  return fd;
}

}  // namespace cat
