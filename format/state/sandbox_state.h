// The root of the sandbox kernel's persistent state: everything a snapshot must carry besides
// guest memory and registers. The live kernel runs on exactly these objects.
#pragma once

#include <cstdint>

#include "format/state/file_table.h"
#include "format/state/memory_map.h"
#include "format/state/mount.h"
#include "format/state/overlay.h"
#include "format/state/persistent.h"
#include "format/state/process.h"
#include "format/state/signal_state.h"
#include "format/state/thread.h"

namespace cat::state {

struct Clocks {
  int64_t monotonic_offset_ns;    // added to the host's CLOCK_MONOTONIC (keeps time monotonic
                                  // across snapshot and restore)
  int64_t snapshot_monotonic_ns;  // the guest's CLOCK_MONOTONIC when it was snapshotted
};

struct Auxv {
  uint64_t type;
  uint64_t value;
};

struct SandboxState {
  Process process;
  // The process's threads, at least one; threads[0] is the thread group leader (tid == pid).
  // Sorted by tid, tids unique.
  PArray<Thread> threads;
  MemoryMap memory;
  FdTable fds;
  Overlay overlay;
  PArray<Mount> mounts;  // longest guest_path wins
  Clocks clocks;
  PArray<PString> argv;
  PArray<PString> envp;
  PArray<Auxv> auxv;
  SignalState signals;  // pending signals and timers
};

}  // namespace cat::state
