// Thread syscalls: clone/clone3 for threads (CLONE_VM|CLONE_THREAD, what pthread_create passes),
// get_robust_list, and futex (wait/wake with bitsets, requeue, wake-op, timeouts). A new
// thread is a new vCPU of the guest's shell (Shell::SpawnVcpu) and a task of the run loop
// (tasks.h); a futex wait parks the calling task on TaskTable::futex.
#include <linux/futex.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "format/base/host_clock.h"
#include "format/state/state_limits.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

// clone flags a thread may ask for. CLONE_VM|CLONE_THREAD|CLONE_SIGHAND are required (a
// thread); CLONE_FS, CLONE_FILES, CLONE_SYSVSEM are implied by the one-process sandbox; the
// tid words and TLS are emulated here. Anything else (namespaces, CLONE_VFORK, CLONE_PIDFD,
// CLONE_PTRACE, ...) is EINVAL and never reaches the host.
constexpr uint64_t kThreadRequired = CLONE_VM | CLONE_THREAD | CLONE_SIGHAND;
constexpr uint64_t kThreadAllowed = kThreadRequired | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM |
                                    CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID |
                                    CLONE_CHILD_SETTID | CLONE_DETACHED;

int64_t CloneThread(SandboxKernel& k, uint64_t flags, uint64_t stack, uint64_t parent_tid,
                    uint64_t child_tid, uint64_t tls) {
  if ((flags & kThreadRequired) != kThreadRequired) {
    // A new process (fork, vfork, posix_spawn): not a thread.
    k.LogUnsupported(SYS_clone);
    return -ENOSYS;
  }
  if ((flags & ~kThreadAllowed) != 0) return -EINVAL;
  if (stack >= kGuestAddressLimit || tls >= kGuestAddressLimit) return -EINVAL;
  if (k.s.threads.size >= k.max_threads) {
    static_assert(sizeof(k.max_threads) == 4);
    k.LogOnce("thread limit of " + std::to_string(k.max_threads) +
              " guest threads reached: clone fails with EAGAIN");
    return -EAGAIN;
  }
  if (k.s.process.next_tid >= state::kMaxPid) return -EAGAIN;  // tids are never reused
  const int32_t tid = k.s.process.next_tid;
  GuestRegs regs = k.shell.regs();
  regs.rax = 0;  // the child's clone returns 0
  regs.orig_rax = ~0ull;
  if (stack) regs.rsp = stack;
  if (flags & CLONE_SETTLS) regs.fs_base = tls;
  if ((flags & CLONE_PARENT_SETTID) && !k.mem.WriteObject(parent_tid, tid)) return -EFAULT;
  if ((flags & CLONE_CHILD_SETTID) && !k.mem.WriteObject(child_tid, tid)) return -EFAULT;
  auto vcpu = k.shell.SpawnVcpu(regs);
  if (!vcpu) {
    k.LogOnce("clone: cannot make the thread: " + vcpu.error().message());
    return vcpu.error().code() == ENOSYS ? -ENOSYS : -EAGAIN;
  }
  ++k.s.process.next_tid;
  state::Thread fresh{};
  fresh.tid = tid;
  fresh.run_state = state::ThreadRunState::kRunnable;
  fresh.clear_child_tid = (flags & CLONE_CHILD_CLEARTID) ? child_tid : 0;
  fresh.signal_mask = k.thread().signal_mask;  // inherited; the altstack is not (CLONE_VM)
  k.s.threads.PushBack(fresh);                 // tids grow: the array stays sorted
  k.tasks.Add(k.shell, *vcpu, tid);
  return tid;
}

SyscallResult SysClone(SandboxKernel& k, const SyscallArgs& a) {
  // x86-64: clone(flags, stack, parent_tid, child_tid, tls).
  return CloneThread(k, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4]);
}

// struct clone_args, CLONE_ARGS_SIZE_VER0 (64 bytes) and later versions.
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

SyscallResult SysClone3(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[1] < sizeof(CloneArgs) || a.a[1] > 4096) return -EINVAL;
  auto ca = k.mem.ReadObject<CloneArgs>(a.a[0]);
  if (!ca) return -EFAULT;
  // Fields past VER0 (set_tid, cgroup) must be zero: they ask for what a sandbox has not.
  for (uint64_t off = sizeof(CloneArgs); off + 8 <= a.a[1]; off += 8) {
    auto v = k.mem.ReadObject<uint64_t>(a.a[0] + off);
    if (!v) return -EFAULT;
    if (*v) return -EINVAL;
  }
  if (ca->exit_signal != 0 && (ca->flags & CLONE_THREAD)) return -EINVAL;
  if (ca->stack_size > kGuestAddressLimit || ca->stack > kGuestAddressLimit - ca->stack_size)
    return -EINVAL;
  const uint64_t sp = ca->stack ? ca->stack + ca->stack_size : 0;
  return CloneThread(k, ca->flags, sp, ca->parent_tid, ca->child_tid, ca->tls);
}

SyscallResult SysGetRobustList(SandboxKernel& k, const SyscallArgs& a) {
  const state::Thread* t = &k.thread();
  if (a.a[0] != 0) {
    t = nullptr;
    for (const state::Thread& th : k.s.threads)
      if (th.tid == static_cast<int32_t>(a.a[0])) t = &th;
    if (!t) return -ESRCH;
  }
  if (!k.mem.WriteObject(a.a[1], t->robust_list)) return -EFAULT;
  const uint64_t len = t->robust_list_len ? t->robust_list_len : 24;
  return k.mem.WriteObject(a.a[2], len) ? 0 : -EFAULT;
}

constexpr int64_t kNsPerSec = 1000000000;

// A futex timeout as host CLOCK_MONOTONIC ns (0: none). Relative for FUTEX_WAIT; absolute
// for the bitset wait, on the guest's monotonic clock or, with FUTEX_CLOCK_REALTIME, on
// CLOCK_REALTIME.
Result<int64_t> FutexDeadline(SandboxKernel& k, uint64_t addr, bool absolute, bool realtime) {
  if (!addr) return int64_t{0};
  TRY(timespec ts, k.mem.ReadObject<timespec>(addr));
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= kNsPerSec)
    return Fail(EINVAL, "bad timespec");
  const int64_t ns =
      std::min<int64_t>(ts.tv_sec, INT64_MAX / kNsPerSec - 1) * kNsPerSec + ts.tv_nsec;
  const int64_t now = MonotonicNowNs();
  int64_t host;
  if (!absolute) {
    host = now + ns;
  } else if (realtime) {
    timespec real{};
    clock_gettime(CLOCK_REALTIME, &real);
    host = now + (ns - (real.tv_sec * kNsPerSec + real.tv_nsec));
  } else {
    host = ns - k.s.clocks.monotonic_offset_ns;
  }
  return std::max<int64_t>(host, 1);  // a deadline in the past: times out at once
}

// FUTEX_OP_* encoded in val3: op(4) cmp(4) oparg(12) cmparg(12).
Result<bool> WakeOp(SandboxKernel& k, uint64_t addr, uint32_t encoded) {
  const uint32_t op = (encoded >> 28) & 0xf, cmp = (encoded >> 24) & 0xf;
  int32_t oparg = static_cast<int32_t>(encoded << 8) >> 20;
  const int32_t cmparg = static_cast<int32_t>(encoded << 20) >> 20;
  if (op & FUTEX_OP_OPARG_SHIFT) {
    if (oparg < 0 || oparg > 31) return Fail(EINVAL, "bad shift");
    oparg = static_cast<int32_t>(1u << oparg);
  }
  // Read, change and write back while the guest's other threads may run: not atomic against
  // them (glibc >= 2.25 and musl do not use FUTEX_WAKE_OP; this serves older binaries). A
  // read-only word fails the write: EFAULT, as Linux.
  TRY(uint32_t old, k.mem.ReadObject<uint32_t>(addr));
  uint32_t fresh;
  switch (op & 7) {
    case FUTEX_OP_SET:
      fresh = static_cast<uint32_t>(oparg);
      break;
    case FUTEX_OP_ADD:
      fresh = old + static_cast<uint32_t>(oparg);
      break;
    case FUTEX_OP_OR:
      fresh = old | static_cast<uint32_t>(oparg);
      break;
    case FUTEX_OP_ANDN:
      fresh = old & ~static_cast<uint32_t>(oparg);
      break;
    case FUTEX_OP_XOR:
      fresh = old ^ static_cast<uint32_t>(oparg);
      break;
    default:
      return Fail(ENOSYS, "bad futex op");
  }
  TRY_STATUS(k.mem.WriteObject(addr, fresh));
  const int32_t o = static_cast<int32_t>(old);
  switch (cmp) {
    case FUTEX_OP_CMP_EQ:
      return o == cmparg;
    case FUTEX_OP_CMP_NE:
      return o != cmparg;
    case FUTEX_OP_CMP_LT:
      return o < cmparg;
    case FUTEX_OP_CMP_LE:
      return o <= cmparg;
    case FUTEX_OP_CMP_GT:
      return o > cmparg;
    case FUTEX_OP_CMP_GE:
      return o >= cmparg;
    default:
      return Fail(ENOSYS, "bad futex comparison");
  }
}

int NrOf(uint64_t v) {
  const int64_t n = static_cast<int32_t>(v);
  return n < 0 ? INT32_MAX : static_cast<int>(n);  // Linux takes a negative count as "all"
}

SyscallResult SysFutex(SandboxKernel& k, const SyscallArgs& a) {
  const uint64_t addr = a.a[0];
  const int raw = static_cast<int>(a.a[1]);
  const int op = raw & FUTEX_CMD_MASK;
  const bool realtime = raw & FUTEX_CLOCK_REALTIME;
  const uint32_t val = static_cast<uint32_t>(a.a[2]);
  // FUTEX_PRIVATE_FLAG changes nothing: the sandbox's futexes are all one address space's.
  if (addr % 4) return -EINVAL;
  if (realtime && op != FUTEX_WAIT_BITSET && op != FUTEX_WAIT) return -ENOSYS;
  switch (op) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
      const uint32_t bits = op == FUTEX_WAIT ? ~0u : static_cast<uint32_t>(a.a[5]);
      if (bits == 0) return -EINVAL;
      auto deadline = FutexDeadline(k, a.a[3], op == FUTEX_WAIT_BITSET, realtime);
      if (!deadline) return Errno(deadline.error());
      auto v = k.mem.ReadObject<uint32_t>(addr);
      if (!v) return -EFAULT;
      if (*v != val) return -EAGAIN;
      // The only thread waiting without a timeout would sleep forever: nothing but a signal
      // could wake it, and a single-threaded program cannot mean that.
      if (k.tasks.live() == 1 && *deadline == 0 && k.signal_rt.wake_ns == 0) return -EDEADLK;
      k.tasks.Park(k.tasks.futex, addr, bits, *deadline, -ETIMEDOUT,
                   {a.nr, {a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]}});
      return SyscallResult::Block();
    }
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET: {
      const uint32_t bits = op == FUTEX_WAKE ? ~0u : static_cast<uint32_t>(a.a[5]);
      if (bits == 0) return -EINVAL;
      return k.tasks.futex.Wake(addr, NrOf(a.a[2]), bits, 0);
    }
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE: {
      const uint64_t addr2 = a.a[4];
      if (addr2 % 4) return -EINVAL;
      if (static_cast<int32_t>(a.a[2]) < 0 || static_cast<int32_t>(a.a[3]) < 0) return -EINVAL;
      if (op == FUTEX_CMP_REQUEUE) {
        auto v = k.mem.ReadObject<uint32_t>(addr);
        if (!v) return -EFAULT;
        if (*v != static_cast<uint32_t>(a.a[5])) return -EAGAIN;
      }
      const int woken = k.tasks.futex.Wake(addr, NrOf(a.a[2]), ~0u, 0);
      const int moved = addr2 == addr ? 0 : k.tasks.futex.Requeue(addr, addr2, NrOf(a.a[3]));
      return woken + moved;
    }
    case FUTEX_WAKE_OP: {
      const uint64_t addr2 = a.a[4];
      if (addr2 % 4) return -EINVAL;
      auto second = WakeOp(k, addr2, static_cast<uint32_t>(a.a[5]));
      if (!second) return Errno(second.error());
      int woken = k.tasks.futex.Wake(addr, NrOf(a.a[2]), ~0u, 0);
      if (*second) woken += k.tasks.futex.Wake(addr2, NrOf(a.a[3]), ~0u, 0);
      return woken;
    }
    default:
      // PI futexes and FUTEX_WAIT_REQUEUE_PI: libc falls back or fails cleanly.
      return -ENOSYS;
  }
}

}  // namespace

void RegisterThreadSyscalls(SyscallHandler* t) {
  t[SYS_clone] = SysClone;
  t[SYS_clone3] = SysClone3;
  t[SYS_get_robust_list] = SysGetRobustList;
  t[SYS_futex] = SysFutex;
}

}  // namespace cat
