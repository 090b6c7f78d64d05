// Tests of separated state recovery (format/state/arena.h) and of the conventional state
// stream (format/state/state_stream.h): a live sandbox kernel state with overlay files, open
// files, pipes and mounts survives both round trips, and damaged input is refused cleanly.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

#include "format/state/arena.h"
#include "format/state/layout_fingerprint.h"
#include "format/state/state_stream.h"
#include "loader/boot/sandbox.h"
#include "loader/kernel/file_data.h"
#include "loader/kernel/overlay_table.h"
#include "loader/platform/ptrace/ptrace_platform.h"

namespace cat {
namespace {

class StateArenaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sb = Sandbox::Create(platform_, SandboxOptions{}, [](const std::string&) {});
    ASSERT_TRUE(sb) << sb.error().message();
    sandbox_ = std::move(*sb);
    SandboxKernel& k = sandbox_->kernel();
    // An overlay file with contents, opened twice through dup (one shared OpenFile).
    auto node = k.vfs.Resolve("/", "/tmp/data.txt", true);
    ASSERT_TRUE(node);
    auto file = k.files.Open(*node, O_CREAT | O_RDWR, 0644);
    ASSERT_TRUE(file);
    ASSERT_TRUE(k.files.Write(**file, "hello arena", 11, std::nullopt));
    auto fd = k.files.Install(*file, 0, false);
    ASSERT_TRUE(fd);
    Files::Ref(*file);
    ASSERT_TRUE(k.files.Install(*file, 0, false));
    for (int i = 0; i < 50; ++i) {
      auto n = k.vfs.Resolve("/", "/tmp/f" + std::to_string(i), true);
      ASSERT_TRUE(n);
      ASSERT_TRUE(k.vfs.CreateOverlayFile(*n, 0600));
    }
    sandbox_->state().process.cwd.Assign("/tmp");
  }

  static void ExpectSameState(state::SandboxState& s) {
    EXPECT_EQ(s.process.cwd.view(), "/tmp");
    OverlayTable overlay(s.overlay);
    const state::OverlayEntry* e = overlay.Find("/tmp/data.txt");
    ASSERT_NE(e, nullptr);
    ASSERT_NE(e->inode, nullptr);
    std::string bytes(e->inode->size, '\0');
    ReadFileData(*e->inode, 0, bytes.data(), bytes.size());
    EXPECT_EQ(bytes, "hello arena");
    for (int i = 0; i < 50; ++i) EXPECT_NE(overlay.Find("/tmp/f" + std::to_string(i)), nullptr);
    // fds 3 and 4 share one open file, which shares the entry's inode.
    ASSERT_GE(s.fds.entries.size, 5u);
    EXPECT_EQ(s.fds.entries[3].file, s.fds.entries[4].file);
    EXPECT_EQ(s.fds.entries[3].file->inode, e->inode);
    EXPECT_EQ(s.fds.entries[1].file->kind, state::FileKind::kStdio);
    EXPECT_EQ(s.mounts[0].guest_path.view(), "/");
  }

  ptrace_platform::PtracePlatform platform_;
  std::unique_ptr<Sandbox> sandbox_;
};

// The arena mapped at an arbitrary page-aligned address, as cold boot maps it.
struct Mapped {
  uint8_t* base;
  size_t size;
  explicit Mapped(const std::vector<uint8_t>& bytes) : size(bytes.size()) {
    base = static_cast<uint8_t*>(
        mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    std::memcpy(base, bytes.data(), size);
  }
  ~Mapped() {
    state::UnregisterArena(base);
    munmap(base, size);
  }
};

TEST_F(StateArenaTest, RelocatedArenaIsTheSameState) {
  state::ArenaImage arena = state::BuildArena(sandbox_->state());
  Mapped m(arena.bytes);
  auto s = state::RelocateArena(m.base, m.size, arena.relocations.data(), arena.relocations.size());
  ASSERT_TRUE(s) << s.error().message();
  ExpectSameState(**s);
}

TEST_F(StateArenaTest, ArenaIsDeterministic) {
  EXPECT_EQ(state::BuildArena(sandbox_->state()).bytes, state::BuildArena(sandbox_->state()).bytes);
}

TEST_F(StateArenaTest, RelocationOutsideTheArenaIsRefused) {
  state::ArenaImage arena = state::BuildArena(sandbox_->state());
  arena.relocations.push_back(arena.bytes.size());  // one past the end
  const std::string index = std::to_string(arena.relocations.size() - 1);
  Mapped m(arena.bytes);
  auto s = state::RelocateArena(m.base, m.size, arena.relocations.data(), arena.relocations.size());
  ASSERT_FALSE(s);
  // The bounds check on the entry itself, not the check on the value it would read (whose
  // message, "holds an offset outside the arena", also contains "outside the arena").
  EXPECT_NE(s.error().message().find("relocation " + index + " points outside the arena"),
            std::string::npos)
      << s.error().message();
}

TEST_F(StateArenaTest, RelocationHoldingAnOffsetOutsideTheArenaIsRefused) {
  state::ArenaImage arena = state::BuildArena(sandbox_->state());
  ASSERT_FALSE(arena.relocations.empty());
  const uint64_t bad = arena.bytes.size() + 4096;
  std::memcpy(arena.bytes.data() + arena.relocations[0], &bad, sizeof(bad));
  Mapped m(arena.bytes);
  auto s = state::RelocateArena(m.base, m.size, arena.relocations.data(), arena.relocations.size());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("relocation 0 holds an offset outside the arena"),
            std::string::npos)
      << s.error().message();
}

TEST_F(StateArenaTest, RelocatedObjectsCanGrowOnTheHeap) {
  state::ArenaImage arena = state::BuildArena(sandbox_->state());
  Mapped m(arena.bytes);
  auto s = state::RelocateArena(m.base, m.size, arena.relocations.data(), arena.relocations.size());
  ASSERT_TRUE(s);
  // Growing an arena array moves it to the heap; the arena copy is never freed.
  OverlayTable overlay((*s)->overlay);
  for (int i = 0; i < 200; ++i) overlay.Upsert("/tmp/new" + std::to_string(i));
  EXPECT_NE(overlay.Find("/tmp/new199"), nullptr);
  EXPECT_NE(overlay.Find("/tmp/data.txt"), nullptr);
}

TEST_F(StateArenaTest, StreamRoundTripIsTheSameState) {
  std::vector<uint8_t> stream = state::SerializeState(sandbox_->state());
  auto s = state::DeserializeState(stream.data(), stream.size());
  ASSERT_TRUE(s) << s.error().message();
  ExpectSameState(**s);
}

TEST_F(StateArenaTest, TruncatedStreamIsRefusedAtEveryLength) {
  std::vector<uint8_t> stream = state::SerializeState(sandbox_->state());
  for (size_t len = 0; len < stream.size(); len += 1 + stream.size() / 200) {
    auto s = state::DeserializeState(stream.data(), len);
    EXPECT_FALSE(s) << "accepted a stream cut at " << len;
  }
}

TEST_F(StateArenaTest, StreamFromAnotherLayoutIsRefused) {
  std::vector<uint8_t> stream = state::SerializeState(sandbox_->state());
  stream[12] ^= 0xff;  // inside the layout fingerprint (after magic and version)
  auto s = state::DeserializeState(stream.data(), stream.size());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("another state layout"), std::string::npos);
}

TEST(LayoutFingerprint, IsStable) {
  EXPECT_EQ(state::StateLayoutFingerprint(), state::StateLayoutFingerprint());
  EXPECT_NE(state::StateLayoutFingerprint(), 0u);
}

}  // namespace
}  // namespace cat
