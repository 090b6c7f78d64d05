// The sandbox-from-scratch options shared by exec and capture, and the run limits that
// restore and run share with them (see sandbox_args.h).
#include "loader/cli/sandbox_args.h"

#include <filesystem>

#include "format/state/state_limits.h"
#include "loader/boot/elf_image.h"
#include "loader/boot/exec_boot.h"
#include "loader/cli/cli_common.h"

namespace cat::cli {
namespace {

// The canonical absolute form of an existing host directory (BootFromScratch checked it).
std::string AbsoluteHostPath(const std::string& dir) {
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::canonical(dir, ec);
  return ec ? dir : p.string();
}

}  // namespace

void AddLimitOptions(CLI::App& cmd, LimitArgs& args) {
  cmd.add_option("--timeout", args.timeout_s,
                 "Wall-clock limit in seconds; then the guest is killed and catload exits 124. "
                 "For run and restore it counts from the start and bounds the boot too. "
                 "Default: none. Example: --timeout 2.5")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--cpu-limit", args.cpu_limit_s,
                 "CPU time limit in seconds: the guest's own CPU time plus catload's time "
                 "emulating its syscalls. When it is used up the guest is killed and catload "
                 "exits 152 (128+SIGXCPU). 0: none. Default: 900 (15 minutes). "
                 "Example: --cpu-limit 10")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--max-output", args.max_output,
                 "Maximum bytes the guest may write to stdout, stderr and files in rw mounts, "
                 "all together. The write that crosses it is cut short; the next one fails with "
                 "EFBIG and raises SIGXFSZ, which ends the guest (catload exits 153 = "
                 "128+SIGXFSZ) unless it ignores SIGXFSZ. Bytes with optional K/M/G suffix; 0: "
                 "none. Default: 1G. Example: --max-output 6M")
      ->check(SizeValidator());
}

RunLimits ToRunLimits(const LimitArgs& a) {
  return {a.timeout_s, a.cpu_limit_s, ParseSize(a.max_output).value_or(0)};
}

void AddBindOptions(CLI::App& cmd, BindArgs& args, const std::string& snapshot) {
  cmd.add_option("--rootfs", args.rootfs,
                 "Host directory to use as the guest's / (read-only). Required when the " +
                     snapshot +
                     " was captured with a rootfs (unless --mounts-from-image); refused when "
                     "it was captured with an empty root. Example: --rootfs /srv/rootfs")
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--mount", args.mounts,
                 "HOST:GUEST[:ro|rw]: the host directory for the " + snapshot +
                     "'s mount at GUEST. Every mount the function was captured with needs one "
                     "(unless --mounts-from-image), with the mode it was captured with; rw is "
                     "granted only this way. Repeatable. Example: --mount /srv/models:/models");
  cmd.add_flag("--mounts-from-image", args.mounts_from_image,
               "Use the capture-time host paths recorded in the " + snapshot +
                   " for a rootfs or read-only mount not given with --rootfs/--mount (only for " +
                   snapshot + "s you trust to name host directories)");
}

Result<MountChoice> ToMountChoice(const BindArgs& a) {
  MountChoice choice;
  choice.rootfs = a.rootfs;
  choice.from_image = a.mounts_from_image;
  for (const std::string& m : a.mounts) {
    TRY(MountSpec spec, ParseMountSpec(m));
    choice.mounts.push_back(std::move(spec));
  }
  return choice;
}

void AddSandboxOptions(CLI::App& cmd, SandboxArgs& args) {
  cmd.add_option("--rootfs", args.rootfs,
                 "Host directory that is the guest's / (read-only; writes go to an in-memory "
                 "overlay). /dev/{null,zero,random,urandom} always exist (a rootfs's own /dev is "
                 "hidden), so does /tmp, and so do the parent directories of --mount targets. "
                 "Default: an empty root. "
                 "Example: --rootfs ./rootfs")
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--mount", args.mounts,
                 "Add a host directory at a guest path: HOST:GUEST[:ro|rw] (default ro: writes "
                 "go to the overlay; rw: writes reach the host). Repeatable. "
                 "Example: --mount /srv/models:/models:ro");
  cmd.add_option("--cwd", args.cwd, "Initial working directory in the guest. Default: /");
  cmd.add_option("--env", args.env,
                 "Set an environment variable of the guest: KEY=VALUE. Repeatable; nothing of "
                 "catload's own environment is passed. Example: --env LANG=C");
  cmd.add_option("--memory-limit", args.memory_limit,
                 "Maximum guest memory: its mappings plus what catload holds for it (overlay "
                 "file data and entries, pipe buffers). mmap beyond it fails with ENOMEM, "
                 "overlay writes with ENOSPC. Bytes with optional K/M/G suffix. Default: 2G. "
                 "Example: --memory-limit 256M");
  AddLimitOptions(cmd, args.limits);
  AddPlatformOption(cmd, args.platform);
  cmd.add_option("--max-fds", args.max_fds,
                 "Maximum number of open fds in the guest (RLIMIT_NOFILE). Default: 1024")
      ->check(CLI::Range(3u, state::kMaxFds));  // the state verifier refuses more
  cmd.add_flag("--trace", args.trace,
               "Log every syscall the guest makes, with its arguments and result, to stderr");
}

Result<SandboxOptions> ToSandboxOptions(const SandboxArgs& a) {
  SandboxOptions opts;
  opts.rootfs = a.rootfs;
  opts.cwd = a.cwd;
  opts.max_fds = a.max_fds;
  auto limit = ParseSize(a.memory_limit);
  if (!limit || *limit < (16ull << 20))
    return Fail(EINVAL, "bad --memory-limit '" + a.memory_limit +
                            "': give bytes with an optional K/M/G suffix, at least 16M");
  opts.memory_limit = *limit;
  for (const std::string& m : a.mounts) {
    TRY(MountSpec spec, ParseMountSpec(m));
    opts.mounts.push_back(spec);
  }
  for (const std::string& e : a.env)
    if (e.find('=') == std::string::npos)
      return Fail(EINVAL, "bad --env '" + e + "': expected KEY=VALUE");
  return opts;
}

namespace {

// Whether --platform was on the command line. auto's one line saying why it fell back to
// ptrace is printed only then (spec/kvm.md, "Choosing"): without the option, a host whose
// /dev/kvm cannot run the platform would add a line to every command's stderr.
bool platform_given = false;

}  // namespace

void AddPlatformOption(CLI::App& cmd, std::string& platform, const std::string& help) {
  cmd.add_option("--platform", platform,
                 !help.empty() ? help
                               : "What runs the guest: kvm (a small VM per sandbox, where "
                                 "/dev/kvm passes a self-test), ptrace (a traced host process, "
                                 "everywhere) or auto (kvm if it passes the self-test, else "
                                 "ptrace; given explicitly, it says why in one line when it "
                                 "falls back). Default: auto")
      ->check(CLI::IsMember(PlatformNames()))
      ->each([](const std::string&) { platform_given = true; });
}

std::unique_ptr<Platform> ChooseCliPlatform(const std::string& name, const std::string& platform) {
  std::string why;
  auto chosen = ChoosePlatform(platform, &why);
  if (!chosen) {
    PrintError(name + ": " + chosen.error().message());
    return nullptr;
  }
  if (!why.empty() && platform_given) PrintError(name + ": " + why);
  return std::move(*chosen);
}

std::string PlatformForForking(const std::string& platform) {
  return platform == "auto" ? std::string("ptrace") : platform;
}

int BootFromScratch(const std::string& name, Platform& platform, const SandboxArgs& a,
                    const std::vector<std::string>& command, std::unique_ptr<Sandbox>& out) {
  if (command.empty()) {
    PrintError(name + ": no executable given; usage: catload " + name +
               " [OPTIONS] [--] EXE [ARGS...]");
    return kExitCatloadError;
  }
  auto opts = ToSandboxOptions(a);
  if (!opts) {
    PrintError(name + ": " + opts.error().message());
    return kExitCatloadError;
  }
  auto image = ReadElfImage(command[0]);
  if (!image) {
    PrintError(name + ": " + image.error().message());
    return image.error().code() == ENOENT ? kExitNotFound : kExitCannotExecute;
  }
  auto sandbox = Sandbox::Create(platform, *opts, StderrLogger());
  if (!sandbox) {
    PrintError(name + ": create sandbox: " + sandbox.error().message());
    return kExitCatloadError;
  }
  if (auto r = LoadExecutable(**sandbox, *image, command, a.env); !r) {
    PrintError(name + ": " + r.error().message());
    return kExitCannotExecute;
  }
  (*sandbox)->kernel().set_trace(a.trace);
  out = std::move(*sandbox);
  return 0;
}

CaptureRequest MakeCaptureRequest(const SandboxArgs& a, const std::vector<std::string>& command,
                                  const std::string& output, const std::string& entry) {
  CaptureRequest req;
  req.output = output;
  req.entry = entry == "explicit" ? EntryMode::kExplicit : EntryMode::kAuto;
  req.limits = ToRunLimits(a.limits);
  req.meta.exe = command[0];
  req.meta.argv = command;
  req.meta.env = a.env;
  // Recorded in canonical form (absolute host paths, explicit mode): what FuncImage::Open
  // accepts, and what --mounts-from-image may use.
  req.meta.rootfs = a.rootfs.empty() ? std::string() : AbsoluteHostPath(a.rootfs);
  for (const std::string& m : a.mounts) {
    auto spec = ParseMountSpec(m);
    if (!spec) continue;  // BootFromScratch refused it already
    spec->host = AbsoluteHostPath(spec->host);
    req.meta.mounts.push_back(MountRecord(*spec));
  }
  return req;
}

}  // namespace cat::cli
