// Pre-created VMs for fork boot (spec/kvm.md, "Zygote VMs and fork boot"): a refill thread
// keeps fresh GuestMachines ready — each a VM with its vCPU, the system area and both reserved
// memory slots, its CPUID set, never run, no guest mapping — so that a fork takes one instead
// of creating a VM and vCPU on the request's path. A machine leaves the pool once and never
// comes back: a used VM is destroyed (on the refill thread, Retire), never reset and reused, so
// no instance can see anything of an earlier one.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "format/base/error.h"
#include "kvmcore/guest_machine.h"
#include "kvmcore/kvm_system.h"

namespace cat::kvm {

class MachinePool {
 public:
  // `size` (>= 1) machines are kept ready once the pool is started. No thread runs (and no
  // VM exists) before the first Start or Take.
  MachinePool(std::shared_ptr<const KvmSystem> system, size_t size)
      : system_(std::move(system)), size_(size ? size : 1) {}
  // Stops the refill thread; the machines not taken and those retired are destroyed.
  ~MachinePool();
  MachinePool(const MachinePool&) = delete;
  MachinePool& operator=(const MachinePool&) = delete;

  // Starts the refill thread if it is not running, and makes the machines it creates from
  // now on with `cpuid` (a fork template's, so that its forks need no KVM_SET_CPUID2).
  void Start(const std::vector<kvm_cpuid_entry2>& cpuid);
  // A fresh machine with `cpuid` (its default guest memory size): a ready one — given
  // `cpuid` first if it was made with another, which a vCPU that never ran allows — or, when
  // none is ready, one made now on the calling thread (counted in misses()). Starts the pool
  // if it is not running. The pool is refilled when Replenish is called, or at once after a
  // miss.
  // `from_pool` (if given) is set to whether a ready machine was taken.
  Result<std::unique_ptr<GuestMachine>> Take(const std::vector<kvm_cpuid_entry2>& cpuid,
                                             bool* from_pool = nullptr);
  // Lets the refill thread replace what was taken. The taker calls it once its boot is done
  // (the kvm shell does at the fork's first run), not Take: on a small host making a VM
  // would take the booting thread's CPU.
  void Replenish();
  // A machine its user is done with: destroyed on the refill thread (tearing a VM down costs
  // as much as making one), or at once when the pool is not running. Never made ready again.
  void Retire(std::unique_ptr<GuestMachine> machine);

  size_t size() const { return size_; }
  size_t ready() const;
  uint64_t hits() const { return hits_.load(); }
  uint64_t misses() const { return misses_.load(); }
  // Machines the refill thread made (never counts one taken and retired twice: none is).
  uint64_t made() const { return made_.load(); }
  // Blocks until the pool is full and every retired machine destroyed (or a creation
  // failed); for `catload run --repeat` and tests. Returns at once if the pool never started.
  void WaitFull();

 private:
  void Refill();
  bool Full() const { return ready_.size() >= size_ && retired_.empty(); }

  const std::shared_ptr<const KvmSystem> system_;
  const size_t size_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the refill thread: replenish, retire, or stop
  std::condition_variable full_;  // WaitFull
  std::deque<std::unique_ptr<GuestMachine>> ready_;
  std::vector<std::unique_ptr<GuestMachine>> retired_;
  std::vector<kvm_cpuid_entry2> cpuid_;  // what new machines are made with
  bool started_ = false;
  bool want_ = false;  // refill until full (set by Start, Replenish and misses)
  bool stop_ = false;
  bool failed_ = false;  // the last creation failed: retried at the next Replenish
  std::atomic<uint64_t> hits_{0}, misses_{0}, made_{0};
  std::thread thread_;
};

}  // namespace cat::kvm
