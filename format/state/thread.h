// Persistent state of one guest thread: its id and what Linux keeps per task rather than per
// process — the signal mask, the alternate signal stack, the clear_child_tid word
// (set_tid_address, CLONE_CHILD_CLEARTID) and the robust-futex list head. Registers are not
// here: while the guest runs they belong to the platform's vCPU; in a snapshot they are saved
// beside the state, one context per thread keyed by tid (NT_PRSTATUS per thread in a checkpoint,
// Manifest.threads in a func-image).
#pragma once

#include <cstdint>

namespace cat::state {

// What a thread was doing when its state was last saved. A snapshot is taken while every
// thread is stopped at a syscall boundary; a thread other than the one that reached the
// func-entry point is restored by re-issuing the syscall it was blocked in (its saved rip
// points back at the `syscall` instruction), so only runnable/blocked is recorded.
enum class ThreadRunState : uint32_t {
  kRunnable = 0,  // resumes at its saved registers
  kBlocked = 1,   // stopped inside a blocking syscall, re-issued on restore (spec/boot.md)
};
constexpr uint32_t kNumThreadRunStates = 2;

struct Thread {
  int32_t tid;
  ThreadRunState run_state;
  uint64_t clear_child_tid;  // set_tid_address / CLONE_CHILD_CLEARTID: zeroed + woken at exit
  uint64_t robust_list;      // set_robust_list head
  uint64_t robust_list_len;
  uint64_t signal_mask;
  uint64_t altstack_sp;
  uint64_t altstack_size;
  uint32_t altstack_flags;
  uint32_t pad0;
};

}  // namespace cat::state
