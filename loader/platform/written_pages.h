// Which pages of a host range a process holds a private written copy of, from its
// /proc/PID/pagemap (Shell::WrittenPages on both platforms: the ptrace shell's process, the kvm
// shell's own guest slot in catload, whose pages KVM's faults copy on write like any other).
#pragma once

#include <cstdint>
#include <vector>

#include "format/base/error.h"
#include "loader/platform/platform.h"

namespace cat {

// Appends to `out` the written pages of host [host, host+len) (page-aligned) as guest ranges
// starting at `guest` (the guest address of `host`), coalescing with out's last range. A page
// counts when it is present, anonymous and exclusively mapped (a copy made on write, or an
// anonymous page written: the shared zero page is not exclusive), or swapped out.
Status AppendWrittenPages(int pagemap_fd, uint64_t host, uint64_t len, uint64_t guest,
                          std::vector<GuestRange>& out);

}  // namespace cat
