// catimg: the offline compiler from checkpoint to func-image. Its subcommands (build, inspect,
// verify, pack) arrive with the checkpoint/func-image issue; today it only reports its version.
#include <CLI/CLI.hpp>
#include <cstdio>

int main(int argc, char** argv) {
  CLI::App app{
      "catimg: compile a catalyzer checkpoint into a func-image (.cfi).\n"
      "This build has no subcommands yet: checkpoints and func-images are not implemented."};
  app.set_version_flag("--version", "catimg 0.1.0");
  app.require_subcommand(0);
  CLI11_PARSE(app, argc, argv);
  std::fputs("catimg: nothing to do (no subcommands in this build); see --help\n", stderr);
  return 2;
}
