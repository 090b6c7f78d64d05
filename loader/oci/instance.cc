// Booting and running a container's guest (instance.h).
#include "loader/oci/instance.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "format/image/func_image_layout.h"
#include "format/state/state_limits.h"
#include "loader/boot/boot_stats.h"
#include "loader/boot/cold_boot.h"
#include "loader/boot/elf_image.h"
#include "loader/boot/exec_boot.h"
#include "loader/boot/watchdog.h"
#include "loader/cli/cli_common.h"
#include "loader/oci/rootfs_path.h"
#include "loader/oci/snapshot_cache.h"
#include "loader/platform/platform_choice.h"

namespace cat::oci {
namespace {

constexpr uint64_t kDefaultMemoryLimit = 2ull << 30;  // catload exec's default
constexpr uint64_t kMinMemoryLimit = 16ull << 20;     // catload's floor
constexpr int kExitOomKilled = 128 + 9;               // what an engine reports for an OOM kill

bool IsFuncImage(const std::string& host_path) {
  const int fd = open(host_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[sizeof(image_layout::kMagic)] = {};
  const bool ok = pread(fd, magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic) &&
                  std::memcmp(magic, image_layout::kMagic, sizeof magic) == 0;
  close(fd);
  return ok;
}

// `catimg pack`'s func-image at its fixed path, when the container runs the image's own
// command (the config's Cmd, the function's argv, which the engines copy when no command is
// given): a packed function then cold-boots here and runs from scratch under runc. Another
// command runs from scratch here too. "" if neither.
std::string PackedFuncImage(const BundleConfig& c) {
  auto host = ResolveInRootfs(c.rootfs, kPackedFuncImagePath);
  if (!host || !IsFuncImage(*host)) return "";
  auto image = FuncImage::Open(*host);
  return image && image->function().argv == c.args ? *host : "";
}

// The host side of each mount the image was captured with: the container's rootfs for "/",
// a config bind mount at the same guest path, else the directory at that path in the rootfs
// (where `catimg pack` puts a read-only mount's content). A read-write mount needs the bind.
Result<MountChoice> BindImageMounts(const FuncImage& image, const BundleConfig& c,
                                    const OciLog& log) {
  MountChoice choice;
  if (!image.function().rootfs.empty()) choice.rootfs = c.rootfs;
  std::vector<bool> used(c.binds.size(), false);
  for (const std::string& record : image.function().mounts) {
    TRY(MountSpec recorded, ParseMountRecord(record));
    MountSpec bound;
    bound.guest = recorded.guest;
    bound.read_write = recorded.read_write;
    bool found = false;
    for (size_t i = 0; i < c.binds.size(); ++i)
      if (c.binds[i].guest == recorded.guest) {
        bound.host = c.binds[i].host;
        used[i] = found = true;
      }
    if (!found && recorded.read_write)
      return Fail(EINVAL, "the func-image was captured with a read-write mount at " +
                              recorded.guest + ": give the container a bind mount there");
    if (!found) {
      TRY(std::string in_rootfs, ResolveInRootfs(c.rootfs, recorded.guest));
      bound.host = std::move(in_rootfs);
    }
    choice.mounts.push_back(bound);
  }
  for (size_t i = 0; i < c.binds.size(); ++i)
    if (!used[i])
      log.Info("bind mount at " + c.binds[i].guest +
               " ignored: the func-image was not captured with a mount there");
  return choice;
}

}  // namespace

Instance::~Instance() = default;

Result<std::unique_ptr<Instance>> Instance::Boot(const BundleConfig& c, const std::string& root,
                                                 const OciLog& log) {
  for (const std::string& line : c.ignored) log.Info(line);
  std::unique_ptr<Instance> in(new Instance());
  in->memory_limit_ = c.memory_limit;
  in->limits_.timeout_s = c.timeout_s;
  in->limits_.memory_ceiling = c.memory_limit;
  in->limits_.max_fds_ceiling = c.max_fds;
  TRY(in->platform_, ChoosePlatform(kDefaultPlatform));
  std::string image_host;
  if (auto a = c.annotations.find(kFuncImageAnnotation); a != c.annotations.end()) {
    TRY(image_host, WithContext(ResolveInRootfs(c.rootfs, a->second), kFuncImageAnnotation));
  } else if (std::string packed = PackedFuncImage(c); !packed.empty()) {
    image_host = packed;
  } else {
    TRY(std::string exe_host,
        WithContext(FindProgram(c.rootfs, c.args[0], c.env, c.cwd), "process.args[0]"));
    if (IsFuncImage(exe_host)) {
      image_host = exe_host;
    } else if (auto s = c.annotations.find(kSnapshotAnnotation);
               s != c.annotations.end() && s->second == "cache") {
      bool built = false;
      TRY(image_host, CachedSnapshot(root, c, exe_host, built));
      log.Info(std::string(built ? "captured" : "cached") + " snapshot " + image_host);
      in->kind_ = "snapshot";
    } else {
      if (auto s = c.annotations.find(kSnapshotAnnotation); s != c.annotations.end())
        return Fail(EINVAL, std::string(kSnapshotAnnotation) + " '" + s->second +
                                "': the only value is 'cache'");
      TRY_STATUS(in->BootExec(c, exe_host));
      in->kind_ = "exec";
      return in;
    }
  }
  if (in->kind_.empty()) in->kind_ = "func-image";
  TRY_STATUS(in->BootImage(c, image_host, log));
  return in;
}

Status Instance::BootExec(const BundleConfig& c, const std::string& exe_host) {
  SandboxOptions opts;
  opts.rootfs = c.rootfs;
  opts.mounts = c.binds;
  opts.cwd = c.cwd;
  opts.memory_limit =
      std::max(c.memory_limit ? c.memory_limit : kDefaultMemoryLimit, kMinMemoryLimit);
  if (c.max_fds) opts.max_fds = std::clamp<uint32_t>(c.max_fds, 3, state::kMaxFds);
  TRY(ElfImage elf, WithContext(ReadElfImage(exe_host), "exec " + c.args[0]));
  TRY(sandbox_,
      WithContext(Sandbox::Create(*platform_, opts, cli::StderrLogger()), "create the sandbox"));
  TRY_STATUS(WithContext(LoadExecutable(*sandbox_, elf, c.args, c.env), "exec " + c.args[0]));
  return {};
}

Status Instance::BootImage(const BundleConfig& c, const std::string& image_host,
                           const OciLog& log) {
  TRY(FuncImage image, WithContext(FuncImage::Open(image_host), "open the func-image"));
  image_.emplace(std::move(image));
  if (kind_ == "func-image" && c.args.size() > 1)
    log.Info("process.args after the func-image ignored: its argv was fixed at capture");
  TRY(MountChoice mounts, BindImageMounts(*image_, c, log));
  // No timeout during the boot: the wait between create and start is the engine's, not the
  // guest's. Run() bounds the run itself.
  RunLimits boot_limits = limits_;
  boot_limits.timeout_s = 0;
  BootStats stats;
  TRY(sandbox_, ColdBoot(*platform_, *image_, Reconnect::kLazy, mounts, boot_limits,
                         cli::StderrLogger(), stats));
  return {};
}

int Instance::Run(std::string& why) {
  // The boot's watchdog (no timeout) gives way to the run's, whose clock starts now.
  sandbox_->TakeWatchdog();
  limits_.start_ns = 0;
  auto outcome = RunGuest(*sandbox_, limits_);
  if (!outcome) {
    why = "run: " + outcome.error().message();
    return cli::kExitCatloadError;
  }
  why = outcome->Describe(limits_);
  const bool clean = outcome->kind == GuestOutcome::Kind::kExited && outcome->status == 0;
  if (outcome->memory_limit_hit && !clean) {
    why = "the container went past its memory limit (" +
          std::to_string(memory_limit_ ? memory_limit_ : kDefaultMemoryLimit) +
          " bytes) and was stopped" + (why.empty() ? "" : ": " + why);
    return kExitOomKilled;
  }
  return outcome->ExitCode();
}

}  // namespace cat::oci
