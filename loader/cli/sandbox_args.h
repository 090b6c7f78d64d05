// The options that set up a sandbox from scratch, shared by `catload exec` and
// `catload capture` (and by `catimg build` when it captures an executable itself), and the
// limits of a run, which `catload restore` and `catload run` take too.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "loader/boot/capture_boot.h"
#include "loader/boot/run_loop.h"
#include "loader/boot/sandbox.h"
#include "loader/platform/platform_choice.h"

namespace cat::cli {

// --timeout, --cpu-limit, --max-output: per invocation, not recorded in a checkpoint.
struct LimitArgs {
  double timeout_s = 0;
  double cpu_limit_s = 900;
  std::string max_output = "1G";
};

void AddLimitOptions(CLI::App& cmd, LimitArgs& args);
// The options as the run loop takes them (CLI11 has checked them already).
RunLimits ToRunLimits(const LimitArgs& args);

// --rootfs, --mount, --mounts-from-image of a boot from a snapshot (run, restore): the host
// side of the snapshot's mounts, which the snapshot itself never supplies (mount_binding.h).
struct BindArgs {
  std::string rootfs;
  std::vector<std::string> mounts;
  bool mounts_from_image = false;
};

void AddBindOptions(CLI::App& cmd, BindArgs& args, const std::string& snapshot);
// Errors are one line, ready to print.
Result<MountChoice> ToMountChoice(const BindArgs& args);

struct SandboxArgs {
  std::string rootfs;
  std::vector<std::string> mounts;
  std::string cwd = "/";
  std::vector<std::string> env;
  std::string memory_limit = "2G";
  LimitArgs limits;
  uint32_t max_fds = 1024;
  bool trace = false;
  std::string platform{kDefaultPlatform};
};

void AddSandboxOptions(CLI::App& cmd, SandboxArgs& args);
// --platform auto|kvm|ptrace (platform_choice.h), taken by every command that boots a sandbox.
// `help` replaces the option's description (serve says what `auto` means for it).
void AddPlatformOption(CLI::App& cmd, std::string& platform, const std::string& help = "");
// The platform --platform names; null after printing why ("NAME: ...") if there is none.
std::unique_ptr<Platform> ChooseCliPlatform(const std::string& command_name,
                                            const std::string& platform);
// The platform a command that forks sandboxes (serve, run --boot fork) runs on: `auto` means
// ptrace there, because the kvm platform has no fork boot yet (spec/kvm.md, "Fork boot") and
// fork is serve's default mode; an explicit `--platform kvm` is kept (fork requests then fail
// with the platform's error).
std::string PlatformForForking(const std::string& platform);
// Checks and converts the options; errors are one line, ready to print.
Result<SandboxOptions> ToSandboxOptions(const SandboxArgs& args);

// exec's and capture's common start: checks the options, reads the executable, creates the
// sandbox and loads the executable into it. Returns 0, or the exit code after printing why
// (125 bad options or setup, 126 not runnable, 127 not found).
int BootFromScratch(const std::string& command_name, Platform& platform, const SandboxArgs& args,
                    const std::vector<std::string>& command, std::unique_ptr<Sandbox>& out);

// What `catload capture` and `catimg build -- EXE` ask of a capture: the checkpoint path, the
// func-entry point (--entry auto|explicit) and the metadata recorded from the options.
CaptureRequest MakeCaptureRequest(const SandboxArgs& args, const std::vector<std::string>& command,
                                  const std::string& output, const std::string& entry);

}  // namespace cat::cli
