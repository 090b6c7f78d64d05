// catload: boots functions in the catalyzer sandbox. One file per subcommand; this one only
// dispatches and turns parse errors into exit codes.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string_view>

#include "format/base/temp_file.h"
#include "loader/cli/boot_commands.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/exec_command.h"
#include "loader/oci/oci_main.h"

namespace {

using Command = std::function<int(std::vector<std::string>)>;

struct Subcommand {
  std::string_view name;
  Command (*add)(CLI::App&);
};

// Each subcommand registers its options and returns what runs it after parsing; exec and
// capture get the guest's command line (split off before parsing, so its options stay its own).
const Subcommand kSubcommands[] = {
    {"exec", cat::cli::AddExecCommand},
    {"capture", cat::cli::AddCaptureCommand},
    {"restore",
     [](CLI::App& app) -> Command {
       return [run = cat::cli::AddRestoreCommand(app)](std::vector<std::string>) { return run(); };
     }},
    {"run",
     [](CLI::App& app) -> Command {
       return [run = cat::cli::AddRunCommand(app)](std::vector<std::string>) { return run(); };
     }},
};

// `catload serve` and `catload invoke` live in catload-serve next to this binary: they link
// cpp-httplib, a shared library only, and catload itself stays static for its per-request start
// (spec/serve.md, "Binaries"). Returns only if the exec failed.
int ExecServeBinary(char** argv) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string(argv[0]);
  path = path.substr(0, path.rfind('/') + 1) + "catload-serve";
  execv(path.c_str(), argv);
  cat::cli::PrintError(std::string(argv[1]) + ": cannot start " + path + " (" +
                       std::strerror(errno) + "); it is built and installed with catload");
  return cat::cli::kExitCatloadError;
}

}  // namespace

int main(int argc, char** argv) {
  // catload-oci, the OCI runtime (spec/oci.md), is this binary by another name.
  const std::string_view self = argv[0] ? argv[0] : "";
  if (self.substr(self.rfind('/') + 1) == "catload-oci") return cat::oci::Main(argc, argv);
  if (argc > 1 && (std::string_view(argv[1]) == "serve" || std::string_view(argv[1]) == "invoke"))
    return ExecServeBinary(argv);
  // A closed stdout must become EPIPE for the guest (which then gets its SIGPIPE from the
  // sandbox kernel), not kill catload itself.
  signal(SIGPIPE, SIG_IGN);
  // SIGTERM/SIGINT/SIGHUP during a capture must not leave a temporary checkpoint behind.
  cat::InstallTempFileCleanup();
  CLI::App app{
      "catload: run serverless functions in the catalyzer sandbox.\n"
      "Guests are static x86-64 Linux executables whose every syscall is emulated by the "
      "sandbox kernel (ptrace platform)."};
  app.footer(
      "Also: `catload serve [OPTIONS] FN.cfi...` (an HTTP server) and `catload invoke URL NAME` "
      "(its client); `catload serve --help` and spec/serve.md describe them.");
  app.set_version_flag("--version", "catload 0.1.0");
  app.require_subcommand(1);
  // catload starts once per request, and building every subcommand's options is a visible
  // part of a cold boot's end-to-end time (~0.15 ms here). When argv[1] names a subcommand,
  // only that one is built; `catload --help` and a mistyped name still see them all.
  const std::string_view first = argc > 1 ? argv[1] : "";
  bool named = false;
  for (const Subcommand& s : kSubcommands) named = named || s.name == first;
  std::vector<std::pair<std::string_view, Command>> commands;
  for (const Subcommand& s : kSubcommands)
    if (!named || s.name == first) commands.emplace_back(s.name, s.add(app));
  cat::cli::SplitArgs split =
      cat::cli::SplitCommandLine(argc, argv, app, {"exec", "capture"}, false);
  try {
    cat::cli::ParseOptions(app, split);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : cat::cli::kExitCatloadError;
  }
  for (auto& [name, run] : commands) {
    if (!app.got_subcommand(std::string(name))) continue;
    const int code = run(std::move(split.command));
    // Everything is written and every guest is gone: tearing down the option tables and the
    // heap one object at a time would only delay the exit the invoker is waiting for.
    std::fflush(nullptr);
    _exit(code);
  }
  return cat::cli::kExitCatloadError;
}
