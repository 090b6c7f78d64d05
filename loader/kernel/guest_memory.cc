// Reading guest strings page by page, so that a string ending just before an unmapped page is
// read correctly and one running into it is EFAULT.
#include "loader/kernel/guest_memory.h"

#include <cstring>

namespace cat {

Result<std::string> GuestMemory::ReadString(uint64_t addr, size_t max_len) {
  constexpr uint64_t kPage = 4096;
  std::string out;
  char chunk[kPage];
  while (out.size() <= max_len) {
    const size_t n = kPage - (addr % kPage);
    TRY_STATUS(CopyIn(addr, chunk, n));
    if (const void* nul = std::memchr(chunk, 0, n)) {
      out.append(chunk, static_cast<const char*>(nul) - chunk);
      if (out.size() > max_len) break;
      return out;
    }
    out.append(chunk, n);
    addr += n;
  }
  return Fail(ENAMETOOLONG, "string too long");
}

}  // namespace cat
