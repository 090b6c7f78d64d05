// The fcntl lock table (loader/kernel/file_locks.h): conflicts between owners, replacement and
// splitting within one owner, and release.
#include "loader/kernel/file_locks.h"

#include <fcntl.h>
#include <gtest/gtest.h>

namespace cat {
namespace {

const LockFileKey kFile{0, 7, 0};
const LockFileKey kOther{0, 8, 0};
const LockOwner kProc{false, 1, 1};
const LockOwner kOfdA{true, 0x1000, -1};
const LockOwner kOfdB{true, 0x2000, -1};

TEST(FileLocks, OneOwnerNeverConflictsWithItself) {
  FileLocks t;
  ASSERT_TRUE(t.Set(kFile, kProc, 0, 10, F_WRLCK));
  EXPECT_FALSE(t.Conflict(kFile, kProc, 0, 10, F_WRLCK));
  EXPECT_TRUE(t.Set(kFile, kProc, 5, 20, F_WRLCK));
}

TEST(FileLocks, WriteLocksOfOtherOwnersConflictOnOverlapOnly) {
  FileLocks t;
  ASSERT_TRUE(t.Set(kFile, kOfdA, 0, 10, F_WRLCK));
  auto c = t.Conflict(kFile, kOfdB, 9, 12, F_RDLCK);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->start, 0u);
  EXPECT_EQ(c->end, 10u);
  EXPECT_FALSE(t.Conflict(kFile, kOfdB, 10, 12, F_WRLCK));
  EXPECT_FALSE(t.Conflict(kOther, kOfdB, 0, 10, F_WRLCK));
  EXPECT_EQ(t.Set(kFile, kOfdB, 5, 6, F_RDLCK).error().code(), EAGAIN);
  // A POSIX lock and an OFD lock are different owners.
  EXPECT_TRUE(t.Conflict(kFile, kProc, 0, 1, F_RDLCK));
}

TEST(FileLocks, ReadLocksShare) {
  FileLocks t;
  ASSERT_TRUE(t.Set(kFile, kOfdA, 0, UINT64_MAX, F_RDLCK));
  EXPECT_TRUE(t.Set(kFile, kOfdB, 100, 200, F_RDLCK));
  EXPECT_TRUE(t.Conflict(kFile, kProc, 150, 151, F_WRLCK));
}

TEST(FileLocks, UnlockInTheMiddleSplitsTheOwnersLock) {
  FileLocks t;
  ASSERT_TRUE(t.Set(kFile, kOfdA, 0, 100, F_WRLCK));
  ASSERT_TRUE(t.Set(kFile, kOfdA, 40, 60, F_UNLCK));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_FALSE(t.Conflict(kFile, kOfdB, 40, 60, F_WRLCK));
  EXPECT_TRUE(t.Conflict(kFile, kOfdB, 39, 40, F_WRLCK));
  EXPECT_TRUE(t.Conflict(kFile, kOfdB, 60, 61, F_WRLCK));
}

TEST(FileLocks, ADowngradeReplacesTheOwnersLock) {
  FileLocks t;
  ASSERT_TRUE(t.Set(kFile, kOfdA, 0, 100, F_WRLCK));
  ASSERT_TRUE(t.Set(kFile, kOfdA, 0, 100, F_RDLCK));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_FALSE(t.Conflict(kFile, kOfdB, 0, 100, F_RDLCK));
}

TEST(FileLocks, ReleaseDropsOneOwnersLocksOnOneOrEveryFile) {
  FileLocks t;
  ASSERT_TRUE(t.Set(kFile, kProc, 0, 10, F_WRLCK));
  ASSERT_TRUE(t.Set(kOther, kProc, 0, 10, F_WRLCK));
  ASSERT_TRUE(t.Set(kFile, kOfdA, 20, 30, F_WRLCK));
  t.Release(kProc, kFile);
  EXPECT_FALSE(t.Conflict(kFile, kOfdB, 0, 10, F_WRLCK));
  EXPECT_TRUE(t.Conflict(kOther, kOfdB, 0, 10, F_WRLCK));
  t.Release(kOfdA, std::nullopt);
  EXPECT_FALSE(t.Conflict(kFile, kOfdB, 20, 30, F_WRLCK));
  EXPECT_EQ(t.size(), 1u);
}

TEST(FileLocks, LocksOfOneTypeMergeWhenTheyOverlapOrTouch) {
  FileLocks t;
  ASSERT_TRUE(t.Set(kFile, kProc, 0, 10, F_WRLCK));
  ASSERT_TRUE(t.Set(kFile, kProc, 5, 15, F_WRLCK));
  ASSERT_TRUE(t.Set(kFile, kProc, 15, 20, F_WRLCK));
  EXPECT_EQ(t.size(), 1u);
  auto c = t.Conflict(kFile, kOfdA, 0, UINT64_MAX, F_RDLCK);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->start, 0u);
  EXPECT_EQ(c->end, 20u);
}

TEST(FileLocks, TheTableIsBounded) {
  FileLocks t;
  for (uint64_t i = 0; i < FileLocks::kMaxLocks; ++i)
    ASSERT_TRUE(t.Set(kFile, kOfdA, 2 * i, 2 * i + 1, F_RDLCK));
  EXPECT_EQ(t.Set(kFile, kOfdA, 1u << 30, (1u << 30) + 1, F_RDLCK).error().code(), ENOLCK);
  // Unlocking never needs room it does not have... unless it splits; dropping all of it does not.
  EXPECT_TRUE(t.Set(kFile, kOfdA, 0, UINT64_MAX, F_UNLCK));
  EXPECT_TRUE(t.empty());
}

}  // namespace
}  // namespace cat
