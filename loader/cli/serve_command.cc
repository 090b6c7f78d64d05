// `catload serve [--listen HOST:PORT] [limits] [admission] [--rootfs/--mount...] FN.cfi|DIR...`:
// the long-running HTTP server (spec/serve.md). Parses the options, builds the registry and the
// invoker, and runs the server until SIGTERM, rescanning the images at SIGHUP.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <thread>

#include "format/base/host_clock.h"
#include "loader/cli/cli_common.h"
#include "loader/cli/sandbox_args.h"
#include "loader/cli/serve_commands.h"
#include "loader/serve/in_process_invoker.h"
#include "loader/serve/registry.h"
#include "loader/serve/server.h"
#include "loader/serve/subprocess_invoker.h"

namespace cat::cli {
namespace {

struct ServeArgs {
  std::string listen = "127.0.0.1:8080";
  double timeout_s = 30;
  double boot_timeout_s = 10;
  double cpu_limit_s = 30;
  std::string memory_limit = "2G";
  std::string max_output = "64M";
  uint32_t max_procs = 64;     // ProcessTable::kDefaultMaxProcs, as for exec and run
  uint32_t max_instances = 0;  // 0: 2 per CPU
  uint32_t queue = 256;
  uint32_t pool = 0;
  uint32_t ready = 1;
  std::string prefault = "recorded";
  std::string max_request = "16M";
  BindArgs bind;
  std::string isolation = "in-process";
  std::string platform{kDefaultPlatform};
  std::vector<std::string> images;
};

// The log: one line each, whole lines even from many threads.
void LogLine(const std::string& line) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::fprintf(stderr, "catload serve: %s\n", line.c_str());
  std::fflush(stderr);
}

// The static catload that boots each invocation: the one next to this binary.
std::string SiblingCatload() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "catload";
  std::string path(self, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + "catload";
}

Result<std::pair<std::string, int>> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size())
    return Fail(EINVAL, "--listen " + listen + ": give HOST:PORT, e.g. 127.0.0.1:8080");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port_text = listen.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (*end || port < 0 || port > 65535)
    return Fail(EINVAL, "--listen " + listen + ": the port must be 0..65535");
  return std::make_pair(host.empty() ? std::string("127.0.0.1") : host, static_cast<int>(port));
}

std::vector<std::string> BindArgv(const BindArgs& b) {
  std::vector<std::string> out;
  if (!b.rootfs.empty()) out.insert(out.end(), {"--rootfs", b.rootfs});
  for (const std::string& m : b.mounts) out.push_back("--mount=" + m);
  if (b.mounts_from_image) out.push_back("--mounts-from-image");
  return out;
}

// The invoker --isolation asks for (spec/serve.md, "Invokers").
std::unique_ptr<serve::Invoker> MakeInvoker(const ServeArgs& a, MountChoice mounts,
                                            uint32_t max_instances) {
  if (a.isolation == "process") {
    std::vector<std::string> bind = BindArgv(a.bind);
    bind.insert(bind.begin(), {"--platform", a.platform});
    return std::make_unique<serve::SubprocessInvoker>(SiblingCatload(), std::move(bind));
  }
  std::unique_ptr<Platform> platform = ChooseCliPlatform("serve", a.platform);
  if (!platform) return nullptr;
  return std::make_unique<serve::InProcessInvoker>(
      std::move(platform), std::move(mounts), max_instances, a.pool, a.ready,
      a.prefault == "none" ? Prefault::kNone : Prefault::kRecorded);
}

int RunServe(const ServeArgs& a) {
  auto mounts = ToMountChoice(a.bind);
  if (!mounts) {
    PrintError("serve: " + mounts.error().message());
    return kExitCatloadError;
  }
  auto listen = ParseListen(a.listen);
  if (!listen) {
    PrintError("serve: " + listen.error().message());
    return kExitCatloadError;
  }
  serve::ServeConfig config;
  config.host = listen->first;
  config.port = listen->second;
  config.limits.timeout_s = a.timeout_s;
  config.limits.boot_timeout_s = a.boot_timeout_s;
  config.limits.cpu_limit_s = a.cpu_limit_s;
  config.limits.memory_limit = ParseSize(a.memory_limit).value_or(0);  // checked by CLI11
  config.limits.max_output = ParseSize(a.max_output).value_or(0);
  config.limits.max_procs = a.max_procs;
  // The CPUs this server may use (taskset), as its workers are placed (in_process_invoker.h).
  cpu_set_t allowed;
  const long cpus = sched_getaffinity(0, sizeof(allowed), &allowed) == 0
                        ? CPU_COUNT(&allowed)
                        : sysconf(_SC_NPROCESSORS_ONLN);
  config.max_instances =
      a.max_instances ? a.max_instances : static_cast<uint32_t>(2 * std::max(1L, cpus));
  config.queue = a.queue;
  config.pool = a.pool;
  config.max_request = ParseSize(a.max_request).value_or(0);

  // SIGTERM, SIGINT and SIGHUP are taken by one thread with sigwait: blocked before any other
  // thread starts, so that none of them is interrupted (children get them unblocked).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto registry = serve::Registry::Create(a.images, LogLine);
  if (!registry) {
    PrintError("serve: " + registry.error().message());
    return kExitCatloadError;
  }
  if (auto w = (*registry)->Watch(); !w) {
    PrintError("serve: " + w.error().message());
    return kExitCatloadError;
  }
  std::unique_ptr<serve::Invoker> invoker =
      MakeInvoker(a, std::move(*mounts), config.max_instances);
  if (!invoker) return kExitCatloadError;
  serve::Server server(config, **registry, *invoker, LogLine);
  if (auto b = server.Bind(); !b) {
    PrintError("serve: " + b.error().message());
    return kExitCatloadError;
  }
  LogLine("listening on http://" + config.host + ":" + std::to_string(server.port()) + " (" +
          std::to_string((*registry)->List().size()) + " functions, max " +
          std::to_string(config.max_instances) + " instances, queue " +
          std::to_string(config.queue) + ")");
  std::thread signal_thread([&] {
    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        LogLine("SIGHUP: rescanning the images");
        (*registry)->Rescan();
        continue;
      }
      LogLine(std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") +
              ": no new connections; answering the requests in flight");
      server.Stop();
      return;
    }
  });
  auto run = server.Run();
  // Run returns on its own only if the server failed: wake the signal thread to end it.
  if (!run) {
    PrintError("serve: " + run.error().message());
    kill(getpid(), SIGTERM);
  }
  signal_thread.join();
  LogLine("stopped: " + std::to_string(server.served()) + " invocations answered");
  return run ? 0 : kExitCatloadError;
}

CLI::Validator SizeAtLeast(uint64_t min, const std::string& what) {
  return CLI::Validator(
      [min, what](const std::string& v) -> std::string {
        const auto n = ParseSize(v);
        return n && *n >= min ? "" : what;
      },
      "SIZE");
}

}  // namespace

std::function<int()> AddServeCommand(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve functions over HTTP: POST /invoke/NAME boots the image and runs it.");
  cmd->footer(
      "Each FN.cfi is served as NAME, its file name without .cfi; a DIR serves every *.cfi in "
      "it. The request body is the function's stdin, its stdout the response body; its exit "
      "code, the boot mode, boot latency and total time come in X-Catalyzer-* headers, its "
      "stderr goes to this log (one line per invocation with its id). Images replaced by an "
      "atomic rename (what catimg build does), or added to a served directory, are picked up "
      "while serving; SIGHUP rescans; SIGTERM stops accepting, answers what is in flight and "
      "exits 0.\n\n"
      "Routes: POST /invoke/NAME[?boot=cold|warm|fork], GET / (JSON list), GET /metrics "
      "(Prometheus), GET /healthz. Statuses: 200 (any exit code), 504 past --timeout or "
      "--cpu-limit, 507 past --memory-limit or --max-output, 413 body over --max-request, "
      "502 crashed guest, 503 queue full (Retry-After), 501 boot mode not available. "
      "spec/serve.md has it all.\n\n"
      "Examples:\n"
      "  catload serve hello.cfi &\n"
      "  echo world | catload invoke http://127.0.0.1:8080 hello\n"
      "  catload serve --listen 0.0.0.0:9000 --timeout 5 --max-instances 8 /srv/functions\n"
      "  catload serve --mount /srv/app:/app lua.cfi");
  cmd->add_option("images", args->images, "Func-images (FN.cfi) and directories of them")
      ->required();
  cmd->add_option("--listen", args->listen,
                  "HOST:PORT to listen on (port 0: any free one; the log says which). "
                  "Default: 127.0.0.1:8080, loopback only");
  cmd->add_option("--timeout", args->timeout_s,
                  "Wall-clock limit of the guest's run in seconds, from its first instruction "
                  "(not the queue, not the boot); past it the guest is killed and the answer is "
                  "504. Default: 30")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--boot-timeout", args->boot_timeout_s,
                  "Wall-clock limit in seconds of every boot the server does: an instance's "
                  "(on the request's path or ahead of it) and a fork template's; a request whose "
                  "boot runs past it is answered 504, a later one boots again. Default: 10")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--cpu-limit", args->cpu_limit_s,
                  "CPU time limit of one invocation in seconds (the guest's and its syscall "
                  "emulation's); past it: 504. 0: none. Default: 30")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--memory-limit", args->memory_limit,
                  "Ceiling for each instance's memory (the image's recorded limit is lowered to "
                  "it, never raised); a guest refused memory that then fails gets 507. Bytes "
                  "with optional K/M/G suffix, at least 16M. Default: 2G")
      ->check(SizeAtLeast(uint64_t{16} << 20,
                          "give bytes with an optional K/M/G suffix, at least 16M"));
  cmd->add_option("--max-output", args->max_output,
                  "Bytes one invocation may write to stdout, stderr and rw mounts; past it: 507. "
                  "Default: 64M")
      ->check(SizeAtLeast(1, "give bytes with an optional K/M/G suffix, at least 1"));
  cmd->add_option("--max-procs", args->max_procs,
                  "Guest processes one invocation may have alive at once, zombies included; "
                  "fork, vfork and clone beyond it fail with EAGAIN in the guest and the "
                  "invocation's log line says so. Default: 64")
      ->check(CLI::Range(1u, 4096u));
  cmd->add_option("--max-instances", args->max_instances,
                  "Invocations running at once; more wait in the queue. Default: 2 per CPU the "
                  "server may use (its affinity: taskset)")
      ->check(CLI::Range(1u, 4096u));
  cmd->add_option("--queue", args->queue,
                  "Requests that may wait for an instance; past that: 503 with Retry-After. "
                  "Default: 256")
      ->check(CLI::Range(0u, 65536u));
  cmd->add_option("--pool", args->pool,
                  "Empty sandbox shells kept made ahead (the zygote pool), one pool for every "
                  "image, taken by warm and cold boots and by fork templates, refilled in the "
                  "background (spec/serve.md). Default (0): 2")
      ->check(CLI::Range(0u, 4096u));
  cmd->add_option("--ready", args->ready,
                  "Instances each worker keeps booted ahead of the request, per image and boot "
                  "mode (warm, fork), once the image was asked for in that mode: working set "
                  "pre-copied, never run, one request each (spec/serve.md). 0: boot every "
                  "instance on the request's path. Default: 1")
      ->check(CLI::Range(0u, 1024u));
  cmd->add_option("--prefault", args->prefault,
                  "recorded (the default): every instance pre-copies the image's recorded write "
                  "working set (catimg build --sample-request) at its boot, ahead of the request "
                  "for instances booted ahead; none: pages are copied on the guest's writes "
                  "(less memory per ready instance, the copy-on-write tax on the request)")
      ->check(CLI::IsMember({"recorded", "none"}));
  cmd->add_option("--max-request", args->max_request,
                  "Largest request body in bytes (K/M/G suffix); past it: 413. Default: 16M")
      ->check(SizeAtLeast(0, "give bytes with an optional K/M/G suffix"));
  AddBindOptions(*cmd, args->bind, "image");
  AddPlatformOption(*cmd, args->platform,
                    "What runs the guests: ptrace (a traced host process per instance) or kvm "
                    "(a small VM per instance; cold, warm and fork boot on both). auto, the "
                    "default, is kvm where a usable KVM passes its self-test, else ptrace, as "
                    "for every command (spec/kvm.md, \"Choosing\")");
  cmd->add_option("--isolation", args->isolation,
                  "in-process (the default): instances are booted by the server itself on "
                  "--max-instances worker threads pinned per CPU, cold, warm (zygote pool) or "
                  "fork (a template per image and worker); process: each invocation is a cold "
                  "`catload run` child, a crash boundary around the sandbox kernel, cold boot "
                  "only (spec/serve.md, \"Invokers\")")
      ->check(CLI::IsMember({"in-process", "process"}));
  return [args] { return RunServe(*args); };
}

}  // namespace cat::cli
