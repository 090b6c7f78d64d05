// invoke_loop: N invocations of one func-image in a row in one process, through the in-process
// invocation API (loader/boot/invocation.h) as a server makes them, checking that the process
// does not grow: after a warm-up its RSS, fd count, child processes and registered arenas are
// sampled, and again at the end. A leak test, not a timing test: it fails when an instance
// leaves something behind (fds differ, RSS grew past --max-rss-growth, arenas still
// registered, an answer differs), never on speed. Used by tests/e2e/invoke_loop.sh (a few
// hundred invocations) and by hand for 10,000.
#include <dirent.h>
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "format/image/func_image.h"
#include "format/state/state_heap.h"
#include "loader/boot/invocation.h"
#include "loader/platform/platform_choice.h"

namespace {

struct Sample {
  long rss_kib = 0;
  long heap_kib = 0;  // malloc'd and not freed (mallinfo2): exact where RSS is coarse
  int fds = 0;
  int children = 0;
  size_t arenas = 0;
};

long RssKib() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int CountFds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n - 1;  // not the directory's own fd
}

// Processes whose parent is this one (live shells and killed ones not yet reaped).
int CountChildren() {
  const std::string self = std::to_string(getpid());
  int n = 0;
  DIR* d = opendir("/proc");
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    long ppid = 0;
    if (std::sscanf(line.c_str() + close + 1, " %c %ld", &state, &ppid) == 2 &&
        std::to_string(ppid) == self)
      ++n;
  }
  closedir(d);
  return n;
}

long HeapKib() {
  return static_cast<long>(mallinfo2().uordblks / 1024);
}

Sample Take() {
  return {RssKib(), HeapKib(), CountFds(), CountChildren(), cat::state::RegisteredArenaCount()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Invoke one func-image N times in one process and check nothing leaks."};
  std::string image_path, request = "hi\n", expect, platform_name = "auto";
  bool has_expect = false, unique_requests = false;
  std::string echo_prefix;
  bool has_echo = false;
  int count = 300, warmup = 30, threads = 1;
  double max_rss_growth_mib = 4;
  double max_heap_growth_kib = 32;
  app.add_option("image", image_path, "Func-image (.cfi)")->required();
  app.add_option("--count", count, "Invocations after the warm-up (default 300)")
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "Invocations before the first sample (default 30)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", threads,
                 "Threads invoking at once, each pinned to its own CPU in turn (default 1)")
      ->check(CLI::Range(1, 64));
  app.add_option("--request", request, "The request (fd 0) of every invocation");
  app.add_option("--expect", expect, "The response (fd 1) every invocation must give")
      ->each([&](const std::string&) { has_expect = true; });
  app.add_flag("--unique-requests", unique_requests,
               "Give each invocation its own request, \"request ID\\n\" (to catch instances "
               "that mix up their channels)");
  app.add_option("--expect-echo", echo_prefix,
                 "Every response must be this prefix followed by the invocation's own request")
      ->each([&](const std::string&) { has_echo = true; });
  app.add_option("--max-rss-growth", max_rss_growth_mib,
                 "MiB the RSS may grow between warm-up and end (default 4)");
  app.add_option("--max-heap-growth", max_heap_growth_kib,
                 "KiB the malloc heap in use may grow between warm-up and end (default 32)");
  app.add_option("--platform", platform_name, "Platform (auto, ptrace)");
  CLI11_PARSE(app, argc, argv);

  auto image = cat::FuncImage::Open(image_path);
  if (!image) {
    std::fprintf(stderr, "invoke_loop: %s\n", image.error().message().c_str());
    return 2;
  }
  auto platform = cat::ChoosePlatform(platform_name);
  if (!platform) {
    std::fprintf(stderr, "invoke_loop: %s\n", platform.error().message().c_str());
    return 2;
  }
  const int ncpu = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  std::atomic<int> failures{0};
  std::atomic<long> log_lines{0};
  std::vector<int64_t> boot_ns;
  std::mutex boot_mu;

  auto run = [&](int n, int first_id, int thread_index) {
    cat::InvocationOptions o;
    o.limits.timeout_s = 30;
    o.limits.max_output = 1 << 20;
    o.cpu = thread_index % ncpu;
    for (int i = 0; i < n; ++i) {
      o.log = cat::Logger("inv-" + std::to_string(first_id + i),
                          [&](std::string_view, const std::string&) { ++log_lines; });
      const std::string req =
          unique_requests ? "request " + std::to_string(first_id + i) + "\n" : request;
      auto r = cat::InvokeWithBytes(**platform, *image, o, req);
      if (!r) {
        if (failures++ < 5)
          std::fprintf(stderr, "invoke_loop: boot failed: %s\n", r.error().message().c_str());
        continue;
      }
      const bool ok = r->verdict == cat::Verdict::kExited && r->outcome.status == 0 &&
                      (!has_expect || r->stdout_bytes == expect) &&
                      (!has_echo || r->stdout_bytes == echo_prefix + req);
      if (!ok && failures++ < 5)
        std::fprintf(stderr, "invoke_loop: invocation %d: %s (status %d), stdout '%s'%s\n",
                     first_id + i, std::string(cat::VerdictName(r->verdict)).c_str(),
                     r->outcome.status, r->stdout_bytes.c_str(), r->failure.c_str());
      std::lock_guard lock(boot_mu);
      boot_ns.push_back(r->boot_ns);
    }
  };
  auto run_all = [&](int total, int first_id) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      const int n = total / threads + (t < total % threads ? 1 : 0);
      const int first = first_id + t * (total / threads + 1);
      pool.emplace_back(run, n, first, t);
    }
    for (std::thread& t : pool) t.join();
  };

  // Sized and touched before the first sample: the tool's own memory must not grow meanwhile.
  boot_ns.assign(static_cast<size_t>(std::max(count, warmup)), 0);
  boot_ns.clear();
  const Sample before = Take();
  run_all(warmup, 0);
  const Sample warm = Take();
  boot_ns.clear();
  run_all(count, warmup);
  const Sample end = Take();
  std::sort(boot_ns.begin(), boot_ns.end());
  const int64_t median = boot_ns.empty() ? 0 : boot_ns[boot_ns.size() / 2];

  std::printf("invocations: %d after %d warm-up, %d thread(s)\n", count, warmup, threads);
  std::printf("rss_kib: start %ld, after warm-up %ld, end %ld (growth %ld)\n", before.rss_kib,
              warm.rss_kib, end.rss_kib, end.rss_kib - warm.rss_kib);
  std::printf("heap_kib: start %ld, after warm-up %ld, end %ld (growth %ld)\n", before.heap_kib,
              warm.heap_kib, end.heap_kib, end.heap_kib - warm.heap_kib);
  std::printf("fds: start %d, after warm-up %d, end %d\n", before.fds, warm.fds, end.fds);
  std::printf("child processes: after warm-up %d, end %d\n", warm.children, end.children);
  std::printf("registered arenas: after warm-up %zu, end %zu\n", warm.arenas, end.arenas);
  std::printf("boot_ns median: %lld\n", static_cast<long long>(median));
  std::printf("failed invocations: %d, log lines: %ld\n", failures.load(), log_lines.load());

  bool ok = failures == 0;
  if (end.fds != warm.fds || end.fds != before.fds) {
    std::printf("LEAK: fd count changed\n");
    ok = false;
  }
#ifdef __SANITIZE_ADDRESS__
  // ASan keeps freed memory in quarantine (up to 256 MiB) and its malloc has no mallinfo2:
  // RSS and heap mean nothing there; LeakSanitizer checks at exit instead.
  std::printf("rss and heap bounds not checked under AddressSanitizer (LeakSanitizer is)\n");
  const bool check_memory = false;
#else
  const bool check_memory = true;
#endif
  if (check_memory && end.rss_kib - warm.rss_kib > static_cast<long>(max_rss_growth_mib * 1024)) {
    std::printf("LEAK: RSS grew by more than %g MiB\n", max_rss_growth_mib);
    ok = false;
  }
  if (check_memory && end.heap_kib - warm.heap_kib > static_cast<long>(max_heap_growth_kib)) {
    std::printf("LEAK: the heap grew by more than %g KiB\n", max_heap_growth_kib);
    ok = false;
  }
  if (end.arenas != before.arenas) {
    std::printf("LEAK: arenas still registered\n");
    ok = false;
  }
  // Killed shells are reaped by the next shell creation: at most one per thread can be left.
  if (end.children > warm.children + threads && end.children > threads) {
    std::printf("LEAK: shell processes left behind\n");
    ok = false;
  }
  return ok ? 0 : 1;
}
