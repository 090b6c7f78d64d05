// Persistent state of the guest process: identity, thread bookkeeping, signal dispositions,
// resource limits, cwd and umask. Registers are not here: they belong to the platform's vCPU
// and are saved beside this state (NT_PRSTATUS in a checkpoint).
#pragma once

#include <cstdint>

#include "format/state/persistent.h"

namespace cat::state {

constexpr int kNumSignals = 64;
constexpr int kNumRlimits = 16;

// The guest's view of struct sigaction (kernel ABI layout: handler, flags, restorer, mask).
struct SignalAction {
  uint64_t handler;
  uint64_t flags;
  uint64_t restorer;
  uint64_t mask;
};

struct Rlimit {
  uint64_t cur;
  uint64_t max;
};

struct Process {
  int32_t pid;
  int32_t ppid;
  int32_t tid;
  uint32_t umask;
  uint32_t uid;
  uint32_t gid;
  uint64_t clear_child_tid;  // set_tid_address
  uint64_t robust_list;      // set_robust_list head
  uint64_t robust_list_len;
  uint64_t signal_mask;
  uint64_t altstack_sp;
  uint64_t altstack_size;
  uint32_t altstack_flags;
  uint32_t pad0;
  SignalAction signal_actions[kNumSignals];
  Rlimit rlimits[kNumRlimits];
  PString cwd;  // canonical guest path
  PString exe;  // guest-visible name of the executable (AT_EXECFN)
};

}  // namespace cat::state
