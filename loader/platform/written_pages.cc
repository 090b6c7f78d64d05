// Written pages from /proc/PID/pagemap (see written_pages.h).
#include "loader/platform/written_pages.h"

#include <unistd.h>

#include <algorithm>

namespace cat {

Status AppendWrittenPages(int pagemap_fd, uint64_t host, uint64_t len, uint64_t guest,
                          std::vector<GuestRange>& out) {
  std::vector<uint64_t> entries(std::min<uint64_t>(65536, len / 4096));
  const uint64_t pages = len / 4096;
  for (uint64_t done = 0; done < pages;) {
    const uint64_t n = std::min<uint64_t>(entries.size(), pages - done);
    const uint64_t first = host / 4096 + done;
    const ssize_t got = pread(pagemap_fd, entries.data(), n * 8, static_cast<off_t>(first * 8));
    if (got != static_cast<ssize_t>(n * 8))
      return FailErrno("written pages: read pagemap", got < 0 ? errno : EIO);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t e = entries[i];
      const bool present = e >> 63 & 1, swapped = e >> 62 & 1, file = e >> 61 & 1,
                 exclusive = e >> 56 & 1;
      if (!((present && !file && exclusive) || swapped)) continue;
      const uint64_t page = guest + (done + i) * 4096;
      if (!out.empty() && out.back().addr + out.back().len == page)
        out.back().len += 4096;
      else
        out.push_back({page, 4096});
    }
    done += n;
  }
  return {};
}

}  // namespace cat
