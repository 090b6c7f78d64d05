// Warm boot (see warm_boot.h). Every error names its stage.
#include "loader/boot/warm_boot.h"

#include "format/base/cpu_features.h"
#include "loader/boot/cold_boot.h"

namespace cat {

Result<std::unique_ptr<WarmImage>> WarmImage::Open(const std::string& path) {
  TRY(FuncImage image, WithContext(FuncImage::Open(path), "warm boot: open"));
  // Once per image, for every warm instance and every fork template made from it (cold_boot.cc
  // says why).
  TRY_STATUS(WithContext(CheckCpuFeatures(image.cpu(), HostCpuFeatures()), "warm boot"));
  std::unique_ptr<WarmImage> w(new WarmImage(std::move(image)));
  TRY(w->arena_, ArenaMaster::Load(w->image_, "warm boot"));
  w->segments_ = SegmentMappings(w->image_, Prefault::kNone);
  return w;
}

Result<std::unique_ptr<Sandbox>> BootWarmInstance(
    const WarmImage& image, const Sandbox::ShellSource& take_shell, const MountChoice& mounts,
    const RunLimits& limits, SandboxKernel::Logger log, BootStats& stats, bool watch,
    const std::string& what, const ChannelFds& channel_fds) {
  TRY(std::shared_ptr<ArenaCopy> arena,
      WithContext(ArenaCopy::Make(image.arena()), what + ": copy the state"));
  stats.Stage("copy state");
  const FuncImage& img = image.image();
  TRY(std::unique_ptr<Sandbox> sb,
      WithContext(Sandbox::Adopt(take_shell, arena->state(), std::move(log), arena, mounts,
                                 {img.function().rootfs, img.function().mounts},
                                 limits.memory_ceiling, limits.max_fds_ceiling, channel_fds),
                  what + ": set up the sandbox"));
  stats.Stage("shell");
  if (watch) {
    TRY_STATUS(WithContext(WatchBoot(*sb, limits), what));
    stats.Stage("watchdog");
  }
  TRY_STATUS(WithContext(sb->shell().MapMany(image.segments()), what + ": map memory segments"));
  stats.Stage("map memory");
  TRY_STATUS(WithContext(SetImageRegisters(sb->shell(), img), what + ": registers"));
  stats.Stage("registers");
  return sb;
}

Result<std::unique_ptr<Sandbox>> WarmBoot(const WarmImage& image, ShellPool& pool,
                                          const MountChoice& mounts, const RunLimits& limits,
                                          SandboxKernel::Logger log, BootStats& stats,
                                          const ChannelFds& channel_fds) {
  const uint64_t misses = pool.misses();
  auto sandbox = BootWarmInstance(
      image, [&pool] { return pool.Take(); }, mounts, limits, std::move(log), stats, true,
      "warm boot", channel_fds);
  stats.Note("pool_miss", static_cast<int64_t>(pool.misses() - misses));
  pool.Replenish();
  return sandbox;
}

}  // namespace cat
