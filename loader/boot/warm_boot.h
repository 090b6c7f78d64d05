// The warm boot path (spec/boot.md, "warm boot"): an image opened, verified and relocated
// once (WarmImage), and per instance a shell from the zygote pool, the cached segments mapped
// from the image file kept open, a copy of the relocated state, registers, run.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/image/func_image.h"
#include "loader/boot/arena_copy.h"
#include "loader/boot/boot_stats.h"
#include "loader/boot/run_loop.h"
#include "loader/boot/sandbox.h"
#include "loader/boot/shell_pool.h"

namespace cat {

// An image kept open for many boots: its header verified, its arena read, checksummed,
// structurally verified and relocated once, and its segment mappings worked out once.
class WarmImage {
 public:
  static Result<std::unique_ptr<WarmImage>> Open(const std::string& path);

  const FuncImage& image() const { return image_; }
  const ArenaMaster& arena() const { return *arena_; }
  const std::vector<MapRequest>& segments() const { return segments_; }

 private:
  explicit WarmImage(FuncImage image) : image_(std::move(image)) {}
  FuncImage image_;  // its fd backs every instance's MAP_PRIVATE segments
  std::unique_ptr<ArenaMaster> arena_;
  std::vector<MapRequest> segments_;
};

// One instance. Stages: copy state, shell (from `pool`), watchdog, map memory, registers.
// The guest's stdio channels are bound to `channel_fds` (the caller's, never closed here).
Result<std::unique_ptr<Sandbox>> WarmBoot(const WarmImage& image, ShellPool& pool,
                                          const MountChoice& mounts, const RunLimits& limits,
                                          SandboxKernel::Logger log, BootStats& stats,
                                          const ChannelFds& channel_fds = kProcessStdio);

// The boot both warm boot and a fork template use: a copy of the image's state, around the
// shell `take_shell` gives, the segments mapped, the registers set. `watch` starts the run's
// watchdog (a template, which never runs, has none).
Result<std::unique_ptr<Sandbox>> BootWarmInstance(
    const WarmImage& image, const Sandbox::ShellSource& take_shell, const MountChoice& mounts,
    const RunLimits& limits, SandboxKernel::Logger log, BootStats& stats, bool watch,
    const std::string& what, const ChannelFds& channel_fds);

}  // namespace cat
