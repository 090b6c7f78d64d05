// Fitting an XSAVE area to a vCPU's XCR0 (see xstate_fit.h).
#include "loader/platform/kvm/xstate_fit.h"

#include <cpuid.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace cat::kvm_platform {
namespace {

constexpr size_t kHeader = 512;  // XSTATE_BV at +0, XCOMP_BV at +8
constexpr int kPkru = 9;

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

}  // namespace

Result<std::vector<uint8_t>> FitXstate(std::vector<uint8_t> area, uint64_t xcr0, size_t max_size) {
  if (area.size() < kHeader + 64) return Fail(EINVAL, "XSAVE area shorter than its header");
  uint64_t bv = 0;
  std::memcpy(&bv, area.data() + kHeader, 8);
  const uint64_t extra = bv & ~xcr0;
  size_t needed = kHeader + 64;
  for (int i = 2; i < 64; ++i) {
    uint32_t size = 0, offset = 0, c = 0, d = 0;
    __cpuid_count(0xd, i, size, offset, c, d);
    const bool in_area = size != 0 && offset >= kHeader + 64 && offset + size <= area.size();
    if (!((extra >> i) & 1)) {
      if (((bv >> i) & 1) && in_area) needed = std::max<size_t>(needed, offset + size);
      continue;
    }
    // PKRU matters only with protection keys, which a vCPU without the component cannot use
    // (no OSPKE: RDPKRU/WRPKRU fault); Linux's default value is not zero, so it is dropped
    // whatever it holds. Any other component must be in its initial (all-zero) state.
    if (i != kPkru && in_area && !AllZero(area.data() + offset, size))
      return Fail(ENOTSUP, "the guest's extended state uses XSAVE component " + std::to_string(i) +
                               ", which this KVM's vCPU does not offer (boot it with "
                               "--platform ptrace)");
    bv &= ~(uint64_t{1} << i);
  }
  std::memcpy(area.data() + kHeader, &bv, 8);
  std::memset(area.data() + kHeader + 8, 0, 8);  // XCOMP_BV: the standard format
  if (area.size() > max_size) {
    if (needed > max_size)
      return Fail(ENOTSUP, "the guest's extended state is " + std::to_string(needed) +
                               " bytes, more than KVM_SET_XSAVE takes (" +
                               std::to_string(max_size) + ")");
    area.resize(max_size);
  }
  return area;
}

}  // namespace cat::kvm_platform
