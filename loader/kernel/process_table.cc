// The guest's process table (see process_table.h).
#include "loader/kernel/process_table.h"

#include <algorithm>
#include <utility>

namespace cat {

void SwapProcessState(state::SandboxState& s, ProcessSlot& slot) {
  std::swap(s.process, slot.process);
  std::swap(s.threads, slot.threads);
  // The overlay's charge is the sandbox's, not a process's: it stays where it is.
  const uint64_t file_bytes = s.memory.file_bytes;
  std::swap(s.memory, slot.memory);
  slot.memory.file_bytes = s.memory.file_bytes;
  s.memory.file_bytes = file_bytes;
  std::swap(s.fds, slot.fds);
  std::swap(s.signals, slot.signals);
  std::swap(s.argv, slot.argv);
  std::swap(s.envp, slot.envp);
  std::swap(s.auxv, slot.auxv);
}

void ProcessTable::Init(int32_t pid, Shell& shell) {
  procs_.clear();
  auto p = std::make_unique<GuestProcess>();
  p->pid = p->pgid = p->sid = pid;
  p->shell = &shell;
  current_ = p.get();
  procs_.push_back(std::move(p));
  next_pid_ = pid + 1;
}

GuestProcess* ProcessTable::Find(int32_t pid) {
  for (auto& p : procs_)
    if (p->pid == pid) return p.get();
  return nullptr;
}

GuestProcess* ProcessTable::FindByShell(const Shell* shell) {
  for (auto& p : procs_)
    if (p->shell == shell) return p.get();
  return nullptr;
}

int32_t ProcessTable::NextPid(int32_t highest_tid_in_use) {
  // Pids and tids share one number space, as in Linux; never reused within a run.
  next_pid_ = std::max(next_pid_, highest_tid_in_use + 1);
  return next_pid_++;
}

GuestProcess* ProcessTable::Add(int32_t pid) {
  auto p = std::make_unique<GuestProcess>();
  p->pid = pid;
  p->ppid = current_->pid;
  p->pgid = current_->pgid;
  p->sid = current_->sid;
  procs_.push_back(std::move(p));
  return procs_.back().get();
}

void ProcessTable::Remove(int32_t pid) {
  std::erase_if(procs_, [&](const std::unique_ptr<GuestProcess>& p) {
    return p->pid == pid && p.get() != current_;
  });
}

}  // namespace cat
