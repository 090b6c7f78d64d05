// An XSAVE area made for the host (ptrace's NT_X86_XSTATE, an image captured there) fitted to
// a KVM vCPU's XCR0: KVM_SET_XSAVE refuses (EINVAL) an area whose XSTATE_BV names a component
// the vCPU does not have, or a non-zero XCOMP_BV. Components the vCPU lacks are dropped when
// that loses nothing (all zero, i.e. their initial state; or PKRU, see xstate_fit.cc), else
// the boot fails naming the component (spec/kvm.md, "CPUID").
#pragma once

#include <cstdint>
#include <vector>

#include "format/base/error.h"

namespace cat::kvm_platform {

Result<std::vector<uint8_t>> FitXstate(std::vector<uint8_t> area, uint64_t xcr0, size_t max_size);

}  // namespace cat::kvm_platform
