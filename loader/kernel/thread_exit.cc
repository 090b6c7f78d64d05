// A guest thread's end (SandboxKernel::ExitThread): what Linux does in exit_mm_release and
// exit_robust_list for the calling thread, then the task is marked exited for the run loop.
#include <linux/futex.h>

#include <cstdint>

#include "loader/kernel/process_ops.h"
#include "loader/kernel/sandbox_kernel.h"
#include "loader/kernel/signal_delivery.h"

namespace cat {
namespace {

// Linux's ROBUST_LIST_LIMIT: a list longer than this (or circular) is not walked further.
constexpr int kRobustListLimit = 2048;

// Releases one robust futex the dying thread holds: the owner-died bit set, one waiter woken.
void ReleaseRobustFutex(SandboxKernel& k, uint64_t addr, int32_t tid) {
  auto word = k.mem.ReadObject<uint32_t>(addr);
  if (!word || (*word & FUTEX_TID_MASK) != static_cast<uint32_t>(tid)) return;
  const uint32_t fresh = (*word & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
  if (!k.mem.WriteObject(addr, fresh)) return;
  if (*word & FUTEX_WAITERS) k.tasks.futex.Wake(FutexKey(k, addr), 1, ~0u, 0);
}

// struct robust_list_head { robust_list* next; long futex_offset; robust_list* pending; }
void WalkRobustList(SandboxKernel& k, const state::Thread& t) {
  if (!t.robust_list) return;
  auto next = k.mem.ReadObject<uint64_t>(t.robust_list);
  auto offset = k.mem.ReadObject<int64_t>(t.robust_list + 8);
  auto pending = k.mem.ReadObject<uint64_t>(t.robust_list + 16);
  if (!next || !offset || !pending) return;
  uint64_t entry = *next;
  for (int i = 0; entry != t.robust_list && i < kRobustListLimit; ++i) {
    // The low bit of an entry marks a PI futex; the word is at entry + futex_offset.
    const uint64_t e = entry & ~1ull;
    if (e == 0) break;
    auto after = k.mem.ReadObject<uint64_t>(e);
    if (e != (*pending & ~1ull)) ReleaseRobustFutex(k, e + static_cast<uint64_t>(*offset), t.tid);
    if (!after) break;
    entry = *after;
  }
  if (*pending & ~1ull)
    ReleaseRobustFutex(k, (*pending & ~1ull) + static_cast<uint64_t>(*offset), t.tid);
}

}  // namespace

void SandboxKernel::ExitThread(int status) {
  // The last live thread of this guest process ends the process (tasks of other processes
  // run in other shells).
  size_t live_here = 0;
  for (const auto& tp : tasks.all())
    live_here += tp->shell == procs.current().shell && tp->run != Task::Run::kExited;
  if (live_here <= 1) {
    Exit(status);
    return;
  }
  state::Thread& t = thread();
  WalkRobustList(*this, t);
  if (t.clear_child_tid) {
    // pthread_join waits on this word: zeroed, then one waiter woken (Linux: mm_release).
    const uint32_t zero = 0;
    if (mem.WriteObject(t.clear_child_tid, zero))
      tasks.futex.Wake(FutexKey(*this, t.clear_child_tid), 1, ~0u, 0);
  }
  if (tasks.size() > 0 && tasks.current().tid == t.tid) tasks.current().run = Task::Run::kExited;
  DropThreadPending(*this, t.tid);  // its own pending signals die with it (the shared ones stay)
  // The leader's entry stays while others run (Linux keeps the zombie leader: getpid, the
  // thread group, /proc). Capture refuses a guest in that state (capture_boot.cc).
  if (current_thread_ != 0) s.threads.Erase(current_thread_);
  current_thread_ = 0;
}

}  // namespace cat
