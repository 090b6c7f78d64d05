// Scoped CPU pinning of the calling thread. The tracer and its shell take turns on every guest
// syscall, and a hand-over on one CPU is a plain context switch where a cross-CPU one is an IPI
// (several times dearer, in a VM most of all): so the thread that serves an instance is pinned
// to one CPU before its shell is created (the shell inherits the mask at clone) and stays
// there for the instance's life. The pin is per instance, not per process: CpuPin restores the
// thread's previous affinity when it goes, so a server thread can serve instances on other
// CPUs later, and a caller may choose the CPU (a server places instances per CPU).
#pragma once

namespace cat {

class CpuPin {
 public:
  static constexpr int kCurrentCpu = -1;
  // Pins the calling thread to `cpu` (kCurrentCpu: the one it runs on now). Best effort: where
  // the mask cannot be set (a cpuset forbids that CPU, or it does not exist) the thread stays
  // as it was and pinned() is false.
  explicit CpuPin(int cpu = kCurrentCpu);
  ~CpuPin();
  CpuPin(const CpuPin&) = delete;
  CpuPin& operator=(const CpuPin&) = delete;

  bool pinned() const { return pinned_; }
  int cpu() const { return cpu_; }  // -1 if not pinned

 private:
  bool pinned_ = false;
  int cpu_ = -1;
  // The previous mask, kept inline as bytes (cpu_set_t, 128 bytes) so that the header does not
  // need <sched.h>.
  alignas(8) unsigned char previous_[128];
};

}  // namespace cat
