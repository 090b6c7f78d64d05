// `catload exec [options] [--] EXE [ARGS...]` (see --help for every option).
#include "loader/cli/exec_command.h"

#include <memory>

#include "loader/boot/elf_image.h"
#include "loader/boot/exec_boot.h"
#include "loader/boot/run_loop.h"
#include "loader/boot/sandbox.h"
#include "loader/cli/cli_common.h"
#include "loader/platform/ptrace/ptrace_platform.h"

namespace cat::cli {
namespace {

struct ExecArgs {
  std::string rootfs;
  std::vector<std::string> mounts;
  std::string cwd = "/";
  std::vector<std::string> env;
  std::string memory_limit = "2G";
  double timeout_s = 0;
  uint32_t max_fds = 1024;
  bool trace = false;
  std::vector<std::string> command;
};

int RunExec(const ExecArgs& a) {
  if (a.command.empty()) {
    PrintError("exec: no executable given; usage: catload exec [OPTIONS] [--] EXE [ARGS...]");
    return kExitCatloadError;
  }
  SandboxOptions opts;
  opts.rootfs = a.rootfs;
  opts.cwd = a.cwd;
  opts.max_fds = a.max_fds;
  auto limit = ParseSize(a.memory_limit);
  if (!limit || *limit < (16ull << 20)) {
    PrintError("exec: bad --memory-limit '" + a.memory_limit +
               "': give bytes with an optional K/M/G suffix, at least 16M");
    return kExitCatloadError;
  }
  opts.memory_limit = *limit;
  for (const std::string& m : a.mounts) {
    auto spec = ParseMountSpec(m);
    if (!spec) {
      PrintError("exec: " + spec.error().message());
      return kExitCatloadError;
    }
    opts.mounts.push_back(*spec);
  }
  for (const std::string& e : a.env) {
    if (e.find('=') == std::string::npos) {
      PrintError("exec: bad --env '" + e + "': expected KEY=VALUE");
      return kExitCatloadError;
    }
  }

  auto image = ReadElfImage(a.command[0]);
  if (!image) {
    PrintError("exec: " + image.error().message());
    return image.error().code() == ENOENT ? kExitNotFound : kExitCannotExecute;
  }
  ptrace_platform::PtracePlatform platform;
  auto sandbox = Sandbox::Create(platform, opts, StderrLogger());
  if (!sandbox) {
    PrintError("exec: create sandbox: " + sandbox.error().message());
    return kExitCatloadError;
  }
  if (auto r = LoadExecutable(**sandbox, *image, a.command, a.env); !r) {
    PrintError("exec: " + r.error().message());
    return kExitCannotExecute;
  }
  (*sandbox)->kernel().set_trace(a.trace);
  auto outcome = RunGuest(**sandbox, a.timeout_s);
  if (!outcome) {
    PrintError("exec: run: " + outcome.error().message());
    return kExitCatloadError;
  }
  const std::string why = outcome->Describe(a.timeout_s);
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
      "128+N: killed by signal N, 125: catload failed, 126: not runnable, 127: not found).\n\n"
      "Examples:\n"
      "  catload exec -- ./hello\n"
      "  echo 'a b' | catload exec --rootfs ./root --env LANG=C -- /bin/busybox awk '{print $2}'\n"
      "  catload exec --mount /srv/data:/data:ro --memory-limit 256M --timeout 5 -- ./fn req");
  cmd->add_option("--rootfs", args->rootfs,
                  "Host directory that is the guest's / (read-only; writes go to an in-memory "
                  "overlay). /dev/{null,zero,random,urandom} always exist (a rootfs's own /dev is hidden), so does /tmp, and so do the parent directories of --mount targets. Default: an empty root. "
                  "Example: --rootfs ./rootfs")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--mount", args->mounts,
                  "Add a host directory at a guest path: HOST:GUEST[:ro|rw] (default ro: writes "
                  "go to the overlay; rw: writes reach the host). Repeatable. "
                  "Example: --mount /srv/models:/models:ro");
  cmd->add_option("--cwd", args->cwd, "Initial working directory in the guest. Default: /");
  cmd->add_option("--env", args->env,
                  "Set an environment variable of the guest: KEY=VALUE. Repeatable; nothing of "
                  "catload's own environment is passed. Example: --env LANG=C");
  cmd->add_option("--memory-limit", args->memory_limit,
                  "Maximum guest memory mapped at once (mmap beyond it fails with ENOMEM). "
                  "Bytes with optional K/M/G suffix. Default: 2G. Example: --memory-limit 256M");
  cmd->add_option("--timeout", args->timeout_s,
                  "Wall-clock limit in seconds; then the guest is killed and catload exits 124. "
                  "Default: none. Example: --timeout 2.5")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-fds", args->max_fds,
                  "Maximum number of open fds in the guest (RLIMIT_NOFILE). Default: 1024")
      ->check(CLI::Range(3u, 1u << 20));
  cmd->add_flag("--trace", args->trace,
                "Log every syscall the guest makes, with its arguments and result, to stderr");
  return [args](std::vector<std::string> command) {
    args->command = std::move(command);
    return RunExec(*args);
  };
}

}  // namespace cat::cli
