// The --max-output budget of one run: how many bytes the guest may still write out of the
// sandbox (to catload's stdin/stdout/stderr and to host files in rw mounts). Per invocation,
// never persisted: a restored instance starts with its whole budget.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

namespace cat {

class OutputBudget {
 public:
  // 0 = no limit.
  void SetLimit(uint64_t bytes) { limit_ = bytes; }
  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_; }
  bool enabled() const { return limit_ > 0; }

  // How many of `len` bytes a write may move now: all of them, what is left (a short write,
  // like a write crossing RLIMIT_FSIZE), or 0 once the budget is spent.
  uint64_t Allow(uint64_t len) const {
    if (!enabled()) return len;
    return std::min(len, limit_ - std::min(used_, limit_));
  }
  // Records bytes actually written.
  void Consume(uint64_t n) { used_ += n; }
  // True once the whole budget is used: every further non-empty write is refused.
  bool exhausted() const { return enabled() && used_ >= limit_; }
  // True the first time it is called (to report the first refused write only once).
  bool FirstRefusal() { return !std::exchange(refused_, true); }

 private:
  uint64_t limit_ = 0;
  uint64_t used_ = 0;
  bool refused_ = false;
};

}  // namespace cat
