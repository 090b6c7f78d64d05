// `catimg build CORE -o FN.cfi` and `catimg build [capture options] -o FN.cfi -- EXE [ARGS...]`.
#include "catimg/build_command.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "catimg/cli_common.h"
#include "catimg/compiler/compiler.h"
#include "format/base/temp_file.h"
#include "loader/boot/capture_boot.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/sandbox_args.h"
#include "loader/platform/cpu_pin.h"

namespace cat::catimg {
namespace {

struct BuildArgs {
  std::string input;  // a checkpoint
  std::string output;
  std::string name;
  std::string entry = "auto";
  bool quiet = false;
  cli::SandboxArgs sandbox;
};

// Captures EXE into a temporary checkpoint next to the output (catimg build -- EXE ...).
int CaptureFirst(const BuildArgs& a, const std::vector<std::string>& command,
                 const std::string& core) {
  const CpuPin pin;  // tracer and shell on one CPU (cpu_pin.h)
  std::unique_ptr<Platform> platform = cli::ChooseCliPlatform("build", a.sandbox.platform);
  if (!platform) return kExitBadImage;
  std::unique_ptr<Sandbox> sandbox;
  if (cli::BootFromScratch("build", *platform, a.sandbox, command, sandbox)) return kExitBadImage;
  const CaptureRequest req = cli::MakeCaptureRequest(a.sandbox, command, core, a.entry);
  auto outcome = CaptureCheckpoint(*sandbox, req);
  if (!outcome) {
    std::fprintf(stderr, "catimg: build: capture: %s\n", outcome.error().message().c_str());
    return kExitBadImage;
  }
  if (outcome->kind != GuestOutcome::Kind::kFuncEntry) {
    std::fprintf(stderr,
                 "catimg: build: capture: the function ended before its func-entry point (%s)\n",
                 outcome->Describe(req.limits).empty()
                     ? ("exit status " + std::to_string(outcome->status)).c_str()
                     : outcome->Describe(req.limits).c_str());
    return kExitBadImage;
  }
  return kExitOk;
}

int RunBuild(const BuildArgs& a, const std::vector<std::string>& command) {
  InstallTempFileCleanup();
  if (a.input.empty() == command.empty()) {
    std::fprintf(stderr,
                 "catimg: build: give either a checkpoint (catimg build CORE -o FN.cfi) or an "
                 "executable after -- (catimg build -o FN.cfi -- EXE [ARGS...])\n");
    return kExitUsage;
  }
  std::string core = a.input;
  // The one-step build's checkpoint is a temporary of the output (temp_file.h): removed at the
  // end, on SIGTERM/SIGINT/SIGHUP, and as stale by the next build if this one is killed.
  std::optional<TempFile> temp_core;
  UniqueFd core_lock;
  if (!command.empty()) {
    auto t = TempFile::Create(a.output, 0600);
    if (!t) {
      std::fprintf(stderr, "catimg: build: %s\n", t.error().message().c_str());
      return kExitBadImage;
    }
    temp_core.emplace(std::move(*t));
    core = temp_core->path();
    if (int code = CaptureFirst(a, command, core)) return code;
    // The capture renamed a new file over the temporary name: lock that one too, so that a
    // concurrent build does not take it for stale while it is compiled.
    core_lock = UniqueFd(open(core.c_str(), O_RDONLY | O_CLOEXEC));
    if (core_lock.valid()) flock(core_lock.get(), LOCK_EX | LOCK_NB);
  }
  BuildOptions options;
  options.name = a.name;
  auto report = CompileCheckpoint(core, a.output, options);
  temp_core.reset();
  if (!report) {
    std::fprintf(stderr, "catimg: %s\n", report.error().message().c_str());
    return kExitBadImage;
  }
  if (!a.quiet) {
    for (const auto& p : report->passes)
      std::fprintf(stderr, "catimg: build: %-15s %8.2f ms\n", p.pass.c_str(), p.ms);
    std::fprintf(stderr,
                 "catimg: built %s: %llu segments, %llu bytes stored, %llu zero bytes not "
                 "stored, arena %llu bytes, %llu relocations\n",
                 a.output.c_str(), static_cast<unsigned long long>(report->segments),
                 static_cast<unsigned long long>(report->stored_bytes),
                 static_cast<unsigned long long>(report->zero_bytes),
                 static_cast<unsigned long long>(report->arena_bytes),
                 static_cast<unsigned long long>(report->relocations));
  }
  return kExitOk;
}

}  // namespace

std::function<int(std::vector<std::string>)> AddBuildCommand(CLI::App& app) {
  auto args = std::make_shared<BuildArgs>();
  CLI::App* cmd = app.add_subcommand(
      "build",
      "Compile a checkpoint into a func-image (.cfi), or capture an executable and compile it "
      "in one step.\nUsage: catimg build CORE -o FN.cfi | catimg build [OPTIONS] -o FN.cfi -- "
      "EXE [ARGS...]");
  cmd->footer(
      "Passes: read -> validate -> layout (page-aligned segments, all-zero pages not stored) "
      "-> predeserialize (kernel state into an arena with a relocation table) -> write "
      "(checksums, atomic). The same checkpoint always gives the same bytes. Temporary files "
      "(.OUT.tmp-XXXXXX) are removed on failure, on SIGTERM/SIGINT/SIGHUP and, if a build was "
      "killed, by the next build of the same output.\n\n"
      "Examples:\n"
      "  catimg build fn.core -o fn.cfi\n"
      "  catimg build --mount $PWD/app:/app:ro -o lua.cfi -- ./lua_fn /app/main.lua\n\n"
      "The image records the rootfs and mounts by guest path and mode only (plus the capture-"
      "time host paths as metadata): `catload run` takes their host directories from its own "
      "--rootfs/--mount, e.g. `catload run --mount $PWD/app:/app lua.cfi`.");
  cmd->add_option("checkpoint", args->input, "Checkpoint written by `catload capture`")
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", args->output, "Func-image to write")->required();
  cmd->add_option("--name", args->name,
                  "Function name recorded in the image (default: the "
                  "executable's file name)");
  cmd->add_option("--entry", args->entry,
                  "With an executable: auto (default) or explicit func-entry point")
      ->check(CLI::IsMember({"auto", "explicit"}));
  cmd->add_flag("-q,--quiet", args->quiet, "Do not print the pass timings and totals");
  cli::AddSandboxOptions(*cmd, args->sandbox);
  return [args](std::vector<std::string> command) { return RunBuild(*args, command); };
}

}  // namespace cat::catimg
