// The host's clocks in nanoseconds, for timestamps and deadlines.
#pragma once

#include <time.h>

#include <cstdint>

namespace cat {

inline int64_t ClockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}
inline int64_t RealtimeNowNs() {
  return ClockNs(CLOCK_REALTIME);
}
inline int64_t MonotonicNowNs() {
  return ClockNs(CLOCK_MONOTONIC);
}

}  // namespace cat
