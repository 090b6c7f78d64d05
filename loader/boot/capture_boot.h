// The capture boot path: run a freshly exec-ed guest until its func-entry point, then write
// its checkpoint (registers, memory, the kernel's state stream) as an ELF core.
#pragma once

#include <string>

#include "format/base/error.h"
#include "format/checkpoint/checkpoint.h"
#include "loader/boot/run_loop.h"
#include "loader/boot/sandbox.h"

namespace cat {

struct CaptureRequest {
  std::string output;  // checkpoint path
  EntryMode entry = EntryMode::kAuto;
  RunLimits limits;
  CheckpointMeta meta;  // exe, argv, env, rootfs, mounts as given (entry kind is filled in)
};

// Runs the guest to its func-entry point and writes the checkpoint. Returns the outcome: a
// guest that ended before reaching its func-entry point comes back as that outcome (and no
// checkpoint is written).
Result<GuestOutcome> CaptureCheckpoint(Sandbox& sandbox, const CaptureRequest& request);

}  // namespace cat
