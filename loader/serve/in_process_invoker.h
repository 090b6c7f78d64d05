// The invoker that boots instances inside the server process through the in-process
// invocation API (loader/boot/invocation.h): request in a sealed memfd, stdout and stderr in
// memfds, the instance torn down and freed at the end. No process start per request; the
// sandbox kernel's lines about the instance join its stderr (one log line per invocation).
//
// All three boot modes. Instances run on a fixed set of worker threads, each pinned to one
// CPU (worker i on CPU i mod N): the thread that boots an instance is its tracer for its whole
// life, and a ptrace shell can only be driven by one thread. Per image, shared by all workers:
// the warm image (opened from the registry's fd, verified and relocated once) and one zygote
// pool of shells (warm boot). Per image and per worker: a fork template, made on the worker's
// first fork of that image — only the thread that traced a template can fork it
// (fork_boot.h). Caches are keyed by (name, registry generation): a replaced image gets new
// ones; instances in flight keep the old ones alive (shared_ptr) and the old entries go when
// a newer generation of the name is first used.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "loader/boot/invocation.h"
#include "loader/boot/mount_binding.h"
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
  // the warm zygote pool keeps ready (0: 2).
  InProcessInvoker(std::unique_ptr<Platform> platform, MountChoice mounts, uint32_t workers,
                   uint32_t pool);
  ~InProcessInvoker() override;

  std::vector<BootMode> AvailableModes() const override {
    return {BootMode::kFork, BootMode::kWarm, BootMode::kCold};
  }
  InvokeResult Invoke(const InvokeRequest& request) override;

 private:
  using ImageKey = std::pair<std::string, uint64_t>;  // function name, registry generation
  struct Job {
    const InvokeRequest* request;
    std::promise<InvokeResult> done;
  };
  // A worker's own fork templates (it traces them; only it can fork them).
  struct WorkerTemplates {
    std::map<ImageKey, std::pair<std::shared_ptr<WarmImage>, std::unique_ptr<Template>>> by_image;
  };

  void WorkerLoop(uint32_t index);
  InvokeResult Run(const InvokeRequest& request, WorkerTemplates& templates);
  // The warm image of the request's image (opened on first use), or an error line.
  Result<std::shared_ptr<WarmImage>> Warm(const InvokeRequest& request);
  Result<ShellPool*> Pool();
  // Fills in what the request's mode boots from (warm image, pool, this worker's template).
  Status PrepareMode(const InvokeRequest& request, InvocationOptions& options,
                     WorkerTemplates& templates, std::shared_ptr<WarmImage>& keep);

  std::unique_ptr<Platform> platform_;
  const MountChoice mounts_;
  const uint32_t pool_size_;

  std::mutex cache_mu_;
  std::map<ImageKey, std::shared_ptr<WarmImage>> warm_;
  std::unique_ptr<ShellPool> pool_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Job*> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace cat::serve
