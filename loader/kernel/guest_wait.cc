// The blocking primitive of the sandbox kernel (see guest_wait.h).
#include "loader/kernel/guest_wait.h"

#include <algorithm>
#include <cerrno>
#include <climits>

#include "format/base/host_clock.h"
#include "loader/kernel/files.h"

namespace cat {

WaitEnd BlockGuest(WaitSpec& spec, const Deadline& deadline) {
  int64_t wait_ms = -1;
  if (spec.until_ns >= 0) {
    const int64_t left = spec.until_ns - MonotonicNowNs();
    if (left <= 0) return WaitEnd::kTimedOut;
    // Rounded up: waking early would only make the caller wait again.
    wait_ms = std::min<int64_t>((left + 999999) / 1000000, INT_MAX);
  }
  const int run_ms = deadline.RemainingMs();
  if (run_ms == 0) return WaitEnd::kDeadline;
  const bool run_first = run_ms >= 0 && (wait_ms < 0 || run_ms < wait_ms);
  const int ms = static_cast<int>(run_first ? run_ms : wait_ms);
  const int r = poll(spec.host.data(), spec.host.size(), ms);
  if (r > 0 || (r < 0 && errno == EINTR)) return WaitEnd::kWoken;
  if (deadline.Passed()) return WaitEnd::kDeadline;
  if (spec.until_ns >= 0 && MonotonicNowNs() >= spec.until_ns) return WaitEnd::kTimedOut;
  return WaitEnd::kWoken;
}

}  // namespace cat
