// Process syscalls: exit, identity (pids, uids), thread-setup calls of libc start-up
// (arch_prctl, set_tid_address, set_robust_list, rseq), limits,
// uname, scheduling queries (futex and clone: sys_thread.cc).
#include <asm/prctl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "loader/kernel/guest_view.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

// The guest is alone in its pid namespace (pid 1, like a container's init).
constexpr int kGuestPid = 1;

// exit ends the calling thread, exit_group every thread: the same for the single thread of
// today's guests, different once clone makes threads (the dispatcher applies the control).
SyscallResult SysExit(SandboxKernel&, const SyscallArgs& a) {
  return SyscallResult::ExitThread(static_cast<int>(a.a[0]));
}
SyscallResult SysExitGroup(SandboxKernel&, const SyscallArgs& a) {
  return SyscallResult::ExitGroup(static_cast<int>(a.a[0]));
}

SyscallResult SysArchPrctl(SandboxKernel& k, const SyscallArgs& a) {
  GuestRegs r = k.shell.regs();
  switch (a.a[0]) {
    case ARCH_SET_FS:
      if (a.a[1] >= kGuestAddressLimit) return -EPERM;
      r.fs_base = a.a[1];
      break;
    case ARCH_SET_GS:
      if (a.a[1] >= kGuestAddressLimit) return -EPERM;
      r.gs_base = a.a[1];
      break;
    case ARCH_GET_FS:
      return k.mem.WriteObject(a.a[1], r.fs_base) ? 0 : -EFAULT;
    case ARCH_GET_GS:
      return k.mem.WriteObject(a.a[1], r.gs_base) ? 0 : -EFAULT;
    default:
      return -EINVAL;
  }
  k.shell.SetRegs(r);
  return 0;
}

SyscallResult SysSetTidAddress(SandboxKernel& k, const SyscallArgs& a) {
  k.thread().clear_child_tid = a.a[0];
  return k.thread().tid;
}

SyscallResult SysSetRobustList(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[1] != 24) return -EINVAL;  // sizeof(struct robust_list_head)
  k.thread().robust_list = a.a[0];
  k.thread().robust_list_len = a.a[1];
  return 0;
}

SyscallResult SysEnosysQuietly(SandboxKernel&, const SyscallArgs&) {
  return -ENOSYS;  // rseq: libc falls back cleanly, so not worth a log line
}

SyscallResult SysGetpid(SandboxKernel& k, const SyscallArgs&) {
  return k.s.process.pid;
}
SyscallResult SysGetppid(SandboxKernel& k, const SyscallArgs&) {
  return k.s.process.ppid;
}
SyscallResult SysGettid(SandboxKernel& k, const SyscallArgs&) {
  return k.thread().tid;
}
SyscallResult SysGetuid(SandboxKernel& k, const SyscallArgs&) {
  return k.s.process.uid;
}
SyscallResult SysGetgid(SandboxKernel& k, const SyscallArgs&) {
  return k.s.process.gid;
}
SyscallResult SysGetpgrp(SandboxKernel& k, const SyscallArgs&) {
  return k.s.process.pid;
}

// getresuid/getresgid: real, effective and saved ids are all the same one.
int64_t WriteResIds(SandboxKernel& k, const SyscallArgs& a, uint32_t id) {
  for (int i = 0; i < 3; ++i)
    if (!k.mem.WriteObject(a.a[i], id)) return -EFAULT;
  return 0;
}
SyscallResult SysGetresuid(SandboxKernel& k, const SyscallArgs& a) {
  return WriteResIds(k, a, k.s.process.uid);
}
SyscallResult SysGetresgid(SandboxKernel& k, const SyscallArgs& a) {
  return WriteResIds(k, a, k.s.process.gid);
}
SyscallResult SysGetgroups(SandboxKernel&, const SyscallArgs&) {
  return 0;
}

SyscallResult SysUmask(SandboxKernel& k, const SyscallArgs& a) {
  const uint32_t old = k.s.process.umask;
  k.s.process.umask = static_cast<uint32_t>(a.a[0]) & 0777;
  return old;
}

int64_t DoPrlimit(SandboxKernel& k, uint64_t resource, uint64_t new_addr, uint64_t old_addr) {
  if (resource >= state::kNumRlimits) return -EINVAL;
  state::Rlimit& lim = k.s.process.rlimits[resource];
  state::Rlimit fresh{};
  if (new_addr) {
    auto v = k.mem.ReadObject<state::Rlimit>(new_addr);
    if (!v) return -EFAULT;
    fresh = *v;
    if (fresh.cur > fresh.max) return -EINVAL;
    if (fresh.max > lim.max) return -EPERM;  // limits can only be lowered
  }
  if (old_addr && !k.mem.WriteObject(old_addr, lim)) return -EFAULT;
  if (new_addr) {
    lim = fresh;
    if (resource == RLIMIT_NOFILE) k.s.fds.max_fds = static_cast<uint32_t>(fresh.cur);
    if (resource == RLIMIT_AS) k.s.memory.limit_bytes = std::min(k.s.memory.limit_bytes, fresh.cur);
  }
  return 0;
}
SyscallResult SysPrlimit64(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[0] != 0 && static_cast<int>(a.a[0]) != k.s.process.pid) return -ESRCH;
  return DoPrlimit(k, a.a[1], a.a[2], a.a[3]);
}
SyscallResult SysGetrlimit(SandboxKernel& k, const SyscallArgs& a) {
  return DoPrlimit(k, a.a[0], 0, a.a[1]);
}
SyscallResult SysSetrlimit(SandboxKernel& k, const SyscallArgs& a) {
  return DoPrlimit(k, a.a[0], a.a[1], 0);
}

SyscallResult SysUname(SandboxKernel& k, const SyscallArgs& a) {
  const struct utsname u = GuestUname();
  return k.mem.WriteObject(a.a[0], u) ? 0 : -EFAULT;
}

SyscallResult SysSchedYield(SandboxKernel&, const SyscallArgs&) {
  return 0;
}

SyscallResult SysSchedGetaffinity(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[0] != 0 && static_cast<int>(a.a[0]) != k.s.process.pid) return -ESRCH;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu = 0; cpu < GuestCpuCount() && cpu < CPU_SETSIZE; ++cpu) CPU_SET(cpu, &set);
  const uint64_t n = std::min<uint64_t>(a.a[1], sizeof(set));
  if (n < sizeof(uint64_t) || n % sizeof(uint64_t)) return -EINVAL;
  return k.mem.CopyOut(a.a[2], &set, n) ? static_cast<int64_t>(n) : -EFAULT;
}

SyscallResult SysPrctl(SandboxKernel& k, const SyscallArgs& a) {
  switch (a.a[0]) {
    case PR_SET_NAME:
    case PR_SET_PDEATHSIG:
    case PR_SET_DUMPABLE:
      return 0;
    case PR_GET_NAME: {
      char name[16] = {};
      const std::string comm = GuestComm(k.s);  // what /proc/self/comm shows
      std::memcpy(name, comm.data(), std::min(comm.size(), sizeof(name) - 1));
      return k.mem.CopyOut(a.a[1], name, sizeof(name)) ? 0 : -EFAULT;
    }
    case PR_GET_DUMPABLE:
      return 1;
    default:
      return -EINVAL;
  }
}

}  // namespace

void RegisterProcessSyscalls(SyscallHandler* t) {
  t[SYS_exit] = SysExit;
  t[SYS_exit_group] = SysExitGroup;
  t[SYS_arch_prctl] = SysArchPrctl;
  t[SYS_set_tid_address] = SysSetTidAddress;
  t[SYS_set_robust_list] = SysSetRobustList;
  t[SYS_rseq] = SysEnosysQuietly;
  t[SYS_getpid] = SysGetpid;
  t[SYS_getppid] = SysGetppid;
  t[SYS_gettid] = SysGettid;
  t[SYS_getuid] = SysGetuid;
  t[SYS_geteuid] = SysGetuid;
  t[SYS_getgid] = SysGetgid;
  t[SYS_getegid] = SysGetgid;
  t[SYS_getresuid] = SysGetresuid;
  t[SYS_getresgid] = SysGetresgid;
  t[SYS_getgroups] = SysGetgroups;
  t[SYS_getpgrp] = SysGetpgrp;
  t[SYS_umask] = SysUmask;
  t[SYS_prlimit64] = SysPrlimit64;
  t[SYS_getrlimit] = SysGetrlimit;
  t[SYS_setrlimit] = SysSetrlimit;
  t[SYS_uname] = SysUname;
  t[SYS_sched_yield] = SysSchedYield;
  t[SYS_sched_getaffinity] = SysSchedGetaffinity;
  t[SYS_prctl] = SysPrctl;
}

}  // namespace cat
