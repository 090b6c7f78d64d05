// Working-set recording and pre-copy (see working_set.h).
#include "loader/boot/working_set.h"

#include <sys/mman.h>

#include <algorithm>

#ifndef MADV_POPULATE_WRITE  // Linux 5.14; older userspace headers lack them
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

namespace cat {
namespace {

constexpr uint64_t kPage = 4096;

bool Writable(const ImageSegment& s) {
  return (s.prot & PROT_WRITE) != 0;
}

// catload's read-only view of a stored segment's bytes (page cache, nothing copied).
struct ImageBytes {
  void* base = MAP_FAILED;
  size_t size = 0;
  ~ImageBytes() {
    if (base != MAP_FAILED) munmap(base, size);
  }
};

}  // namespace

Result<Prefault> ParsePrefault(std::string_view name) {
  if (name == "none") return Prefault::kNone;
  if (name == "recorded") return Prefault::kRecorded;
  if (name == "recorded-read") return Prefault::kRecordedRead;
  if (name == "writable") return Prefault::kWritable;
  if (name == "thp") return Prefault::kHugeFill;
  return Fail(EINVAL, "unknown pre-copy strategy '" + std::string(name) +
                          "' (none, recorded, recorded-read, writable, thp)");
}

std::string_view PrefaultName(Prefault p) {
  switch (p) {
    case Prefault::kNone:
      return "none";
    case Prefault::kRecorded:
      return "recorded";
    case Prefault::kRecordedRead:
      return "recorded-read";
    case Prefault::kWritable:
      return "writable";
    case Prefault::kHugeFill:
      return "thp";
  }
  return "?";
}

std::vector<MapRequest> SegmentMappings(const FuncImage& image, Prefault prefault) {
  std::vector<MapRequest> maps;
  maps.reserve(image.segments().size());
  for (const ImageSegment& seg : image.segments()) {
    const bool from_file = seg.stored && !(prefault == Prefault::kHugeFill && Writable(seg));
    maps.push_back({seg.guest_addr, seg.size, static_cast<int>(seg.prot),
                    from_file ? image.fd() : -1, from_file ? seg.file_offset : 0});
  }
  return maps;
}

Status PrefaultWorkingSet(Shell& shell, const std::vector<PageRun>& runs) {
  std::vector<AdviseRequest> advice;
  advice.reserve(runs.size());
  for (const PageRun& r : runs)
    advice.push_back({r.guest_addr, r.pages * kPage, MADV_POPULATE_WRITE});
  return WithContext(shell.AdviseMany(advice), "pre-copy the working set");
}

Result<uint64_t> PrefaultImage(Shell& shell, const FuncImage& image, Prefault prefault) {
  uint64_t pages = 0;
  switch (prefault) {
    case Prefault::kNone:
      return 0;
    case Prefault::kRecorded:
      for (const PageRun& r : image.working_set()) pages += r.pages;
      TRY_STATUS(PrefaultWorkingSet(shell, image.working_set()));
      return pages;
    case Prefault::kRecordedRead: {
      for (const PageRun& r : image.working_set()) pages += r.pages;
      TRY_STATUS(PrefaultWorkingSet(shell, image.working_set()));
      std::vector<AdviseRequest> reads;
      for (const ImageSegment& s : image.segments())
        if (s.stored && (s.prot & PROT_READ))
          reads.push_back({s.guest_addr, s.size, MADV_POPULATE_READ});
      TRY_STATUS(WithContext(shell.AdviseMany(reads), "pre-map the image's pages"));
      return pages;
    }
    case Prefault::kWritable: {
      std::vector<PageRun> all;
      for (const ImageSegment& s : image.segments())
        if (Writable(s)) {
          all.push_back({s.guest_addr, s.size / kPage});
          pages += s.size / kPage;
        }
      TRY_STATUS(PrefaultWorkingSet(shell, all));
      return pages;
    }
    case Prefault::kHugeFill: {
      // THP first (a 2 MiB page is faulted and zeroed at ~0.4 µs per 4 KiB here, against
      // ~2 µs for a 4 KiB fault), then the bytes copied in from the image's page cache by
      // process_vm_writev: no syscall the shell's seccomp filter does not already allow.
      std::vector<AdviseRequest> huge;
      for (const ImageSegment& s : image.segments())
        if (Writable(s)) huge.push_back({s.guest_addr, s.size, MADV_HUGEPAGE});
      TRY_STATUS(WithContext(shell.AdviseMany(huge), "pre-copy: advise huge pages"));
      for (const ImageSegment& s : image.segments()) {
        if (!Writable(s) || !s.stored) continue;
        ImageBytes bytes;
        bytes.size = s.size;
        bytes.base = mmap(nullptr, s.size, PROT_READ, MAP_PRIVATE, image.fd(),
                          static_cast<off_t>(s.file_offset));
        if (bytes.base == MAP_FAILED) return FailErrno("pre-copy: map the image's segment");
        TRY_STATUS(WithContext(shell.Write(s.guest_addr, bytes.base, s.size),
                               "pre-copy: fill huge pages"));
        pages += s.size / kPage;
      }
      return pages;
    }
  }
  return 0;
}

Result<std::vector<PageRun>> RecordWorkingSet(Shell& shell, const FuncImage& image,
                                              std::vector<GuestRange> dropped) {
  std::vector<GuestRange> written = std::move(dropped);
  for (const ImageSegment& s : image.segments()) {
    if (!Writable(s)) continue;
    TRY(std::vector<GuestRange> now,
        WithContext(shell.WrittenPages(s.guest_addr, s.size), "record the working set"));
    written.insert(written.end(), now.begin(), now.end());
  }
  std::sort(written.begin(), written.end(),
            [](const GuestRange& a, const GuestRange& b) { return a.addr < b.addr; });
  // Clipped to each writable segment (runs never cross a segment boundary: WorkingSetProblem)
  // and merged; `written` is sorted, and so are the segments.
  std::vector<PageRun> runs;
  size_t first = 0;
  for (const ImageSegment& s : image.segments()) {
    if (!Writable(s)) continue;
    const uint64_t seg_end = s.guest_addr + s.size;
    while (first < written.size() && written[first].addr + written[first].len <= s.guest_addr)
      ++first;
    for (size_t i = first; i < written.size() && written[i].addr < seg_end; ++i) {
      const uint64_t begin = std::max(written[i].addr, s.guest_addr);
      const uint64_t end = std::min(written[i].addr + written[i].len, seg_end);
      if (begin >= end) continue;
      if (!runs.empty() && runs.back().end() >= begin && runs.back().guest_addr >= s.guest_addr)
        runs.back().pages =
            std::max(runs.back().end(), end) / kPage - runs.back().guest_addr / kPage;
      else
        runs.push_back({begin, (end - begin) / kPage});
    }
  }
  return runs;
}

}  // namespace cat
