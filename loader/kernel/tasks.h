// Guest tasks: the threads one tracer thread schedules (the multi-task run loop in
// loader/boot/run_loop.cc drives this table; the sandbox kernel's clone, exit and futex change
// it). A task is one vCPU of a shell (ptrace: a traced host thread of a shell process) with
// its sandbox thread (state::Thread, same tid).
//
// The API other parts build on (s9-procs: a forked shell's tasks join the same table):
//  * TaskTable::Add(shell, vcpu, tid) makes a task ready to run; the shell may be any shell
//    the tracer thread controls (the table keeps the list of shells for Shell::WaitAny), and
//    the state::Thread with that tid must exist in the kernel state before it first stops;
//  * a handler parks the calling task with Park(...) and returns SyscallResult::Block();
//    whoever completes its Waiter (a futex wake, WaitQueue::Cancel) calls MarkWoken (or the
//    run loop finds `waiter.completed`); a parked task also wakes at `wake_ns` with
//    `timeout_result`, or with -EINTR when a signal it does not block is pending;
//  * a task whose thread ended is kExited; the run loop ends its vCPU and drops it.
// Everything here is touched by the tracer thread only (like the rest of the kernel state).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "loader/kernel/wait_queue.h"

namespace cat {

class Shell;

struct SyscallArgsCopy {
  uint64_t nr;
  uint64_t a[6];
};

// A parked task's wait completed with this result is not given a result: its syscall is
// issued again (FinishBlocked rewinds it onto the `syscall` instruction, rax the number). For
// waits whose answer only the call itself can compute: a pipe read, wait4 (io_wait.cc,
// process_exit.cc), epoll_wait polling among several threads (sys_epoll.cc). Not a value any
// call returns.
constexpr int64_t kRetrySyscall = INT64_MIN;

struct Task {
  enum class Run : uint8_t {
    kReady,    // stopped, to be resumed by the run loop
    kRunning,  // started; its next stop is awaited
    kParked,   // blocked in a syscall (waiter queued): resumed once the wait ends
    kExited,   // its thread ended; the run loop ends its vCPU
  };
  Shell* shell;
  int vcpu;
  int32_t tid;
  Run run = Run::kReady;
  // While parked.
  Waiter waiter;
  WaitQueue* queue = nullptr;  // where `waiter` is queued (null: not queued)
  int64_t wake_ns = 0;         // host CLOCK_MONOTONIC; 0: no timeout
  int64_t timeout_result = 0;  // the syscall's result at wake_ns (-ETIMEDOUT for futex)
  SyscallArgsCopy args{};      // the blocked syscall (its exit path: signals, restart)
  // The end of a timed wait re-issued every quantum (poll_parking.h) whose timeout the guest
  // does not get back (rt_sigtimedwait): kept here so that the re-issued call does not start
  // its timeout again. 0: none; reset when the wait completes other than by re-issue.
  int64_t retry_end_ns = 0;
};

class TaskTable {
 public:
  // A ready task for vCPU `vcpu` of `shell`, sandbox thread `tid`.
  Task& Add(Shell& shell, int vcpu, int32_t tid);
  Task* Find(int32_t tid);
  // The task whose stop is being handled (set by the run loop; the first task before that).
  Task& current() { return *tasks_[current_]; }
  void SetCurrent(Task& t);
  std::vector<std::unique_ptr<Task>>& all() { return tasks_; }
  size_t size() const { return tasks_.size(); }
  // The shells the tasks run in, for Shell::WaitAny.
  const std::vector<Shell*>& shells() const { return shells_; }
  // A shell that is going away (a reaped guest process, process_table.h): no task of it may
  // be left but exited ones, which are dropped with it.
  void ForgetShell(const Shell* shell);
  // Drops exited tasks (after their vCPUs ended).
  void DropExited();
  // The fast path: one task, ready (a single-threaded guest never leaves it).
  bool single_ready() const { return tasks_.size() == 1 && tasks_[0]->run == Task::Run::kReady; }

  // Parks the current task on `queue` with its waiter (tid, key, bits set here), until
  // `wake_ns` (0: none) with `timeout_result` then.
  void Park(WaitQueue& queue, uint64_t key, uint32_t bits, int64_t wake_ns, int64_t timeout_result,
            const SyscallArgsCopy& args);

  // Private futexes: one address space per table today, so the key is the guest address.
  WaitQueue futex;
  // pause and sigsuspend of a guest with several threads: woken by a signal only.
  WaitQueue signal_waits;
  // Tasks whose thread has not ended.
  size_t live() const;

 private:
  std::vector<std::unique_ptr<Task>> tasks_;
  std::vector<Shell*> shells_;
  size_t current_ = 0;
};

}  // namespace cat
