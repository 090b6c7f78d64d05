// Narrowing a vCPU's CPUID to a recorded feature set (see cpuid_profile.h).
#include "loader/platform/kvm/cpuid_profile.h"

#include <algorithm>
#include <cstring>

namespace cat::kvm_platform {
namespace {

kvm_cpuid_entry2* Find(std::vector<kvm_cpuid_entry2>& cpuid, uint32_t function, uint32_t index) {
  for (kvm_cpuid_entry2& e : cpuid)
    if (e.function == function && e.index == index) return &e;
  return nullptr;
}

const kvm_cpuid_entry2* Find(const std::vector<kvm_cpuid_entry2>& cpuid, uint32_t function,
                             uint32_t index) {
  return Find(const_cast<std::vector<kvm_cpuid_entry2>&>(cpuid), function, index);
}

// Clears the named bits the record lacks: keeps `value`'s unnamed bits and the recorded ones.
uint32_t Narrow(uint32_t value, uint32_t named, uint32_t recorded) {
  return value & (~named | recorded);
}

// The XSAVE area's size for the components in `xcr0` (standard layout), from leaf 0xd.
uint32_t XsaveSize(const std::vector<kvm_cpuid_entry2>& cpuid, uint64_t xcr0) {
  uint32_t size = 512 + 64;
  for (int i = 2; i < 63; ++i) {
    if (!((xcr0 >> i) & 1)) continue;
    if (const kvm_cpuid_entry2* e = Find(cpuid, 0xd, static_cast<uint32_t>(i)))
      size = std::max(size, e->ebx + e->eax);
  }
  return size;
}

}  // namespace

CpuFeatures FeaturesOfCpuid(const std::vector<kvm_cpuid_entry2>& cpuid, uint64_t xcr0) {
  CpuFeatures f;
  if (const kvm_cpuid_entry2* e = Find(cpuid, 0, 0)) {
    char vendor[13] = {};
    std::memcpy(vendor, &e->ebx, 4);
    std::memcpy(vendor + 4, &e->edx, 4);
    std::memcpy(vendor + 8, &e->ecx, 4);
    f.vendor = vendor[0] ? vendor : "unknown";
  }
  if (const kvm_cpuid_entry2* e = Find(cpuid, 1, 0)) {
    f.leaf1_ecx = e->ecx, f.leaf1_edx = e->edx;
    // OSXSAVE mirrors CR4.OSXSAVE, which the platform sets whenever the vCPU has XSAVE.
    const uint32_t osxsave = 1u << 27;
    f.leaf1_ecx = (f.leaf1_ecx & ~osxsave) | (((f.leaf1_ecx >> 26) & 1) ? osxsave : 0);
  }
  if (const kvm_cpuid_entry2* e = Find(cpuid, 7, 0)) {
    f.leaf7_ebx = e->ebx, f.leaf7_ecx = e->ecx & ~(1u << 4), f.leaf7_edx = e->edx;  // no OSPKE
  }
  if (const kvm_cpuid_entry2* e = Find(cpuid, 7, 1)) f.leaf7_1_eax = e->eax;
  if (const kvm_cpuid_entry2* e = Find(cpuid, 0xd, 1)) f.leafd_1_eax = e->eax;
  if (const kvm_cpuid_entry2* e = Find(cpuid, 0x80000001, 0))
    f.ext1_ecx = e->ecx, f.ext1_edx = e->edx;
  if ((f.leaf1_ecx >> 26) & 1) {
    f.xcr0 = xcr0;
    f.xsave_size = XsaveSize(cpuid, xcr0);
  }
  return f;
}

std::vector<kvm_cpuid_entry2> NarrowCpuid(std::vector<kvm_cpuid_entry2> cpuid,
                                          const CpuFeatures& recorded) {
  if (!recorded.recorded()) return cpuid;
  const CpuFeatures named = NamedCpuFeatureBits();
  if (kvm_cpuid_entry2* e = Find(cpuid, 1, 0)) {
    e->ecx = Narrow(e->ecx, named.leaf1_ecx, recorded.leaf1_ecx);
    e->edx = Narrow(e->edx, named.leaf1_edx, recorded.leaf1_edx);
  }
  if (kvm_cpuid_entry2* e = Find(cpuid, 7, 0)) {
    e->ebx = Narrow(e->ebx, named.leaf7_ebx, recorded.leaf7_ebx);
    e->ecx = Narrow(e->ecx, named.leaf7_ecx, recorded.leaf7_ecx);
    e->edx = Narrow(e->edx, named.leaf7_edx, recorded.leaf7_edx);
  }
  if (kvm_cpuid_entry2* e = Find(cpuid, 7, 1))
    e->eax = Narrow(e->eax, named.leaf7_1_eax, recorded.leaf7_1_eax);
  if (kvm_cpuid_entry2* e = Find(cpuid, 0xd, 1))
    e->eax = Narrow(e->eax, named.leafd_1_eax, recorded.leafd_1_eax);
  if (kvm_cpuid_entry2* e = Find(cpuid, 0x80000001, 0)) {
    e->ecx = Narrow(e->ecx, named.ext1_ecx, recorded.ext1_ecx);
    e->edx = Narrow(e->edx, named.ext1_edx, recorded.ext1_edx);
  }
  // XSAVE components: the leaf's mask (XCR0's allowed bits, which KVM checks XSETBV and
  // KVM_SET_XCRS against), no sub-leaf for a component taken away, the maximum size to match.
  if (kvm_cpuid_entry2* e = Find(cpuid, 0xd, 0)) {
    uint64_t mask = (uint64_t{e->edx} << 32) | e->eax;
    mask &= ~named.xcr0 | recorded.xcr0;
    mask |= 1;  // x87 is never optional
    e->eax = static_cast<uint32_t>(mask);
    e->edx = static_cast<uint32_t>(mask >> 32);
    std::erase_if(cpuid, [mask](const kvm_cpuid_entry2& s) {
      return s.function == 0xd && s.index >= 2 && s.index < 64 && !((mask >> s.index) & 1);
    });
    if (kvm_cpuid_entry2* leaf = Find(cpuid, 0xd, 0)) leaf->ecx = XsaveSize(cpuid, mask);
  }
  return cpuid;
}

Status CheckVcpuFeatures(const CpuFeatures& recorded, const CpuFeatures& vcpu) {
  std::vector<std::string> missing = MissingCpuFeatures(recorded, vcpu);
  // XSAVE components and the area's size are not compared here: a component matters only if
  // the guest's state holds something in it, which FitXstate checks when the state is set
  // (MPX's bndregs/bndcsr, which KVM no longer virtualizes, are enabled by hosts whose
  // programs never touch them); the instructions that would use a component are checked by
  // their CPUID names (avx512f, ...).
  std::erase_if(missing, [](const std::string& m) {
    return m == "pku" || m == "ospke" || m.starts_with("xsave.") || m.starts_with("an xsave area");
  });
  if (missing.empty()) return {};
  std::string names;
  for (const std::string& m : missing) names += (names.empty() ? "" : ", ") + m;
  return Fail(ENOEXEC, "image needs " + names + "; this KVM's vCPU lacks " +
                           (missing.size() == 1 ? "it" : "them") +
                           " (KVM_GET_SUPPORTED_CPUID): boot it with --platform ptrace");
}

}  // namespace cat::kvm_platform
