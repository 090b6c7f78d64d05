// The zygote pool's refill thread and hand-over (see shell_pool.h).
#include "loader/boot/shell_pool.h"

namespace cat {

Result<std::unique_ptr<ShellPool>> ShellPool::Start(Platform& platform, size_t size) {
  if (size == 0) return Fail(EINVAL, "shell pool: size must be at least 1");
  std::unique_ptr<ShellPool> pool(new ShellPool(platform, size));
  pool->thread_ = std::thread([p = pool.get()] { p->Refill(); });
  return pool;
}

ShellPool::~ShellPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ShellPool::Refill() {
  // New shells are forks of one pristine empty shell, never clones of catload: cloning catload
  // copies its whole address space under its mmap lock, which stalls every page fault of the
  // threads booting and running guests meanwhile (~0.2 ms a shell on the benchmark VM). Where
  // the platform cannot fork, shells are created directly.
  // This thread is not pinned: it refills while guests run, on whichever CPU is free; a shell
  // taken moves to its taker's CPU (Shell::AttachThread).
  std::unique_ptr<Shell> master;
  if (auto m = platform_.CreateShell()) master = std::move(*m);
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || (ready_.size() < size_ && !failed_); });
    if (stop_) break;
    lock.unlock();
    auto shell = master ? master->Fork() : platform_.CreateShell();
    Status released = shell ? (*shell)->ReleaseThread() : Status(std::unexpected(shell.error()));
    lock.lock();
    if (!released) {
      // Retried when the next shell is taken (Take clears it), not in a tight loop.
      failed_ = true;
      full_.notify_all();
      continue;
    }
    ready_.push_back(std::move(*shell));
    if (ready_.size() == size_) full_.notify_all();
  }
  // Shells die with this thread (their parent-death signal); kill them while their pool is
  // still whole, rather than leave it to the host.
  ready_.clear();
}

Result<std::unique_ptr<Shell>> ShellPool::Take() {
  std::unique_ptr<Shell> shell;
  {
    std::lock_guard lock(mutex_);
    if (!ready_.empty()) {
      shell = std::move(ready_.front());
      ready_.pop_front();
    }
    failed_ = false;
  }
  if (!shell) {
    misses_.fetch_add(1);
    return platform_.CreateShell();
  }
  TRY_STATUS(WithContext(shell->AttachThread(), "take a shell from the pool"));
  return shell;
}

void ShellPool::Replenish() {
  wake_.notify_one();
}

size_t ShellPool::ready() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

void ShellPool::WaitFull() {
  std::unique_lock lock(mutex_);
  full_.wait(lock, [this] { return stop_ || failed_ || ready_.size() == size_; });
}

}  // namespace cat
