// The sandbox zygote: a pool of pre-made, empty shells, refilled by a background thread so
// that a warm boot takes a shell instead of creating one on the request's path
// (spec/boot.md, "warm boot"). A shell is made on the pool's thread and handed over to the
// thread that takes it (Shell::ReleaseThread / AttachThread: a ptrace shell can only be
// controlled by one thread at a time).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "format/base/error.h"
#include "loader/platform/platform.h"

namespace cat {

class ShellPool {
 public:
  // Starts the refill thread, which keeps `size` (>= 1) shells ready. The pool must outlive
  // every shell taken from it: on the ptrace platform a shell dies with the thread that made
  // it (PR_SET_PDEATHSIG names a thread).
  static Result<std::unique_ptr<ShellPool>> Start(Platform& platform, size_t size);
  // Stops the thread; the shells not taken are killed.
  ~ShellPool();
  ShellPool(const ShellPool&) = delete;
  ShellPool& operator=(const ShellPool&) = delete;

  // A ready shell, attached to the calling thread. An empty pool (taken faster than it is
  // refilled) makes one now on the calling thread, counted in misses().
  Result<std::unique_ptr<Shell>> Take();
  // Lets the refill thread replace what was taken. Called once the boot that took a shell is
  // done (WarmBoot does), not by Take: refilling takes a CPU, and on a small host it would
  // take the booting thread's.
  void Replenish();

  size_t size() const { return size_; }
  size_t ready() const;
  uint64_t misses() const { return misses_.load(); }
  // Blocks until the pool is full again (or its thread failed); for tests and benchmarks that
  // want every boot to find a shell ready.
  void WaitFull();

 private:
  ShellPool(Platform& platform, size_t size) : platform_(platform), size_(size) {}
  void Refill();

  Platform& platform_;
  const size_t size_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the refill thread: a shell was taken, or stop
  std::condition_variable full_;  // WaitFull
  std::deque<std::unique_ptr<Shell>> ready_;
  bool stop_ = false;
  bool failed_ = false;  // the last creation failed: Take makes its own and reports why
  std::atomic<uint64_t> misses_{0};
  std::thread thread_;
};

}  // namespace cat
