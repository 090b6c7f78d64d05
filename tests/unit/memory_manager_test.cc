// Tests of MemoryManager (loader/kernel/memory_manager.h) against a fake Shell: placement,
// MAP_FIXED replacement and VMA splitting, munmap, mprotect, the memory limit, reserved
// ranges, brk and mremap. The fake records what the platform would have been asked to do.
#include "loader/kernel/memory_manager.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <vector>

#include "tests/unit/fake_shell.h"

namespace cat {
namespace {

constexpr uint64_t P = kPageSize;
constexpr uint64_t kTop = 0x7ffff7fff000ull;
constexpr int kRW = PROT_READ | PROT_WRITE;
constexpr int kAnon = MAP_PRIVATE | MAP_ANONYMOUS;

struct Range {
  uint64_t start, end;
  uint32_t prot;
  bool operator==(const Range&) const = default;
};
void PrintTo(const Range& r, std::ostream* os) {
  *os << std::hex << "[0x" << r.start << ", 0x" << r.end << ") prot " << r.prot;
}

class MemoryManagerTest : public ::testing::Test {
 protected:
  MemoryManagerTest() {
    map_.mmap_top = kTop;
    map_.limit_bytes = 1ull << 30;
  }

  Result<uint64_t> MapAnywhere(uint64_t len, int prot = kRW, uint64_t hint = 0) {
    return mm_.Map(hint, len, prot, kAnon, false, false, state::VmaKind::kAnonymous, MapSource{});
  }
  Result<uint64_t> MapFixed(uint64_t addr, uint64_t len, int prot = kRW, bool noreplace = false) {
    return mm_.Map(addr, len, prot, kAnon | MAP_FIXED, true, noreplace, state::VmaKind::kAnonymous,
                   MapSource{});
  }
  std::vector<Range> Vmas() const {
    std::vector<Range> out;
    for (const state::Vma& v : map_.vmas) out.push_back({v.start, v.end, v.prot});
    return out;
  }

  state::MemoryMap map_{};
  testing::FakeShell shell_;
  MemoryManager mm_{map_, shell_};
};

// --- placement ---

TEST_F(MemoryManagerTest, FirstMappingGoesRightBelowMmapTop) {
  auto a = MapAnywhere(3 * P);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(*a, kTop - 3 * P);
}

TEST_F(MemoryManagerTest, LaterMappingsGoBelowEarlierOnes) {
  auto a = MapAnywhere(P);
  auto b = MapAnywhere(2 * P);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*b, *a - 2 * P);
}

TEST_F(MemoryManagerTest, PlacementReusesAHoleThatIsBigEnough) {
  auto a = MapAnywhere(4 * P);
  ASSERT_TRUE(a);
  ASSERT_TRUE(mm_.Unmap(*a + P, 2 * P));
  auto b = MapAnywhere(2 * P);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, *a + P);
}

TEST_F(MemoryManagerTest, PlacementSkipsAHoleThatIsTooSmall) {
  auto a = MapAnywhere(3 * P);
  ASSERT_TRUE(a);
  ASSERT_TRUE(mm_.Unmap(*a + P, P));
  auto b = MapAnywhere(2 * P);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, *a - 2 * P);
}

TEST_F(MemoryManagerTest, FreeHintIsHonoured) {
  auto a = MapAnywhere(P, kRW, 0x500000);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 0x500000u);
}

TEST_F(MemoryManagerTest, BusyHintFallsBackToTopDown) {
  ASSERT_TRUE(MapFixed(0x500000, P));
  auto a = MapAnywhere(P, kRW, 0x500000);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, kTop - P);
}

TEST_F(MemoryManagerTest, LengthIsRoundedUpToPages) {
  auto a = MapAnywhere(100);
  ASSERT_TRUE(a);
  EXPECT_EQ(map_.mapped_bytes, P);
  EXPECT_EQ(Vmas(), (std::vector<Range>{{*a, *a + P, kRW}}));
}

TEST_F(MemoryManagerTest, ZeroLengthIsEinval) {
  auto a = MapAnywhere(0);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), EINVAL);
  EXPECT_TRUE(shell_.calls.empty());
}

TEST_F(MemoryManagerTest, HugeLengthIsEnomem) {
  auto a = MapAnywhere(~0ull - 10);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ENOMEM);
}

TEST_F(MemoryManagerTest, UnalignedFixedIsEinval) {
  auto a = MapFixed(0x500010, P);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), EINVAL);
}

// --- MAP_FIXED ---

TEST_F(MemoryManagerTest, FixedMappingReplacesTheMiddleAndSplits) {
  ASSERT_TRUE(MapFixed(0x400000, 4 * P));
  ASSERT_TRUE(MapFixed(0x401000, P, PROT_READ));
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x400000, 0x401000, kRW},
                                        {0x401000, 0x402000, PROT_READ},
                                        {0x402000, 0x404000, kRW}}));
  EXPECT_EQ(map_.mapped_bytes, 4 * P);
}

TEST_F(MemoryManagerTest, FixedMappingIsOnePlatformCallWithoutUnmap) {
  ASSERT_TRUE(MapFixed(0x400000, 4 * P));
  shell_.calls.clear();
  ASSERT_TRUE(MapFixed(0x401000, P, PROT_READ));
  ASSERT_EQ(shell_.calls.size(), 1u);
  EXPECT_EQ(shell_.calls[0].op, "map");
  EXPECT_EQ(shell_.calls[0].addr, 0x401000u);
  EXPECT_EQ(shell_.calls[0].prot, PROT_READ);
}

TEST_F(MemoryManagerTest, FixedMappingSpanningTwoVmasReplacesBothParts) {
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  ASSERT_TRUE(MapFixed(0x403000, 2 * P));
  ASSERT_TRUE(MapFixed(0x401000, 3 * P, PROT_READ));
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x400000, 0x401000, kRW},
                                        {0x401000, 0x404000, PROT_READ},
                                        {0x404000, 0x405000, kRW}}));
  EXPECT_EQ(map_.mapped_bytes, 5 * P);
}

TEST_F(MemoryManagerTest, FixedNoreplaceOnABusyRangeIsEexist) {
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  auto a = MapFixed(0x401000, 2 * P, kRW, /*noreplace=*/true);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), EEXIST);
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x400000, 0x402000, kRW}}));
}

TEST_F(MemoryManagerTest, FileMappingSplitKeepsFileOffsets) {
  MapSource src;
  src.kind = MapSource::Kind::kHostFile;
  src.host_fd = 99;
  src.offset = 0x10000;
  ASSERT_TRUE(
      mm_.Map(0x400000, 4 * P, PROT_READ, MAP_PRIVATE, true, false, state::VmaKind::kFile, src));
  ASSERT_TRUE(mm_.Unmap(0x401000, P));
  ASSERT_EQ(map_.vmas.size, 2u);
  EXPECT_EQ(map_.vmas[0].file_offset, 0x10000u);
  EXPECT_EQ(map_.vmas[1].start, 0x402000u);
  EXPECT_EQ(map_.vmas[1].file_offset, 0x12000u);
}

TEST_F(MemoryManagerTest, PlatformFailureLeavesTheRecordUnchanged) {
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  shell_.fail_next = ENOMEM;
  auto a = MapFixed(0x401000, 2 * P, PROT_READ);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ENOMEM);
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x400000, 0x402000, kRW}}));
  EXPECT_EQ(map_.mapped_bytes, 2 * P);
}

// --- munmap ---

TEST_F(MemoryManagerTest, UnmapInTheMiddleSplitsTheVma) {
  ASSERT_TRUE(MapFixed(0x400000, 4 * P));
  ASSERT_TRUE(mm_.Unmap(0x401000, P));
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x400000, 0x401000, kRW}, {0x402000, 0x404000, kRW}}));
  EXPECT_EQ(map_.mapped_bytes, 3 * P);
  EXPECT_EQ(shell_.calls.back().op, "unmap");
  EXPECT_EQ(shell_.calls.back().addr, 0x401000u);
  EXPECT_EQ(shell_.calls.back().len, P);
}

TEST_F(MemoryManagerTest, UnmapAcrossSeveralVmasRemovesAllCoveredParts) {
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  ASSERT_TRUE(MapFixed(0x403000, 2 * P));
  ASSERT_TRUE(mm_.Unmap(0x401000, 3 * P));
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x400000, 0x401000, kRW}, {0x404000, 0x405000, kRW}}));
  EXPECT_EQ(map_.mapped_bytes, 2 * P);
}

TEST_F(MemoryManagerTest, UnmapOfNothingSucceedsWithoutPlatformCall) {
  ASSERT_TRUE(mm_.Unmap(0x400000, P));
  EXPECT_TRUE(shell_.calls.empty());
}

TEST_F(MemoryManagerTest, UnmapUnalignedIsEinval) {
  ASSERT_TRUE(MapFixed(0x400000, P));
  auto r = mm_.Unmap(0x400010, P);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), EINVAL);
}

TEST_F(MemoryManagerTest, UnmapZeroLengthIsEinval) {
  auto r = mm_.Unmap(0x400000, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), EINVAL);
}

TEST_F(MemoryManagerTest, UnmapPlatformFailureKeepsTheVma) {
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  shell_.fail_next = EINVAL;
  EXPECT_FALSE(mm_.Unmap(0x400000, P));
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x400000, 0x402000, kRW}}));
  EXPECT_EQ(map_.mapped_bytes, 2 * P);
}

// --- mprotect ---

TEST_F(MemoryManagerTest, ProtectTheMiddleSplitsInThree) {
  ASSERT_TRUE(MapFixed(0x400000, 3 * P));
  ASSERT_TRUE(mm_.Protect(0x401000, P, PROT_READ));
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x400000, 0x401000, kRW},
                                        {0x401000, 0x402000, PROT_READ},
                                        {0x402000, 0x403000, kRW}}));
  EXPECT_EQ(map_.mapped_bytes, 3 * P);
}

TEST_F(MemoryManagerTest, ProtectOfAPartlyUnmappedRangeIsEnomem) {
  ASSERT_TRUE(MapFixed(0x400000, P));
  ASSERT_TRUE(MapFixed(0x402000, P));
  shell_.calls.clear();
  auto r = mm_.Protect(0x400000, 3 * P, PROT_READ);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ENOMEM);
  EXPECT_TRUE(shell_.calls.empty());
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x400000, 0x401000, kRW}, {0x402000, 0x403000, kRW}}));
}

TEST_F(MemoryManagerTest, ProtectAcrossAdjacentVmasSucceeds) {
  ASSERT_TRUE(MapFixed(0x400000, P));
  ASSERT_TRUE(MapFixed(0x401000, P, PROT_READ));
  ASSERT_TRUE(mm_.Protect(0x400000, 2 * P, PROT_NONE));
  for (const Range& r : Vmas()) EXPECT_EQ(r.prot, static_cast<uint32_t>(PROT_NONE));
}

TEST_F(MemoryManagerTest, ProtectUnalignedIsEinval) {
  ASSERT_TRUE(MapFixed(0x400000, P));
  auto r = mm_.Protect(0x400001, P, PROT_READ);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), EINVAL);
}

// --- the memory limit ---

TEST_F(MemoryManagerTest, MappingBeyondTheLimitIsEnomem) {
  map_.limit_bytes = 4 * P;
  ASSERT_TRUE(MapAnywhere(4 * P));
  auto b = MapAnywhere(P);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), ENOMEM);
  EXPECT_EQ(map_.mapped_bytes, 4 * P);
}

TEST_F(MemoryManagerTest, LimitRefusalMakesNoPlatformCall) {
  map_.limit_bytes = 2 * P;
  ASSERT_FALSE(MapAnywhere(3 * P));
  EXPECT_TRUE(shell_.calls.empty());
}

TEST_F(MemoryManagerTest, AccountingReturnsAfterMunmap) {
  map_.limit_bytes = 4 * P;
  auto a = MapAnywhere(4 * P);
  ASSERT_TRUE(a);
  ASSERT_TRUE(mm_.Unmap(*a, 2 * P));
  EXPECT_EQ(map_.mapped_bytes, 2 * P);
  EXPECT_TRUE(MapAnywhere(2 * P));
  EXPECT_EQ(map_.mapped_bytes, 4 * P);
}

TEST_F(MemoryManagerTest, FixedReplacementCountsOnlyNewBytesAgainstTheLimit) {
  map_.limit_bytes = 4 * P;
  ASSERT_TRUE(MapFixed(0x400000, 4 * P));
  EXPECT_TRUE(MapFixed(0x401000, 2 * P, PROT_READ));
  EXPECT_EQ(map_.mapped_bytes, 4 * P);
}

// --- reserved ranges ---

TEST_F(MemoryManagerTest, FixedBelow64KiBIsRefused) {
  auto a = MapFixed(0x1000, P);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), EINVAL);
  EXPECT_TRUE(shell_.calls.empty());
}

TEST_F(MemoryManagerTest, FixedNoreplaceAtZeroIsEexist) {
  auto a = MapFixed(0, P, kRW, /*noreplace=*/true);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), EEXIST);
}

TEST_F(MemoryManagerTest, FixedAtTheTrampolinePageIsRefused) {
  auto a = MapFixed(0x100000, P);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), EINVAL);
  EXPECT_TRUE(shell_.calls.empty());
}

TEST_F(MemoryManagerTest, FixedOverlappingTheTrampolineIsRefused) {
  EXPECT_FALSE(MapFixed(0xff000, 2 * P));
  EXPECT_FALSE(MapFixed(0x80000, 0x100000));
  EXPECT_TRUE(shell_.calls.empty());
}

TEST_F(MemoryManagerTest, PagesAroundTheTrampolineAreAllowed) {
  EXPECT_TRUE(MapFixed(0xff000, P));
  EXPECT_TRUE(MapFixed(0x102000, P));  // the trampoline is two pages: code and scratch
  EXPECT_TRUE(MapFixed(0x10000, P));
}

TEST_F(MemoryManagerTest, TrampolineScratchPageIsReserved) {
  EXPECT_FALSE(MapFixed(0x101000, P));
}

TEST_F(MemoryManagerTest, HintInReservedRangeIsIgnored) {
  auto a = MapAnywhere(P, kRW, 0x100000);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, kTop - P);
}

TEST_F(MemoryManagerTest, FixedAboveTheUserLimitIsRefused) {
  EXPECT_FALSE(MapFixed(kGuestAddressLimit, P));
  EXPECT_FALSE(MapFixed(0xffff800000000000ull, P));
}

TEST_F(MemoryManagerTest, UnmapOfTheTrampolineIsRefused) {
  auto r = mm_.Unmap(0x100000, P);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_TRUE(shell_.calls.empty());
}

TEST_F(MemoryManagerTest, ProtectOfTheTrampolineIsEnomem) {
  auto r = mm_.Protect(0x100000, P, kRW | PROT_EXEC);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ENOMEM);
  EXPECT_TRUE(shell_.calls.empty());
}

TEST_F(MemoryManagerTest, TopDownPlacementNeverLandsOnTheTrampoline) {
  map_.mmap_top = 0x102000;
  auto a = MapAnywhere(2 * P);
  if (a) {
    EXPECT_FALSE(MemoryManager::IsReserved(*a, 2 * P));
  } else {
    EXPECT_EQ(a.error().code(), ENOMEM);
  }
  EXPECT_TRUE(shell_.calls.empty() || !MemoryManager::IsReserved(shell_.calls[0].addr, 2 * P));
}

// --- brk ---

class BrkTest : public MemoryManagerTest {
 protected:
  BrkTest() { map_.brk_start = map_.brk_end = map_.brk_mapped = 0x600000; }
};

TEST_F(BrkTest, QueryReturnsTheCurrentBreak) {
  EXPECT_EQ(mm_.Brk(0), 0x600000u);
}

TEST_F(BrkTest, GrowMapsWholePages) {
  EXPECT_EQ(mm_.Brk(0x600000 + 100), 0x600000u + 100);
  EXPECT_EQ(map_.brk_mapped, 0x601000u);
  ASSERT_EQ(map_.vmas.size, 1u);
  EXPECT_EQ(map_.vmas[0].kind, state::VmaKind::kBrk);
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x600000, 0x601000, kRW}}));
}

TEST_F(BrkTest, GrowWithinTheMappedPageMakesNoPlatformCall) {
  mm_.Brk(0x600100);
  shell_.calls.clear();
  EXPECT_EQ(mm_.Brk(0x600800), 0x600800u);
  EXPECT_TRUE(shell_.calls.empty());
}

TEST_F(BrkTest, ShrinkUnmapsWholePages) {
  mm_.Brk(0x600000 + 3 * P + 1);
  ASSERT_EQ(map_.brk_mapped, 0x604000u);
  EXPECT_EQ(mm_.Brk(0x600010), 0x600010u);
  EXPECT_EQ(map_.brk_mapped, 0x601000u);
  EXPECT_EQ(map_.mapped_bytes, P);
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x600000, 0x601000, kRW}}));
}

TEST_F(BrkTest, ShrinkToStartUnmapsEverything) {
  mm_.Brk(0x600000 + 2 * P);
  EXPECT_EQ(mm_.Brk(0x600000), 0x600000u);
  EXPECT_EQ(map_.mapped_bytes, 0u);
  EXPECT_TRUE(Vmas().empty());
}

TEST_F(BrkTest, BelowTheStartIsRefused) {
  mm_.Brk(0x600100);
  EXPECT_EQ(mm_.Brk(0x5ff000), 0x600100u);
}

TEST_F(BrkTest, GrowIntoAMappingFailsAndKeepsTheBreak) {
  ASSERT_TRUE(MapFixed(0x602000, P));
  mm_.Brk(0x600100);
  EXPECT_EQ(mm_.Brk(0x603000), 0x600100u);
  EXPECT_EQ(map_.brk_mapped, 0x601000u);
}

TEST_F(BrkTest, GrowBeyondTheLimitFailsAndKeepsTheBreak) {
  map_.limit_bytes = 2 * P;
  EXPECT_EQ(mm_.Brk(0x600000 + 3 * P), 0x600000u);
  EXPECT_EQ(map_.mapped_bytes, 0u);
}

// --- mremap ---

TEST_F(MemoryManagerTest, RemapGrowsInPlaceWhenThereIsRoom) {
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  shell_.calls.clear();
  auto r = mm_.Remap(0x400000, 2 * P, 4 * P, MREMAP_MAYMOVE, 0);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 0x400000u);
  EXPECT_EQ(map_.mapped_bytes, 4 * P);
  EXPECT_EQ(MemoryManagerTest::Vmas().front().start, 0x400000u);
  EXPECT_EQ(map_.vmas[map_.vmas.size - 1].end, 0x404000u);
  ASSERT_EQ(shell_.calls.size(), 1u);
  EXPECT_EQ(shell_.calls[0].op, "map");
  EXPECT_EQ(shell_.calls[0].addr, 0x402000u);
}

TEST_F(MemoryManagerTest, RemapMovesWhenBlocked) {
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  ASSERT_TRUE(MapFixed(0x402000, P, PROT_READ));
  auto r = mm_.Remap(0x400000, 2 * P, 4 * P, MREMAP_MAYMOVE, 0);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_NE(*r, 0x400000u);
  EXPECT_EQ(shell_.calls.back().op, "remap");
  EXPECT_EQ(shell_.calls.back().new_addr, *r);
  EXPECT_EQ(shell_.calls.back().new_len, 4 * P);
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x402000, 0x403000, PROT_READ}, {*r, *r + 4 * P, kRW}}));
  EXPECT_EQ(map_.mapped_bytes, 5 * P);
}

TEST_F(MemoryManagerTest, RemapWithoutMaymoveWhenBlockedIsEnomem) {
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  ASSERT_TRUE(MapFixed(0x402000, P));
  auto r = mm_.Remap(0x400000, 2 * P, 4 * P, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ENOMEM);
  EXPECT_EQ(map_.mapped_bytes, 3 * P);
}

TEST_F(MemoryManagerTest, RemapShrinkUnmapsTheTail) {
  ASSERT_TRUE(MapFixed(0x400000, 4 * P));
  auto r = mm_.Remap(0x400000, 4 * P, P, 0, 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 0x400000u);
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x400000, 0x401000, kRW}}));
  EXPECT_EQ(map_.mapped_bytes, P);
}

TEST_F(MemoryManagerTest, RemapOfAnUnmappedRangeIsEfault) {
  auto r = mm_.Remap(0x400000, P, 2 * P, MREMAP_MAYMOVE, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), EFAULT);
}

TEST_F(MemoryManagerTest, RemapAcrossTwoVmasIsEfault) {
  ASSERT_TRUE(MapFixed(0x400000, P));
  ASSERT_TRUE(MapFixed(0x401000, P, PROT_READ));
  auto r = mm_.Remap(0x400000, 2 * P, 4 * P, MREMAP_MAYMOVE, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), EFAULT);
}

TEST_F(MemoryManagerTest, RemapFixedToAGivenAddress) {
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  auto r = mm_.Remap(0x400000, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x800000);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 0x800000u);
  EXPECT_EQ(Vmas(), (std::vector<Range>{{0x800000, 0x802000, kRW}}));
  EXPECT_EQ(map_.mapped_bytes, 2 * P);
}

TEST_F(MemoryManagerTest, RemapFixedOntoItselfIsEinval) {
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  auto r = mm_.Remap(0x400000, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x401000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), EINVAL);
}

TEST_F(MemoryManagerTest, RemapGrowBeyondTheLimitIsEnomem) {
  map_.limit_bytes = 3 * P;
  ASSERT_TRUE(MapFixed(0x400000, 2 * P));
  auto r = mm_.Remap(0x400000, 2 * P, 4 * P, MREMAP_MAYMOVE, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ENOMEM);
  EXPECT_EQ(map_.mapped_bytes, 2 * P);
}

TEST_F(MemoryManagerTest, RemapUnknownFlagIsEinval) {
  ASSERT_TRUE(MapFixed(0x400000, P));
  auto r = mm_.Remap(0x400000, P, 2 * P, 0x100, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), EINVAL);
}

}  // namespace
}  // namespace cat
