// `catimg build CORE -o FN.cfi` and `catimg build [capture options] -o FN.cfi -- EXE [ARGS...]`.
#include "catimg/build_command.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "catimg/cli_common.h"
#include "catimg/compiler/compiler.h"
#include "format/base/temp_file.h"
#include "loader/boot/capture_boot.h"
#include "loader/boot/cold_boot.h"
#include "loader/boot/recording_shell.h"
#include "loader/boot/working_set.h"
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
  std::string sample_request;  // --sample-request FILE
  cli::SandboxArgs sandbox;
};

// Moves one of catimg's stdio fds onto `fd` for the sample run and back when it ends: the
// sandbox kernel's stdio channels are catload's (here catimg's) fds 0-2 (host_bindings.h).
class StdioRedirect {
 public:
  StdioRedirect(int target, int fd) : target_(target), saved_(dup(target)) {
    if (saved_ >= 0) dup2(fd, target);
  }
  ~StdioRedirect() {
    if (saved_ < 0) return;
    dup2(saved_, target_);
    close(saved_);
  }
  bool ok() const { return saved_ >= 0; }

 private:
  int target_;
  int saved_;
};

// Boots the image just written (no pre-copy), serves it the sample request and returns the
// pages it wrote in the image's writable segments (working_set.h). The guest must exit 0: a
// failing request is no sample of the function's work.
Result<std::vector<PageRun>> RecordSampleRun(Platform& base, const std::string& image_path,
                                             const std::string& request) {
  TRY(FuncImage image, FuncImage::Open(image_path));
  UniqueFd in(open(request.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return FailErrno("sample request: open " + request);
  UniqueFd out(open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (!out.valid()) return FailErrno("sample request: open /dev/null");
  StdioRedirect stdin_from(0, in.get()), stdout_to(1, out.get());
  if (!stdin_from.ok() || !stdout_to.ok()) return FailErrno("sample request: redirect stdio");
  // Pages written and then dropped during the run are recorded as they go (recording_shell.h).
  auto dropped = std::make_shared<DroppedWrites>();
  for (const ImageSegment& s : image.segments())
    if (s.prot & PROT_WRITE) dropped->watch.push_back({s.guest_addr, s.size});
  WriteRecordingPlatform platform(base, dropped);
  BootStats stats;
  RunLimits limits;
  limits.timeout_s = 60;  // a sample that hangs fails the build instead of holding it
  // The capture's own rootfs and mounts, as the image recorded them.
  MountChoice mounts;
  mounts.from_image = true;
  TRY(std::unique_ptr<Sandbox> sb,
      WithContext(ColdBoot(platform, image, Reconnect::kLazy, mounts, limits, cli::StderrLogger(),
                           stats, kProcessStdio, Prefault::kNone),
                  "sample request"));
  TRY(GuestOutcome outcome, WithContext(RunGuest(*sb, limits), "sample request"));
  if (outcome.kind != GuestOutcome::Kind::kExited || outcome.status != 0)
    return Fail(EINVAL, "sample request: the function did not exit 0 (" +
                            (outcome.Describe(limits).empty()
                                 ? "exit status " + std::to_string(outcome.status)
                                 : outcome.Describe(limits)) +
                            ")");
  return WithContext(RecordWorkingSet(sb->shell(), image, std::move(dropped->ranges)),
                     "sample request");
}

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
  uint64_t ws_pages = 0;
  if (report && !a.sample_request.empty()) {
    // The image is booted as catload would boot it; what the request wrote goes into the
    // manifest of the final image, compiled again from the same checkpoint.
    std::unique_ptr<Platform> platform = cli::ChooseCliPlatform("build", a.sandbox.platform);
    if (!platform) {
      unlink(a.output.c_str());
      return kExitBadImage;
    }
    const CpuPin pin;  // tracer and shell on one CPU, as catload run does (cpu_pin.h)
    auto ws = RecordSampleRun(*platform, a.output, a.sample_request);
    if (!ws) {
      unlink(a.output.c_str());
      std::fprintf(stderr, "catimg: build: %s\n", ws.error().message().c_str());
      return kExitBadImage;
    }
    for (const PageRun& r : *ws) ws_pages += r.pages;
    options.working_set = std::move(*ws);
    report = CompileCheckpoint(core, a.output, options);
  }
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
    if (!a.sample_request.empty())
      std::fprintf(stderr, "catimg: working set: %llu pages in %zu runs (from %s)\n",
                   static_cast<unsigned long long>(ws_pages), options.working_set.size(),
                   a.sample_request.c_str());
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
      "  catimg build --mount $PWD/app:/app:ro -o lua.cfi -- ./lua_fn /app/main.lua\n"
      "  catimg build --sample-request req.txt -o lua.cfi -- ./lua_fn\n\n"
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
  cmd->add_option("--sample-request", args->sample_request,
                  "Boot the built image once, serve it FILE as its request (its response is "
                  "dropped; it must exit 0 within 60 s), and record the pages it wrote: cold "
                  "boot pre-copies them in one batch instead of a copy-on-write fault each "
                  "(spec/boot.md, \"The copy-on-write tax\")")
      ->check(CLI::ExistingFile);
  cli::AddSandboxOptions(*cmd, args->sandbox);
  return [args](std::vector<std::string> command) { return RunBuild(*args, command); };
}

}  // namespace cat::catimg
