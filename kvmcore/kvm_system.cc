// Opening /dev/kvm and checking what kvmcore relies on (see kvm_system.h).
#include "kvmcore/kvm_system.h"

#include <cpuid.h>
#include <fcntl.h>
#include <sys/ioctl.h>

#include "kvmcore/kvm_ioctls.h"

namespace cat::kvm {

std::unexpected<Error> IoctlError(std::string_view ioctl_name, int err) {
  return FailErrno(ioctl_name, err);
}

namespace {

struct RequiredCap {
  long cap;
  const char* name;
};

// Each is in every KVM since Linux 4.x; a backend that lacks one is not one kvmcore can drive.
constexpr RequiredCap kRequiredCaps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_XSAVE, "KVM_CAP_XSAVE"},
    {KVM_CAP_XCRS, "KVM_CAP_XCRS"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

// Leaves with subleaves that KVM_SET_CPUID2 takes one entry per index of.
bool HasSubleaves(uint32_t leaf) {
  return leaf == 4 || leaf == 7 || leaf == 0xb || leaf == 0xd || leaf == 0xf || leaf == 0x10 ||
         leaf == 0x12 || leaf == 0x14 || leaf == 0x17 || leaf == 0x18 || leaf == 0x1f ||
         leaf == 0x8000001d;
}

void AddLeaves(uint32_t first, std::vector<kvm_cpuid_entry2>& out) {
  uint32_t max = 0, b, c, d;
  __cpuid(first, max, b, c, d);
  for (uint32_t leaf = first; leaf <= max && leaf < first + 0x40; ++leaf) {
    const uint32_t subleaves = HasSubleaves(leaf) ? 64 : 1;
    for (uint32_t sub = 0; sub < subleaves; ++sub) {
      kvm_cpuid_entry2 e{};
      e.function = leaf;
      e.index = sub;
      __cpuid_count(leaf, sub, e.eax, e.ebx, e.ecx, e.edx);
      if (subleaves > 1) {
        if (sub > 1 && e.eax == 0 && e.ebx == 0 && e.ecx == 0 && e.edx == 0) break;
        e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
      }
      out.push_back(e);
    }
  }
}

}  // namespace

std::vector<kvm_cpuid_entry2> HostCpuid() {
  std::vector<kvm_cpuid_entry2> out;
  AddLeaves(0, out);
  AddLeaves(0x80000000, out);
  return out;
}

Result<KvmSystem> KvmSystem::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT)
      return Fail(err, "open " + path +
                           ": no such device (load kvm-intel or kvm-amd, or give the VM nested "
                           "virtualization; otherwise use --platform ptrace)");
    if (err == EACCES || err == EPERM)
      return Fail(err, "open " + path +
                           ": permission denied (add the user to the 'kvm' group or run as root)");
    return FailErrno("open " + path, err);
  }
  KvmSystem sys{UniqueFd(fd)};
  const int version = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (version < 0) return IoctlError("KVM_GET_API_VERSION");
  if (version != KVM_API_VERSION)
    return Fail(ENOTSUP, "KVM_GET_API_VERSION: " + std::to_string(version) + ", kvmcore needs " +
                             std::to_string(KVM_API_VERSION) + " (update the host kernel)");
  for (const RequiredCap& c : kRequiredCaps)
    if (sys.Extension(c.cap) <= 0)
      return Fail(ENOTSUP, std::string("KVM_CHECK_EXTENSION: ") + c.name +
                               " is missing (kvmcore needs a Linux >= 4.12 KVM with it)");
  const int size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size <= 0) return IoctlError("KVM_GET_VCPU_MMAP_SIZE");
  sys.vcpu_mmap_size_ = static_cast<size_t>(size);
  sys.sync_regs_ = (sys.Extension(KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS) != 0;
  sys.max_slots_ = sys.Extension(KVM_CAP_NR_MEMSLOTS);
  if (sys.max_slots_ < 2)
    return Fail(ENOTSUP, "KVM_CHECK_EXTENSION: KVM_CAP_NR_MEMSLOTS is " +
                             std::to_string(sys.max_slots_) + ", kvmcore needs 2 slots");
  return sys;
}

int KvmSystem::Extension(long cap) const {
  const int r = ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

Result<std::vector<kvm_cpuid_entry2>> KvmSystem::SupportedCpuid() const {
  // The kernel says E2BIG until the buffer is large enough.
  for (size_t n = 64; n <= 4096; n *= 2) {
    CountedArray<kvm_cpuid_entry2> cpuid(n);
    if (ioctl(fd_.get(), kGetSupportedCpuid, cpuid.data()) == 0)
      return std::vector<kvm_cpuid_entry2>(cpuid.entries(), cpuid.entries() + cpuid.count());
    if (errno != E2BIG) return IoctlError("KVM_GET_SUPPORTED_CPUID");
  }
  return Fail(E2BIG, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

}  // namespace cat::kvm
