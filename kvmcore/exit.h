// The typed result of one KVM_RUN (vcpu.h): what made the vCPU stop, decoded from kvm_run.
#pragma once

#include <cstdint>
#include <string>

namespace cat::kvm {

enum class ExitKind {
  kIo,             // port I/O: port, size, direction, value (the trampoline's exits)
  kMmio,           // access to guest-physical memory outside every slot: address
  kHlt,            // hlt in ring 0
  kShutdown,       // triple fault: the vCPU is unusable
  kInterrupted,    // KVM_RUN returned EINTR (Vcpu::Kick, a signal) or immediate_exit was set
  kMemoryFault,    // KVM_RUN returned EFAULT: a slot's host page could not be faulted in
  kFailEntry,      // the CPU refused the vCPU state: hardware_entry_failure_reason
  kInternalError,  // KVM could not emulate something: suberror
  kOther,          // any other KVM_EXIT_*: reason
};

struct Exit {
  ExitKind kind;
  uint16_t port = 0;     // kIo
  bool out = false;      // kIo: an OUT (guest to host)
  uint32_t value = 0;    // kIo, OUT: the first element's value
  uint64_t address = 0;  // kMmio: guest-physical address
  uint64_t reason = 0;   // kFailEntry, kInternalError, kOther: KVM's code
  std::string Describe() const;
};

}  // namespace cat::kvm
