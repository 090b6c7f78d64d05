// `catload restore [--rootfs DIR] [--mount ...] [--mounts-from-image] [--timeout S]
//  [--stats[=json]] CORE`: the conventional restore baseline.
#include "loader/boot/restore_boot.h"
#include "loader/cli/boot_commands.h"
#include "loader/cli/boot_report.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/sandbox_args.h"
#include "loader/platform/cpu_pin.h"

namespace cat::cli {
namespace {

struct RestoreArgs {
  std::string core;
  BindArgs bind;
  RunReport report;
};

int RunRestore(const RestoreArgs& a) {
  BootStats stats;  // starts now: the request has been accepted
  auto mounts = ToMountChoice(a.bind);
  if (!mounts) {
    PrintError("restore: " + mounts.error().message());
    return kExitCatloadError;
  }
  auto checkpoint = ReadCheckpoint(a.core);
  if (!checkpoint) {
    PrintError("restore: " + checkpoint.error().message());
    return kExitCatloadError;
  }
  stats.Stage("read checkpoint");
  const CpuPin pin;  // tracer and shell on one CPU (cpu_pin.h)
  std::unique_ptr<Platform> platform = ChooseCliPlatform("restore", a.report.platform);
  if (!platform) return kExitCatloadError;
  auto sandbox = RestoreFromCheckpoint(*platform, *checkpoint, *mounts, BootLimits(a.report, stats),
                                       StderrLogger(), stats);
  if (!sandbox) return BootFailed(sandbox.error(), a.report);
  return RunBooted("restore", **sandbox, stats, a.report);
}

}  // namespace

std::function<int()> AddRestoreCommand(CLI::App& app) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* cmd = app.add_subcommand(
      "restore",
      "Boot a function straight from its checkpoint, the conventional way (parse and "
      "re-allocate the kernel state object by object, copy memory into fresh mappings).");
  cmd->footer(
      "This is the baseline that `catload run` (cold boot from a func-image) is measured "
      "against. The request is read from stdin, the response written to stdout; the exit code "
      "is the function's.\n\nExample:\n  echo req | catload restore --stats fn.core");
  cmd->add_option("core", args->core, "Checkpoint written by `catload capture`")->required();
  AddBindOptions(*cmd, args->bind, "checkpoint");
  AddRunReportOptions(*cmd, args->report);
  return [args] { return RunRestore(*args); };
}

}  // namespace cat::cli
