// The fork boot path, sfork (spec/boot.md, "fork boot"): a template instance booted from a
// warm image and paused at its func-entry point, never run; each instance is a fork of the
// template's shell (memory copy-on-write) with its own copy of the template's kernel state:
// its own file offsets and overlay, host files already connected through its own host fds.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "format/base/error.h"
#include "loader/boot/arena_copy.h"
#include "loader/boot/boot_stats.h"
#include "loader/boot/run_loop.h"
#include "loader/boot/sandbox.h"
#include "loader/boot/warm_boot.h"

namespace cat {

struct TemplateOptions {
  // Benchmarks only: the template's first `dirty_bytes` of writable guest memory are written
  // (with their own contents) after its boot, to measure what fork costs as the template's
  // private memory and page tables grow. 0 (normal): the template never touches its memory.
  uint64_t dirty_bytes = 0;
  // Wall-clock bound of the creation (catload serve --boot-timeout; call_deadline.h): past it
  // Create fails with ETIMEDOUT and nothing of the half-made template is kept. <= 0: none.
  double timeout_s = 0;
};

class Template {
 public:
  // Boots `image` (which must outlive the template) into a template on the calling thread,
  // with every host file connected. Only that thread can fork it (ForkBoot): a ptrace shell
  // and the children it forks are traced by one thread, so a server keeps one template per
  // image per worker thread.
  static Result<std::unique_ptr<Template>> Create(Platform& platform, const WarmImage& image,
                                                  const MountChoice& mounts,
                                                  const RunLimits& ceilings,
                                                  SandboxKernel::Logger log,
                                                  const TemplateOptions& options = {});

  const WarmImage& image() const { return image_; }
  const MountChoice& mounts() const { return mounts_; }
  Sandbox& sandbox() { return *sandbox_; }
  const ArenaMaster& state() const { return *state_; }
  pid_t tracer_tid() const { return tracer_tid_; }
  // Bytes of guest memory the template has written (TemplateOptions::dirty_bytes, rounded).
  uint64_t dirty_bytes() const { return dirty_bytes_; }

 private:
  static Result<std::unique_ptr<Template>> CreateUnbounded(
      Platform& platform, const WarmImage& image, const MountChoice& mounts,
      const RunLimits& ceilings, SandboxKernel::Logger log, const TemplateOptions& options);
  Template(const WarmImage& image, MountChoice mounts)
      : image_(image), mounts_(std::move(mounts)) {}
  const WarmImage& image_;
  MountChoice mounts_;
  std::unique_ptr<Sandbox> sandbox_;    // paused at func-entry, never run
  std::unique_ptr<ArenaMaster> state_;  // its state after boot, read-only: what forks copy
  pid_t tracer_tid_ = 0;
  uint64_t dirty_bytes_ = 0;
};

// One instance. Stages: copy state, fork shell, spawn threads (a multi-threaded template: the
// fork copied only the func-entry thread), connect host files, watchdog. Must be called
// on the template's thread (EPERM otherwise). The guest's stdio channels are bound to
// `channel_fds` (the caller's, never closed here).
Result<std::unique_ptr<Sandbox>> ForkBoot(Template& tmpl, const RunLimits& limits,
                                          SandboxKernel::Logger log, BootStats& stats,
                                          const ChannelFds& channel_fds = kProcessStdio);

}  // namespace cat
