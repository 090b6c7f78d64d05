// `catload capture [exec options] -o CORE [--entry auto|explicit] [--] EXE [ARGS...]`.
#include "loader/boot/capture_boot.h"
#include "loader/cli/boot_commands.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/sandbox_args.h"
#include "loader/platform/cpu_pin.h"

namespace cat::cli {
namespace {

struct CaptureArgs {
  SandboxArgs sandbox;
  std::string output;
  std::string entry = "auto";
};

int RunCapture(const CaptureArgs& a, const std::vector<std::string>& command) {
  const CpuPin pin;  // tracer and shell on one CPU (cpu_pin.h)
  std::unique_ptr<Platform> platform = ChooseCliPlatform("capture", a.sandbox.platform);
  if (!platform) return kExitCatloadError;
  std::unique_ptr<Sandbox> sandbox;
  if (int code = BootFromScratch("capture", *platform, a.sandbox, command, sandbox)) return code;
  const CaptureRequest req = MakeCaptureRequest(a.sandbox, command, a.output, a.entry);
  auto outcome = CaptureCheckpoint(*sandbox, req);
  if (!outcome) {
    PrintError(outcome.error().message());
    return kExitCatloadError;
  }
  using Kind = GuestOutcome::Kind;
  if (outcome->kind == Kind::kTimeout || outcome->kind == Kind::kCpuLimit ||
      outcome->kind == Kind::kOutputLimit) {
    PrintError("capture: the function reached a limit before its func-entry point (" +
               outcome->Describe(req.limits) +
               "); no checkpoint written. Give its initialization more room with the option "
               "named there");
    return kExitCatloadError;
  }
  if (outcome->kind != Kind::kFuncEntry) {
    std::string why = outcome->Describe(req.limits);
    if (why.empty()) why = "it exited with status " + std::to_string(outcome->status);
    PrintError("capture: the function ended before its func-entry point (" + why +
               "); no checkpoint written. It must call cat_func_entry() or read its request "
               "from stdin" +
               std::string(req.entry == EntryMode::kExplicit ? " (--entry explicit: only "
                                                               "cat_func_entry counts)"
                                                             : ""));
    return kExitCatloadError;
  }
  return 0;
}

}  // namespace

std::function<int(std::vector<std::string>)> AddCaptureCommand(CLI::App& app) {
  auto args = std::make_shared<CaptureArgs>();
  CLI::App* cmd = app.add_subcommand(
      "capture",
      "Run a function until its func-entry point and write a checkpoint (an ELF core file).\n"
      "Usage: catload capture [OPTIONS] -o CORE [--] EXE [ARGS...]");
  cmd->footer(
      "The func-entry point is where the function's initialization ends: the call "
      "cat_func_entry() from sdk/catalyzer.h, or (--entry auto, the default) the first read "
      "of fd 0, its request. The checkpoint holds registers, memory and the sandbox kernel's "
      "state; readelf -n and gdb EXE CORE read it, `catimg build` compiles it into a "
      "func-image, `catload restore` boots it directly.\n\n"
      "Examples:\n"
      "  catload capture -o fn.core -- ./fn\n"
      "  catload capture --mount $PWD/app:/app:ro -o lua.core -- ./lua_fn /app/main.lua\n"
      "  catload capture --entry explicit -o fn.core -- ./fn_with_sdk");
  cmd->add_option("-o,--output", args->output, "Checkpoint file to write (atomically)")->required();
  cmd->add_option("--entry", args->entry,
                  "Which func-entry point to stop at: auto (cat_func_entry or the first read "
                  "of fd 0) or explicit (only cat_func_entry). Default: auto")
      ->check(CLI::IsMember({"auto", "explicit"}));
  AddSandboxOptions(*cmd, args->sandbox);
  return [args](std::vector<std::string> command) { return RunCapture(*args, command); };
}

}  // namespace cat::cli
