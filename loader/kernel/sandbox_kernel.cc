// Syscall dispatch and the helpers every syscall family shares.
#include "loader/kernel/sandbox_kernel.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>

#include <array>
#include <cstdio>

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
      shell(sh),
      bindings(std::move(host)),
      mem(sh),
      mm(state.memory, sh),
      vfs(state),
      shared_maps(state.memory, sh, vfs.budget()),
      files(state, vfs, bindings, deadline, wakeup, log),
      log_(std::move(log)) {
  vfs.procfs().set_cpu_time([this] { return shell.CpuTimeNs(); });
  vfs.procfs().set_instance_id(instance_id);
  mm.set_shared_maps(&shared_maps);
  files.set_shared_maps(&shared_maps);
  files.set_locks(&locks);
  unix_in_flight.unref = [this](state::OpenFile* f) { files.Unref(f); };
  vfs.overlay().set_release_hook([this](const state::Inode* inode) { shared_maps.Forget(inode); });
  shared_maps.Adopt(state);
}

Status SandboxKernel::SelectThread(int32_t tid) {
  for (uint32_t i = 0; i < s.threads.size; ++i)
    if (s.threads[i].tid == tid) {
      current_thread_ = i;
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
    // Signals pending or a timer armed (a rare state): deliver on the way back to the guest.
    if (SignalWorkPending(s.signals, signal_rt)) [[unlikely]]
      SignalsAtSyscallExit(*this, args, result);
    return;
  }
  ApplyControl(out, args);
  // A restarted syscall: a handler's frame saves the restart, so it is issued again after it.
  if (running() && SignalWorkPending(s.signals, signal_rt)) SignalsAtSyscallExit(*this, args, 0);
}

void SandboxKernel::ApplyControl(const SyscallResult& out, const SyscallArgs& args) {
  switch (out.control) {
    case SyscallControl::kContinue:
      shell.SetSyscallResult(out.value);
      return;
    case SyscallControl::kExitThread:
      // The last thread ending ends the process with its status (Linux's exit of the last
      // thread). Threads do not run yet (issue 9, step 4), so every exit is the last one; with
      // several, this ends only the calling thread (clear_child_tid, robust list, reaping).
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
      // Nothing blocks without a second thread to wake it (wait_queue.h): a handler of a
      // single-threaded guest waits in place. Reaching here is a kernel bug, reported as a fault.
      Log("sandbox kernel: syscall " + std::string(SyscallName(args.nr)) +
          " blocked the only thread; ending the guest");
      end_ = {GuestEnd::Kind::kSandboxFault, EDEADLK};
      return;
    case SyscallControl::kSandboxFault:
      end_ = {GuestEnd::Kind::kSandboxFault, static_cast<int>(out.value)};
      return;
  }
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
