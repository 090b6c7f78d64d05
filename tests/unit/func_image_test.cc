// Unit tests for the func-image writer and reader (format/image): round trip, determinism,
// sparse zero segments, every bad input Open() must refuse with a clear message, and Verify()
// catching a flipped byte in every stored part.
#include "format/image/func_image.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <xxhash.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "format/base/guest_layout.h"
#include "format/image/func_image_generated.h"
#include "format/image/func_image_layout.h"
#include "tests/unit/state_fixture.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

using namespace image_layout;
using cat::testing::ReadFile;
using cat::testing::TempDir;
using cat::testing::WriteFile;

// A spec with every field set: two stored segments around a zero one, an arena with
// relocations, counts, registers and xstate. The segment bytes live in the fixture.
class FuncImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    text_.resize(2 * kPageSize);
    data_.resize(kPageSize);
    for (size_t i = 0; i < text_.size(); ++i) text_[i] = static_cast<uint8_t>(i * 7 + 1);
    for (size_t i = 0; i < data_.size(); ++i) data_[i] = static_cast<uint8_t>(i ^ 0x5a);
    spec_.function = {"hello", "/bin/hello",  {"hello", "--x", "a b"}, {"PATH=/bin", "LANG=C"},
                      "auto",  "/srv/rootfs", {"/data:/data:ro"}};
    spec_.provenance = {0x1122334455667788ull, "catimg 0.1.0"};
    spec_.layout_fingerprint = 0xfeedfacecafebeefull;
    spec_.regs.rip = 0x401000;
    spec_.regs.rsp = 0x7ffffffde000;
    spec_.regs.fs_base = 0x4c0000;
    spec_.regs.gs = 7;
    spec_.fpu = DefaultFpuState();
    spec_.xstate = std::vector<uint8_t>(832, 0x33);
    spec_.segments = {
        {0x400000, 2 * kPageSize, PROT_READ | PROT_EXEC, 1, text_.data()},
        {0x600000, 256 * kPageSize, PROT_READ | PROT_WRITE, 2, nullptr},
        {0x7ffffffde000, kPageSize, PROT_READ | PROT_WRITE, 3, data_.data()},
    };
    const state::ArenaImage arena = cat::testing::MinimalArena();
    spec_.arena = arena.bytes;
    spec_.arena_root = 0;
    spec_.relocations = arena.relocations;
    spec_.object_counts = {{"FileDescription", 3}, {"Inode", 12}, {"Vma", 5}};
    path_ = dir_ / "fn.cfi";
    ASSERT_TRUE(WriteFuncImage(path_, spec_)) << "write failed";
  }

  // Writes a modified copy of the image and returns the error Open() gives for it.
  std::string OpenError(const std::string& bytes) {
    const std::string bad = dir_ / "bad.cfi";
    WriteFile(bad, bytes);
    auto image = FuncImage::Open(bad);
    if (image) return "(opened fine)";
    return image.error().message();
  }

  // Writes `spec` with the writer (checksums all valid) and returns the error Open() gives.
  std::string OpenErrorOf(const FuncImageSpec& spec) {
    const std::string crafted = dir_ / "crafted.cfi";
    auto written = WriteFuncImage(crafted, spec);
    if (!written) return "(write failed: " + written.error().message() + ")";
    auto image = FuncImage::Open(crafted);
    if (image) return "(opened fine)";
    return image.error().message();
  }
  // The fixture's spec with segment 0 (r-x text) moved to `addr` with `size` bytes; the data
  // it points at stays the fixture's.
  std::string OpenErrorWithFirstSegmentAt(uint64_t addr, uint64_t size = 2 * kPageSize,
                                          uint32_t prot = PROT_READ | PROT_EXEC) {
    FuncImageSpec spec = spec_;
    spec.segments[0].guest_addr = addr;
    spec.segments[0].prot = prot;
    if (size != spec.segments[0].size) {
      spec.segments[0].size = size;
      spec.segments[0].data = nullptr;  // a zero segment of any size needs no bytes
    }
    return OpenErrorOf(spec);
  }

  // Re-seals header and manifest checksums after a test changed their bytes on purpose, so
  // that the check under test is reached.
  static void Reseal(std::string& bytes) {
    auto* p = reinterpret_cast<uint8_t*>(bytes.data());
    const uint64_t moff = Get64(p + kOffManifestOffset), msize = Get64(p + kOffManifestSize);
    Put64(p + kOffManifestChecksum, XXH3_64bits(p + moff, msize));
    const uint32_t hsize = Get32(p + kOffHeaderSize);
    Put64(p + hsize - 8, XXH3_64bits(p, hsize - 8));
  }

  // The image with one manifest field changed in place, checksums re-sealed.
  std::string PatchedManifest(const std::function<void(fbs::Manifest*)>& patch) {
    std::string bytes = ReadFile(path_);
    auto* p = reinterpret_cast<uint8_t*>(bytes.data());
    patch(fbs::GetMutableManifest(p + Get64(p + kOffManifestOffset)));
    Reseal(bytes);
    return bytes;
  }

  TempDir dir_;
  std::vector<uint8_t> text_, data_;
  FuncImageSpec spec_;
  std::string path_;
};

TEST_F(FuncImageTest, RoundTripsTheWorkingSet) {
  FuncImageSpec spec = spec_;
  spec.working_set = {{0x600000, 3}, {0x600000 + 10 * kPageSize, 246}, {0x7ffffffde000, 1}};
  const std::string with = dir_ / "ws.cfi";
  ASSERT_TRUE(WriteFuncImage(with, spec));
  auto img = FuncImage::Open(with);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_EQ(img->working_set(), spec.working_set);
  auto without = FuncImage::Open(path_);
  ASSERT_TRUE(without);
  EXPECT_TRUE(without->working_set().empty());
}

TEST_F(FuncImageTest, RoundTripsTheCpuFeatures) {
  FuncImageSpec spec = spec_;
  spec.cpu = CpuFeatures{"GenuineIntel", 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x2e7, 2696};
  const std::string with = dir_ / "cpu.cfi";
  ASSERT_TRUE(WriteFuncImage(with, spec));
  auto img = FuncImage::Open(with);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_EQ(img->cpu(), spec.cpu);
  // Not recorded (an image of 1.1 or a checkpoint without the note): nothing written or read.
  auto without = FuncImage::Open(path_);
  ASSERT_TRUE(without);
  EXPECT_FALSE(without->cpu().recorded());
}

TEST_F(FuncImageTest, RefusesAWorkingSetRunOutsideAWritableSegment) {
  FuncImageSpec spec = spec_;
  spec.working_set = {{0x600000, 1}};
  ASSERT_TRUE(WriteFuncImage(path_, spec));
  auto patched = [&](uint64_t addr, uint64_t pages) {
    return OpenError(PatchedManifest([&](fbs::Manifest* m) {
      auto* run = m->mutable_working_set()->GetMutableObject(0);
      run->mutate_guest_addr(addr);
      run->mutate_pages(pages);
    }));
  };
  ASSERT_EQ(patched(0x600000, 1), "(opened fine)");
  // In the r-x text segment.
  EXPECT_NE(patched(0x400000, 1)
                .find("working set run 0 (0x400000, 1 pages): not inside a writable segment"),
            std::string::npos)
      << patched(0x400000, 1);
  // Past the end of the writable zero segment (256 pages), between segments, unaligned, empty,
  // wrapping around.
  EXPECT_NE(patched(0x600000, 257).find("not inside a writable segment"), std::string::npos);
  EXPECT_NE(patched(0x500000, 1).find("not inside a writable segment"), std::string::npos);
  EXPECT_NE(patched(0x600010, 1).find("unaligned or empty"), std::string::npos);
  EXPECT_NE(patched(0x600000, 0).find("unaligned or empty"), std::string::npos);
  EXPECT_NE(patched(0x600000, UINT64_MAX / 4096).find("unaligned or empty"), std::string::npos);
}

TEST_F(FuncImageTest, RefusesUnsortedOrOverlappingWorkingSetRuns) {
  FuncImageSpec spec = spec_;
  spec.working_set = {{0x601000, 2}, {0x602000, 1}};
  EXPECT_NE(OpenErrorOf(spec).find("working set run 1 (0x602000, 1 pages): not sorted or "
                                   "overlaps the previous run"),
            std::string::npos)
      << OpenErrorOf(spec);  // the writer refuses it
  spec.working_set = {{0x7ffffffde000, 1}, {0x600000, 1}};
  EXPECT_NE(OpenErrorOf(spec).find("not sorted or overlaps"), std::string::npos);
}

TEST_F(FuncImageTest, RoundTripsEveryField) {
  auto img = FuncImage::Open(path_);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_EQ(img->major(), kFuncImageMajor);
  EXPECT_EQ(img->minor(), kFuncImageMinor);
  EXPECT_EQ(img->file_size(), std::filesystem::file_size(path_));
  EXPECT_EQ(img->layout_fingerprint(), spec_.layout_fingerprint);
  EXPECT_EQ(img->function().name, "hello");
  EXPECT_EQ(img->function().exe, "/bin/hello");
  EXPECT_EQ(img->function().argv, spec_.function.argv);
  EXPECT_EQ(img->function().env, spec_.function.env);
  EXPECT_EQ(img->function().entry_kind, "auto");
  EXPECT_EQ(img->function().rootfs, "/srv/rootfs");
  EXPECT_EQ(img->function().mounts, spec_.function.mounts);
  EXPECT_EQ(img->provenance().checkpoint_hash, spec_.provenance.checkpoint_hash);
  EXPECT_EQ(img->provenance().catimg_version, "catimg 0.1.0");
  EXPECT_EQ(std::memcmp(&img->regs(), &spec_.regs, sizeof(GuestRegs)), 0);
  EXPECT_EQ(std::memcmp(img->fpu().fxsave, spec_.fpu.fxsave, sizeof(FpuState)), 0);
  EXPECT_EQ(img->xstate(), spec_.xstate);
  EXPECT_EQ(img->object_counts(), spec_.object_counts);
  EXPECT_EQ(img->arena_size(), spec_.arena.size());
  EXPECT_EQ(img->arena_root(), spec_.arena_root);
  EXPECT_EQ(img->relocation_count(), spec_.relocations.size());
  EXPECT_EQ(img->arena_offset() % kPageSize, 0u);

  const std::string bytes = ReadFile(path_);
  ASSERT_EQ(img->segments().size(), spec_.segments.size());
  for (size_t i = 0; i < spec_.segments.size(); ++i) {
    const ImageSegment& s = img->segments()[i];
    const SegmentInput& in = spec_.segments[i];
    EXPECT_EQ(s.guest_addr, in.guest_addr);
    EXPECT_EQ(s.size, in.size);
    EXPECT_EQ(s.prot, in.prot);
    EXPECT_EQ(s.vma_kind, in.vma_kind);
    EXPECT_EQ(s.stored, in.data != nullptr);
    if (s.stored) {
      EXPECT_EQ(s.file_offset % kPageSize, 0u);
      EXPECT_EQ(std::memcmp(bytes.data() + s.file_offset, in.data, in.size), 0) << i;
      EXPECT_EQ(s.checksum, XXH3_64bits(in.data, in.size));
    }
  }
  EXPECT_EQ(std::memcmp(bytes.data() + img->arena_offset(), spec_.arena.data(), spec_.arena.size()),
            0);
  for (size_t i = 0; i < spec_.relocations.size(); ++i)
    EXPECT_EQ(
        Get64(reinterpret_cast<const uint8_t*>(bytes.data()) + img->relocations_offset() + 8 * i),
        spec_.relocations[i]);
}

TEST_F(FuncImageTest, FreshImageVerifiesClean) {
  auto img = FuncImage::Open(path_);
  ASSERT_TRUE(img) << img.error().message();
  auto bad = img->Verify();
  ASSERT_TRUE(bad) << bad.error().message();
  EXPECT_TRUE(bad->empty()) << (*bad)[0];
}

TEST_F(FuncImageTest, SameSpecGivesSameBytes) {
  const std::string again = dir_ / "again.cfi";
  ASSERT_TRUE(WriteFuncImage(again, spec_));
  EXPECT_EQ(ReadFile(path_), ReadFile(again));
}

TEST_F(FuncImageTest, WriteLeavesNoTempFile) {
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);  // fn.cfi only
}

TEST_F(FuncImageTest, FailedWriteKeepsTheOldImage) {
  const std::string before = ReadFile(path_);
  FuncImageSpec bad = spec_;
  std::swap(bad.segments[0], bad.segments[2]);  // unsorted
  auto r = WriteFuncImage(path_, bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("sorted"), std::string::npos) << r.error().message();
  EXPECT_EQ(ReadFile(path_), before);
}

TEST_F(FuncImageTest, WriteIntoMissingDirectoryFails) {
  auto r = WriteFuncImage(dir_ / "no/such/dir/fn.cfi", spec_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("ENOENT"), std::string::npos) << r.error().message();
}

TEST_F(FuncImageTest, ZeroSegmentsTakeNoFileSpace) {
  FuncImageSpec no_zero = spec_;
  no_zero.segments.erase(no_zero.segments.begin() + 1);
  FuncImageSpec huge_zero = spec_;
  huge_zero.segments[1].size = 1ull << 30;  // 1 GiB of zero pages
  ASSERT_TRUE(WriteFuncImage(dir_ / "a.cfi", no_zero));
  ASSERT_TRUE(WriteFuncImage(dir_ / "b.cfi", huge_zero));
  const uint64_t a = std::filesystem::file_size(dir_ / "a.cfi");
  const uint64_t b = std::filesystem::file_size(dir_ / "b.cfi");
  EXPECT_LT(b, 64 * kPageSize);
  EXPECT_LT(b - a, kPageSize);  // only the manifest entry differs
  auto img = FuncImage::Open(dir_ / "b.cfi");
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_FALSE(img->segments()[1].stored);
  EXPECT_EQ(img->segments()[1].size, 1ull << 30);
}

TEST_F(FuncImageTest, EmptyImageRoundTripsAndVerifyRefusesItsMissingState) {
  FuncImageSpec empty;
  empty.fpu = DefaultFpuState();
  const std::string p = dir_ / "empty.cfi";
  ASSERT_TRUE(WriteFuncImage(p, empty));
  auto img = FuncImage::Open(p);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_TRUE(img->segments().empty());
  EXPECT_EQ(img->arena_size(), 0u);
  EXPECT_EQ(img->relocation_count(), 0u);
  // Every checksum holds, but an image without a state cannot boot: verify says so.
  auto bad = img->Verify();
  ASSERT_TRUE(bad);
  ASSERT_EQ(bad->size(), 1u);
  EXPECT_EQ((*bad)[0], "state arena: 0 bytes, smaller than its root object (" +
                           std::to_string(sizeof(state::SandboxState)) + " bytes)");
}

TEST_F(FuncImageTest, WriterRefusesRelocationOutsideArena) {
  spec_.relocations.push_back(spec_.arena.size() - 7);
  auto r = WriteFuncImage(dir_ / "x.cfi", spec_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("outside the arena"), std::string::npos);
}

// --- Open(): bad inputs, each with an error naming the problem.

TEST_F(FuncImageTest, MissingFileIsNamed) {
  auto img = FuncImage::Open(dir_ / "nope.cfi");
  ASSERT_FALSE(img);
  EXPECT_NE(img.error().message().find("ENOENT"), std::string::npos) << img.error().message();
  EXPECT_NE(img.error().message().find("nope.cfi"), std::string::npos);
}

TEST_F(FuncImageTest, EmptyFileIsNamed) {
  EXPECT_NE(OpenError("").find("empty file"), std::string::npos);
}

TEST_F(FuncImageTest, TruncatedInHeader) {
  const std::string e = OpenError(ReadFile(path_).substr(0, 60));
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_NE(e.find("header"), std::string::npos) << e;
}

TEST_F(FuncImageTest, TruncatedAfterMagicOnly) {
  const std::string e = OpenError(ReadFile(path_).substr(0, 8));
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
}

TEST_F(FuncImageTest, TruncatedInManifest) {
  const std::string bytes = ReadFile(path_);
  const uint64_t msize = Get64(reinterpret_cast<const uint8_t*>(bytes.data()) + kOffManifestSize);
  const std::string e = OpenError(bytes.substr(0, kHeaderSize + msize / 2));
  EXPECT_NE(e.find("truncated: manifest"), std::string::npos) << e;
}

TEST_F(FuncImageTest, TruncatedInSegment) {
  auto img = FuncImage::Open(path_);
  ASSERT_TRUE(img);
  const std::string e = OpenError(ReadFile(path_).substr(0, img->segments()[2].file_offset + 100));
  EXPECT_NE(e.find("truncated: segment 2"), std::string::npos) << e;
}

TEST_F(FuncImageTest, TruncatedInArena) {
  auto img = FuncImage::Open(path_);
  ASSERT_TRUE(img);
  const std::string e = OpenError(ReadFile(path_).substr(0, img->arena_offset() + 10));
  EXPECT_NE(e.find("truncated: arena"), std::string::npos) << e;
}

TEST_F(FuncImageTest, TruncatedInRelocations) {
  const std::string bytes = ReadFile(path_);
  const std::string e = OpenError(bytes.substr(0, bytes.size() - 4));
  EXPECT_NE(e.find("truncated: relocation table"), std::string::npos) << e;
}

TEST_F(FuncImageTest, WrongMagicIsNotAFuncImage) {
  std::string bytes = ReadFile(path_);
  bytes[0] = 'X';
  EXPECT_NE(OpenError(bytes).find("not a func-image"), std::string::npos);
  EXPECT_NE(OpenError("#!/bin/sh\necho hi\n").find("not a func-image"), std::string::npos);
}

TEST_F(FuncImageTest, NewerMajorSaysWhatToDo) {
  std::string bytes = ReadFile(path_);
  Put16(reinterpret_cast<uint8_t*>(bytes.data()) + kOffMajor, kFuncImageMajor + 1);
  const std::string e = OpenError(bytes);
  EXPECT_NE(e.find("func-image format 2.x is newer than this catload (1.x): rebuild the image "
                   "with this catimg or upgrade catload"),
            std::string::npos)
      << e;
}

TEST_F(FuncImageTest, NewerMinorStillOpens) {
  std::string bytes = ReadFile(path_);
  Put16(reinterpret_cast<uint8_t*>(bytes.data()) + kOffMinor, kFuncImageMinor + 1);
  Reseal(bytes);
  const std::string newer = dir_ / "newer.cfi";
  WriteFile(newer, bytes);
  auto img = FuncImage::Open(newer);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_EQ(img->minor(), kFuncImageMinor + 1);
  EXPECT_EQ(img->function().name, "hello");
}

TEST_F(FuncImageTest, FlippedHeaderByteFailsHeaderChecksum) {
  std::string bytes = ReadFile(path_);
  bytes[kOffFileSize] ^= 0x01;
  const std::string e = OpenError(bytes);
  EXPECT_NE(e.find("header checksum mismatch"), std::string::npos) << e;
}

TEST_F(FuncImageTest, FlippedManifestByteFailsManifestChecksum) {
  std::string bytes = ReadFile(path_);
  const uint64_t msize = Get64(reinterpret_cast<const uint8_t*>(bytes.data()) + kOffManifestSize);
  bytes[kHeaderSize + msize / 2] ^= 0x40;
  const std::string e = OpenError(bytes);
  EXPECT_NE(e.find("manifest checksum mismatch"), std::string::npos) << e;
}

TEST_F(FuncImageTest, MalformedManifestFailsVerifier) {
  std::string bytes = ReadFile(path_);
  // The root offset (first 4 bytes of a FlatBuffer) pointing far outside the buffer.
  Put32(reinterpret_cast<uint8_t*>(bytes.data()) + kHeaderSize, 0x7ffffff0);
  Reseal(bytes);
  const std::string e = OpenError(bytes);
  EXPECT_NE(e.find("FlatBuffers verification"), std::string::npos) << e;
}

TEST_F(FuncImageTest, SegmentsOverlappingInGuestMemory) {
  const std::string e = OpenError(PatchedManifest([](fbs::Manifest* m) {
    auto* segs = m->mutable_segments();
    ASSERT_TRUE(segs->GetMutableObject(1)->mutate_guest_addr(segs->Get(0)->guest_addr()));
  }));
  EXPECT_NE(e.find("segment 1"), std::string::npos) << e;
  EXPECT_NE(e.find("overlaps"), std::string::npos) << e;
}

TEST_F(FuncImageTest, SegmentsOverlappingInFile) {
  const std::string e = OpenError(PatchedManifest([](fbs::Manifest* m) {
    auto* segs = m->mutable_segments();
    ASSERT_TRUE(segs->GetMutableObject(2)->mutate_file_offset(segs->Get(0)->file_offset()));
  }));
  EXPECT_NE(e.find("overlaps"), std::string::npos) << e;
}

TEST_F(FuncImageTest, SegmentOverlappingManifest) {
  const std::string e = OpenError(PatchedManifest([](fbs::Manifest* m) {
    ASSERT_TRUE(m->mutable_segments()->GetMutableObject(0)->mutate_file_offset(0));
  }));
  EXPECT_NE(e.find("overlaps"), std::string::npos) << e;
}

TEST_F(FuncImageTest, UnalignedSegmentOffset) {
  const std::string e = OpenError(PatchedManifest([](fbs::Manifest* m) {
    auto* seg = m->mutable_segments()->GetMutableObject(0);
    ASSERT_TRUE(seg->mutate_file_offset(seg->file_offset() + 8));
  }));
  EXPECT_NE(e.find("not page-aligned"), std::string::npos) << e;
}

TEST_F(FuncImageTest, UnalignedSegmentAddress) {
  const std::string e = OpenError(PatchedManifest([](fbs::Manifest* m) {
    auto* seg = m->mutable_segments()->GetMutableObject(0);
    ASSERT_TRUE(seg->mutate_guest_addr(seg->guest_addr() + 1));
  }));
  EXPECT_NE(e.find("unaligned"), std::string::npos) << e;
}

TEST_F(FuncImageTest, SegmentOutsideFile) {
  const std::string e = OpenError(PatchedManifest([](fbs::Manifest* m) {
    ASSERT_TRUE(m->mutable_segments()->GetMutableObject(2)->mutate_file_offset(1ull << 40));
  }));
  EXPECT_NE(e.find("segment 2"), std::string::npos) << e;
  EXPECT_NE(e.find("outside the file"), std::string::npos) << e;
}

TEST_F(FuncImageTest, SegmentOffsetNearOverflow) {
  const std::string e = OpenError(PatchedManifest([](fbs::Manifest* m) {
    ASSERT_TRUE(
        m->mutable_segments()->GetMutableObject(0)->mutate_file_offset(~0ull & ~(kPageSize - 1)));
  }));
  EXPECT_NE(e.find("outside the file"), std::string::npos) << e;
}

TEST_F(FuncImageTest, ArenaOutsideFile) {
  const std::string e = OpenError(PatchedManifest(
      [](fbs::Manifest* m) { ASSERT_TRUE(m->mutable_arena()->mutate_offset(1ull << 40)); }));
  EXPECT_NE(e.find("arena"), std::string::npos) << e;
  EXPECT_NE(e.find("outside the file"), std::string::npos) << e;
}

TEST_F(FuncImageTest, RelocationsOutsideFile) {
  const std::string e = OpenError(PatchedManifest(
      [](fbs::Manifest* m) { ASSERT_TRUE(m->mutable_relocations()->mutate_offset(1ull << 40)); }));
  EXPECT_NE(e.find("relocation table"), std::string::npos) << e;
  EXPECT_NE(e.find("outside the file"), std::string::npos) << e;
}

TEST_F(FuncImageTest, RelocationSizeNotCountTimesEight) {
  const std::string e = OpenError(PatchedManifest([](fbs::Manifest* m) {
    ASSERT_TRUE(m->mutable_relocations()->mutate_count(m->relocations()->count() + 1));
  }));
  EXPECT_NE(e.find("expected count * 8"), std::string::npos) << e;
}

TEST_F(FuncImageTest, RelocationCountThatOverflows) {
  const std::string e = OpenError(PatchedManifest([](fbs::Manifest* m) {
    ASSERT_TRUE(m->mutable_relocations()->mutate_count((1ull << 61) + 3));
    ASSERT_TRUE(m->mutable_relocations()->mutate_size(24));  // (2^61 + 3) * 8 wraps to 24
  }));
  EXPECT_NE(e.find("expected count * 8"), std::string::npos) << e;
}

TEST_F(FuncImageTest, ArenaRootOutsideArena) {
  const std::string e = OpenError(PatchedManifest(
      [](fbs::Manifest* m) { ASSERT_TRUE(m->mutable_arena()->mutate_root(m->arena()->size())); }));
  EXPECT_NE(e.find("arena root"), std::string::npos) << e;
  EXPECT_NE(e.find("outside"), std::string::npos) << e;
}

TEST_F(FuncImageTest, TrailingBytesAreRefused) {
  const std::string e = OpenError(ReadFile(path_) + "junk");
  EXPECT_NE(e.find("trailing bytes"), std::string::npos) << e;
}

// --- Verify(): a flipped byte in any stored part is named.

TEST_F(FuncImageTest, VerifyCatchesAFlippedByteInEveryStoredPart) {
  auto img = FuncImage::Open(path_);
  ASSERT_TRUE(img);
  struct Region {
    std::string name;
    uint64_t offset, size;
  };
  std::vector<Region> regions;
  for (size_t i = 0; i < img->segments().size(); ++i)
    if (img->segments()[i].stored)
      regions.push_back({"segment " + std::to_string(i), img->segments()[i].file_offset,
                         img->segments()[i].size});
  regions.push_back({"arena", img->arena_offset(), img->arena_size()});
  regions.push_back({"relocation table", img->relocations_offset(), img->relocation_count() * 8});
  ASSERT_EQ(regions.size(), 4u);

  const std::string original = ReadFile(path_);
  for (const Region& r : regions) {
    // First, middle and last byte of each part.
    for (uint64_t at : {r.offset, r.offset + r.size / 2, r.offset + r.size - 1}) {
      std::string bytes = original;
      bytes[at] ^= 0x10;
      const std::string bad = dir_ / "flipped.cfi";
      WriteFile(bad, bytes);
      auto flipped = FuncImage::Open(bad);
      ASSERT_TRUE(flipped) << r.name << ": " << flipped.error().message();
      auto lines = flipped->Verify();
      ASSERT_TRUE(lines) << lines.error().message();
      ASSERT_EQ(lines->size(), 1u) << r.name << " at " << at;
      EXPECT_NE((*lines)[0].find(r.name), std::string::npos) << (*lines)[0];
      EXPECT_NE((*lines)[0].find("checksum mismatch"), std::string::npos) << (*lines)[0];
    }
  }
}

// The relocation table's checksum recomputed after its entry changed: only Verify()'s bounds
// check on the entries can notice (Open() does not read the table, the checksum is right).
TEST_F(FuncImageTest, VerifyNamesARelocationEntryOutsideTheArena) {
  std::string bytes = ReadFile(path_);
  {
    auto img = FuncImage::Open(path_);
    ASSERT_TRUE(img) << img.error().message();
    auto* p = reinterpret_cast<uint8_t*>(bytes.data());
    uint8_t* table = p + img->relocations_offset();
    Put64(table + 8, img->arena_size() - 7);  // entry 1: its 8 bytes end past the arena
    const uint64_t sum = XXH3_64bits(table, img->relocation_count() * 8);
    fbs::GetMutableManifest(p + Get64(p + kOffManifestOffset))
        ->mutable_relocations()
        ->mutate_checksum(sum);
    Reseal(bytes);
  }
  const std::string bad = dir_ / "bad-reloc.cfi";
  WriteFile(bad, bytes);
  auto img = FuncImage::Open(bad);
  ASSERT_TRUE(img) << img.error().message();
  auto lines = img->Verify();
  ASSERT_TRUE(lines) << lines.error().message();
  ASSERT_EQ(lines->size(), 1u);
  EXPECT_EQ((*lines)[0], "relocation table: 1 entries point outside the arena (first: entry 1)");
}

// ---- segments where no guest mapping may be, and metadata not in capture's form ----
// (issue 7, finding 3: a segment at 0x100000 r-x replaced the trampoline). The images are
// written by the writer, so every checksum is valid: only the structural check refuses them.

TEST_F(FuncImageTest, SegmentAtZeroIsRefused) {
  const std::string e = OpenErrorWithFirstSegmentAt(0);
  EXPECT_NE(e.find("segment 0 (0x0): mapping at 0x0 is below the guest's lowest address"),
            std::string::npos)
      << e;
}

TEST_F(FuncImageTest, SegmentAtFirstPageAboveZeroIsRefused) {
  const std::string e = OpenErrorWithFirstSegmentAt(0x1000);
  EXPECT_NE(e.find("segment 0 (0x1000): mapping at 0x1000 is below the guest's lowest address"),
            std::string::npos)
      << e;
}

TEST_F(FuncImageTest, SegmentEndingInTheTrampolineIsRefused) {
  // 0xff000 + 2 pages = 0x101000: its second page is the trampoline's code page.
  const std::string e = OpenErrorWithFirstSegmentAt(0xff000);
  EXPECT_NE(e.find("segment 0 (0xff000): mapping 0xff000-0x101000 overlaps the trampoline"),
            std::string::npos)
      << e;
}

TEST_F(FuncImageTest, SegmentReplacingTheTrampolineIsRefused) {
  const std::string e = OpenErrorWithFirstSegmentAt(0x100000);
  EXPECT_NE(e.find("segment 0 (0x100000): mapping 0x100000-0x102000 overlaps the trampoline"),
            std::string::npos)
      << e;
}

TEST_F(FuncImageTest, SegmentEndingPastTheGuestAddressLimitIsRefused) {
  // The last segment starts below kGuestAddressLimit and ends one page past it.
  FuncImageSpec spec = spec_;
  spec.segments[2] = {kGuestAddressLimit - kPageSize, 2 * kPageSize, PROT_READ, 4, nullptr};
  const std::string e = OpenErrorOf(spec);
  EXPECT_NE(e.find("segment 2 (0x7fffffffe000): mapping 0x7fffffffe000+0x2000 ends past the "
                   "guest address limit"),
            std::string::npos)
      << e;
}

TEST_F(FuncImageTest, SegmentAtTheGuestAddressLimitIsRefused) {
  // Moved past the last segment so that only the limit is wrong.
  FuncImageSpec spec = spec_;
  spec.segments.push_back({kGuestAddressLimit, kPageSize, PROT_READ, 0, nullptr});
  const std::string e = OpenErrorOf(spec);
  EXPECT_NE(e.find("segment 3 (0x7ffffffff000): mapping 0x7ffffffff000+0x1000 ends past the "
                   "guest address limit"),
            std::string::npos)
      << e;
}

TEST_F(FuncImageTest, UnknownProtectionBitsAreRefused) {
  const std::string e = OpenErrorWithFirstSegmentAt(0x400000, 2 * kPageSize, 0x10);
  EXPECT_NE(e.find("segment 0 (0x400000): unknown protection bits 0x10"), std::string::npos) << e;
}

TEST_F(FuncImageTest, UnknownVmaKindIsRefused) {
  FuncImageSpec spec = spec_;
  spec.segments[1].vma_kind = 99;
  const std::string e = OpenErrorOf(spec);
  EXPECT_NE(e.find("segment 1 (0x600000): unknown VMA kind 99"), std::string::npos) << e;
}

TEST_F(FuncImageTest, SegmentsNextToTheReservedRangesOpen) {
  FuncImageSpec spec = spec_;
  spec.segments.insert(spec.segments.begin(),
                       {{0x10000, kPageSize, PROT_READ, 0, nullptr},
                        {0x102000, kPageSize, PROT_READ | PROT_WRITE | PROT_EXEC, 0, nullptr}});
  spec.segments.back() = {kGuestAddressLimit - kPageSize, kPageSize, PROT_READ | PROT_WRITE, 4,
                          data_.data()};
  EXPECT_EQ(OpenErrorOf(spec), "(opened fine)");
}

TEST_F(FuncImageTest, MountWithoutModeIsRefused) {
  FuncImageSpec spec = spec_;
  spec.function.mounts = {"/data:/data"};
  const std::string e = OpenErrorOf(spec);
  EXPECT_NE(e.find("manifest mount 0: mount '/data:/data' is not HOST:GUEST:ro|rw"),
            std::string::npos)
      << e;
}

TEST_F(FuncImageTest, MountWithRelativeHostIsRefused) {
  FuncImageSpec spec = spec_;
  spec.function.mounts = {"/data:/data:ro", "data:/x:ro"};
  const std::string e = OpenErrorOf(spec);
  EXPECT_NE(e.find("manifest mount 1: mount 'data:/x:ro': HOST is not an absolute canonical path"),
            std::string::npos)
      << e;
}

TEST_F(FuncImageTest, MountWithDotDotHostIsRefused) {
  FuncImageSpec spec = spec_;
  spec.function.mounts = {"/srv/../:/data:rw"};
  const std::string e = OpenErrorOf(spec);
  EXPECT_NE(e.find("HOST is not an absolute canonical path"), std::string::npos) << e;
}

TEST_F(FuncImageTest, MountAtRootIsRefused) {
  FuncImageSpec spec = spec_;
  spec.function.mounts = {"/:/:rw"};
  const std::string e = OpenErrorOf(spec);
  EXPECT_NE(e.find("manifest mount 0: mount '/:/:rw' is not HOST:GUEST:ro|rw"), std::string::npos)
      << e;
}

TEST_F(FuncImageTest, MountOfTheSameGuestPathTwiceIsRefused) {
  FuncImageSpec spec = spec_;
  spec.function.mounts = {"/a:/data:ro", "/b:/data:ro"};
  const std::string e = OpenErrorOf(spec);
  EXPECT_NE(e.find("manifest mount 1: guest path /data mounted twice"), std::string::npos) << e;
}

TEST_F(FuncImageTest, RelativeRootfsIsRefused) {
  FuncImageSpec spec = spec_;
  spec.function.rootfs = "rootfs";
  const std::string e = OpenErrorOf(spec);
  EXPECT_NE(e.find("manifest rootfs 'rootfs' is not an absolute canonical path"), std::string::npos)
      << e;
}

}  // namespace
}  // namespace cat
