// The blocking primitive of poll, select, epoll and live files (see guest_wait.h).
#include "loader/kernel/guest_wait.h"

#include <span>

#include "format/base/host_clock.h"
#include "loader/kernel/files.h"
#include "loader/kernel/wait_queue.h"

namespace cat {

WaitEnd BlockGuest(WaitSpec& spec, const Deadline& deadline, const Wakeup& wakeup) {
  if (deadline.Passed()) return WaitEnd::kDeadline;
  if (spec.until_ns >= 0 && MonotonicNowNs() >= spec.until_ns) return WaitEnd::kTimedOut;
  // Wakeup::Wait takes one deadline (0 = none): the earlier of the wait's own and the run's.
  int64_t until = deadline.ns();
  if (spec.until_ns >= 0 && (until == 0 || spec.until_ns < until)) until = spec.until_ns;
  auto why = wakeup.Wait(std::span<pollfd>(spec.host.data(), spec.host.size()), until);
  if (!why) return deadline.Passed() ? WaitEnd::kDeadline : WaitEnd::kWoken;
  switch (*why) {
    case Wakeup::Reason::kReady:
    case Wakeup::Reason::kWoken:
      // Woken: someone needs the tracer (a timer, the watchdog); a pending signal would end the
      // call with EINTR here (s9-signal). The caller looks again and waits again.
      return deadline.Passed() ? WaitEnd::kDeadline : WaitEnd::kWoken;
    case Wakeup::Reason::kDeadline:
      break;
  }
  if (deadline.Passed()) return WaitEnd::kDeadline;
  if (spec.until_ns >= 0 && MonotonicNowNs() >= spec.until_ns) return WaitEnd::kTimedOut;
  return WaitEnd::kWoken;
}

}  // namespace cat
