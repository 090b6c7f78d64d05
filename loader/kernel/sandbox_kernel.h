// The sandbox kernel: emulates the Linux syscall ABI for one guest, on the persistent state
// (format/state) and a platform shell. It never lets a guest syscall reach the host: every
// handler below works on catload's own objects and touches host files only through the Vfs.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "format/state/sandbox_state.h"
#include "loader/kernel/file_locks.h"
#include "loader/kernel/files.h"
#include "loader/kernel/guest_memory.h"
#include "loader/kernel/host_bindings.h"
#include "loader/kernel/instance_id.h"
#include "loader/kernel/logger.h"
#include "loader/kernel/memory_manager.h"
#include "loader/kernel/output_budget.h"
#include "loader/kernel/process_table.h"
#include "loader/kernel/shared_file_maps.h"
#include "loader/kernel/shell_switch.h"
#include "loader/kernel/signal_delivery.h"
#include "loader/kernel/syscall_result.h"
#include "loader/kernel/tasks.h"
#include "loader/kernel/unix_socket.h"
#include "loader/kernel/vfs.h"
#include "loader/kernel/wait_queue.h"
#include "loader/platform/platform.h"

namespace cat {

// The reserved syscall a function calls where its initialization ends (sdk/catalyzer.h).
// Not a Linux syscall: natively it fails with ENOSYS, so the same binary runs outside too.
constexpr uint64_t kCatFuncEntrySyscall = 0xca7;

// Which func-entry point a capture waits for.
enum class EntryMode {
  kNone,      // not capturing: cat_func_entry is a no-op returning 0
  kAuto,      // cat_func_entry, or else the first read of fd 0 (the request channel)
  kExplicit,  // only cat_func_entry
};

class UnixListener;  // unix_socket.h

struct SyscallArgs {
  uint64_t nr;
  uint64_t a[6];
};

// How the guest ended, once it has.
struct GuestEnd {
  // kFuncEntry: the guest reached its func-entry point while the kernel was watching for it
  // (capture); it is stopped there and its registers are in SandboxKernel::entry_regs().
  // kSandboxFault: the sandbox failed under the guest (its shell died mid-syscall, ...): not
  // the guest's doing and never shown to it as an errno; `status` is the host errno.
  enum class Kind { kRunning, kExited, kSignaled, kFuncEntry, kSandboxFault } kind = Kind::kRunning;
  int status = 0;  // exit status, the signal number for kSignaled, an errno for kSandboxFault
};

class SandboxKernel {
 public:
  using Logger = cat::Logger;  // carries the invocation id (logger.h)
  // `bindings` are the host objects this guest may reach (host_bindings.h): the caller's,
  // never the state's.
  SandboxKernel(state::SandboxState& state, Shell& shell, HostBindings bindings, Logger log);
  // Frees the per-process state of the processes not current (the current one's is `s`,
  // released by its owner).
  ~SandboxKernel();

  // Emulates the syscall the guest is stopped at and applies the handler's control: stores the
  // result in rax (continue), re-issues the call (restart) or ends the thread or the guest.
  void HandleSyscall();

  const GuestEnd& end() const { return end_; }
  bool running() const { return end_.kind == GuestEnd::Kind::kRunning; }
  // Ends the guest as if killed by `sig`.
  // In a guest process other than the sandbox's init only that process ends (EndProcess).
  void Kill(int sig) {
    if (procs.single()) [[likely]]
      end_ = {GuestEnd::Kind::kSignaled, sig};
    else
      EndProcess(sig & 0x7f);
  }
  // A signal the kernel sends the guest (SIGPIPE from a write without reader, SIGXFSZ past
  // --max-output): queued and delivered on the way back to the guest (signal_delivery.h).
  // Returns 0, or -EINVAL for a bad signal number.
  int64_t RaiseSignal(int sig);

  // The thread whose syscall is being handled (per-thread state: tid, signal mask, altstack,
  // clear_child_tid, robust list). An index, not a pointer: clone may grow s.threads.
  state::Thread& thread() { return s.threads[current_thread_]; }
  const state::Thread& thread() const { return s.threads[current_thread_]; }
  // Makes thread `tid` the current one (a restored snapshot resumes the thread that reached the
  // func-entry point). ESRCH if the state has no such thread.
  Status SelectThread(int32_t tid);

  state::SandboxState& s;
  // What `shell` refers to: the current guest process's shell (shell_switch.h). Before shell.
  ShellSwitch shell_switch;
  Shell& shell;
  // Drawn afresh for every kernel, that is for every instance (exec, capture, each boot from a
  // snapshot): never part of the state, so never shared through a snapshot (instance_id.h).
  const InstanceId instance_id = InstanceId::Fresh();
  const HostBindings bindings;  // before vfs and files, which refer to it
  GuestMemory mem;
  MemoryManager mm;
  Vfs vfs;
  // MAP_SHARED overlay mappings kept coherent with their files; after vfs (its budget).
  SharedFileMaps shared_maps;
  Deadline deadline;
  OutputBudget output;  // --max-output, set by the run loop
  // Where the tracer thread blocks for this guest (wait_queue.h); Wake() from any thread ends
  // the wait. Before files, which block on it.
  Wakeup wakeup;
  // Files passed over AF_UNIX sockets and not yet received (unix_socket.h); before files,
  // whose sockets drop them when they go.
  UnixInFlight unix_in_flight;
  Files files;
  // fcntl byte-range locks of every file in the sandbox (file_locks.h, sys_lock.cc).
  FileLocks locks;
  // The sandbox's own AF_UNIX name space (sys_socket.cc): bound names, held weakly by it.
  std::map<std::string, std::weak_ptr<UnixListener>> unix_names;
  // The guest's tasks (tasks.h): the run loop schedules them, clone/exit/futex change them.
  TaskTable tasks;
  // Guest threads alive at once at most (clone fails with EAGAIN beyond, logged once).
  uint32_t max_threads = 256;
  // Tasks blocked in a read or write of an in-sandbox pipe or socket (io_wait.cc): retried
  // after every syscall another task makes while any waits.
  WaitQueue io_waits;
  // The guest's processes (process_table.h): pid 1 is the one the boot made. After tasks:
  // destroyed first, so its forked shells go before the task table that names them.
  ProcessTable procs;
  // Makes the kernel act for process `p`: its per-process state swapped into `s`, `shell`
  // pointed at its shell, its first thread selected (process_table.h). No-op if current.
  void SwitchProcess(GuestProcess& p);
  // Whether task t's process has signals pending (its state may be parked: process_table.h).
  bool SignalsPendingFor(const Task& t) {
    if (t.shell == procs.current().shell) [[likely]]
      return s.signals.count != 0;
    const GuestProcess* p = procs.FindByShell(t.shell);
    return p && p->parked.signals.count != 0;
  }
  SignalRuntime signal_rt;  // last: its timer thread interrupts `shell` until it is joined

  void Log(const std::string& line) { log_(line); }
  const Logger& logger() const { return log_; }
  // Requests refused because they would pass the memory limit (mappings, overlay data, pipe
  // buffers), since this kernel started.
  uint64_t memory_limit_refusals() { return mm.limit_refusals() + vfs.budget().refusals(); }
  // Logs `line` once per kernel (a limit reached: one clear line, not one per attempt).
  void LogOnce(const std::string& line) {
    if (logged_once_.insert(line).second) Log(line);
  }
  // Logs "unsupported syscall" once per syscall number.
  void LogUnsupported(uint64_t nr);
  // Logs every syscall with its arguments and result (catload exec --trace).
  void set_trace(bool on) { trace_ = on; }
  void set_entry_mode(EntryMode mode) { entry_mode_ = mode; }
  // Registers to resume from after the func-entry point: past cat_func_entry (returning 0),
  // or at the `syscall` of the first read of fd 0 so that a restored instance re-issues it.
  const GuestRegs& entry_regs() const { return entry_regs_; }
  bool entry_was_explicit() const { return entry_explicit_; }
  void Exit(int status) {
    if (procs.single()) [[likely]]
      end_ = {GuestEnd::Kind::kExited, status & 0xff};
    else
      EndProcess((status & 0xff) << 8);
  }
  // The current guest process ends with `wait_status` (wait(2) encoding): the guest if it is
  // the sandbox's init, else that process only: its tasks end, its fds close, it becomes a
  // zombie, its children go to init, its parent gets SIGCHLD (process_exit.cc).
  void EndProcess(int wait_status);
  // Drops reaped process `pid` and its shell (wait4, waitid, a failed fork).
  void ReapProcess(int32_t pid);
  // Reaps the zombies nobody will wait for (their parent ignores SIGCHLD).
  void SweepReaped();
  // The calling thread ends (exit, or a thread's last act): its clear_child_tid word is
  // zeroed and woken, its robust futexes are released, its task is marked exited; the last
  // thread ending ends the guest with `status` (thread_exit.cc).
  void ExitThread(int status);
  // A parked task's wait ended with `result`: the run loop resumes it (after the syscall-exit
  // work for its blocked call).
  void FinishBlocked(Task& t, int64_t result);
  // Makes the kernel act for task `t` (its thread, its vCPU selected): the run loop, at a stop.
  void SwitchTo(Task& t);

  // Resolves a guest path argument relative to dirfd (AT_FDCWD = cwd) — the *at() calls.
  Result<Node> ResolveAt(int dirfd, uint64_t path_addr, bool follow_last, bool allow_empty = false);
  Result<std::string> DirOf(int dirfd);

 private:
  Logger log_;
  bool IsFuncEntry(const SyscallArgs& args);
  // The non-continue controls, out of the hot path.
  [[gnu::noinline]] void ApplyControl(const SyscallResult& out, const SyscallArgs& args);
  bool trace_ = false;
  uint32_t current_thread_ = 0;
  EntryMode entry_mode_ = EntryMode::kNone;
  GuestRegs entry_regs_{};
  bool entry_explicit_ = false;
  GuestEnd end_;
  std::set<uint64_t> logged_unsupported_;
  std::set<std::string> logged_once_;
};

// A handler returns the syscall's result (>= 0, or -errno) and what happens to the calling
// thread next (syscall_result.h); `return -EINVAL;` means {-EINVAL, continue}.
using SyscallHandler = SyscallResult (*)(SandboxKernel& k, const SyscallArgs& args);

// Registration, one function per family (sys_*.cc).
void RegisterFileIoSyscalls(SyscallHandler* table);
void RegisterPathSyscalls(SyscallHandler* table);
void RegisterMemorySyscalls(SyscallHandler* table);
void RegisterProcessSyscalls(SyscallHandler* table);
void RegisterTimeSyscalls(SyscallHandler* table);
void RegisterSocketSyscalls(SyscallHandler* table);
void RegisterPollSyscalls(SyscallHandler* table);     // sys_poll.cc
void RegisterEventFdSyscalls(SyscallHandler* table);  // sys_eventfd.cc, sys_timerfd.cc
void RegisterEpollSyscalls(SyscallHandler* table);    // sys_epoll.cc
// Whether a poll, ppoll, select or pselect6 would wait for fd 0 to become readable: in
// EntryMode::kAuto that is the func-entry point as the first read of fd 0 is (sys_poll.cc).
bool PollWaitsForRequest(SandboxKernel& k, const SyscallArgs& args);
void RegisterSignalSyscalls(SyscallHandler* table);       // sys_signal.cc
void RegisterTimerSyscalls(SyscallHandler* table);        // sys_timer.cc
void RegisterThreadSyscalls(SyscallHandler* table);       // sys_thread.cc: clone, futex
void RegisterExecSyscalls(SyscallHandler* table);         // sys_exec.cc
void RegisterProcessTreeSyscalls(SyscallHandler* table);  // sys_proc_tree.cc: wait, groups
void RegisterForkSyscalls(SyscallHandler* table);         // sys_fork.cc
constexpr uint64_t kSyscallTableSize = 512;
// The syscall numbers the kernel emulates (spec/abi.md lists exactly these).
std::vector<uint64_t> SupportedSyscalls();

// fcntl's F_GETLK, F_SETLK, F_SETLKW and F_OFD_* on fd's open file `f` (sys_lock.cc).
SyscallResult FcntlLock(SandboxKernel& k, state::OpenFile& f, int cmd, uint64_t flock_addr);

// -errno from an Error, for handlers.
inline int64_t Errno(const Error& e) {
  return -static_cast<int64_t>(e.code());
}

}  // namespace cat
