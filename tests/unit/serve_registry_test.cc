// Unit tests for catload serve's function registry (loader/serve/registry.h): names from file
// stems, an image replaced by an atomic rename picked up by Rescan (SIGHUP) and by the inotify
// watcher while the old image stays usable by whoever holds it, directories adding and dropping
// images, a bad replacement keeping the old image, duplicate names refused.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "format/state/layout_fingerprint.h"
#include "loader/serve/registry.h"
#include "tests/unit/state_fixture.h"
#include "tests/unit/test_support.h"

namespace cat::serve {
namespace {

using cat::testing::TempDir;

// A small valid func-image whose recorded function name is `function`, written atomically to
// `path` (through a temporary name and a rename, as catimg build does).
void WriteImage(const std::string& path, const std::string& function) {
  static std::vector<uint8_t> page(4096, 0x90);
  FuncImageSpec spec;
  spec.function = {function, "/bin/" + function, {function}, {}, "auto", "", {}};
  spec.provenance = {1, "catimg test"};
  spec.layout_fingerprint = state::StateLayoutFingerprint();
  spec.regs.rip = 0x401000;
  spec.fpu = DefaultFpuState();
  spec.segments = {{0x400000, 4096, PROT_READ | PROT_EXEC, 1, page.data()}};
  const state::ArenaImage arena = cat::testing::MinimalArena();
  spec.arena = arena.bytes;
  spec.relocations = arena.relocations;
  ASSERT_TRUE(WriteFuncImage(path, spec));
}

// Renames a fresh image over `path`.
void ReplaceImage(const std::string& path, const std::string& function) {
  const std::string tmp = path.substr(0, path.rfind('/') + 1) + ".replacement.tmp";
  WriteImage(tmp, function);
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

struct Log {
  std::vector<std::string> lines;
  std::mutex mu;
  Registry::Logger logger() {
    return [this](const std::string& l) {
      std::lock_guard lock(mu);
      lines.push_back(l);
    };
  }
  bool Mentions(const std::string& text) {
    std::lock_guard lock(mu);
    for (const auto& l : lines)
      if (l.find(text) != std::string::npos) return true;
    return false;
  }
};

TEST(ServeRegistry, ServesAFileUnderItsStem) {
  TempDir dir;
  WriteImage(dir / "hello.cfi", "hello-fn");
  Log log;
  auto r = Registry::Create({dir / "hello.cfi"}, log.logger());
  ASSERT_TRUE(r) << r.error().message();
  auto img = (*r)->Lookup("hello");
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(img->image.function().name, "hello-fn");
  EXPECT_EQ(img->generation, 1u);
  EXPECT_EQ((*r)->Lookup("hello-fn"), nullptr);
}

TEST(ServeRegistry, RescanPicksUpARenameAndTheOldImageStaysUsable) {
  TempDir dir;
  const std::string path = dir / "fn.cfi";
  WriteImage(path, "old");
  Log log;
  auto r = Registry::Create({path}, log.logger());
  ASSERT_TRUE(r) << r.error().message();
  std::shared_ptr<const ServedImage> in_flight = (*r)->Lookup("fn");
  ASSERT_NE(in_flight, nullptr);
  ReplaceImage(path, "new");
  (*r)->Rescan();
  auto now = (*r)->Lookup("fn");
  ASSERT_NE(now, nullptr);
  EXPECT_EQ(now->image.function().name, "new");
  EXPECT_EQ(now->generation, 2u);
  // The invocation that started before the rename still reads the old file through its fd.
  struct stat st;
  ASSERT_EQ(fstat(in_flight->image.fd(), &st), 0);
  EXPECT_EQ(st.st_ino, in_flight->ino);
  EXPECT_NE(st.st_ino, now->ino);
  EXPECT_EQ(in_flight->image.function().name, "old");
  EXPECT_TRUE(log.Mentions("fn: replaced by"));
}

TEST(ServeRegistry, TheWatcherPicksUpARenameWithoutARescan) {
  TempDir dir;
  const std::string path = dir / "fn.cfi";
  WriteImage(path, "old");
  Log log;
  auto r = Registry::Create({path}, log.logger());
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE((*r)->Watch());
  ReplaceImage(path, "new");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*r)->Lookup("fn")->generation != 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ((*r)->Lookup("fn")->image.function().name, "new");
}

TEST(ServeRegistry, ADirectoryAddsNewImagesAndDropsRemovedOnes) {
  TempDir dir;
  WriteImage(dir / "a.cfi", "a");
  WriteImage(dir / ".hidden.cfi", "hidden");  // a temporary name: not served
  Log log;
  auto r = Registry::Create({dir.path()}, log.logger());
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ((*r)->List().size(), 1u);
  WriteImage(dir / "b.cfi", "b");
  ASSERT_EQ(unlink((dir / "a.cfi").c_str()), 0);
  (*r)->Rescan();
  EXPECT_EQ((*r)->Lookup("a"), nullptr);
  ASSERT_NE((*r)->Lookup("b"), nullptr);
  EXPECT_EQ((*r)->List().size(), 1u);
}

TEST(ServeRegistry, ABadReplacementKeepsThePreviousImage) {
  TempDir dir;
  const std::string path = dir / "fn.cfi";
  WriteImage(path, "good");
  Log log;
  auto r = Registry::Create({path}, log.logger());
  ASSERT_TRUE(r) << r.error().message();
  cat::testing::WriteFile(dir / ".bad", "not an image");
  ASSERT_EQ(std::rename((dir / ".bad").c_str(), path.c_str()), 0);
  (*r)->Rescan();
  auto img = (*r)->Lookup("fn");
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(img->image.function().name, "good");
  EXPECT_TRUE(log.Mentions("still serving the previous image"));
}

TEST(ServeRegistry, TwoImagesWithOneNameAreRefused) {
  TempDir a, b;
  WriteImage(a / "fn.cfi", "x");
  WriteImage(b / "fn.cfi", "y");
  Log log;
  auto r = Registry::Create({a / "fn.cfi", b / "fn.cfi"}, log.logger());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("\"fn\""), std::string::npos) << r.error().message();
}

TEST(ServeRegistry, ANamedFileThatIsNoImageIsAnError) {
  TempDir dir;
  cat::testing::WriteFile(dir / "fn.cfi", "garbage");
  Log log;
  auto r = Registry::Create({dir / "fn.cfi"}, log.logger());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not a func-image"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace cat::serve
