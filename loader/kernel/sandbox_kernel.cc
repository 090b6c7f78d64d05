// Syscall dispatch and the helpers every syscall family shares.
#include "loader/kernel/sandbox_kernel.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>

#include <array>
#include <cstdio>

#include "loader/kernel/io_wait.h"
#include "loader/kernel/syscall_names.h"

namespace cat {
namespace {

const std::array<SyscallHandler, kSyscallTableSize>& Table() {
  static const std::array<SyscallHandler, kSyscallTableSize> table = [] {
    std::array<SyscallHandler, kSyscallTableSize> t{};
    RegisterFileIoSyscalls(t.data());
    RegisterPathSyscalls(t.data());
    RegisterMemorySyscalls(t.data());
    RegisterProcessSyscalls(t.data());
    RegisterTimeSyscalls(t.data());
    RegisterSocketSyscalls(t.data());
    RegisterPollSyscalls(t.data());
    RegisterEventFdSyscalls(t.data());
    RegisterEpollSyscalls(t.data());
    RegisterSignalSyscalls(t.data());
    RegisterTimerSyscalls(t.data());
    RegisterThreadSyscalls(t.data());
    RegisterExecSyscalls(t.data());
    RegisterProcessTreeSyscalls(t.data());
    RegisterForkSyscalls(t.data());
    return t;
  }();
  return table;
}

}  // namespace

std::vector<uint64_t> SupportedSyscalls() {
  std::vector<uint64_t> out;
  for (uint64_t nr = 0; nr < kSyscallTableSize; ++nr)
    if (Table()[nr]) out.push_back(nr);
  return out;
}

SandboxKernel::SandboxKernel(state::SandboxState& state, Shell& sh, HostBindings host, Logger log)
    : s(state),
      shell_switch(sh),
      shell(shell_switch),
      bindings(std::move(host)),
      mem(shell_switch),
      mm(state.memory, shell_switch),
      vfs(state),
      shared_maps(state.memory, shell_switch, vfs.budget()),
      files(state, vfs, bindings, deadline, wakeup, log),
      log_(std::move(log)) {
  vfs.procfs().set_cpu_time([this] { return shell.CpuTimeNs(); });
  vfs.procfs().set_instance_id(instance_id);
  // The first task: vCPU 0 of the shell, the state's first thread (a restored snapshot's
  // func-entry thread is selected later, SelectThread).
  tasks.Add(sh, 0, state.threads.size ? state.threads[0].tid : state.process.pid);
  procs.Init(state.process.pid, sh);
  mm.set_shared_maps(&shared_maps);
  files.set_shared_maps(&shared_maps);
  files.set_locks(&locks);
  files.set_park_instead_of_blocking([this] { return tasks.live() > 1; });
  unix_in_flight.unref = [this](state::OpenFile* f) { files.Unref(f); };
  vfs.overlay().set_release_hook([this](const state::Inode* inode) { shared_maps.Forget(inode); });
  shared_maps.Adopt(state);
}

void SandboxKernel::SwitchProcess(GuestProcess& p) {
  GuestProcess& from = procs.current();
  if (&p == &from) return;
  SwapProcessState(s, from.parked);  // s is empty now, `from`'s state parked
  SwapProcessState(s, p.parked);
  procs.set_current(p);
  shell_switch.set_target(*p.shell);
  files.FdTableSwapped();
  current_thread_ = 0;
}

Status SandboxKernel::SelectThread(int32_t tid) {
  for (uint32_t i = 0; i < s.threads.size; ++i)
    if (s.threads[i].tid == tid) {
      current_thread_ = i;
      if (tasks.size() == 1) tasks.current().tid = tid;  // the one task is that thread
      return {};
    }
  return Fail(ESRCH, "no thread " + std::to_string(tid) + " in the kernel state");
}

void SandboxKernel::LogUnsupported(uint64_t nr) {
  if (logged_unsupported_.size() < 64 && logged_unsupported_.insert(nr).second)
    Log("guest called unsupported syscall " + std::to_string(nr) + " (" +
        std::string(SyscallName(nr)) + "): returning ENOSYS");
}

int64_t SandboxKernel::RaiseSignal(int sig) {
  return SendSignal(*this, MakeSignal(sig, SI_USER, s.process.pid, s.process.uid));
}

bool SandboxKernel::IsFuncEntry(const SyscallArgs& args) {
  if (args.nr == kCatFuncEntrySyscall) return entry_mode_ != EntryMode::kNone;
  if (entry_mode_ != EntryMode::kAuto) return false;
  const bool poll = args.nr == SYS_poll || args.nr == SYS_ppoll || args.nr == SYS_select ||
                    args.nr == SYS_pselect6;
  if (poll ? !PollWaitsForRequest(*this, args) : args.a[0] != 0) return false;
  if (!poll && args.nr != SYS_read && args.nr != SYS_readv && args.nr != SYS_pread64 &&
      args.nr != SYS_preadv && args.nr != SYS_preadv2)
    return false;
  // Only the request channel counts: fd 0 still being catload's stdin.
  auto f = files.Get(0);
  return f && (*f)->kind == state::FileKind::kStdio &&
         (*f)->channel == state::StdioChannel::kRequest;
}

void SandboxKernel::HandleSyscall() {
  const GuestRegs& r = shell.regs();
  SyscallArgs args{r.orig_rax, {r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9}};
  if (IsFuncEntry(args)) {
    entry_explicit_ = args.nr == kCatFuncEntrySyscall;
    entry_regs_ = r;
    if (entry_explicit_) {
      entry_regs_.rax = 0;  // cat_func_entry returns 0 in the restored instance
    } else {
      entry_regs_.rip -= 2;  // back onto the 2-byte `syscall`: the read runs after restore
      entry_regs_.rax = args.nr;
    }
    entry_regs_.orig_rax = ~0ull;
    end_ = {GuestEnd::Kind::kFuncEntry, 0};
    return;
  }
  // Two shared mappings of one file show each other's stores from the next syscall on.
  if (shared_maps.aliased()) [[unlikely]]
    (void)shared_maps.SyncAliases();
  SyscallResult out = -ENOSYS;
  if (args.nr == kCatFuncEntrySyscall) {
    out = 0;  // not capturing: the function simply goes on
  } else if (args.nr < kSyscallTableSize && Table()[args.nr]) [[likely]] {
    out = Table()[args.nr](*this, args);
  } else {
    LogUnsupported(args.nr);
  }
  // A failure can be the shell dying under the handler (its memory or mappings gone): that is
  // the sandbox's fault, not an errno the guest should see. Checked on failures only, so a
  // succeeding call pays nothing.
  if (out.value < 0 && out.control == SyscallControl::kContinue && !shell.Alive()) [[unlikely]]
    out = SyscallResult::SandboxFault(static_cast<int>(-out.value));
  const int64_t result = out.value;
  if (trace_) {
    char line[256];
    std::snprintf(
        line, sizeof(line), "trace: %s(%#llx, %#llx, %#llx, %#llx) = %lld",
        std::string(SyscallName(args.nr)).c_str(), static_cast<unsigned long long>(args.a[0]),
        static_cast<unsigned long long>(args.a[1]), static_cast<unsigned long long>(args.a[2]),
        static_cast<unsigned long long>(args.a[3]), static_cast<long long>(result));
    Log(line);
  }
  if (out.control == SyscallControl::kContinue) [[likely]] {
    shell.SetSyscallResult(result);
    RetryIoWaiters(*this);
    // Signals pending or a timer armed (a rare state): deliver on the way back to the guest.
    if (SignalWorkPending(s.signals, signal_rt)) [[unlikely]]
      SignalsAtSyscallExit(*this, args, result);
    return;
  }
  ApplyControl(out, args);
  if (out.control != SyscallControl::kBlock) RetryIoWaiters(*this);
  // A restarted syscall: a handler's frame saves the restart, so it is issued again after it.
  // A parked or ended thread takes no signal now (a parked one at the end of its wait).
  if (running() && out.control == SyscallControl::kRestart &&
      SignalWorkPending(s.signals, signal_rt))
    SignalsAtSyscallExit(*this, args, 0);
}

void SandboxKernel::ApplyControl(const SyscallResult& out, const SyscallArgs& args) {
  switch (out.control) {
    case SyscallControl::kContinue:
      shell.SetSyscallResult(out.value);
      return;
    case SyscallControl::kExitThread:
      // The last thread ending ends the process with its status (Linux's exit of the last
      // thread); any other ends only the calling thread.
      ExitThread(static_cast<int>(out.value));
      return;
    case SyscallControl::kExitGroup:
      Exit(static_cast<int>(out.value));
      return;
    case SyscallControl::kRestart: {
      // Back onto the 2-byte `syscall` with the number in rax: the thread issues it again.
      GuestRegs r = shell.regs();
      r.rip -= 2;
      r.rax = args.nr;
      shell.SetRegs(r);
      return;
    }
    case SyscallControl::kBlock:
      // The handler parked the current task (TaskTable::Park): the run loop resumes it when
      // its wait ends. A Block() without a park is a kernel bug, reported as a fault.
      if (tasks.size() > 0 && tasks.current().run == Task::Run::kParked) return;
      Log("sandbox kernel: syscall " + std::string(SyscallName(args.nr)) +
          " blocked the only thread; ending the guest");
      end_ = {GuestEnd::Kind::kSandboxFault, EDEADLK};
      return;
    case SyscallControl::kSandboxFault:
      end_ = {GuestEnd::Kind::kSandboxFault, static_cast<int>(out.value)};
      return;
  }
}

void SandboxKernel::SwitchTo(Task& t) {
  // A task of another guest process: that process's state and shell first (process_table.h).
  if (t.shell != procs.current().shell) [[unlikely]]
    if (GuestProcess* p = procs.FindByShell(t.shell)) SwitchProcess(*p);
  tasks.SetCurrent(t);
  t.shell->SelectVcpu(t.vcpu);
  if (thread().tid != t.tid) (void)SelectThread(t.tid);
}

void SandboxKernel::FinishBlocked(Task& t, int64_t result) {
  SwitchTo(t);
  t.queue = nullptr;
  t.wake_ns = 0;
  t.run = Task::Run::kReady;
  if (result == kRetrySyscall) {
    // The wait ended because what it waited on changed: the call runs again (tasks.h).
    GuestRegs r = t.shell->regs();
    r.rip -= 2;
    r.rax = t.args.nr;
    t.shell->SetRegs(r);
    return;
  }
  t.retry_end_ns = 0;
  t.shell->SetSyscallResult(result);
  const SyscallArgs args{
      t.args.nr, {t.args.a[0], t.args.a[1], t.args.a[2], t.args.a[3], t.args.a[4], t.args.a[5]}};
  if (SignalWorkPending(s.signals, signal_rt)) SignalsAtSyscallExit(*this, args, result);
}

Result<std::string> SandboxKernel::DirOf(int dirfd) {
  if (dirfd == AT_FDCWD) return std::string(s.process.cwd.view());
  TRY(state::OpenFile * f, files.Get(dirfd));
  if (!f->is_directory) return Fail(ENOTDIR, "dirfd is not a directory");
  return std::string(f->guest_path.view());
}

Result<Node> SandboxKernel::ResolveAt(int dirfd, uint64_t path_addr, bool follow_last,
                                      bool allow_empty) {
  TRY(std::string path, mem.ReadString(path_addr));
  if (path.empty() && allow_empty) {
    // AT_EMPTY_PATH: the file dirfd itself.
    TRY(state::OpenFile * f, files.Get(dirfd));
    if (f->guest_path.size == 0) return Fail(ENOENT, "fd has no path");
    return vfs.Resolve("/", f->guest_path.view(), false);
  }
  if (path.empty()) return Fail(ENOENT, "empty path");
  std::string base = "/";
  if (path[0] != '/') {  // dirfd matters only for relative paths
    TRY(base, DirOf(dirfd));
  }
  return vfs.Resolve(base, path, follow_last);
}

}  // namespace cat
