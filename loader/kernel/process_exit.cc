// A guest process's end and what it sets off: its tasks end, its fds close (a pipe whose last
// writer it was reads EOF in the other process), its children go to init, it becomes a zombie
// with its wait status, its parent gets SIGCHLD and its parent's waits complete. The sandbox's
// init (the first process) ending ends the guest, and every other process with it (Linux: a
// pid namespace dies with its init). Also: signals to other processes, and teardown.
#include <signal.h>
#include <sys/wait.h>

#include <climits>
#include <vector>

#include "loader/kernel/process_ops.h"
#include "loader/kernel/signal_delivery.h"

namespace cat {
namespace {

bool IsInit(const GuestProcess& p) {
  return p.ppid == 0;
}

GuestProcess* InitProcess(ProcessTable& procs) {
  for (auto& p : procs.all())
    if (IsInit(*p)) return p.get();
  return nullptr;
}

void SetParent(SandboxKernel& k, GuestProcess& child, int32_t ppid) {
  child.ppid = ppid;
  if (&child == &k.procs.current())
    k.s.process.ppid = ppid;
  else
    child.parked.process.ppid = ppid;
}

// Frees a parked process's per-process state (its open files lose a reference each).
void ReleaseSlot(SandboxKernel& k, ProcessSlot& slot) {
  for (state::FdEntry& e : slot.fds.entries)
    if (e.file) k.files.Unref(e.file);
  slot.fds.entries.Release();
  slot.memory.vmas.Release();
  slot.threads.Release();
  slot.process.cwd.Release();
  slot.process.exe.Release();
  for (state::PString& p : slot.argv) p.Release();
  for (state::PString& p : slot.envp) p.Release();
  slot.argv.Release();
  slot.envp.Release();
  slot.auxv.Release();
}

}  // namespace

int64_t SendSignalToProcess(SandboxKernel& k, GuestProcess& p, const state::PendingSignal& sig) {
  if (p.zombie) return 0;  // Linux: a zombie accepts (and ignores) signals
  GuestProcess& self = k.procs.current();
  if (&p == &self) return SendSignal(k, sig);
  // Queue it in p's own signal state: swap p in, queue, swap back. Delivery happens when one
  // of p's tasks next stops (the run loop ends a parked one's wait when its signal is pending).
  // SwitchProcess selects a process's first thread: the caller's thread is selected again.
  const int32_t caller = k.thread().tid;
  k.SwitchProcess(p);
  const int64_t r = SendSignal(k, sig);
  k.SwitchProcess(self);
  (void)k.SelectThread(caller);
  return r;
}

SyscallResult BlockInWait(SandboxKernel& k, const SyscallArgs& a) {
  const SyscallArgsCopy copy{a.nr, {a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]}};
  k.tasks.Park(k.procs.child_waits, static_cast<uint64_t>(k.procs.current().pid), ~0u, 0, 0, copy);
  return SyscallResult::Block();
}

// Lets `parent`'s waits in wait4/waitid run again: one of its children has just ended.
void WakeChildWaits(SandboxKernel& k, const GuestProcess& parent) {
  k.procs.child_waits.Wake(static_cast<uint64_t>(parent.pid), INT32_MAX, ~0u, kRetrySyscall);
}

void SandboxKernel::EndProcess(int wait_status) {
  GuestProcess& p = procs.current();
  if (p.zombie) return;
  if (IsInit(p)) {
    end_ = WIFEXITED(wait_status) ? GuestEnd{GuestEnd::Kind::kExited, WEXITSTATUS(wait_status)}
                                  : GuestEnd{GuestEnd::Kind::kSignaled, WTERMSIG(wait_status)};
    return;
  }
  for (auto& tp : tasks.all()) {
    Task& t = *tp;
    if (t.shell != p.shell || t.run == Task::Run::kExited) continue;
    if (t.queue) t.queue->Remove(t.waiter);
    t.queue = nullptr;
    t.run = Task::Run::kExited;
  }
  files.CloseAll();
  p.zombie = true;
  p.wait_status = wait_status;
  GuestProcess* init = InitProcess(procs);
  for (auto& c : procs.all())
    if (c->ppid == p.pid && init) SetParent(*this, *c, init->pid);
  GuestProcess* parent = procs.Find(p.ppid);
  if (!parent) return;
  // A parent that ignores SIGCHLD (SIG_IGN or SA_NOCLDWAIT) has its children reaped at once.
  // (p is current, so the parent's state is parked.)
  const state::SignalAction& act = parent->parked.process.signal_actions[SIGCHLD - 1];
  const bool autoreap =
      act.handler == reinterpret_cast<uint64_t>(SIG_IGN) || (act.flags & SA_NOCLDWAIT);
  const int code = WIFEXITED(wait_status) ? CLD_EXITED : CLD_KILLED;
  state::PendingSignal chld = MakeSignal(SIGCHLD, code, p.pid, s.process.uid);
  chld.value = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : WTERMSIG(wait_status);
  (void)SendSignalToProcess(*this, *parent, chld);
  // Nobody's child now: swept from the table once it is no longer current.
  if (autoreap) p.ppid = -1;
  WakeChildWaits(*this, *parent);
  // Orphaned zombies (ours, now init's) may complete init's waits too.
  if (init && init != parent) WakeChildWaits(*this, *init);
  // Readers of pipes it held the last write end of see EOF now.
  io_waits.Wake(0, INT32_MAX, ~0u, kRetrySyscall);
}

void SandboxKernel::ReapProcess(int32_t pid) {
  GuestProcess* p = procs.Find(pid);
  if (!p || p == &procs.current()) return;
  tasks.ForgetShell(p->shell);
  ReleaseSlot(*this, p->parked);
  procs.Remove(pid);  // its shell (a forked one) goes with it
}

void SandboxKernel::SweepReaped() {
  std::vector<int32_t> gone;
  for (auto& p : procs.all())
    if (p->zombie && p->ppid == -1 && p.get() != &procs.current()) gone.push_back(p->pid);
  for (int32_t pid : gone) ReapProcess(pid);
}

SandboxKernel::~SandboxKernel() {
  for (auto& p : procs.all())
    if (p.get() != &procs.current()) ReleaseSlot(*this, p->parked);
  // The forked shells go before the tasks that name them.
  for (auto& p : procs.all())
    if (p->owned_shell) tasks.ForgetShell(p->shell);
}

}  // namespace cat
