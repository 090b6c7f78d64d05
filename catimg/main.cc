// catimg: the offline compiler from checkpoint to func-image, and the tools around images.
// One file per subcommand; this one only dispatches and turns parse errors into exit codes
// (0 done, 1 bad image, 2 usage).
#include <CLI/CLI.hpp>

#include "catimg/build_command.h"
#include "catimg/cli_common.h"
#include "catimg/inspect_command.h"
#include "catimg/pack_command.h"
#include "catimg/verify_command.h"
#include "loader/cli/cli_common.h"

int main(int argc, char** argv) {
  CLI::App app{
      "catimg: compile catalyzer checkpoints into func-images (.cfi) and examine them.\n"
      "A func-image is what `catload run` boots from: page-aligned memory segments mapped, "
      "never copied, and the sandbox kernel's state pre-deserialized into an arena "
      "(spec/func-image.md)."};
  app.set_version_flag("--version", "catimg 0.1.0");
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 done, 1 bad image, 2 usage error. Examples:\n"
      "  catimg build fn.core -o fn.cfi\n"
      "  catimg inspect fn.cfi --json\n"
      "  catimg verify fn.cfi\n"
      "  catimg pack fn.cfi -o oci:images:fn && catimg unpack oci:images:fn -o fn.d\n"
      "Run `catimg SUBCOMMAND --help` for each subcommand's options.");
  auto run_build = cat::catimg::AddBuildCommand(app);
  auto run_inspect = cat::catimg::AddInspectCommand(app);
  auto run_verify = cat::catimg::AddVerifyCommand(app);
  auto run_pack = cat::catimg::AddPackCommand(app);
  auto run_unpack = cat::catimg::AddUnpackCommand(app);
  // build's EXE [ARGS...] after `--` are split off first so that they stay the guest's.
  const cat::cli::SplitArgs split = cat::cli::SplitCommandLine(argc, argv, app, {"build"}, true);
  try {
    cat::cli::ParseOptions(app, split);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? cat::catimg::kExitOk : cat::catimg::kExitUsage;
  }
  if (app.got_subcommand("build")) return run_build(std::move(split.command));
  if (app.got_subcommand("inspect")) return run_inspect();
  if (app.got_subcommand("verify")) return run_verify();
  if (app.got_subcommand("pack")) return run_pack();
  if (app.got_subcommand("unpack")) return run_unpack();
  return cat::catimg::kExitUsage;
}
