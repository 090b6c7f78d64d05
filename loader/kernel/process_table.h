// The guest's processes: the sandbox's own pid namespace (the first process is pid 1, its
// init), with parent, process group, session and exit status, zombies until their parent
// reaps them. Each guest process is a shell of its own (on ptrace a shell process: its memory
// a host copy-on-write copy of its parent's from the fork), and the sandbox kernel acts for
// one process at a time: the *current* one's per-process state is in SandboxState (process,
// threads, memory map, fd table, pending signals, argv/envp/auxv), every other one's is parked
// in its entry here and swapped in when one of its tasks stops (SandboxKernel::SwitchProcess).
// The swap moves a few words per field (the arrays' heap storage stays put), so a
// single-process guest never pays for it and a multi-process one pays only at a switch.
//
// What the processes share stays in SandboxState and is never swapped: the overlay, mounts,
// clocks, and the open-file descriptions (state::OpenFile, reference-counted: a forked fd
// table holds one more reference to each, so close in one process never closes the other's,
// and dup-ed and inherited fds share offset and status flags, as in Linux). Overlay file data
// is charged once for the sandbox (MemoryMap.file_bytes stays with the current map across a
// swap); mappings are charged per process against the memory limit.
//
// Snapshots carry one process: capture refuses a guest with a live child process in one line
// (spec/boot.md, "Processes"), so the table itself is never persistent; a restored guest is
// its pid 1 again.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/state/sandbox_state.h"
#include "loader/kernel/wait_queue.h"
#include "loader/platform/platform.h"

namespace cat {

class Shell;

// The per-process part of SandboxState, parked while its process is not current.
struct ProcessSlot {
  state::Process process{};
  state::PArray<state::Thread> threads{};
  state::MemoryMap memory{};
  state::FdTable fds{};
  state::SignalState signals{};
  state::PArray<state::PString> argv{};
  state::PArray<state::PString> envp{};
  state::PArray<state::Auxv> auxv{};
};

// Exchanges the per-process fields of `s` with `slot` (MemoryMap.file_bytes, the sandbox's
// overlay charge, stays in `s`).
void SwapProcessState(state::SandboxState& s, ProcessSlot& slot);

struct GuestProcess {
  int32_t pid = 0;
  int32_t ppid = 0;  // 0: the sandbox's init (its parent is outside)
  int32_t pgid = 0;
  int32_t sid = 0;
  bool zombie = false;
  int wait_status = 0;                 // wait(2) encoding, once a zombie
  bool exec_done = false;              // execve since fork (setpgid on a child after it is EACCES)
  Shell* shell = nullptr;              // its address space and vCPUs
  std::unique_ptr<Shell> owned_shell;  // a forked process's (pid 1's is the sandbox's)
  ProcessSlot parked;                  // valid while not current
  // A vfork parent waits until this child execs or exits.
  int32_t vfork_parent_tid = 0;
};

class ProcessTable {
 public:
  // Processes alive at once at most (zombies count until reaped), --max-procs.
  static constexpr uint32_t kDefaultMaxProcs = 64;

  // The first process (pid from the state), running in `shell`.
  void Init(int32_t pid, Shell& shell);
  GuestProcess& current() { return *current_; }
  void set_current(GuestProcess& p) { current_ = &p; }
  GuestProcess* Find(int32_t pid);
  GuestProcess* FindByShell(const Shell* shell);
  std::vector<std::unique_ptr<GuestProcess>>& all() { return procs_; }
  size_t size() const { return procs_.size(); }
  bool single() const { return procs_.size() == 1; }
  // A new process entry for `pid`, child of the current one, same group and session (the
  // caller checks max_procs()).
  GuestProcess* Add(int32_t pid);
  // Drops a reaped process (never the current one): SandboxKernel::ReapProcess, which also
  // takes its shell out of the task table.
  void Remove(int32_t pid);
  // A fresh pid or tid: pids and tids share one space across the sandbox's processes and are
  // never reused in a run; above `highest_in_use` (the caller's next_tid - 1) too.
  int32_t NextPid(int32_t highest_in_use);

  uint32_t max_procs() const { return max_procs_; }
  void set_max_procs(uint32_t n) { max_procs_ = n ? n : kDefaultMaxProcs; }
  // Forks refused by the limit so far (logged once).
  uint64_t refusals = 0;

  // wait4/waitid park here, keyed by the waiting process's pid: a child's exit or stop wakes
  // its parent's waiters.
  WaitQueue child_waits;

 private:
  std::vector<std::unique_ptr<GuestProcess>> procs_;
  GuestProcess* current_ = nullptr;
  uint32_t max_procs_ = kDefaultMaxProcs;
  int32_t next_pid_ = 0;
};

}  // namespace cat
