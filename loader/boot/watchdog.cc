// The run's watchdog (see watchdog.h).
#include "loader/boot/watchdog.h"

#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "format/base/host_clock.h"
#include "loader/boot/deadline_thread.h"

namespace cat {
namespace {

constexpr int64_t kNsPerS = 1000000000;

}  // namespace

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
  if (w->deadline_)
    w->deadline_id_ = DeadlineThread::Get().Add(
        *w->deadline_, [](void* self) { static_cast<Watchdog*>(self)->Fire(Fired::kTimeout); },
        w.get());
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
  shell_.InterruptForLimit();
}

void Watchdog::Watch() {
  std::unique_lock lock(mu_);
  const auto fire = [this](Fired what) {
    if (fired_ != Fired::kNone) return;
    fired_ = what;
    shell_.InterruptForLimit();
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
