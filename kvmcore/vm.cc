// KVM_CREATE_VM and memory-slot registration (see vm.h).
#include "kvmcore/vm.h"

#include <sys/ioctl.h>

namespace cat::kvm {

// Intel's VMX needs three pages of guest-physical space for its real-mode TSS even though the
// guest never runs in real mode; it is placed below 4 GiB, away from kvmcore's slots
// (guest_machine.h puts the system slot at 0 and guest memory at 4 GiB).
constexpr uint64_t kIntelTssAddr = 0xfffbd000;

Result<Vm> Vm::Create(const KvmSystem& system) {
  int fd;
  do fd = ioctl(system.fd(), KVM_CREATE_VM, 0);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return IoctlError("KVM_CREATE_VM");
  Vm vm{UniqueFd(fd)};
  if (system.Extension(KVM_CAP_SET_TSS_ADDR) > 0 && ioctl(fd, KVM_SET_TSS_ADDR, kIntelTssAddr) < 0)
    return IoctlError("KVM_SET_TSS_ADDR");
  return vm;
}

Status Vm::SetMemorySlot(uint32_t slot, uint64_t gpa, uint64_t size, void* host) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
    return IoctlError("KVM_SET_USER_MEMORY_REGION slot " + std::to_string(slot));
  return {};
}

}  // namespace cat::kvm
