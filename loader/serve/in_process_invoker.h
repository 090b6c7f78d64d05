// The invoker that boots instances inside the server process through the in-process
// invocation API (loader/boot/invocation.h): request in a sealed memfd, stdout and stderr in
// memfds, the instance torn down and freed at the end. No process start per request; the
// sandbox kernel's lines about the instance join its stderr (one log line per invocation).
//
// All three boot modes. Instances run on a fixed set of worker threads, each pinned to one
// CPU (worker i on the i-th CPU the server may use, mod their number): the thread that boots an
// instance is its tracer for its whole life, and a ptrace shell can only be driven by one thread.
// Per image, shared by all workers: the warm image (opened from the registry's fd, verified and
// relocated once) and one zygote pool of shells (warm boot). Per image and per worker: a fork
// template, made ahead when the worker is idle (Serving), else on its first fork of that image —
// only the thread that traced a template can fork it (fork_boot.h). Caches are keyed by (name,
// registry generation): a replaced image gets new ones; instances in flight keep the old ones alive
// (shared_ptr) and the old entries go when a newer generation of the name is first used.
//
// Ready instances (spec/serve.md, "Ready instances"): once an image has been asked for in warm or
// fork mode, every worker keeps up to `ready` instances of it in that mode booted ahead of the
// request (ready_instance.h: working set pre-copied, never run), made when the worker has no
// request to serve, at idle CPU priority. A request takes one if its worker has one and pays
// only the hand-over; each instance serves exactly one request.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "loader/boot/invocation.h"
#include "loader/boot/mount_binding.h"
#include "loader/boot/ready_instance.h"
#include "loader/boot/shell_pool.h"
#include "loader/boot/warm_boot.h"
#include "loader/platform/platform.h"
#include "loader/serve/invoker.h"

namespace cat {
class Template;
}

namespace cat::serve {

class InProcessInvoker : public Invoker {
 public:
  // `workers`: how many instances run at once (the server's --max-instances); `pool`: shells
  // the warm zygote pool keeps ready (0: 2); `ready`: instances each worker keeps booted ahead
  // per image and mode (warm, fork) once the image was asked for in that mode (0: none);
  // `prefault`: what every boot pre-copies (kRecorded: the image's recorded working set).
  InProcessInvoker(std::unique_ptr<Platform> platform, MountChoice mounts, uint32_t workers,
                   uint32_t pool, uint32_t ready = 1, Prefault prefault = Prefault::kRecorded);
  ~InProcessInvoker() override;

  std::vector<BootMode> AvailableModes() const override {
    return {BootMode::kFork, BootMode::kWarm, BootMode::kCold};
  }
  InvokeResult Invoke(const InvokeRequest& request) override;
  // Every worker makes its template of every served image in the background, when it has no
  // request to serve (so that no first fork request pays for it), and frees the templates, ready
  // instances and warm images of images no longer served.
  void Serving(const std::vector<std::shared_ptr<const ServedImage>>& images,
               const InvokeLimits& limits) override;
  size_t PoolShells() override;

 private:
  using ImageKey = std::pair<std::string, uint64_t>;  // function name, registry generation
  using StockKey = std::tuple<std::string, uint64_t, BootMode>;  // ImageKey and the mode
  struct Job {
    const InvokeRequest* request;
    std::promise<InvokeResult> done;
  };
  struct KernelLines;  // the sandbox kernel's lines about one instance
  // An instance booted ahead, with the ceilings it was booted under and its log.
  struct Ready {
    std::unique_ptr<ReadyInstance> instance;
    std::shared_ptr<KernelLines> lines;
    uint64_t memory_ceiling;
    uint32_t max_fds_ceiling;
  };
  // What every worker keeps ready instances of (an image asked for in warm or fork mode).
  struct Wanted {
    std::shared_ptr<WarmImage> warm;
    uint64_t memory_ceiling;
    uint32_t max_fds_ceiling;
    double boot_timeout_s;  // bounds each boot ahead and template (--boot-timeout)
  };
  // A worker's own fork templates and ready instances (it traces them; only it can run them).
  struct WorkerState {
    std::map<ImageKey, std::pair<std::shared_ptr<WarmImage>, std::unique_ptr<Template>>> by_image;
    std::map<StockKey, std::deque<Ready>> ready;
    std::set<StockKey> failed;  // its last boot ahead failed: not retried until a request asks
    std::optional<ByteChannels> spare;    // memfds for the next instance booted on a request's path
    uint64_t epoch = 0;                   // the serving_epoch_ its caches were last pruned for
    std::set<ImageKey> failed_templates;  // made ahead and failed: left to a request to retry
  };

  // What an invocation leaves to tear down once its answer is out (on the worker: it traces
  // the shell), so that the answer goes at the guest's exit_group.
  struct Used {
    std::unique_ptr<Sandbox> instance;
    std::unique_ptr<ReadyInstance> ready;  // its channels (memfds)
  };

  void WorkerLoop(uint32_t index);
  InvokeResult Run(const InvokeRequest& request, WorkerState& state, Used& used);
  // The result of an invocation (ran or not) in the server's terms.
  InvokeResult Finish(Result<InvocationResult> result, KernelLines& lines, const RunLimits& limits,
                      int64_t start);
  // The warm image of the request's image (opened on first use), or an error line.
  Result<std::shared_ptr<WarmImage>> Warm(const InvokeRequest& request);
  Result<std::shared_ptr<WarmImage>> WarmFor(const ImageKey& key, int image_fd);
  Result<ShellPool*> Pool();
  // This worker's template of the image (made on first use).
  Result<Template*> TemplateFor(const ImageKey& key, std::shared_ptr<WarmImage> warm,
                                const RunLimits& ceilings, Logger log, WorkerState& state);
  // Fills in what the request's mode boots from (warm image, pool, this worker's template).
  Status PrepareMode(const InvokeRequest& request, InvocationOptions& options, WorkerState& state,
                     std::shared_ptr<WarmImage>& keep);
  // Under queue_mu_: the first stock of this worker below `ready_` (false: none).
  bool NextToBoot(const WorkerState& state, StockKey& key, Wanted& wanted) const;
  // Under queue_mu_: a served image this worker has no template of yet (false: none).
  bool TemplateToMake(const WorkerState& state, ImageKey& key, Wanted& wanted) const;
  // Boots one instance of `key` ahead on this worker, at idle priority.
  void BootAhead(const StockKey& key, const Wanted& wanted, WorkerState& state);
  // Drops what this worker keeps for images no longer wanted (replaced by a newer generation).
  void DropStale(WorkerState& state);

  std::unique_ptr<Platform> platform_;
  const MountChoice mounts_;
  const uint32_t pool_size_;
  const uint32_t ready_;
  const Prefault prefault_;
  bool idle_priority_ = false;  // SCHED_IDLE can be left again here (probed at start)
  std::vector<int> cpus_;       // the CPUs the server may use, in order: worker i on cpus_[i % n]

  std::mutex cache_mu_;
  std::map<ImageKey, std::shared_ptr<WarmImage>> warm_;
  std::unique_ptr<ShellPool> pool_;

  std::mutex queue_mu_;
  // One condition variable per worker, and the idle workers, most recently idle last: a request
  // wakes the one PickIdleWorker chooses (a CPU with no busy worker, the caller's CPU, then the
  // worker that was busy last: LIFO, whose template, tracer and CPU caches are warm).
  // A FIFO wake-up (one shared condition variable) handed consecutive requests to each worker
  // in turn, on alternating CPUs: on-path fork boots took ~85 us in the shell's fork against
  // ~65 us with one worker (spec/serve.md, "Admission").
  std::vector<std::condition_variable> worker_cv_;
  std::vector<uint32_t> idle_workers_;
  void WakeAllWorkers();
  // Under queue_mu_, with idle_workers_ not empty: the idle worker a request goes to.
  uint32_t PickIdleWorker() const;
  std::deque<Job*> queue_;
  std::map<StockKey, Wanted> wanted_;
  // The images served now (Serving), with their warm images and the ceilings of their
  // requests; serving_epoch_ counts the changes (a worker prunes its caches once per change).
  std::map<ImageKey, Wanted> serving_;
  bool serving_known_ = false;
  uint64_t serving_epoch_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace cat::serve
