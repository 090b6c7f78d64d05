// The pool of pre-created VMs and its refill thread (see machine_pool.h).
#include "kvmcore/machine_pool.h"

namespace cat::kvm {
MachinePool::~MachinePool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MachinePool::Start(const std::vector<kvm_cpuid_entry2>& cpuid) {
  {
    std::lock_guard lock(mutex_);
    cpuid_ = cpuid;
    want_ = true;
    if (!started_) {
      started_ = true;
      thread_ = std::thread([this] { Refill(); });
    }
  }
  wake_.notify_one();
}

void MachinePool::Refill() {
  // Not pinned and not prioritized: it runs while instances run, on whichever CPU is free.
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] {
      return stop_ || !retired_.empty() || (want_ && !failed_ && ready_.size() < size_);
    });
    if (stop_) break;
    if (!retired_.empty()) {
      // Teardown first: it gives back the memory a new machine may need.
      std::vector<std::unique_ptr<GuestMachine>> dead = std::move(retired_);
      retired_.clear();
      lock.unlock();
      dead.clear();
      lock.lock();
    } else {
      MachineOptions options;
      options.cpuid = cpuid_;
      lock.unlock();
      auto machine = GuestMachine::Create(*system_, options);
      lock.lock();
      if (machine) {
        made_.fetch_add(1);
        ready_.push_back(std::move(*machine));
        if (ready_.size() >= size_) want_ = false;
      } else {
        failed_ = true;  // Take makes its own (and reports why); retried at Replenish
      }
    }
    if (failed_ || Full()) full_.notify_all();
  }
}

Result<std::unique_ptr<GuestMachine>> MachinePool::Take(const std::vector<kvm_cpuid_entry2>& cpuid,
                                                        bool* from_pool) {
  if (from_pool) *from_pool = false;
  std::unique_ptr<GuestMachine> machine;
  bool start = false;
  {
    std::lock_guard lock(mutex_);
    start = !started_;
    if (!ready_.empty()) {
      machine = std::move(ready_.front());
      ready_.pop_front();
    }
    failed_ = false;
  }
  if (start) Start(cpuid);
  if (!machine) {
    misses_.fetch_add(1);
    Replenish();
    MachineOptions options;
    options.cpuid = cpuid;
    return GuestMachine::Create(*system_, options);
  }
  hits_.fetch_add(1);
  if (from_pool) *from_pool = true;
  // Only machines fresh from Create are ever made ready (Retire never gives one back); this
  // holds that line should that ever change.
  if (machine->exits() != 0 || machine->mappings() != 0)
    return Fail(EIO, "take a pooled VM: it has run or holds guest memory");
  if (!SameCpuid(machine->cpuid(), cpuid))
    TRY_STATUS(WithContext(machine->SetCpuid(cpuid), "take a pooled VM"));
  return machine;
}

void MachinePool::Replenish() {
  {
    std::lock_guard lock(mutex_);
    want_ = true;
    failed_ = false;
  }
  wake_.notify_one();
}

void MachinePool::Retire(std::unique_ptr<GuestMachine> machine) {
  if (!machine) return;
  {
    std::lock_guard lock(mutex_);
    if (started_ && !stop_) {
      retired_.push_back(std::move(machine));
      machine = nullptr;
    }
  }
  if (machine) {
    machine.reset();  // no refill thread: torn down here
    return;
  }
  wake_.notify_one();
}

size_t MachinePool::ready() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

void MachinePool::WaitFull() {
  std::unique_lock lock(mutex_);
  if (!started_) return;
  want_ = true;
  wake_.notify_one();
  full_.wait(lock, [this] { return stop_ || failed_ || Full(); });
}

}  // namespace cat::kvm
