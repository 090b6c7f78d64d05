// `catload run [--rootfs DIR] [--mount ...] [--mounts-from-image] [--timeout S]
//  [--stats[=json]] [--reconnect lazy|eager] FN.cfi`: cold boot of a func-image.
#include "loader/boot/invocation.h"
#include "loader/cli/boot_commands.h"
#include "loader/cli/boot_report.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/sandbox_args.h"

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
  std::unique_ptr<Platform> platform = ChooseCliPlatform("run", a.report.platform);
  if (!platform) return kExitCatloadError;
  // One invocation bound to catload's own stdio: the same code path as each of a server's
  // (invocation.h), pinned to the CPU catload runs on.
  InvocationOptions options;
  options.reconnect = a.reconnect == "eager" ? Reconnect::kEager : Reconnect::kLazy;
  options.mounts = std::move(*mounts);
  options.limits = BootLimits(a.report, stats);
  options.log = StderrLogger();
  auto result = Invoke(*platform, *image, options, kProcessStdio, std::move(stats));
  if (!result) return BootFailed(result.error(), a.report);
  return ReportInvocation("run", *result, a.report, options.limits);
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
