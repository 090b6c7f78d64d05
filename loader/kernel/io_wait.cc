// Blocking pipe and socket I/O between guest tasks (see io_wait.h).
#include "loader/kernel/io_wait.h"

#include <fcntl.h>

#include "loader/kernel/poll_parking.h"

namespace cat {

SyscallResult BlockOnInSandboxIo(SandboxKernel& k, int fd, int64_t result, const SyscallArgs& a) {
  if (result >= 0) [[likely]]
    return result;
  // Stdin, a timerfd or an eventfd that would have waited on the tracer thread (files.h): the
  // task parks for a quantum and reads again, as poll does.
  if (result == -kMustParkErrno) return ParkAndPoll(k, -1, -1);
  if (result != -EAGAIN || k.tasks.size() <= 1) return result;
  auto f = k.files.Get(fd);
  if (!f || ((*f)->status_flags & O_NONBLOCK)) return result;
  if ((*f)->kind != state::FileKind::kPipe && (*f)->kind != state::FileKind::kLive) return result;
  const SyscallArgsCopy copy{a.nr, {a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]}};
  k.tasks.Park(k.io_waits, 0, ~0u, 0, 0, copy);
  return SyscallResult::Block();
}

}  // namespace cat
