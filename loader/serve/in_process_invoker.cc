// In-process invocations (see in_process_invoker.h).
#include "loader/serve/in_process_invoker.h"

#include <unistd.h>

#include <mutex>

#include "format/base/host_clock.h"
#include "loader/boot/fork_boot.h"
#include "loader/boot/invocation.h"
#include "loader/platform/cpu_pin.h"

namespace cat::serve {
namespace {

OutcomeKind KindOf(Verdict v) {
  switch (v) {
    case Verdict::kExited:
      return OutcomeKind::kExited;
    case Verdict::kSignaled:
      return OutcomeKind::kSignaled;
    case Verdict::kFault:
      return OutcomeKind::kFault;
    case Verdict::kTimeout:
      return OutcomeKind::kTimeout;
    case Verdict::kCpuLimit:
      return OutcomeKind::kCpuLimit;
    case Verdict::kOutputLimit:
      return OutcomeKind::kOutputLimit;
    case Verdict::kMemoryLimit:
      return OutcomeKind::kMemoryLimit;
    case Verdict::kShellDied:
      return OutcomeKind::kShellDied;
  }
  return OutcomeKind::kInternalError;
}

// The sandbox kernel's lines about one instance, gathered for its log line.
struct KernelLines {
  std::mutex mu;
  std::string text;
};

// The server's way to make a shell for cold boots and templates: take one from the zygote pool
// (a fork of its empty master shell) instead of cloning the server. A clone copies the whole
// server (its hundreds of HTTP threads and their stacks, which the shell then unmaps): 4-12 ms
// a shell here against ~0.15 ms for a fresh `catload run`. Cold boot still opens, verifies and
// relocates the image for each request; what it no longer pays is the server's own size.
class PooledPlatform : public Platform {
 public:
  PooledPlatform(Platform& inner, ShellPool& pool) : inner_(inner), pool_(pool) {}
  std::string_view name() const override { return inner_.name(); }
  Result<std::unique_ptr<Shell>> CreateShell() override {
    auto shell = pool_.Take();
    pool_.Replenish();
    return shell;
  }

 private:
  Platform& inner_;
  ShellPool& pool_;
};

}  // namespace

InvokeResult InProcessInvoker::Run(const InvokeRequest& req, WorkerTemplates& templates) {
  InvokeResult r;
  r.mode_used = req.mode;
  if (!req.image) {
    r.kind = OutcomeKind::kInternalError;
    r.message = "no image to boot";
    return r;
  }
  BootStats stats;  // the invocation's clock: admission was just now
  auto lines = std::make_shared<KernelLines>();
  InvocationOptions o;
  o.mounts = mounts_;
  o.cpu = InvocationOptions::kNoPin;  // the worker is pinned for its life
  o.limits.timeout_s = req.limits.timeout_s;
  o.limits.cpu_limit_s = req.limits.cpu_limit_s;
  o.limits.max_output = req.limits.max_output;
  o.limits.memory_ceiling = req.limits.memory_limit;
  o.limits.max_fds_ceiling = req.limits.max_fds;
  o.limits.start_ns = stats.start_ns();
  o.log = Logger(req.invocation_id, [lines](std::string_view, const std::string& line) {
    std::lock_guard lock(lines->mu);
    lines->text += "catload: " + line + "\n";
  });
  const int64_t start = req.accepted_ns ? req.accepted_ns : o.limits.start_ns;
  // What the mode needs, made on first use (on the request path of that first request only).
  std::shared_ptr<WarmImage> keep;  // a warm image replaced meanwhile lives until we are done
  auto invoke = [&]() -> Result<InvocationResult> {
    TRY_STATUS(PrepareMode(req, o, templates, keep));
    TRY(ShellPool * pool, WithContext(Pool(), "zygote pool"));
    PooledPlatform shells(*platform_, *pool);
    return InvokeWithBytes(shells, *req.image, o, req.body, std::move(stats));
  };
  Result<InvocationResult> result = invoke();
  if (!result) {
    // A boot the run's --timeout ended is a timeout like any other; anything else never ran.
    const bool timed_out = result.error().code() == ETIMEDOUT;
    r.kind = timed_out ? OutcomeKind::kTimeout : OutcomeKind::kBootFailed;
    r.exit_code = timed_out ? 124 : 125;
    r.message = result.error().message();
    r.total_ns = MonotonicNowNs() - start;
    return r;
  }
  r.kind = KindOf(result->verdict);
  r.exit_code = result->outcome.ExitCode();
  r.stdout_bytes = std::move(result->stdout_bytes);
  r.stderr_bytes = std::move(result->stderr_bytes);
  {
    std::lock_guard lock(lines->mu);
    r.stderr_bytes += lines->text;
  }
  r.boot_ns = result->stats.start_ns() + result->boot_ns - start;
  r.total_ns = MonotonicNowNs() - start;
  if (!result->failure.empty()) {
    r.message = "the sandbox failed: " + result->failure;
  } else {
    RunLimits limits = o.limits;
    r.message = result->outcome.Describe(limits);
    if (r.kind == OutcomeKind::kMemoryLimit)
      r.message = MemoryLimitMessage(result->outcome.kind == GuestOutcome::Kind::kExited
                                         ? "exited " + std::to_string(result->outcome.status)
                                         : (r.message.empty() ? std::string("ended") : r.message));
  }
  return r;
}

Result<std::shared_ptr<WarmImage>> InProcessInvoker::Warm(const InvokeRequest& req) {
  const ImageKey key{req.function, req.image_generation};
  std::lock_guard lock(cache_mu_);
  if (auto it = warm_.find(key); it != warm_.end()) return it->second;
  // The registry's own open file, never the path: a file renamed over it since is another
  // image (a request keeps the image it was admitted with).
  TRY(std::unique_ptr<WarmImage> w,
      WarmImage::Open("/proc/self/fd/" + std::to_string(req.image_fd)));
  // Older generations of the name are done with once a newer one is used.
  std::erase_if(warm_, [&](const auto& e) { return e.first.first == req.function; });
  return warm_[key] = std::shared_ptr<WarmImage>(std::move(w));
}

Result<ShellPool*> InProcessInvoker::Pool() {
  std::lock_guard lock(cache_mu_);
  if (!pool_) {
    TRY(pool_, ShellPool::Start(*platform_, pool_size_ ? pool_size_ : 2));
  }
  return pool_.get();
}

Status InProcessInvoker::PrepareMode(const InvokeRequest& req, InvocationOptions& o,
                                     WorkerTemplates& templates, std::shared_ptr<WarmImage>& keep) {
  switch (req.mode) {
    case BootMode::kCold:
      o.mode = BootMode::kCold;
      return {};
    case BootMode::kWarm: {
      o.mode = BootMode::kWarm;
      TRY(std::shared_ptr<WarmImage> warm, WithContext(Warm(req), "warm boot"));
      TRY(ShellPool * pool, WithContext(Pool(), "warm boot: zygote pool"));
      o.warm = warm.get();
      o.pool = pool;
      keep = std::move(warm);
      return {};
    }
    case BootMode::kFork: {
      o.mode = BootMode::kFork;
      const ImageKey key{req.function, req.image_generation};
      auto it = templates.by_image.find(key);
      if (it == templates.by_image.end()) {
        TRY(std::shared_ptr<WarmImage> warm, WithContext(Warm(req), "fork boot"));
        RunLimits ceilings = o.limits;
        ceilings.timeout_s = 0;  // the template is made once, not bounded by one request
        ceilings.cpu_limit_s = 0;
        // A shell of its own, cloned from the server (once per image and worker): a shell
        // forked from the zygote's master cannot fork again (its clone is refused).
        TRY(std::unique_ptr<Template> t,
            WithContext(Template::Create(*platform_, *warm, mounts_, ceilings, o.log),
                        "fork boot: template"));
        std::erase_if(templates.by_image,
                      [&](const auto& e) { return e.first.first == req.function; });
        it = templates.by_image.emplace(key, std::make_pair(std::move(warm), std::move(t))).first;
      }
      o.fork_template = it->second.second.get();
      return {};
    }
  }
  return Fail(EINVAL, "unknown boot mode");
}

InProcessInvoker::InProcessInvoker(std::unique_ptr<Platform> platform, MountChoice mounts,
                                   uint32_t workers, uint32_t pool)
    : platform_(std::move(platform)), mounts_(std::move(mounts)), pool_size_(pool) {
  workers_.reserve(std::max<uint32_t>(1, workers));
  for (uint32_t i = 0; i < std::max<uint32_t>(1, workers); ++i)
    workers_.emplace_back([this, i] { WorkerLoop(i); });
}

InProcessInvoker::~InProcessInvoker() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void InProcessInvoker::WorkerLoop(uint32_t index) {
  // Worker i next to CPU i mod N: its instances' tracer (this thread) and their shells there.
  const long cpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  const CpuPin pin(static_cast<int>(index % static_cast<uint32_t>(cpus)));
  WorkerTemplates templates;  // destroyed on this thread, which traces them
  for (;;) {
    Job* job;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      job = queue_.front();
      queue_.pop_front();
    }
    job->done.set_value(Run(*job->request, templates));
  }
}

InvokeResult InProcessInvoker::Invoke(const InvokeRequest& req) {
  Job job{&req, {}};
  std::future<InvokeResult> done = job.done.get_future();
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(&job);
  }
  queue_cv_.notify_one();
  return done.get();
}

}  // namespace cat::serve
