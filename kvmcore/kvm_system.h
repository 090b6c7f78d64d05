// The KVM system handle: /dev/kvm opened once, its API version and the capabilities kvmcore
// needs checked, each refusal saying what to enable. Everything else (VMs, vCPUs) is made
// from it.
#pragma once

#include <linux/kvm.h>

#include <memory>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/base/unique_fd.h"

namespace cat::kvm {

// "KVM_RUN: EFAULT (Bad address)": kvmcore's errors name the ioctl and the errno.
std::unexpected<Error> IoctlError(std::string_view ioctl_name, int err = errno);

// The host CPU's own CPUID leaves (the cpuid instruction), for backends that do not answer
// KVM_GET_SUPPORTED_CPUID.
std::vector<kvm_cpuid_entry2> HostCpuid();

class KvmSystem {
 public:
  // Opens `path` (normally /dev/kvm) and checks the API version and required capabilities.
  static Result<KvmSystem> Open(const std::string& path = "/dev/kvm");

  int fd() const { return fd_.get(); }
  // The size of a vCPU's shared kvm_run area (KVM_GET_VCPU_MMAP_SIZE).
  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
  // KVM_CAP_SYNC_REGS: registers travel in kvm_run instead of one ioctl each.
  bool has_sync_regs() const { return sync_regs_; }
  int max_memory_slots() const { return max_slots_; }
  // KVM_CHECK_EXTENSION's answer (0: absent).
  int Extension(long cap) const;
  // What KVM can expose to a guest (KVM_GET_SUPPORTED_CPUID), for KVM_SET_CPUID2.
  Result<std::vector<kvm_cpuid_entry2>> SupportedCpuid() const;

 private:
  explicit KvmSystem(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  size_t vcpu_mmap_size_ = 0;
  bool sync_regs_ = false;
  int max_slots_ = 0;
};

}  // namespace cat::kvm
