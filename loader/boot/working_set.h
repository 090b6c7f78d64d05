// The copy-on-write tax and its removal (spec/boot.md, "The copy-on-write tax"). A cold-booted
// guest's memory is mapped MAP_PRIVATE from the image: every page the request writes is first
// copied by a page fault (~2-5 µs each here), so a request that writes its whole heap (a GC's
// mark bits) pays thousands of them after the boot. `catimg build --sample-request` records
// the pages one request wrote (RecordWorkingSet) into the image; a boot copies exactly those
// in one batch before the guest runs (PrefaultWorkingSet), off the request path for the
// server's pre-booted instances. The other strategies are here to be measured beside it
// (tests/bench/cow_tax.sh).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "format/base/error.h"
#include "format/image/func_image.h"
#include "loader/platform/platform.h"

namespace cat {

enum class Prefault {
  kNone,          // every written page is faulted in by the guest (the tax)
  kRecorded,      // MADV_POPULATE_WRITE of the image's recorded working set (the default)
  kRecordedRead,  // kRecorded, then MADV_POPULATE_READ of every stored segment: the page
                  // cache pages mapped too, so reads fault no more either (nothing copied)
  kWritable,      // MADV_POPULATE_WRITE of every writable segment (= MAP_POPULATE of them)
  kHugeFill,      // writable stored segments as anonymous THP memory (MADV_HUGEPAGE), filled
                  // from the image by catload; zero ones THP-advised
};

// "none", "recorded", "recorded-read", "writable", "thp".
Result<Prefault> ParsePrefault(std::string_view name);
std::string_view PrefaultName(Prefault p);

// The mappings of `image`'s segments for Shell::MapMany: MAP_PRIVATE from the image file,
// anonymous for zero segments, and for kHugeFill anonymous for writable stored ones too (they
// are filled by PrefaultImage).
std::vector<MapRequest> SegmentMappings(const FuncImage& image, Prefault prefault);

// Pre-copies the pages of `runs` into the shell's private memory in one batch: one
// MADV_POPULATE_WRITE per run (one round trip per 63 runs on the ptrace platform). The pages
// keep their contents: the guest still starts from the snapshot, only without the faults.
// Reusable by any boot path that has the image's segments mapped (warm and fork boot call it
// on pre-booted instances).
Status PrefaultWorkingSet(Shell& shell, const std::vector<PageRun>& runs);

// After SegmentMappings' mappings are in place: the strategy's pre-copy. Returns the number
// of pages it made private (pre-copied or filled).
Result<uint64_t> PrefaultImage(Shell& shell, const FuncImage& image, Prefault prefault);

// The pages of `image`'s writable segments the guest has written since boot, as sorted runs,
// each inside one writable segment (what Manifest.working_set holds): those it holds written
// now (read while the guest is stopped, at its exit, before the shell is killed) and
// `dropped`, those it wrote and then unmapped or discarded (recording_shell.h).
Result<std::vector<PageRun>> RecordWorkingSet(Shell& shell, const FuncImage& image,
                                              std::vector<GuestRange> dropped = {});

}  // namespace cat
