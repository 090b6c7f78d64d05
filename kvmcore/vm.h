// A KVM virtual machine (KVM_CREATE_VM): owns its memory slots' registration and makes vCPUs.
#pragma once

#include <cstdint>

#include "format/base/error.h"
#include "format/base/unique_fd.h"
#include "kvmcore/kvm_system.h"

namespace cat::kvm {

class Vm {
 public:
  static Result<Vm> Create(const KvmSystem& system);

  int fd() const { return fd_.get(); }
  // KVM_SET_USER_MEMORY_REGION: guest-physical [gpa, gpa+size) is host [host, host+size).
  // The host range may be remapped later (KVM follows host page-table changes through its MMU
  // notifier), which is how one slot serves many guest mappings (memory_slot.h).
  Status SetMemorySlot(uint32_t slot, uint64_t gpa, uint64_t size, void* host);

 private:
  explicit Vm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace cat::kvm
