// `catload run [--rootfs DIR] [--mount ...] [--mounts-from-image] [--timeout S]
//  [--stats[=json]] [--reconnect lazy|eager] FN.cfi`: cold boot of a func-image.
#include "loader/boot/cold_boot.h"
#include "loader/cli/boot_commands.h"
#include "loader/cli/boot_report.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/sandbox_args.h"
#include "loader/platform/ptrace/ptrace_platform.h"

namespace cat::cli {
namespace {

struct RunArgs {
  std::string image;
  BindArgs bind;
  std::string reconnect = "lazy";
  RunReport report;
};

int RunImage(const RunArgs& a) {
  BootStats stats;  // starts now: the request has been accepted
  auto mounts = ToMountChoice(a.bind);
  if (!mounts) {
    PrintError("run: " + mounts.error().message());
    return kExitCatloadError;
  }
  auto image = FuncImage::Open(a.image);
  if (!image) {
    PrintError("run: open: " + image.error().message());
    return kExitCatloadError;
  }
  stats.Stage("open + verify header");
  ptrace_platform::PtracePlatform platform;
  auto sandbox =
      ColdBoot(platform, *image, a.reconnect == "eager" ? Reconnect::kEager : Reconnect::kLazy,
               *mounts, BootLimits(a.report, stats), StderrLogger(), stats);
  if (!sandbox) return BootFailed(sandbox.error(), a.report);
  return RunBooted("run", **sandbox, stats, a.report);
}

}  // namespace

std::function<int()> AddRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Cold-boot a function from its func-image (.cfi) and serve one request.");
  cmd->footer(
      "Memory is mapped copy-on-write from the image file, the sandbox kernel's state is "
      "relocated in place, and files the function had open are reopened on first use "
      "(checked against their size and mtime at capture). The request is read from stdin, "
      "the response written to stdout; the exit code is the function's.\n\n"
      "Examples:\n"
      "  echo req | catload run fn.cfi\n"
      "  echo req | catload run --stats=json --reconnect=eager fn.cfi\n"
      "  echo req | catload run --rootfs /srv/rootfs fn.cfi   # captured with a rootfs\n"
      "  echo req | catload run --mount /srv/fn:/fn fn.cfi    # captured with --mount X:/fn\n\n"
      "The image names no host object: the host directory of every mount it was captured "
      "with is the operator's to give (spec/sandbox.md, \"Host bindings\").");
  cmd->add_option("image", args->image, "Func-image built by `catimg build`")->required();
  AddBindOptions(*cmd, args->bind, "image");
  AddRunReportOptions(*cmd, args->report);
  cmd->add_option("--reconnect", args->reconnect,
                  "When to reopen files the function had open: lazy (on first use, the "
                  "default) or eager (at boot, for comparison)")
      ->check(CLI::IsMember({"lazy", "eager"}));
  return [args] { return RunImage(*args); };
}

}  // namespace cat::cli
