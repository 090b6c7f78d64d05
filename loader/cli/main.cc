// catload: boots functions in the catalyzer sandbox. One file per subcommand; this one only
// dispatches and turns parse errors into exit codes.
#include <CLI/CLI.hpp>
#include <csignal>

#include "loader/cli/boot_commands.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/exec_command.h"

int main(int argc, char** argv) {
  // A closed stdout must become EPIPE for the guest (which then gets its SIGPIPE from the
  // sandbox kernel), not kill catload itself.
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "catload: run serverless functions in the catalyzer sandbox.\n"
      "Guests are static x86-64 Linux executables whose every syscall is emulated by the "
      "sandbox kernel (ptrace platform)."};
  app.set_version_flag("--version", "catload 0.1.0");
  app.require_subcommand(1);
  auto run_exec = cat::cli::AddExecCommand(app);
  auto run_capture = cat::cli::AddCaptureCommand(app);
  auto run_restore = cat::cli::AddRestoreCommand(app);
  auto run_run = cat::cli::AddRunCommand(app);
  // The guest's command line is split off first, so that its options stay its own.
  cat::cli::SplitArgs split =
      cat::cli::SplitCommandLine(argc, argv, app, {"exec", "capture"}, false);
  try {
    cat::cli::ParseOptions(app, split);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : cat::cli::kExitCatloadError;
  }
  if (app.got_subcommand("exec")) return run_exec(std::move(split.command));
  if (app.got_subcommand("capture")) return run_capture(std::move(split.command));
  if (app.got_subcommand("restore")) return run_restore();
  if (app.got_subcommand("run")) return run_run();
  return cat::cli::kExitCatloadError;
}
