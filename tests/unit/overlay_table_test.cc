// Tests of OverlayTable (loader/kernel/overlay_table.h): the overlay's open-addressing hash
// table of paths (insert, find, growth, backward-shift erase, whiteouts, children) and the
// reference counting of its inodes.
#include "loader/kernel/overlay_table.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

namespace cat {
namespace {

class OverlayTableTest : public ::testing::Test {
 protected:
  state::Overlay overlay_{};
  OverlayTable table_{overlay_};

  state::OverlayEntry* AddFile(const std::string& path) {
    state::Inode* inode = table_.NewInode(S_IFREG | 0644, 0, 0);
    state::OverlayEntry* e = table_.Upsert(path);
    table_.SetInode(e, inode);
    return e;
  }
};

TEST_F(OverlayTableTest, EmptyTableFindsNothing) {
  EXPECT_EQ(table_.Find("/x"), nullptr);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(OverlayTableTest, UpsertThenFind) {
  state::OverlayEntry* e = AddFile("/tmp/a");
  EXPECT_EQ(table_.Find("/tmp/a"), e);
  EXPECT_EQ(e->path.view(), "/tmp/a");
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(OverlayTableTest, FindOfOtherPathIsNull) {
  AddFile("/tmp/a");
  EXPECT_EQ(table_.Find("/tmp/b"), nullptr);
  EXPECT_EQ(table_.Find("/tmp"), nullptr);
}

TEST_F(OverlayTableTest, UpsertOfExistingPathReturnsSameEntry) {
  state::OverlayEntry* e = AddFile("/a");
  EXPECT_EQ(table_.Upsert("/a"), e);
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(OverlayTableTest, ManyEntriesForceGrowthAndStayFindable) {
  std::vector<state::OverlayEntry*> entries;
  for (int i = 0; i < 5000; ++i) entries.push_back(AddFile("/d/f" + std::to_string(i)));
  EXPECT_EQ(table_.size(), 5000u);
  EXPECT_GE(overlay_.slots.size, 10000u);  // load factor kept under 1/2
  for (int i = 0; i < 5000; ++i)
    EXPECT_EQ(table_.Find("/d/f" + std::to_string(i)), entries[i]) << i;
}

TEST_F(OverlayTableTest, EraseRemovesOnlyThatEntry) {
  AddFile("/a");
  AddFile("/b");
  table_.Erase("/a");
  EXPECT_EQ(table_.Find("/a"), nullptr);
  EXPECT_NE(table_.Find("/b"), nullptr);
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(OverlayTableTest, EraseOfMissingPathIsNoOp) {
  AddFile("/a");
  table_.Erase("/nope");
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_NE(table_.Find("/a"), nullptr);
}

TEST_F(OverlayTableTest, EraseEveryThirdKeepsTheRestFindable) {
  for (int i = 0; i < 1000; ++i) AddFile("/f" + std::to_string(i));
  for (int i = 0; i < 1000; i += 3) table_.Erase("/f" + std::to_string(i));
  EXPECT_EQ(table_.size(), 1000u - 334u);
  for (int i = 0; i < 1000; ++i) {
    state::OverlayEntry* e = table_.Find("/f" + std::to_string(i));
    if (i % 3 == 0) {
      EXPECT_EQ(e, nullptr) << i;
    } else {
      ASSERT_NE(e, nullptr) << i;
      EXPECT_EQ(e->path.view(), "/f" + std::to_string(i));
    }
  }
}

TEST_F(OverlayTableTest, EraseKeepsChainsIntactInASmallCrowdedTable) {
  // 31 entries in 64 slots: long probe chains that wrap around the end of the table.
  for (int i = 0; i < 31; ++i) AddFile("/c" + std::to_string(i));
  ASSERT_EQ(overlay_.slots.size, 64u);
  for (int i = 0; i < 31; i += 2) table_.Erase("/c" + std::to_string(i));
  for (int i = 1; i < 31; i += 2) EXPECT_NE(table_.Find("/c" + std::to_string(i)), nullptr) << i;
  for (int i = 0; i < 31; i += 2) EXPECT_EQ(table_.Find("/c" + std::to_string(i)), nullptr) << i;
}

TEST_F(OverlayTableTest, EraseAllThenReinsert) {
  for (int i = 0; i < 200; ++i) AddFile("/r" + std::to_string(i));
  for (int i = 0; i < 200; ++i) table_.Erase("/r" + std::to_string(i));
  EXPECT_EQ(table_.size(), 0u);
  for (const state::OverlayEntry* e : overlay_.slots) EXPECT_EQ(e, nullptr);
  AddFile("/r7");
  EXPECT_NE(table_.Find("/r7"), nullptr);
}

TEST_F(OverlayTableTest, WhiteoutIsAnEntryWithoutInode) {
  table_.Whiteout("/etc/passwd");
  state::OverlayEntry* e = table_.Find("/etc/passwd");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->inode, nullptr);
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(OverlayTableTest, WhiteoutReplacesAFileAndFreesItsInode) {
  state::OverlayEntry* e = AddFile("/x");
  state::Inode* inode = e->inode;
  OverlayTable::Ref(inode);  // hold it to observe the count
  ASSERT_EQ(inode->refs, 2u);
  table_.Whiteout("/x");
  EXPECT_EQ(table_.Find("/x")->inode, nullptr);
  EXPECT_EQ(inode->refs, 1u);
  table_.Unref(inode);
}

TEST_F(OverlayTableTest, ForEachChildVisitsDirectChildrenOnly) {
  AddFile("/d/a");
  AddFile("/d/b");
  AddFile("/d/sub/c");
  AddFile("/e/x");
  AddFile("/d");
  std::vector<std::string> names;
  table_.ForEachChild("/d",
                      [&](const state::OverlayEntry& e) { names.emplace_back(e.path.view()); });
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"/d/a", "/d/b"}));
}

TEST_F(OverlayTableTest, ForEachChildOfRoot) {
  AddFile("/top");
  AddFile("/d/deep");
  std::vector<std::string> names;
  table_.ForEachChild("/",
                      [&](const state::OverlayEntry& e) { names.emplace_back(e.path.view()); });
  EXPECT_EQ(names, (std::vector<std::string>{"/top"}));
}

TEST_F(OverlayTableTest, ForEachChildIncludesWhiteouts) {
  table_.Whiteout("/d/gone");
  int seen = 0;
  table_.ForEachChild("/d", [&](const state::OverlayEntry& e) {
    EXPECT_EQ(e.inode, nullptr);
    ++seen;
  });
  EXPECT_EQ(seen, 1);
}

TEST_F(OverlayTableTest, ParentOf) {
  EXPECT_EQ(OverlayTable::ParentOf("/a/b/c"), "/a/b");
  EXPECT_EQ(OverlayTable::ParentOf("/a"), "/");
  EXPECT_EQ(OverlayTable::ParentOf("/"), "");
}

TEST_F(OverlayTableTest, NewInodesGetDistinctIncreasingNumbers) {
  state::Inode* a = table_.NewInode(S_IFREG, 0, 0);
  state::Inode* b = table_.NewInode(S_IFREG, 0, 0);
  EXPECT_LT(a->ino, b->ino);
  EXPECT_EQ(a->refs, 0u);
  OverlayTable::Ref(a);
  table_.Unref(a);
  OverlayTable::Ref(b);
  table_.Unref(b);
}

TEST_F(OverlayTableTest, SetInodeTakesAReference) {
  state::Inode* inode = table_.NewInode(S_IFREG, 0, 0);
  table_.SetInode(table_.Upsert("/a"), inode);
  EXPECT_EQ(inode->refs, 1u);
}

TEST_F(OverlayTableTest, HardLinkSharesTheInodeAndSurvivesEraseOfOneName) {
  state::Inode* inode = table_.NewInode(S_IFREG, 0, 0);
  table_.SetInode(table_.Upsert("/a"), inode);
  table_.SetInode(table_.Upsert("/b"), inode);
  EXPECT_EQ(inode->refs, 2u);
  table_.Erase("/a");
  EXPECT_EQ(inode->refs, 1u);
  EXPECT_EQ(table_.Find("/b")->inode, inode);
}

TEST_F(OverlayTableTest, OpenFileReferenceKeepsInodeAliveAfterErase) {
  state::OverlayEntry* e = AddFile("/a");
  state::Inode* inode = e->inode;
  inode->data.PushBack('x');
  OverlayTable::Ref(inode);  // an open file
  table_.Erase("/a");
  ASSERT_EQ(inode->refs, 1u);
  EXPECT_EQ(inode->data.size, 1u);  // still readable
  table_.Unref(inode);
}

TEST_F(OverlayTableTest, SetInodeToSameInodeKeepsItAlive) {
  state::OverlayEntry* e = AddFile("/a");
  state::Inode* inode = e->inode;
  table_.SetInode(e, inode);
  EXPECT_EQ(inode->refs, 1u);
  EXPECT_EQ(e->inode, inode);
}

}  // namespace
}  // namespace cat
