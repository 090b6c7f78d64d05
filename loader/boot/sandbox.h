// A sandbox: one platform shell, the sandbox kernel's persistent state, and the kernel that
// serves the guest. Boot paths create one (exec today; capture, cold, warm and fork later)
// and hand it to the run loop.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/base/mount_spec.h"
#include "format/state/sandbox_state.h"
#include "loader/boot/mount_binding.h"
#include "loader/kernel/sandbox_kernel.h"
#include "loader/platform/platform.h"

namespace cat {

class Watchdog;

struct SandboxOptions {
  std::string rootfs;  // host directory for "/", read-only; empty = an empty root
  std::vector<MountSpec> mounts;
  std::string cwd = "/";
  uint64_t memory_limit = 2ull << 30;
  uint32_t max_fds = 1024;
  ChannelFds channel_fds = kProcessStdio;  // host fds behind the guest's fds 0, 1, 2
};

class Sandbox {
 public:
  static Result<std::unique_ptr<Sandbox>> Create(Platform& platform, const SandboxOptions& options,
                                                 SandboxKernel::Logger log);
  // A sandbox around restored state (from a checkpoint's stream or a func-image's arena):
  // a fresh shell, the mounts bound to the operator's host directories (BindMounts: never to
  // paths the state or metadata name unless choice.from_image says so), host files left to
  // reconnect on first use. Guest memory and registers are the boot path's to restore.
  // `keepalive` is released with the sandbox (e.g. the arena mapping the state lives in).
  // The limits come from the operator too: the state's memory and fd limits (which an image
  // or checkpoint could set to anything) are lowered to `memory_ceiling` and `max_fds_ceiling`
  // (0: none), and a guest that already uses more memory than that is refused. The sandbox
  // owns `state` (and `keepalive`) whatever Adopt returns: on failure both are freed. The guest's
  // stdio channels are bound to `channel_fds`.
  static Result<std::unique_ptr<Sandbox>> Adopt(Platform& platform, state::SandboxState* state,
                                                SandboxKernel::Logger log,
                                                std::shared_ptr<void> keepalive,
                                                const MountChoice& choice,
                                                const RecordedMounts& recorded,
                                                uint64_t memory_ceiling, uint32_t max_fds_ceiling,
                                                const ChannelFds& channel_fds = kProcessStdio);
  // The same around a shell from elsewhere (warm boot: the zygote pool; fork boot: a fork of
  // the template's shell), taken only once the mounts and limits are settled.
  using ShellSource = std::function<Result<std::unique_ptr<Shell>>()>;
  static Result<std::unique_ptr<Sandbox>> Adopt(
      const ShellSource& take_shell, state::SandboxState* state, SandboxKernel::Logger log,
      std::shared_ptr<void> keepalive, const MountChoice& choice, const RecordedMounts& recorded,
      uint64_t memory_ceiling, uint32_t max_fds_ceiling,
      const ChannelFds& channel_fds = kProcessStdio);
  // Frees everything the sandbox owns, in this order: the watchdog, the guest's fds and the
  // mounts' host directories, the kernel, the persistent state (heap objects; arena objects
  // stay in the arena), the keepalive (the arena mapping), the shell (killed). A process may
  // create and destroy any number of sandboxes (spec/sandbox.md, "Lifetimes").
  ~Sandbox();

  state::SandboxState& state() { return *state_; }
  // The run's watchdog, started by a boot path (WatchBoot) and taken over by RunGuest.
  void SetWatchdog(std::unique_ptr<Watchdog> watchdog);
  std::unique_ptr<Watchdog> TakeWatchdog();
  Shell& shell() { return *shell_; }
  SandboxKernel& kernel() { return *kernel_; }

 private:
  Sandbox() = default;
  std::unique_ptr<Shell> shell_;
  state::SandboxState* state_ = nullptr;
  std::unique_ptr<SandboxKernel> kernel_;
  std::shared_ptr<void> keepalive_;
  std::unique_ptr<Watchdog> watchdog_;  // last: it watches shell_, so it goes first
};

}  // namespace cat
