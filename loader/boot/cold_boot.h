// The cold boot path: boot a func-image. Memory segments are mapped MAP_PRIVATE straight from
// the image file (pages shared through the page cache, writes copy-on-write: overlay memory);
// the state arena is mapped and relocated in place (separated state recovery); host files are
// left to reconnect on first use (on-demand I/O reconnection). Stages: spec/boot.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/image/func_image.h"
#include "loader/boot/boot_stats.h"
#include "loader/boot/run_loop.h"
#include "loader/boot/sandbox.h"

namespace cat {

enum class Reconnect { kLazy, kEager };

// The image's segments as one batch of mappings: stored ones MAP_PRIVATE from the image's fd,
// zero ones anonymous (shared by cold and warm boot).
std::vector<MapRequest> ImageSegmentMaps(const FuncImage& image);
// The image's general registers, FPU and XSAVE state into a shell.
Status SetImageRegisters(Shell& shell, const FuncImage& image);

// The guest's stdio channels are bound to `channel_fds` (the caller's fds, never closed here).
// Whatever the boot maps (the arena, the relocation table) is owned by the returned sandbox.
Result<std::unique_ptr<Sandbox>> ColdBoot(Platform& platform, const FuncImage& image,
                                          Reconnect reconnect, const MountChoice& mounts,
                                          const RunLimits& limits, SandboxKernel::Logger log,
                                          BootStats& stats,
                                          const ChannelFds& channel_fds = kProcessStdio);

}  // namespace cat
