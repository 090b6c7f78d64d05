// `catload run [--rootfs DIR] [--mount ...] [--mounts-from-image] [--timeout S]
//  [--stats[=json]] [--reconnect lazy|eager] [--boot cold|warm|fork --repeat N] FN.cfi`: cold
// boot of a func-image; with --boot/--repeat, N instances booted one after another in one
// process the way `catload serve` boots them (tests and benchmarks of the warm and fork paths).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "format/base/unique_fd.h"
#include "loader/boot/invocation.h"
#include "loader/cli/boot_commands.h"
#include "loader/cli/boot_report.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/sandbox_args.h"
#include "loader/platform/ptrace/ptrace_platform.h"

namespace cat::cli {
namespace {

struct RunArgs {
  std::string image;
  BindArgs bind;
  std::string reconnect = "lazy";
  std::string prefault = "recorded";
  RunReport report;
  std::string boot = "cold";
  uint32_t repeat = 1;
  uint32_t pool = 2;
  std::string template_dirty = "0";
};

// stdin read to its end: every instance of a --repeat run gets the same request.
Result<std::string> ReadRequest() {
  std::string request;
  char buf[65536];
  for (;;) {
    const ssize_t n = read(0, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read the request from stdin");
    if (n == 0) return request;
    request.append(buf, static_cast<size_t>(n));
  }
}

// A memfd holding the request, read from its start: one instance's request channel.
Result<UniqueFd> RequestFd(const std::string& request) {
  UniqueFd fd(memfd_create("catload-request", MFD_CLOEXEC));
  if (!fd.valid()) return FailErrno("memfd_create");
  for (size_t done = 0; done < request.size();) {
    const ssize_t n = write(fd.get(), request.data() + done, request.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("write the request");
    done += static_cast<size_t>(n);
  }
  if (lseek(fd.get(), 0, SEEK_SET) != 0) return FailErrno("rewind the request");
  return fd;
}

// --boot warm|fork, or --repeat: the boots catload serve makes, N in a row in this process,
// each an invocation (invocation.h). What a server does once per image (open, verify,
// relocate; make the template; start the pool) is done before the first instance, outside
// every boot latency. Between instances catload waits, as a server's idle time between
// requests would, for the previous instance's shell to be torn down and the pool to be full.
int RunRepeated(const RunArgs& a) {
  auto mounts = ToMountChoice(a.bind);
  if (!mounts) {
    PrintError("run: " + mounts.error().message());
    return kExitCatloadError;
  }
  auto request = ReadRequest();
  if (!request) {
    PrintError("run: " + request.error().message());
    return kExitCatloadError;
  }
  std::unique_ptr<Platform> platform = ChooseCliPlatform("run", a.report.platform);
  if (!platform) return kExitCatloadError;
  InvocationOptions options;
  options.reconnect = a.reconnect == "eager" ? Reconnect::kEager : Reconnect::kLazy;
  options.mounts = std::move(*mounts);
  options.log = StderrLogger();
  options.prefault = *ParsePrefault(a.prefault);  // checked by the CLI
  std::optional<FuncImage> cold_image;
  std::unique_ptr<WarmImage> warm;
  std::unique_ptr<ShellPool> pool;
  std::unique_ptr<Template> tmpl;
  if (a.boot == "cold") {
    options.mode = BootMode::kCold;
  } else {
    auto w = WarmImage::Open(a.image);
    if (!w) return BootFailed(w.error(), a.report);
    warm = std::move(*w);
    options.warm = warm.get();
  }
  if (a.boot == "warm") {
    auto p = ShellPool::Start(*platform, a.pool);
    if (!p) return BootFailed(p.error(), a.report);
    pool = std::move(*p);
    options.mode = BootMode::kWarm;
    options.pool = pool.get();
  }
  if (a.boot == "fork") {
    TemplateOptions t_options;
    t_options.dirty_bytes = ParseSize(a.template_dirty).value_or(0);  // checked by the CLI
    auto t = Template::Create(*platform, *warm, options.mounts, BootLimits(a.report, BootStats()),
                              options.log, t_options);
    if (!t) return BootFailed(t.error(), a.report);
    tmpl = std::move(*t);
    options.mode = BootMode::kFork;
    options.fork_template = tmpl.get();
  }
  int code = 0;
  for (uint32_t i = 0; i < a.repeat; ++i) {
    auto in = RequestFd(*request);
    if (!in) {
      PrintError("run: " + in.error().message());
      return kExitCatloadError;
    }
    ptrace_platform::WaitForDyingShells();
    platform->WaitForPools();
    if (pool) pool->WaitFull();
    BootStats stats;  // the request is accepted now
    const FuncImage* image = warm ? &warm->image() : nullptr;
    if (!warm) {
      auto opened = FuncImage::Open(a.image);
      if (!opened) {
        PrintError("run: open: " + opened.error().message());
        return kExitCatloadError;
      }
      cold_image = std::move(*opened);
      image = &*cold_image;
      stats.Stage("open + verify header");
    }
    options.limits = BootLimits(a.report, stats);
    auto result = Invoke(*platform, *image, options, {in->get(), 1, 2}, std::move(stats));
    if (!result) return BootFailed(result.error(), a.report);
    code = ReportInvocation("run", *result, a.report, options.limits);
  }
  return code;
}

int RunImage(const RunArgs& a) {
  if (a.boot != "cold" || a.repeat != 1) return RunRepeated(a);
  BootStats stats;  // starts now: the request has been accepted
  auto mounts = ToMountChoice(a.bind);
  if (!mounts) {
    PrintError("run: " + mounts.error().message());
    return kExitCatloadError;
  }
  auto image = FuncImage::Open(a.image);
  if (!image) {
    PrintError("run: open: " + image.error().message());
    return kExitCatloadError;
  }
  stats.Stage("open + verify header");
  std::unique_ptr<Platform> platform = ChooseCliPlatform("run", a.report.platform);
  if (!platform) return kExitCatloadError;
  // One invocation bound to catload's own stdio: the same code path as each of a server's
  // (invocation.h), pinned to the CPU catload runs on.
  InvocationOptions options;
  options.reconnect = a.reconnect == "eager" ? Reconnect::kEager : Reconnect::kLazy;
  options.prefault = *ParsePrefault(a.prefault);  // checked by the CLI
  options.mounts = std::move(*mounts);
  options.limits = BootLimits(a.report, stats);
  options.log = StderrLogger();
  auto result = Invoke(*platform, *image, options, kProcessStdio, std::move(stats));
  if (!result) return BootFailed(result.error(), a.report);
  return ReportInvocation("run", *result, a.report, options.limits);
}

}  // namespace

std::function<int()> AddRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Cold-boot a function from its func-image (.cfi) and serve one request.");
  cmd->footer(
      "Memory is mapped copy-on-write from the image file, the sandbox kernel's state is "
      "relocated in place, and files the function had open are reopened on first use "
      "(checked against their size and mtime at capture). The request is read from stdin, "
      "the response written to stdout; the exit code is the function's.\n\n"
      "Examples:\n"
      "  echo req | catload run fn.cfi\n"
      "  echo req | catload run --stats=json --reconnect=eager fn.cfi\n"
      "  echo req | catload run --rootfs /srv/rootfs fn.cfi   # captured with a rootfs\n"
      "  echo req | catload run --mount /srv/fn:/fn fn.cfi    # captured with --mount X:/fn\n\n"
      "The image names no host object: the host directory of every mount it was captured "
      "with is the operator's to give (spec/sandbox.md, \"Host bindings\").");
  cmd->add_option("image", args->image, "Func-image built by `catimg build`")->required();
  AddBindOptions(*cmd, args->bind, "image");
  AddRunReportOptions(*cmd, args->report);
  cmd->add_option("--reconnect", args->reconnect,
                  "When to reopen files the function had open: lazy (on first use, the "
                  "default) or eager (at boot, for comparison)")
      ->check(CLI::IsMember({"lazy", "eager"}));
  cmd->add_option("--prefault", args->prefault,
                  "How the boot pre-copies memory the request will write (spec/boot.md, \"The "
                  "copy-on-write tax\"): recorded (the default: the working set `catimg build "
                  "--sample-request` recorded, none if it recorded nothing), recorded-read (also "
                  "maps every stored page for reading), none, writable "
                  "(every writable segment) or thp (writable segments as huge pages filled from "
                  "the image); for comparison")
      ->check(CLI::IsMember({"none", "recorded", "recorded-read", "writable", "thp"}));
  // The paths `catload serve` uses, exercised in one process (spec/boot.md).
  cmd->add_option("--boot", args->boot,
                  "Tests and benchmarks: how to boot each instance: cold (the default), warm "
                  "(image verified and relocated once, a shell from the zygote pool, the state "
                  "copied) or fork (sfork of a template paused at func-entry)")
      ->check(CLI::IsMember({"cold", "warm", "fork"}));
  cmd->add_option("--repeat", args->repeat,
                  "Tests and benchmarks: boot and run N instances one after another in this "
                  "process, each given the whole request read from stdin (its output appended "
                  "to stdout, its --stats line to stderr); the exit code is the last one's. "
                  "Default: 1")
      ->check(CLI::Range(1u, 1000000u));
  cmd->add_option("--pool", args->pool,
                  "With --boot warm: shells the zygote pool keeps ready. Default: 2")
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--template-dirty", args->template_dirty,
                  "Benchmarks, with --boot fork: write the template's first SIZE bytes of "
                  "writable memory before forking it (K/M/G suffix), to measure fork cost "
                  "against the template's dirty memory. Default: 0")
      ->check(CLI::Validator(
          [](const std::string& v) -> std::string {
            return ParseSize(v) ? "" : "give bytes with an optional K/M/G suffix";
          },
          "SIZE"));
  return [args] { return RunImage(*args); };
}

}  // namespace cat::cli
