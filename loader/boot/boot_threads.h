// The threads of a snapshot at boot: every path that resumes a snapshot (cold, warm, restore;
// fork boot inherits its template's) checks that the saved vCPU contexts name exactly the
// state's threads and makes the thread that reached the func-entry point the kernel's current
// one. Threads besides it are refused until the platform can re-create them (spec/boot.md,
// "Threads across snapshots"): booting only one of several threads would silently lose work.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/state/cpu_state.h"
#include "loader/boot/sandbox.h"

namespace cat {

Status AdoptSnapshotThreads(Sandbox& sb, int32_t entry_tid,
                            const std::vector<ThreadContext>& others);

}  // namespace cat
