// The conventional restore path (the paper's gVisor-restore baseline): boot straight from a
// checkpoint by parsing the kernel's state stream and re-allocating every object, and by
// reading guest memory into fresh anonymous mappings. Cold boot is measured against it.
#pragma once

#include <memory>

#include "format/base/error.h"
#include "format/checkpoint/checkpoint.h"
#include "loader/boot/boot_stats.h"
#include "loader/boot/run_loop.h"
#include "loader/boot/sandbox.h"

namespace cat {

Result<std::unique_ptr<Sandbox>> RestoreFromCheckpoint(Platform& platform,
                                                       const Checkpoint& checkpoint,
                                                       const MountChoice& mounts,
                                                       const RunLimits& limits,
                                                       SandboxKernel::Logger log, BootStats& stats);

}  // namespace cat
