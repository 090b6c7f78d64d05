// The run's watchdog (see watchdog.h).
#include "loader/boot/watchdog.h"

#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "format/base/host_clock.h"

namespace cat {
namespace {

constexpr int64_t kNsPerS = 1000000000;

}  // namespace

// One thread for the wall-clock deadlines of every run in the process, started on first use
// and never stopped (it sleeps when there is none; leaked on purpose, so that no static
// destructor joins a thread). A run registers its deadline at its start and removes it at its
// end; the thread fires the earliest due one. Firing happens under mu_, and Remove takes mu_:
// once Remove returns, the thread never touches that watchdog again.
//
// Waking the thread is what a run must not pay for (a futex wake and a context switch on the
// booting thread's CPU): Add wakes it only for a deadline earlier than the one it sleeps until.
// With nothing registered it sleeps until the last deadline removed, not forever, so that a
// server whose runs all have the same --timeout (every new deadline later than any before)
// never wakes it on a run's path; it wakes once then, finds the next deadline, and sleeps on.
class DeadlineThread {
 public:
  using Clock = std::chrono::steady_clock;
  static DeadlineThread& Get() {
    static DeadlineThread* const instance = new DeadlineThread();
    return *instance;
  }
  uint64_t Add(Clock::time_point when, Watchdog* w) {
    std::lock_guard lock(mu_);
    const uint64_t id = ++next_id_;
    due_.emplace(std::make_pair(when, id), w);
    if (when < wake_at_) cv_.notify_one();
    return id;
  }
  void Remove(Clock::time_point when, uint64_t id) {
    std::lock_guard lock(mu_);
    due_.erase(std::make_pair(when, id));
    idle_until_ = std::max(idle_until_, when);
  }

 private:
  DeadlineThread() {
    std::thread([this] { Loop(); }).detach();
  }
  void Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      const auto now = Clock::now();
      while (!due_.empty() && due_.begin()->first.first <= now) {
        Watchdog* w = due_.begin()->second;
        due_.erase(due_.begin());
        w->Fire(Watchdog::Fired::kTimeout);
      }
      wake_at_ = !due_.empty()       ? due_.begin()->first.first
                 : idle_until_ > now ? idle_until_
                                     : Clock::time_point::max();
      if (wake_at_ == Clock::time_point::max())
        cv_.wait(lock);
      else
        cv_.wait_until(lock, wake_at_);
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<Clock::time_point, uint64_t>, Watchdog*> due_;
  uint64_t next_id_ = 0;
  Clock::time_point wake_at_ = Clock::time_point::max();  // when the thread looks next
  Clock::time_point idle_until_{};  // the latest deadline removed: how long it may sleep empty
};

Watchdog::Watchdog(Shell& shell, double timeout_s, double cpu_limit_s) : shell_(shell) {
  if (timeout_s > 0)
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(timeout_s));
  if (cpu_limit_s > 0) cpu_limit_ns_ = std::max<int64_t>(1, std::llround(cpu_limit_s * 1e9));
}

Result<std::unique_ptr<Watchdog>> Watchdog::Start(Shell& shell, double timeout_s,
                                                  double cpu_limit_s) {
  std::unique_ptr<Watchdog> w(new Watchdog(shell, timeout_s, cpu_limit_s));
  bool thread = false;
  if (w->cpu_limit_ns_ > 0) {
    if (int err = pthread_getcpuclockid(pthread_self(), &w->server_clock_))
      return Fail(err, "CPU limit: pthread_getcpuclockid");
    w->server_start_ns_ = ClockNs(w->server_clock_);
    w->shell_start_ns_ = shell.CpuTimeNs();
    w->next_poll_ = *w->NextCpuLook();
    // RLIMIT_CPU counts the shell's whole life, in whole seconds (and at least 1).
    const int64_t end_ns = w->shell_start_ns_ + w->cpu_limit_ns_;
    const int64_t soft_s = end_ns / kNsPerS;
    const int64_t hard_s = (end_ns + kNsPerS - 1) / kNsPerS + 1;
    TRY_STATUS(WithContext(shell.LimitCpuTime(std::max<int64_t>(soft_s, 1), hard_s), "CPU limit"));
    // No whole second before the limit: the host's SIGXCPU would come too late.
    if (soft_s < 1 || soft_s * kNsPerS <= w->shell_start_ns_) thread = true;
  }
  if (thread) w->StartThread();
  if (w->deadline_) w->deadline_id_ = DeadlineThread::Get().Add(*w->deadline_, w.get());
  return w;
}

Watchdog::~Watchdog() {
  if (deadline_id_) DeadlineThread::Get().Remove(*deadline_, deadline_id_);
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Watchdog::Fired Watchdog::fired() {
  std::lock_guard lock(mu_);
  return fired_;
}

int64_t Watchdog::CpuUsedNs() const {
  const int64_t guest = shell_.CpuTimeNs() - shell_start_ns_;
  const int64_t server = ClockNs(server_clock_) - server_start_ns_;
  // On kvm the guest runs on the serving thread (KVM_RUN): its time is in that thread's clock
  // already, and adding it again made a CPU limit fire at half the guest's time. The larger
  // of the two is still right should the shell ever run on another thread.
  if (shell_.GuestTimeOnRunThread()) return std::max(guest, server);
  return guest + server;
}

std::optional<std::chrono::steady_clock::time_point> Watchdog::NextCpuLook() const {
  const int64_t left_ns = cpu_limit_ns_ - CpuUsedNs();
  if (left_ns <= 0) return std::nullopt;
  // The guest and the thread serving it take turns (the shell is stopped while catload
  // emulates), so the run uses at most one CPU: the limit cannot be reached before `left`
  // of wall-clock time has passed.
  return std::chrono::steady_clock::now() + std::max<std::chrono::steady_clock::duration>(
                                                std::chrono::nanoseconds(left_ns), kMinCpuPoll);
}

bool Watchdog::PollCpu() {
  if (cpu_limit_ns_ <= 0 || std::chrono::steady_clock::now() < next_poll_) return false;
  const auto next = NextCpuLook();
  if (!next) return true;
  next_poll_ = *next;
  return false;
}

void Watchdog::WatchCpuClosely() {
  if (cpu_limit_ns_ > 0) StartThread();
}

void Watchdog::StartThread() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Watch(); });
}

void Watchdog::Fire(Fired what) {
  std::lock_guard lock(mu_);
  if (fired_ != Fired::kNone) return;  // the first limit reached is the one reported
  fired_ = what;
  shell_.Interrupt();
}

void Watchdog::Watch() {
  std::unique_lock lock(mu_);
  const auto fire = [this](Fired what) {
    if (fired_ != Fired::kNone) return;
    fired_ = what;
    shell_.Interrupt();
  };
  while (!stop_) {
    std::chrono::steady_clock::time_point wake;
    if (deadline_) wake = *deadline_;
    if (cpu_limit_ns_ > 0) {
      const auto next = NextCpuLook();
      if (!next) return fire(Fired::kCpuLimit);
      wake = deadline_ ? std::min(wake, *next) : *next;
    }
    if (cv_.wait_until(lock, wake, [this] { return stop_; })) return;
    if (deadline_ && std::chrono::steady_clock::now() >= *deadline_) return fire(Fired::kTimeout);
  }
}

}  // namespace cat
