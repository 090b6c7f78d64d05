// The threads of a snapshot at boot: every path that resumes a snapshot (cold, warm, restore,
// and each fork of a fork boot's template, whose host fork copied only vCPU 0) checks that the
// saved vCPU contexts name exactly the state's threads and makes the thread that reached the
// func-entry point the kernel's current one (vCPU 0); every other thread is re-created as a vCPU of
// its own at its saved context and becomes a task of the run loop (spec/boot.md, "Threads across
// snapshots"). A platform with one vCPU (kvm) refuses such a snapshot in one line.
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
