// In-process invocations (see in_process_invoker.h).
#include "loader/serve/in_process_invoker.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "format/base/host_clock.h"
#include "loader/boot/fork_boot.h"
#include "loader/boot/invocation.h"
#include "loader/platform/cpu_pin.h"
#include "loader/serve/registry.h"

namespace cat::serve {
namespace {

// A verdict's outcome: the same name (invocation.h's VerdictName, invoker.cc's table).
OutcomeKind KindOf(Verdict v) {
  return OutcomeFromName(VerdictName(v)).value_or(OutcomeKind::kInternalError);
}

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

// Whether a process can be taken out of SCHED_IDLE again (root can; others only within
// RLIMIT_NICE): tried on a throwaway thread, so that no instance is left at idle priority.
bool CanLeaveIdlePriority() {
  bool ok = false;
  std::thread([&ok] {
    const sched_param param{};
    ok = sched_setscheduler(0, SCHED_IDLE, &param) == 0 &&
         sched_setscheduler(0, SCHED_OTHER, &param) == 0;
  }).join();
  return ok;
}

}  // namespace

// The sandbox kernel's lines about one instance, gathered for its log line.
struct InProcessInvoker::KernelLines {
  std::mutex mu;
  std::string text;
  Logger Sink(const std::string& id, std::shared_ptr<KernelLines> self) {
    return Logger(id, [self](std::string_view, const std::string& line) {
      std::lock_guard lock(self->mu);
      self->text += "catload: " + line + "\n";
    });
  }
};

InvokeResult InProcessInvoker::Run(const InvokeRequest& req, WorkerState& state, Used& used) {
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
  o.prefault = prefault_;
  o.cpu = InvocationOptions::kNoPin;  // the worker is pinned for its life
  // The boot is bounded by --boot-timeout from now; the guest's run by --timeout from its first
  // instruction (RunBooted): a boot slowed by a busy host no longer eats the guest's time.
  o.limits.timeout_s = req.limits.boot_timeout_s;
  o.limits.run_timeout_s = req.limits.timeout_s;
  o.limits.cpu_limit_s = req.limits.cpu_limit_s;
  o.limits.max_output = req.limits.max_output;
  o.limits.memory_ceiling = req.limits.memory_limit;
  o.limits.max_fds_ceiling = req.limits.max_fds;
  o.limits.max_procs = req.limits.max_procs;
  o.limits.start_ns = stats.start_ns();
  o.log = lines->Sink(req.invocation_id, lines);
  o.defer_teardown = true;  // torn down after the answer (WorkerLoop)
  const int64_t start = req.accepted_ns ? req.accepted_ns : o.limits.start_ns;
  const bool ahead_mode = req.mode == BootMode::kWarm || req.mode == BootMode::kFork;
  const StockKey key{req.function, req.image_generation, req.mode};
  if (ahead_mode && ready_ > 0) {
    state.failed.erase(key);
    // An instance booted ahead under the same ceilings: only the hand-over is left.
    auto it = state.ready.find(key);
    while (it != state.ready.end() && !it->second.empty()) {
      Ready ready = std::move(it->second.front());
      it->second.pop_front();
      if (ready.memory_ceiling != o.limits.memory_ceiling ||
          ready.max_fds_ceiling != o.limits.max_fds_ceiling)
        continue;  // booted under other limits: not this request's instance
      Result<InvocationResult> result = ready.instance->Run(req.body, o.limits, std::move(stats));
      if (result) used.instance = std::move(result->instance);
      used.ready = std::move(ready.instance);
      InvokeResult done = Finish(std::move(result), *ready.lines, o.limits, start);
      done.mode_used = req.mode;
      done.ahead = true;
      return done;
    }
  }
  // Booted on the request's path. What the mode needs is made on first use (on the path of
  // that first request only).
  std::shared_ptr<WarmImage> keep;  // a warm image replaced meanwhile lives until we are done
  auto invoke = [&]() -> Result<InvocationResult> {
    TRY_STATUS(PrepareMode(req, o, state, keep));
    TRY(ShellPool * pool, WithContext(Pool(), "zygote pool"));
    stats.Stage("prepare");  // the image's caches looked up (made, on a first request)
    PooledPlatform shells(*platform_, *pool);
    std::optional<ByteChannels> channels = std::exchange(state.spare, std::nullopt);
    if (!channels) {
      TRY(ByteChannels made, ByteChannels::Make());
      channels = std::move(made);
    }
    return InvokeWithChannels(shells, *req.image, o, std::move(*channels), req.body,
                              std::move(stats));
  };
  Result<InvocationResult> result = invoke();
  if (result) used.instance = std::move(result->instance);
  if (ahead_mode && ready_ > 0 && keep) {
    // From now on every worker keeps instances of it ready (a newer generation replaces the
    // older ones of the name).
    bool added = false;
    {
      std::lock_guard lock(queue_mu_);
      // A request still queued on a replaced image must not bring its generation back.
      const bool superseded = std::any_of(wanted_.begin(), wanted_.end(), [&](const auto& e) {
        return std::get<0>(e.first) == req.function && std::get<1>(e.first) > req.image_generation;
      });
      if (!superseded) {
        std::erase_if(wanted_, [&](const auto& e) {
          return std::get<0>(e.first) == req.function &&
                 std::get<1>(e.first) != req.image_generation;
        });
        added =
            wanted_
                .insert_or_assign(key, Wanted{keep, o.limits.memory_ceiling,
                                              o.limits.max_fds_ceiling, req.limits.boot_timeout_s})
                .second;
      }
    }
    if (added) WakeAllWorkers();  // every idle worker makes its own
  }
  InvokeResult done = Finish(std::move(result), *lines, o.limits, start);
  done.mode_used = req.mode;
  return done;
}

InvokeResult InProcessInvoker::Finish(Result<InvocationResult> result, KernelLines& lines,
                                      const RunLimits& limits, int64_t start) {
  InvokeResult r;
  if (!result) {
    // A boot the run's --timeout ended is a timeout like any other; anything else never ran.
    const bool timed_out = result.error().code() == ETIMEDOUT;
    r.kind = timed_out ? OutcomeKind::kTimeout : OutcomeKind::kBootFailed;
    r.exit_code = timed_out ? 124 : 125;
    r.message = result.error().message();
    if (timed_out && limits.run_timeout_s >= 0 &&
        r.message.find("--boot-timeout") == std::string::npos)
      r.message =
          "boot ran past --boot-timeout (" + SecondsText(limits.timeout_s) + " s): " + r.message;
    r.total_ns = MonotonicNowNs() - start;
    return r;
  }
  r.kind = KindOf(result->verdict);
  r.exit_code = result->outcome.ExitCode();
  r.stdout_bytes = std::move(result->stdout_bytes);
  r.stderr_bytes = std::move(result->stderr_bytes);
  {
    std::lock_guard lock(lines.mu);
    r.stderr_bytes += lines.text;
  }
  r.boot_ns = result->stats.start_ns() + result->boot_ns - start;
  r.boot_stages = "queue:" + std::to_string((result->stats.start_ns() - start) / 1000);
  for (const BootStats::Entry& e : result->stats.stages()) {
    std::string name = e.name;
    std::replace(name.begin(), name.end(), ' ', '_');  // one token in the log line
    r.boot_stages += "," + name + ":" + std::to_string(e.value / 1000);
  }
  r.total_ns = MonotonicNowNs() - start;
  if (!result->failure.empty()) {
    r.message = "the sandbox failed: " + result->failure;
  } else {
    RunLimits copy = limits;
    if (copy.run_timeout_s >= 0) copy.timeout_s = copy.run_timeout_s;  // the run's, not the boot's
    r.message = result->outcome.Describe(copy);
    if (r.kind == OutcomeKind::kMemoryLimit)
      r.message = MemoryLimitMessage(result->outcome.kind == GuestOutcome::Kind::kExited
                                         ? "exited " + std::to_string(result->outcome.status)
                                         : (r.message.empty() ? std::string("ended") : r.message));
  }
  return r;
}

Result<std::shared_ptr<WarmImage>> InProcessInvoker::Warm(const InvokeRequest& req) {
  return WarmFor({req.function, req.image_generation}, req.image_fd);
}

Result<std::shared_ptr<WarmImage>> InProcessInvoker::WarmFor(const ImageKey& key, int image_fd) {
  const std::string& function = key.first;
  std::lock_guard lock(cache_mu_);
  if (auto it = warm_.find(key); it != warm_.end()) return it->second;
  // The registry's own open file, never the path: a file renamed over it since is another
  // image (a request keeps the image it was admitted with).
  TRY(std::unique_ptr<WarmImage> w, WarmImage::Open("/proc/self/fd/" + std::to_string(image_fd)));
  // Older generations of the name are done with once a newer one is used.
  std::erase_if(warm_, [&](const auto& e) { return e.first.first == function; });
  return warm_[key] = std::shared_ptr<WarmImage>(std::move(w));
}

Result<ShellPool*> InProcessInvoker::Pool() {
  std::lock_guard lock(cache_mu_);
  if (!pool_) {
    TRY(pool_, ShellPool::Start(*platform_, pool_size_ ? pool_size_ : 2));
  }
  return pool_.get();
}

size_t InProcessInvoker::PoolShells() {
  std::lock_guard lock(cache_mu_);
  return pool_ ? pool_->ready() : 0;
}

Result<Template*> InProcessInvoker::TemplateFor(const ImageKey& key,
                                                std::shared_ptr<WarmImage> warm,
                                                const RunLimits& limits, Logger log,
                                                WorkerState& state) {
  auto it = state.by_image.find(key);
  if (it == state.by_image.end()) {
    RunLimits ceilings = limits;
    // Made once, not bounded by one request's limits; bounded as a whole by the caller's boot
    // limit (--boot-timeout), so that a template that cannot be made holds its worker no longer.
    TemplateOptions options;
    options.timeout_s = limits.timeout_s;
    ceilings.timeout_s = 0;
    ceilings.run_timeout_s = -1;
    ceilings.cpu_limit_s = 0;
    // A shell of its own, cloned from the server (once per image and worker): a shell
    // forked from the zygote's master cannot fork again (its clone is refused).
    // (Every error of Create names its stage, "fork boot: template: ...".)
    TRY(std::unique_ptr<Template> t,
        Template::Create(*platform_, *warm, mounts_, ceilings, std::move(log), options));
    std::erase_if(state.by_image, [&](const auto& e) { return e.first.first == key.first; });
    it = state.by_image.emplace(key, std::make_pair(std::move(warm), std::move(t))).first;
  }
  return it->second.second.get();
}

Status InProcessInvoker::PrepareMode(const InvokeRequest& req, InvocationOptions& o,
                                     WorkerState& state, std::shared_ptr<WarmImage>& keep) {
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
      TRY(std::shared_ptr<WarmImage> warm, WithContext(Warm(req), "fork boot"));
      TRY(o.fork_template,
          TemplateFor({req.function, req.image_generation}, warm, o.limits, o.log, state));
      keep = std::move(warm);
      return {};
    }
  }
  return Fail(EINVAL, "unknown boot mode");
}

InProcessInvoker::InProcessInvoker(std::unique_ptr<Platform> platform, MountChoice mounts,
                                   uint32_t workers, uint32_t pool, uint32_t ready,
                                   Prefault prefault)
    : platform_(std::move(platform)),
      mounts_(std::move(mounts)),
      pool_size_(pool),
      ready_(ready),
      prefault_(prefault),
      idle_priority_(CanLeaveIdlePriority()) {
  // The CPUs the server was started on (`taskset -c 0 catload serve` means one core), not every
  // CPU of the host: a pin outside that set would be granted and widen the server's share.
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &allowed)) cpus_.push_back(cpu);
  workers_.reserve(std::max<uint32_t>(1, workers));
  worker_cv_ = std::vector<std::condition_variable>(std::max<uint32_t>(1, workers));
  for (uint32_t i = 0; i < std::max<uint32_t>(1, workers); ++i)
    workers_.emplace_back([this, i] { WorkerLoop(i); });
}

InProcessInvoker::~InProcessInvoker() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  WakeAllWorkers();
  for (std::thread& t : workers_) t.join();
}

void InProcessInvoker::Serving(const std::vector<std::shared_ptr<const ServedImage>>& images,
                               const InvokeLimits& limits) {
  std::map<ImageKey, Wanted> serving;
  for (const auto& img : images) {
    const ImageKey key{img->name, img->generation};
    // Opened, verified and relocated here, off every request's path; an image that fails is
    // left to its first request, which says why.
    auto warm = WarmFor(key, img->image.fd());
    if (warm)
      serving.emplace(key,
                      Wanted{*warm, limits.memory_limit, limits.max_fds, limits.boot_timeout_s});
  }
  {
    std::lock_guard lock(cache_mu_);
    std::erase_if(warm_, [&](const auto& e) {
      return std::none_of(images.begin(), images.end(), [&](const auto& img) {
        return img->name == e.first.first && img->generation == e.first.second;
      });
    });
  }
  {
    std::lock_guard lock(queue_mu_);
    // Ready instances are no longer made for an image that is gone.
    std::erase_if(wanted_, [&](const auto& e) {
      return std::none_of(images.begin(), images.end(), [&](const auto& img) {
        return img->name == std::get<0>(e.first) && img->generation == std::get<1>(e.first);
      });
    });
    serving_ = std::move(serving);
    serving_known_ = true;
    ++serving_epoch_;
  }
  WakeAllWorkers();  // every worker prunes, then makes its templates
}

bool InProcessInvoker::TemplateToMake(const WorkerState& state, ImageKey& key,
                                      Wanted& wanted) const {
  for (const auto& [k, w] : serving_) {
    if (state.by_image.contains(k) || state.failed_templates.contains(k)) continue;
    key = k;
    wanted = w;
    return true;
  }
  return false;
}

bool InProcessInvoker::NextToBoot(const WorkerState& state, StockKey& key, Wanted& wanted) const {
  for (const auto& [k, w] : wanted_) {
    if (state.failed.contains(k)) continue;
    auto it = state.ready.find(k);
    if (it != state.ready.end() && it->second.size() >= ready_) continue;
    key = k;
    wanted = w;
    return true;
  }
  return false;
}

void InProcessInvoker::BootAhead(const StockKey& key, const Wanted& wanted, WorkerState& state) {
  // Only when no request waits. The worker thread itself keeps its priority: at idle priority
  // it would hold the server's locks (its mmap lock, while it clones a template's shell; the
  // caches' mutexes) for as long as a busy machine leaves it off the CPU, and stall every
  // other worker (seen: boots of 1 s under 200 concurrent requests). The heavy part, the
  // pre-copy, runs in the instance's own shell, which is at idle priority (o.idle_priority).
  auto lines = std::make_shared<KernelLines>();
  InvocationOptions o;
  o.mode = std::get<2>(key);
  o.mounts = mounts_;
  o.prefault = prefault_;
  o.cpu = InvocationOptions::kNoPin;
  o.limits.memory_ceiling = wanted.memory_ceiling;
  o.limits.max_fds_ceiling = wanted.max_fds_ceiling;
  o.limits.timeout_s = wanted.boot_timeout_s;  // bounds the boot ahead (ReadyInstance::Boot)
  o.log = lines->Sink("ahead", lines);
  o.idle_priority = idle_priority_;
  o.defer_teardown = true;  // its request's answer goes before its teardown (Run)
  auto boot = [&]() -> Result<std::unique_ptr<ReadyInstance>> {
    if (o.mode == BootMode::kFork) {
      TRY(o.fork_template,
          TemplateFor({std::get<0>(key), std::get<1>(key)}, wanted.warm, o.limits, o.log, state));
    } else {
      TRY(o.pool, Pool());
      o.warm = wanted.warm.get();
    }
    return ReadyInstance::Boot(*platform_, wanted.warm->image(), o);
  };
  auto ready = boot();
  if (!ready) {
    state.failed.insert(key);  // the next request boots on its path and says why
    return;
  }
  state.ready[key].push_back(
      Ready{std::move(*ready), lines, wanted.memory_ceiling, wanted.max_fds_ceiling});
}

void InProcessInvoker::DropStale(WorkerState& state) {
  std::set<StockKey> live;
  std::set<ImageKey> images;
  std::set<ImageKey> served;
  bool served_known = false;
  {
    std::lock_guard lock(queue_mu_);
    for (const auto& [k, w] : wanted_) {
      live.insert(k);
      images.insert({std::get<0>(k), std::get<1>(k)});
    }
    for (const auto& [k, w] : serving_) served.insert(k);
    served_known = serving_known_;
    state.epoch = serving_epoch_;
  }
  std::erase_if(state.ready, [&](const auto& e) { return !live.contains(e.first); });
  // A template of an older generation of a name that has a newer one wanted, or of an image
  // no longer served (removed, or replaced: the registry serves only the newest generation).
  std::erase_if(state.by_image, [&](const auto& e) {
    if (served_known && !served.contains(e.first)) return true;
    for (const ImageKey& i : images)
      if (i.first == e.first.first && i.second != e.first.second) return true;
    return false;
  });
  std::erase_if(state.failed_templates, [&](const ImageKey& k) { return !served.contains(k); });
}

void InProcessInvoker::WorkerLoop(uint32_t index) {
  // Worker i next to the i-th CPU the server may use (mod their number): its instances'
  // tracer (this thread) and their shells there.
  const CpuPin pin(cpus_.empty() ? CpuPin::kCurrentCpu : cpus_[index % cpus_.size()]);
  WorkerState state;  // destroyed on this thread, which traces it all
  for (;;) {
    Job* job = nullptr;
    StockKey key;
    ImageKey template_key;
    Wanted wanted;
    bool prune = false, make_template = false;
    {
      std::unique_lock lock(queue_mu_);
      // Requests first; with none waiting: forget what is no longer served, make the templates
      // of the served images, then top up the stocks of ready instances.
      auto work = [&] {
        if (stopping_ || !queue_.empty()) return true;
        prune = state.epoch != serving_epoch_;
        if (prune) return true;
        make_template = TemplateToMake(state, template_key, wanted);
        return make_template || NextToBoot(state, key, wanted);
      };
      while (!work()) {
        idle_workers_.push_back(index);  // the most recently idle: woken first
        worker_cv_[index].wait(lock);
        std::erase(idle_workers_, index);  // (Invoke may have taken it off already)
      }
      if (!queue_.empty()) {
        job = queue_.front();
        queue_.pop_front();
      } else if (stopping_) {
        return;  // stopping, and nothing left to run
      }
    }
    if (job) {
      Used used;
      job->done.set_value(Run(*job->request, state, used));
      // Answered: the ended instance is torn down now, off the request's path (its shell killed,
      // its state and fds freed). This worker takes no other request meanwhile, so at most
      // --max-instances instances exist, ended ones included.
      used = Used{};
      // The next request's channels, made now that this one is answered.
      if (!state.spare) {
        if (auto channels = ByteChannels::Make()) state.spare = std::move(*channels);
      }
      continue;
    }
    if (prune) {
      DropStale(state);
      continue;
    }
    if (make_template) {
      // At the worker's normal priority, as on a request's path (BootAhead says why).
      auto lines = std::make_shared<KernelLines>();
      RunLimits ceilings;
      ceilings.memory_ceiling = wanted.memory_ceiling;
      ceilings.max_fds_ceiling = wanted.max_fds_ceiling;
      ceilings.timeout_s = wanted.boot_timeout_s;
      if (!TemplateFor(template_key, wanted.warm, ceilings, lines->Sink("ahead", lines), state))
        state.failed_templates.insert(template_key);  // a request retries it and says why
      continue;
    }
    DropStale(state);
    BootAhead(key, wanted, state);
  }
}

uint32_t InProcessInvoker::PickIdleWorker() const {
  // Which of the server's CPUs each worker is on (its slot), and how many workers of each slot
  // are busy (serving, tearing an instance down, booting one ahead: not idle).
  const size_t slots = std::max<size_t>(1, cpus_.size());
  std::vector<uint32_t> busy(slots, 0);
  for (uint32_t w = 0; w < workers_.size(); ++w) ++busy[w % slots];
  for (uint32_t w : idle_workers_) --busy[w % slots];
  const int here = sched_getcpu();
  // A CPU with the fewest busy workers first: right after an answer, its worker tears the
  // instance down and boots the next one ahead on its CPU, and a request woken on that CPU
  // waited for it (queue stage ~300 µs against ~15 µs for Lua on a 2-CPU VM). Then this
  // thread's CPU (it only waits from here on: no wake-up of another CPU, on a VM an idle vCPU's);
  // then the most recently idle (LIFO: the warmest template and caches, spec/serve.md).
  uint32_t best = idle_workers_.back();
  auto rank = [&](uint32_t w) {
    const size_t slot = w % slots;
    const bool elsewhere = cpus_.empty() || cpus_[slot] != here;
    return std::pair<uint32_t, bool>(busy[slot], elsewhere);
  };
  for (auto it = idle_workers_.rbegin(); it != idle_workers_.rend(); ++it)
    if (rank(*it) < rank(best)) best = *it;
  return best;
}

void InProcessInvoker::WakeAllWorkers() {
  for (std::condition_variable& cv : worker_cv_) cv.notify_all();
}

InvokeResult InProcessInvoker::Invoke(const InvokeRequest& req) {
  Job job{&req, {}};
  std::future<InvokeResult> done = job.done.get_future();
  std::optional<uint32_t> wake;
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(&job);
    if (!idle_workers_.empty()) {
      const uint32_t pick = PickIdleWorker();
      std::erase(idle_workers_, pick);
      wake = pick;
    }
  }
  if (wake) worker_cv_[*wake].notify_one();
  return done.get();
}

}  // namespace cat::serve
