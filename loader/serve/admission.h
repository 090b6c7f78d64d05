// Admission control: at most `max_instances` invocations run at once; up to `queue` more wait
// for a slot in arrival order; past that a request is turned away at once (503 with
// Retry-After, spec/serve.md "Admission"). Waiting requests are never dropped, also not while
// the server drains at SIGTERM.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

namespace cat::serve {

class Admission {
 public:
  Admission(uint32_t max_instances, uint32_t queue) : max_(max_instances), queue_(queue) {}

  // Held while an invocation runs; its destructor frees the slot for the next in line.
  class Slot {
   public:
    Slot(Slot&& o) noexcept : a_(o.a_) { o.a_ = nullptr; }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    Slot& operator=(Slot&&) = delete;
    ~Slot();

   private:
    friend class Admission;
    explicit Slot(Admission* a) : a_(a) {}
    Admission* a_;
  };

  // Blocks until the request may run; nullopt (at once) if the queue is full.
  std::optional<Slot> Enter();

  uint32_t running() const;
  uint32_t waiting() const;
  uint64_t rejected() const;

 private:
  void Leave();

  const uint32_t max_, queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint32_t running_ = 0;
  uint32_t waiting_ = 0;
  uint64_t next_ticket_ = 0;  // given to the next request that has to wait
  uint64_t head_ = 0;         // the waiting ticket that goes next
  uint64_t rejected_ = 0;
};

}  // namespace cat::serve
