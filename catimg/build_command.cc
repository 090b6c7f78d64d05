// `catimg build CORE -o FN.cfi` and `catimg build [capture options] -o FN.cfi -- EXE [ARGS...]`.
#include "catimg/build_command.h"

#include <unistd.h>

#include <cstdio>

#include "catimg/cli_common.h"
#include "catimg/compiler/compiler.h"
#include "loader/boot/capture_boot.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/sandbox_args.h"
#include "loader/platform/ptrace/ptrace_platform.h"

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
  ptrace_platform::PtracePlatform platform;
  std::unique_ptr<Sandbox> sandbox;
  if (cli::BootFromScratch("build", platform, a.sandbox, command, sandbox)) return kExitBadImage;
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
  if (a.input.empty() == command.empty()) {
    std::fprintf(stderr,
                 "catimg: build: give either a checkpoint (catimg build CORE -o FN.cfi) or an "
                 "executable after -- (catimg build -o FN.cfi -- EXE [ARGS...])\n");
    return kExitUsage;
  }
  std::string core = a.input;
  std::string temp_core;
  if (!command.empty()) {
    temp_core = a.output + ".capture.core";
    if (int code = CaptureFirst(a, command, temp_core)) return code;
    core = temp_core;
  }
  BuildOptions options;
  options.name = a.name;
  auto report = CompileCheckpoint(core, a.output, options);
  if (!temp_core.empty()) unlink(temp_core.c_str());
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
      "(checksums, atomic). The same checkpoint always gives the same bytes.\n\n"
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
