// Socket calls on fds: the sandbox has no sockets (socket(2) itself is unsupported), so every
// call that takes a socket fd answers as Linux does for an fd that is not one: EBADF if the
// fd is not open, ENOTSOCK otherwise. ENOSYS would be wrong here: programs take it to mean
// "cannot tell" (bash-static then decides it runs under sshd and sources rc files).
#include <sys/syscall.h>

#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

SyscallResult SysOnSocketFd(SandboxKernel& k, const SyscallArgs& a) {
  auto f = k.files.Get(static_cast<int>(a.a[0]));
  if (!f) return Errno(f.error());
  return -ENOTSOCK;
}

}  // namespace

void RegisterSocketSyscalls(SyscallHandler* t) {
  for (int nr : {SYS_connect, SYS_accept, SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg,
                 SYS_shutdown, SYS_bind, SYS_listen, SYS_getsockname, SYS_getpeername,
                 SYS_setsockopt, SYS_getsockopt, SYS_accept4, SYS_recvmmsg, SYS_sendmmsg})
    t[nr] = SysOnSocketFd;
}

}  // namespace cat
