// GuestMappingProblem (guest_layout.h).
#include "format/base/guest_layout.h"

#include <cinttypes>
#include <cstdio>

namespace cat {
namespace {

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

}  // namespace

std::string GuestMappingProblem(uint64_t start, uint64_t len, uint32_t prot) {
  if (len == 0) return "empty mapping";
  if (start % kGuestPageSize != 0 || len % kGuestPageSize != 0)
    return "mapping " + Hex(start) + "+" + Hex(len) + " is not page-aligned";
  if (start + len < start || start + len > kGuestAddressLimit)
    return "mapping " + Hex(start) + "+" + Hex(len) + " ends past the guest address limit " +
           Hex(kGuestAddressLimit);
  if (start < kGuestLowGuard)
    return "mapping at " + Hex(start) + " is below the guest's lowest address " +
           Hex(kGuestLowGuard) + " (vm.mmap_min_addr)";
  if (IsReservedGuestRange(start, len))
    return "mapping " + Hex(start) + "-" + Hex(start + len) + " overlaps the trampoline at " +
           Hex(kTrampolineBase) + "-" + Hex(kTrampolineBase + kTrampolineSize);
  if (prot & ~kGuestProtMask)
    return "unknown protection bits " + Hex(prot) + " (only PROT_READ|PROT_WRITE|PROT_EXEC)";
  return "";
}

}  // namespace cat
