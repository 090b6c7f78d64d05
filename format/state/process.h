// Persistent state of the guest process: what all its threads share — identity, signal
// dispositions, resource limits, and the fs context (cwd, umask). Per-thread state (tid, signal
// mask, alternate stack, clear_child_tid, robust list) is in thread.h; the fd table and the
// memory map are the process's too (SandboxState holds them: one guest process per sandbox
// until processes arrive, spec/abi.md "Threads").
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
  uint32_t umask;
  uint32_t uid;
  uint32_t gid;
  int32_t next_tid;  // the next thread id handed out by clone (tids are never reused)
  SignalAction signal_actions[kNumSignals];
  Rlimit rlimits[kNumRlimits];
  PString cwd;  // canonical guest path
  PString exe;  // guest-visible name of the executable (AT_EXECFN)
};

}  // namespace cat::state
