// fork, vfork and clone without CLONE_VM/CLONE_THREAD: a new guest process. Its address space
// is a copy-on-write copy of the parent's made by the host (Shell::Fork: on ptrace a new shell
// process forked from the parent's), its per-process state a copy of the parent's (the memory
// map and fd table copied, every open-file description shared with one more reference, the
// signal actions kept, pending signals and timers cleared), and its one thread a new task of
// the same run loop (tasks.h). The processes share the overlay, mounts and open files
// (process_table.h).
//
// vfork and posix_spawn's clone(CLONE_VM | CLONE_VFORK) are run as a fork: the child gets a
// copy-on-write copy instead of the parent's memory, which every program that only execs or
// _exits after vfork (what POSIX allows) cannot tell, and the parent is not suspended (it
// cannot observe that either, except by timing). The one visible difference: glibc's
// posix_spawn learns an exec failure through memory it shares with the child, so here it
// reports success and the child exits 127 (what a shell's fork+exec reports too).
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "loader/kernel/process_ops.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

template <class T>
state::PArray<T> CopyArray(const state::PArray<T>& from) {
  state::PArray<T> out{};
  out.Reserve(from.size);
  if (from.size) std::memcpy(static_cast<void*>(out.data), from.data, sizeof(T) * from.size);
  out.size = from.size;
  return out;
}

state::PString CopyString(const state::PString& from) {
  state::PString out{};
  out.Assign(from.view());
  return out;
}

state::PArray<state::PString> CopyStrings(const state::PArray<state::PString>& from) {
  state::PArray<state::PString> out{};
  for (const state::PString& p : from) out.PushBack(CopyString(p));
  return out;
}

// The child's per-process state: a copy of the current process's, for pid `pid`.
ProcessSlot ChildState(SandboxKernel& k, int32_t pid) {
  ProcessSlot c;
  c.process = k.s.process;
  c.process.cwd = CopyString(k.s.process.cwd);
  c.process.exe = CopyString(k.s.process.exe);
  c.process.pid = pid;
  c.process.ppid = k.s.process.pid;
  c.process.next_tid = pid + 1;
  state::Thread t = k.thread();
  t.tid = pid;
  t.run_state = state::ThreadRunState::kRunnable;
  t.clear_child_tid = 0;
  t.robust_list = t.robust_list_len = 0;  // glibc sets it again in the child
  c.threads.PushBack(t);
  c.memory = k.s.memory;
  c.memory.vmas = CopyArray(k.s.memory.vmas);
  c.fds = k.s.fds;
  c.fds.entries = CopyArray(k.s.fds.entries);
  for (const state::FdEntry& e : c.fds.entries)
    if (e.file) Files::Ref(e.file);
  c.signals = state::SignalState{};  // pending signals and timers are not inherited
  c.argv = CopyStrings(k.s.argv);
  c.envp = CopyStrings(k.s.envp);
  c.auxv = CopyArray(k.s.auxv);
  return c;
}

int64_t DoFork(SandboxKernel& k, uint64_t flags, uint64_t child_stack, uint64_t ptid, uint64_t ctid,
               uint64_t tls) {
  // What a new process can be given here: its own copy of everything. Sharing the fd table,
  // the fs context or signal handlers between processes (CLONE_FILES, CLONE_FS,
  // CLONE_SIGHAND) is not supported.
  constexpr uint64_t kSupported = CSIGNAL | CLONE_VM | CLONE_VFORK | CLONE_SETTLS |
                                  CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
  if (flags & ~kSupported) {
    k.LogOnce("clone: flags " + std::to_string(flags & ~kSupported) +
              " for a new process are not supported: EINVAL");
    return -EINVAL;
  }
  if ((flags & CLONE_VM) && !(flags & CLONE_VFORK)) {
    k.LogOnce("clone: CLONE_VM without CLONE_THREAD or CLONE_VFORK is not supported: EINVAL");
    return -EINVAL;
  }
  if (child_stack >= kGuestAddressLimit || tls >= kGuestAddressLimit) return -EINVAL;
  k.SweepReaped();  // children of a parent that ignores SIGCHLD leave no zombie
  if (k.procs.size() >= k.procs.max_procs()) {
    ++k.procs.refusals;
    k.LogOnce("fork: the guest has " + std::to_string(k.procs.max_procs()) +
              " processes, its limit (--max-procs): fork fails with EAGAIN");
    return -EAGAIN;
  }
  const int32_t pid = k.procs.NextPid(k.s.process.next_tid - 1);
  GuestProcess* child = k.procs.Add(pid);
  // The child resumes where the parent is, with 0 in rax, on its own stack if given one.
  const GuestRegs parent = k.shell.regs();
  GuestRegs regs = parent;
  regs.rax = 0;
  regs.orig_rax = ~0ull;  // not at a syscall: nothing to restart
  if (child_stack) regs.rsp = child_stack;
  if (flags & CLONE_SETTLS) regs.fs_base = tls;
  k.shell.SetRegs(regs);
  auto shell = k.shell.Fork();
  k.shell.SetRegs(parent);
  if (!shell) {
    k.ReapProcess(pid);
    // The kvm platform has no second address space yet: ENOSYS, as for an unsupported call.
    k.LogOnce("fork: the platform could not make a shell for a new process: " +
              shell.error().message());
    return shell.error().code() == ENOSYS ? -ENOSYS : -EAGAIN;
  }
  child->owned_shell = std::move(*shell);
  child->shell = child->owned_shell.get();
  child->parked = ChildState(k, pid);
  if (flags & CLONE_CHILD_CLEARTID) child->parked.threads[0].clear_child_tid = ctid;
  if (flags & CLONE_CHILD_SETTID) (void)child->shell->Write(ctid, &pid, sizeof(pid));
  if (flags & CLONE_PARENT_SETTID) (void)k.mem.WriteObject(ptid, pid);
  k.tasks.Add(*child->shell, 0, pid);
  return pid;
}

SyscallResult SysFork(SandboxKernel& k, const SyscallArgs&) {
  return DoFork(k, SIGCHLD, 0, 0, 0, 0);
}
SyscallResult SysVfork(SandboxKernel& k, const SyscallArgs&) {
  return DoFork(k, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0);
}

}  // namespace

int64_t CloneProcess(SandboxKernel& k, uint64_t flags, uint64_t stack, uint64_t parent_tid,
                     uint64_t child_tid, uint64_t tls) {
  return DoFork(k, flags, stack, parent_tid, child_tid, tls);
}

void RegisterForkSyscalls(SyscallHandler* t) {
  t[SYS_fork] = SysFork;
  t[SYS_vfork] = SysVfork;
}

}  // namespace cat
