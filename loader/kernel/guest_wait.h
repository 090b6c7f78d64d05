// Where poll, select, epoll_wait and blocking reads of live files wait: for host fds (catload's
// stdio channels) and a point in time, never past the run's deadline (--timeout), on the
// kernel's one interruptible primitive (wait_queue.h: Wakeup, which any host thread can end).
// When guest threads run, an in-sandbox object becoming ready (a pipe written, an eventfd
// signalled) is a WaitQueue wake: this is the one function that changes then.
#pragma once

#include <poll.h>

#include <cstdint>
#include <vector>

namespace cat {

class Deadline;
class Wakeup;

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
  kWoken,     // a host fd became ready, or Wakeup::Wake() was called: re-check, maybe wait again
  kTimedOut,  // until_ns has passed
  kDeadline,  // the run's deadline has passed: the blocked call fails with EINTR
};

// Blocks until the spec is met. With nothing to wait for and no time limit the guest waits
// for the run's deadline (forever without one), as a Linux process would wait forever.
WaitEnd BlockGuest(WaitSpec& spec, const Deadline& deadline, const Wakeup& wakeup);

}  // namespace cat
