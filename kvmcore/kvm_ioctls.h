// The KVM ioctl numbers whose argument structs end in a flexible array member. In C++ the uAPI
// headers' __DECLARE_FLEX_ARRAY gives those structs a different sizeof than in C (kvm_cpuid2:
// 12 instead of 8, kvm_xsave: 4100 instead of 4096), and the _IOW/_IOWR macros encode that
// size into the number: the kernel then answers EINVAL ("unknown ioctl"). The numbers are
// computed here from the C layout instead.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cat::kvm {

struct CountHeader {  // kvm_cpuid2 and kvm_msrs without their arrays
  uint32_t n;
  uint32_t padding;
};
struct XsaveRegion {  // kvm_xsave without `extra`
  uint32_t region[1024];
};
static_assert(sizeof(CountHeader) == 8 && sizeof(XsaveRegion) == 4096);

// A count header and its entries at offset 8, as the kernel reads them (C++'s view of
// kvm_cpuid2 puts `entries` at 12, of kvm_msrs at 16).
template <class Entry>
class CountedArray {
 public:
  explicit CountedArray(size_t n) : buf_(sizeof(CountHeader) + n * sizeof(Entry), 0) {
    header()->n = static_cast<uint32_t>(n);
  }
  void* data() { return buf_.data(); }
  CountHeader* header() { return reinterpret_cast<CountHeader*>(buf_.data()); }
  uint32_t count() { return header()->n; }
  Entry* entries() { return reinterpret_cast<Entry*>(buf_.data() + sizeof(CountHeader)); }

 private:
  std::vector<uint8_t> buf_;
};

constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CountHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CountHeader);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, CountHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, CountHeader);
constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, XsaveRegion);
constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, XsaveRegion);

}  // namespace cat::kvm
