// catload-serve: the dynamically linked half of catload, `catload serve` and `catload invoke`
// (the static catload execs it for those; spec/serve.md, "Binaries"). It links cpp-httplib,
// which Debian ships as a shared library only; a long-running server pays dynamic loading once.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "loader/cli/cli_common.h"
#include "loader/cli/serve_commands.h"

int main(int argc, char** argv) {
  // A client gone mid-answer must be an error on its socket, not the server's death.
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{"catload serve / catload invoke: functions over HTTP (spec/serve.md)."};
  app.name("catload");
  app.set_version_flag("--version", "catload 0.1.0");
  app.require_subcommand(1);
  auto serve = cat::cli::AddServeCommand(app);
  auto invoke = cat::cli::AddInvokeCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : cat::cli::kExitCatloadError;
  }
  if (app.got_subcommand("serve")) return serve();
  if (app.got_subcommand("invoke")) return invoke();
  return cat::cli::kExitCatloadError;
}
