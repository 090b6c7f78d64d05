// Scoped CPU pinning (see cpu_pin.h).
#include "loader/platform/cpu_pin.h"

#include <sched.h>

#include <cstring>

namespace cat {

static_assert(sizeof(cpu_set_t) == 128, "CpuPin keeps a cpu_set_t in 128 bytes");

CpuPin::CpuPin(int cpu) {
  cpu_set_t previous;
  if (sched_getaffinity(0, sizeof(previous), &previous) != 0) return;
  if (cpu == kCurrentCpu) cpu = sched_getcpu();
  if (cpu < 0 || cpu >= CPU_SETSIZE) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) return;
  std::memcpy(previous_, &previous, sizeof(previous));
  pinned_ = true;
  cpu_ = cpu;
}

CpuPin::~CpuPin() {
  if (!pinned_) return;
  cpu_set_t previous;
  std::memcpy(&previous, previous_, sizeof(previous));
  sched_setaffinity(0, sizeof(previous), &previous);
}

}  // namespace cat
