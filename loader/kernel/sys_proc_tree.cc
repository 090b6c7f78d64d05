// The process tree's syscalls: wait4/waitid (reaping zombies), process groups and sessions
// (getpgid, setpgid, getsid, setsid, getpgrp), all within the sandbox's pid namespace
// (process_table.h): a pid outside it names nobody (ESRCH/ECHILD), never a host process.
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstring>
#include <optional>

#include "loader/kernel/process_ops.h"
#include "loader/kernel/sandbox_kernel.h"
#include "loader/kernel/signal_frame.h"

namespace cat {
namespace {

GuestProcess* Target(SandboxKernel& k, int pid) {
  if (pid == 0) return &k.procs.current();
  if (pid < 0) return nullptr;
  GuestProcess* p = k.procs.Find(pid);
  return p;
}

SyscallResult SysGetpgid(SandboxKernel& k, const SyscallArgs& a) {
  GuestProcess* p = Target(k, static_cast<int>(a.a[0]));
  return p ? p->pgid : -ESRCH;
}
SyscallResult SysGetpgrp(SandboxKernel& k, const SyscallArgs&) {
  return k.procs.current().pgid;
}
SyscallResult SysGetsid(SandboxKernel& k, const SyscallArgs& a) {
  GuestProcess* p = Target(k, static_cast<int>(a.a[0]));
  return p ? p->sid : -ESRCH;
}

SyscallResult SysSetpgid(SandboxKernel& k, const SyscallArgs& a) {
  GuestProcess& self = k.procs.current();
  const int pid = static_cast<int>(a.a[0]);
  int pgid = static_cast<int>(a.a[1]);
  if (pgid < 0) return -EINVAL;
  GuestProcess* p = Target(k, pid);
  if (!p || (p != &self && p->ppid != self.pid) || p->zombie) return -ESRCH;
  if (p != &self && p->sid != self.sid) return -EPERM;
  if (p != &self && p->exec_done) return -EACCES;
  if (p->sid == p->pid) return -EPERM;  // a session leader cannot move
  if (pgid == 0) pgid = p->pid;
  if (pgid != p->pid) {
    // Joining a group: it must exist in the caller's session.
    bool found = false;
    for (auto& q : k.procs.all())
      if (q->pgid == pgid && q->sid == self.sid && !q->zombie) found = true;
    if (!found) return -EPERM;
  }
  p->pgid = pgid;
  return 0;
}

SyscallResult SysSetsid(SandboxKernel& k, const SyscallArgs&) {
  GuestProcess& self = k.procs.current();
  for (auto& q : k.procs.all())
    if (q->pgid == self.pid) return -EPERM;  // already a group leader (or its group lives on)
  self.sid = self.pgid = self.pid;
  return self.pid;
}

// Whether child `c` of the caller matches wait4's pid argument.
bool WaitMatches(const GuestProcess& self, const GuestProcess& c, int pid) {
  if (c.ppid != self.pid) return false;
  if (pid > 0) return c.pid == pid;
  if (pid == 0) return c.pgid == self.pgid;
  if (pid < -1) return c.pgid == -pid;
  return true;
}

}  // namespace

int64_t FindWaitable(SandboxKernel& k, int pid, GuestProcess** out) {
  GuestProcess& self = k.procs.current();
  bool any = false;
  for (auto& c : k.procs.all()) {
    if (!WaitMatches(self, *c, pid)) continue;
    any = true;
    if (c->zombie) {
      *out = c.get();
      return c->pid;
    }
  }
  return any ? 0 : -ECHILD;
}

namespace {

// Writes wait4's results and reaps the child.
int64_t Reap(SandboxKernel& k, GuestProcess& c, uint64_t status_addr, uint64_t rusage_addr) {
  const int status = c.wait_status;
  if (status_addr && !k.mem.WriteObject(status_addr, status)) return -EFAULT;
  if (rusage_addr) {
    struct rusage ru {};
    if (!k.mem.WriteObject(rusage_addr, ru)) return -EFAULT;
  }
  const int32_t pid = c.pid;
  k.ReapProcess(pid);
  return pid;
}

std::optional<int64_t> Wait4Once(SandboxKernel& k, const SyscallArgs& a) {
  const int pid = static_cast<int>(a.a[0]);
  const int options = static_cast<int>(a.a[2]);
  if (options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE | __WNOTHREAD))
    return -EINVAL;
  if (pid == INT32_MIN) return -ESRCH;
  GuestProcess* c = nullptr;
  const int64_t found = FindWaitable(k, pid, &c);
  if (found > 0) return Reap(k, *c, a.a[1], a.a[3]);
  if (found < 0 || (options & WNOHANG)) return found;
  return std::nullopt;
}

std::optional<int64_t> WaitidOnce(SandboxKernel& k, const SyscallArgs& a) {
  const int idtype = static_cast<int>(a.a[0]);
  const int id = static_cast<int>(a.a[1]);
  const int options = static_cast<int>(a.a[3]);
  if (options &
      ~(WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | __WALL | __WCLONE | __WNOTHREAD))
    return -EINVAL;
  if (!(options & (WEXITED | WSTOPPED | WCONTINUED))) return -EINVAL;
  int pid = -1;
  switch (idtype) {
    case P_ALL:
      break;
    case P_PID:
      if (id <= 0) return -EINVAL;
      pid = id;
      break;
    case P_PGID:
      if (id < 0) return -EINVAL;
      pid = id == 0 ? 0 : -id;
      break;
    default:
      return -EINVAL;
  }
  GuestProcess* c = nullptr;
  const int64_t found = FindWaitable(k, pid, &c);
  if (found < 0) return found;
  if (found == 0 || !(options & WEXITED)) {
    if (options & WNOHANG) {
      // No child to report: Linux zeroes si_pid (and si_signo) so the caller can tell.
      if (a.a[2]) {
        sigframe::Siginfo none{};
        if (!k.mem.WriteObject(a.a[2], none)) return -EFAULT;
      }
      return 0;
    }
    if (found == 0) return std::nullopt;
    return -ECHILD;  // only exited children are ever reported here
  }
  if (a.a[2]) {
    sigframe::Siginfo info{};
    info.si_signo = SIGCHLD;
    const int st = c->wait_status;
    info.si_code = WIFEXITED(st) ? CLD_EXITED : (WCOREDUMP(st) ? CLD_DUMPED : CLD_KILLED);
    const int32_t cpid = c->pid;
    const uint32_t uid = k.s.process.uid;
    const int32_t value = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
    std::memcpy(info.fields + 0, &cpid, 4);
    std::memcpy(info.fields + 4, &uid, 4);
    std::memcpy(info.fields + 8, &value, 4);
    if (!k.mem.WriteObject(a.a[2], info)) return -EFAULT;
  }
  if (a.a[4]) {
    struct rusage ru {};
    if (!k.mem.WriteObject(a.a[4], ru)) return -EFAULT;
  }
  if (!(options & WNOWAIT)) k.ReapProcess(c->pid);
  return 0;
}

SyscallResult SysWait(SandboxKernel& k, const SyscallArgs& a) {
  if (std::optional<int64_t> r = WaitOnce(k, a)) return *r;
  return BlockInWait(k, a);
}

}  // namespace

std::optional<int64_t> WaitOnce(SandboxKernel& k, const SyscallArgs& a) {
  return a.nr == SYS_waitid ? WaitidOnce(k, a) : Wait4Once(k, a);
}

void RegisterProcessTreeSyscalls(SyscallHandler* t) {
  t[SYS_getpgid] = SysGetpgid;
  t[SYS_getpgrp] = SysGetpgrp;
  t[SYS_getsid] = SysGetsid;
  t[SYS_setpgid] = SysSetpgid;
  t[SYS_setsid] = SysSetsid;
  t[SYS_wait4] = SysWait;
  t[SYS_waitid] = SysWait;
}

}  // namespace cat
