// Sparse overlay file data (loader/kernel/file_data.h) and its charge against the memory
// budget (loader/kernel/memory_budget.h).
#include "loader/kernel/file_data.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <random>
#include <string>

#include "loader/kernel/overlay_table.h"

namespace cat {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

class FileDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    map_.limit_bytes = 1ull << 40;
    inode_.mode = S_IFREG | 0644;
  }
  std::string Read(uint64_t off, uint64_t len) {
    std::string out(len, '?');
    out.resize(ReadFileData(inode_, off, out.data(), len));
    return out;
  }
  Result<uint64_t> Write(uint64_t off, const std::string& bytes) {
    return WriteFileData(inode_, off, bytes.data(), bytes.size(), &budget_);
  }

  state::MemoryMap map_{};
  MemoryBudget budget_{map_};
  state::Inode inode_{};
};

TEST_F(FileDataTest, TruncateToTwoGiBAllocatesNothing) {
  ASSERT_TRUE(TruncateFileData(inode_, 2 * kGiB, &budget_));
  EXPECT_EQ(inode_.size, 2 * kGiB);
  EXPECT_EQ(inode_.extents.size, 0u);
  EXPECT_EQ(map_.file_bytes, 0u);
  EXPECT_EQ(Read(kGiB, 4), std::string(4, '\0'));
}

TEST_F(FileDataTest, OneByteAtTheEndOfAHugeHoleCostsOnePage) {
  ASSERT_TRUE(TruncateFileData(inode_, 2 * kGiB, &budget_));
  auto n = Write(2 * kGiB - 1, "x");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(inode_.size, 2 * kGiB);
  EXPECT_EQ(map_.file_bytes, 4096u);
  EXPECT_EQ(FileDataCharge(inode_), 4096u);
  EXPECT_EQ(Read(2 * kGiB - 2, 8), std::string("\0x", 2));
}

TEST_F(FileDataTest, WriteBeyondTheBudgetEndsShortThenFailsWithEnospc) {
  map_.limit_bytes = 1 << 20;
  const std::string block(3 << 20, 'a');
  auto n = Write(0, block);
  ASSERT_TRUE(n);
  EXPECT_GT(*n, 0u);
  EXPECT_LE(*n, 1u << 20);
  EXPECT_LE(map_.file_bytes, map_.limit_bytes);
  auto again = Write(*n, block);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ENOSPC);
  EXPECT_EQ(inode_.size, *n);
}

TEST_F(FileDataTest, MappingsShareTheBudget) {
  map_.limit_bytes = 1 << 20;
  map_.mapped_bytes = 1 << 20;  // the guest's mappings already use it all
  auto n = Write(0, "x");
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), ENOSPC);
}

TEST_F(FileDataTest, RandomWritesReadBackLikeAFlatFile) {
  std::mt19937_64 rng(7);
  std::string model;
  for (int i = 0; i < 400; ++i) {
    const uint64_t off = rng() % (5 * state::kExtentWindow);
    const std::string bytes(1 + rng() % 70000, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(Write(off, bytes));
    if (model.size() < off + bytes.size()) model.resize(off + bytes.size(), '\0');
    model.replace(off, bytes.size(), bytes);
    if (i % 50 == 49) {  // and an occasional truncation, down or up
      const uint64_t len = rng() % (6 * state::kExtentWindow);
      ASSERT_TRUE(TruncateFileData(inode_, len, &budget_));
      model.resize(len, '\0');
    }
  }
  ASSERT_EQ(inode_.size, model.size());
  EXPECT_TRUE(Read(0, model.size() + 10) == model);
  EXPECT_EQ(map_.file_bytes, FileDataCharge(inode_));
}

TEST_F(FileDataTest, TruncatedBytesReadAsZerosWhenTheFileGrowsAgain) {
  ASSERT_TRUE(Write(0, "abcdef"));
  ASSERT_TRUE(TruncateFileData(inode_, 2, &budget_));
  ASSERT_TRUE(TruncateFileData(inode_, 6, &budget_));
  EXPECT_EQ(Read(0, 6), std::string("ab\0\0\0\0", 6));
  ASSERT_TRUE(Write(8, "z"));
  EXPECT_EQ(Read(0, 9), std::string("ab\0\0\0\0\0\0z", 9));
}

TEST_F(FileDataTest, TruncateToZeroAndReleaseReturnTheCharge) {
  ASSERT_TRUE(Write(0, std::string(200000, 'q')));
  EXPECT_GT(map_.file_bytes, 0u);
  ASSERT_TRUE(TruncateFileData(inode_, 0, &budget_));
  EXPECT_EQ(map_.file_bytes, 0u);
  ASSERT_TRUE(Write(5, "x"));
  ReleaseFileData(inode_, &budget_);
  EXPECT_EQ(map_.file_bytes, 0u);
}

TEST_F(FileDataTest, WritePastTheLargestFileSizeIsEfbig) {
  auto n = Write(kMaxOverlayFileSize, "x");
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), EFBIG);
}

// What adopt recomputes equals what the live kernel charged, names and data together.
TEST(MemoryBudgetTest, ComputeFileBytesMatchesTheLiveCharge) {
  state::SandboxState s{};
  s.memory.limit_bytes = 1ull << 40;
  MemoryBudget budget(s.memory);
  OverlayTable table(s.overlay, &budget);
  for (int i = 0; i < 20; ++i) {
    state::Inode* in = table.NewInode(S_IFREG | 0644, 0, 0);
    table.SetInode(table.Upsert("/tmp/f" + std::to_string(i)), in);
    ASSERT_TRUE(WriteFileData(*in, static_cast<uint64_t>(i) * 100000, "data", 4, &budget));
  }
  table.Erase("/tmp/f3");
  table.Whiteout("/etc/passwd");
  EXPECT_GT(s.memory.file_bytes, 0u);
  EXPECT_EQ(ComputeFileBytes(s), s.memory.file_bytes);
}

}  // namespace
}  // namespace cat
