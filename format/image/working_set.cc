// The func-image's write working set (Manifest.working_set, spec/func-image.md): the one rule
// both the writer and the reader apply, so that an image whose runs stray outside writable
// guest memory is never written and, crafted, never opened.
#include <algorithm>
#include <cstdio>

#include "format/image/func_image.h"

namespace cat {
namespace {

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string WorkingSetProblem(const std::vector<ImageSegment>& segments,
                              const std::vector<PageRun>& runs) {
  constexpr uint64_t kPage = 4096;
  uint64_t prev_end = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const PageRun& r = runs[i];
    const std::string what = "working set run " + std::to_string(i) + " (" + Hex(r.guest_addr) +
                             ", " + std::to_string(r.pages) + " pages)";
    // pages <= 2^35 keeps pages * 4096 from overflowing; the wrap check covers the addition.
    if (r.guest_addr % kPage != 0 || r.pages == 0 || r.pages > (uint64_t{1} << 35) ||
        r.end() < r.guest_addr)
      return what + ": unaligned or empty";
    if (i > 0 && r.guest_addr < prev_end) return what + ": not sorted or overlaps the previous run";
    prev_end = r.end();
    // Segments are sorted and disjoint (checked before this): the last one starting at or
    // below the run is the only one that can hold it.
    auto after =
        std::upper_bound(segments.begin(), segments.end(), r.guest_addr,
                         [](uint64_t addr, const ImageSegment& s) { return addr < s.guest_addr; });
    if (after == segments.begin()) return what + ": not inside a writable segment";
    const ImageSegment& s = *std::prev(after);
    if (r.end() > s.guest_addr + s.size || (s.prot & 2 /* PROT_WRITE */) == 0)
      return what + ": not inside a writable segment";
  }
  return "";
}

}  // namespace cat
