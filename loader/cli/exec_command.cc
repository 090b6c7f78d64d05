// `catload exec [options] [--] EXE [ARGS...]` (see --help for every option).
#include "loader/cli/exec_command.h"

#include <memory>

#include "loader/boot/elf_image.h"
#include "loader/boot/exec_boot.h"
#include "loader/boot/run_loop.h"
#include "loader/boot/sandbox.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/sandbox_args.h"
#include "loader/platform/cpu_pin.h"

namespace cat::cli {
namespace {

struct ExecArgs {
  SandboxArgs sandbox;
  std::vector<std::string> command;
};

int RunExec(const ExecArgs& a) {
  const CpuPin pin;  // tracer and shell on one CPU (cpu_pin.h)
  std::unique_ptr<Platform> platform = ChooseCliPlatform("exec", a.sandbox.platform);
  if (!platform) return kExitCatloadError;
  std::unique_ptr<Sandbox> sandbox;
  if (int code = BootFromScratch("exec", *platform, a.sandbox, a.command, sandbox)) return code;
  const RunLimits limits = ToRunLimits(a.sandbox.limits);
  auto outcome = RunGuest(*sandbox, limits);
  if (!outcome) {
    PrintError("exec: run: " + outcome.error().message());
    return kExitCatloadError;
  }
  const std::string why = outcome->Describe(limits);
  if (!why.empty()) PrintError(why);
  return outcome->ExitCode();
}

}  // namespace

std::function<int(std::vector<std::string>)> AddExecCommand(CLI::App& app) {
  auto args = std::make_shared<ExecArgs>();
  CLI::App* cmd =
      app.add_subcommand("exec",
                         "Run a static executable from scratch in the sandbox.\n"
                         "Usage: catload exec [OPTIONS] [--] EXE [ARGS...]  (EXE: host path of the "
                         "executable; argv[0] is EXE as given)");
  cmd->footer(
      "The guest is an unmodified static x86-64 Linux executable (glibc -static, static-pie or "
      "musl). Every syscall it makes is emulated by catload's sandbox kernel; it never reaches "
      "the host kernel. Its fds 0, 1, 2 are catload's stdin, stdout and stderr, its environment "
      "is exactly the --env values, and catload exits with its exit status (124: timed out, "
      "152: CPU limit, 153: output limit, 128+N: killed by signal N, 125: catload failed, "
      "126: not runnable, 127: not found).\n\n"
      "Examples:\n"
      "  catload exec -- ./hello\n"
      "  echo 'a b' | catload exec --rootfs ./root --env LANG=C -- /bin/busybox awk '{print $2}'\n"
      "  catload exec --mount /srv/data:/data:ro --memory-limit 256M --timeout 5 -- ./fn req");
  AddSandboxOptions(*cmd, args->sandbox);
  return [args](std::vector<std::string> command) {
    args->command = std::move(command);
    return RunExec(*args);
  };
}

}  // namespace cat::cli
