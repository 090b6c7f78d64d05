// The one place where the sandbox kernel blocks a guest: a wait for host fds (catload's stdio
// channels) and a point in time, never past the run's deadline (--timeout). Every blocking
// emulated call (poll, select, epoll_wait, a timerfd read) ends here, so that the task model's
// interruptible wait queue (issue 9, s9-task) replaces exactly this function.
#pragma once

#include <poll.h>

#include <cstdint>
#include <vector>

namespace cat {

class Deadline;

// What a blocked guest waits for: any of `host` becoming ready, or host CLOCK_MONOTONIC
// reaching `until_ns` (-1: no time limit).
struct WaitSpec {
  std::vector<pollfd> host;
  int64_t until_ns = -1;
  // Keeps the earliest of the current limit and `ns`.
  void WakeAt(int64_t ns) {
    if (until_ns < 0 || ns < until_ns) until_ns = ns;
  }
  void WatchHostFd(int fd, short events) { host.push_back({fd, events, 0}); }
};

enum class WaitEnd {
  kWoken,     // a host fd became ready, or the wait returned early: re-check and maybe wait again
  kTimedOut,  // until_ns has passed
  kDeadline,  // the run's deadline has passed: the blocked call fails with EINTR
};

// Blocks until the spec is met. With nothing to wait for and no time limit the guest waits
// for the run's deadline (forever without one), as a Linux process would wait forever.
WaitEnd BlockGuest(WaitSpec& spec, const Deadline& deadline);

}  // namespace cat
