// The vCPU's CPUID from an image's recorded CPU features (spec/kvm.md, "CPUID"): the guest
// sees what KVM supports narrowed to what the image recorded, so a snapshot never meets a
// feature it did not see at capture (the same guest on every host), and a feature it recorded
// that the vCPU cannot offer refuses the boot, naming it, before anything runs.
#pragma once

#include <linux/kvm.h>

#include <string>
#include <vector>

#include "format/base/cpu_features.h"
#include "format/base/error.h"

namespace cat::kvm_platform {

// What a guest with this CPUID and XCR0 observes (CR4.OSXSAVE set when it has XSAVE, CR4.PKE
// never), as a feature record.
CpuFeatures FeaturesOfCpuid(const std::vector<kvm_cpuid_entry2>& cpuid, uint64_t xcr0);

// `cpuid` with every named feature bit (NamedCpuFeatureBits) that `recorded` lacks cleared,
// XSAVE components included (leaf 0xd: the component mask, the sub-leaves of components taken
// away, the maximum size). Bits without a name pass through.
std::vector<kvm_cpuid_entry2> NarrowCpuid(std::vector<kvm_cpuid_entry2> cpuid,
                                          const CpuFeatures& recorded);

// The boot check on kvm: ENOEXEC naming the recorded features the vCPU (`vcpu`, from
// FeaturesOfCpuid) lacks. Not required: protection keys (pku, ospke: the sandbox has no pkey_*
// syscalls, so a guest can only hold PKRU's default), XSAVE components and the area's size (a
// component matters only when the guest's state uses it, which FitXstate refuses when the
// vCPU lacks it; MPX's, enabled on many hosts, is never virtualized by KVM now).
Status CheckVcpuFeatures(const CpuFeatures& recorded, const CpuFeatures& vcpu);

}  // namespace cat::kvm_platform
