// Bounded concurrency with a bounded FIFO queue (see admission.h).
#include "loader/serve/admission.h"

namespace cat::serve {

Admission::Slot::~Slot() {
  if (a_) a_->Leave();
}

std::optional<Admission::Slot> Admission::Enter() {
  std::unique_lock lock(mu_);
  if (running_ < max_ && waiting_ == 0) {
    ++running_;
    return Slot(this);
  }
  if (waiting_ >= queue_) {
    ++rejected_;
    return std::nullopt;
  }
  const uint64_t ticket = next_ticket_++;
  ++waiting_;
  // Arrival order: a request that arrives while others wait never overtakes them.
  cv_.wait(lock, [&] { return ticket == head_ && running_ < max_; });
  ++head_;
  --waiting_;
  ++running_;
  lock.unlock();
  cv_.notify_all();  // the next ticket may fit too (several slots freed at once)
  return Slot(this);
}

void Admission::Leave() {
  {
    std::lock_guard lock(mu_);
    --running_;
  }
  cv_.notify_all();
}

uint32_t Admission::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

uint32_t Admission::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

uint64_t Admission::rejected() const {
  std::lock_guard lock(mu_);
  return rejected_;
}

}  // namespace cat::serve
