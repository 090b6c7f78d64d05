// Tests of the state verifier (format/state/arena_verifier.h, and the state stream decoder that
// shares it): a real arena, built from a state the sandbox kernel made, verifies clean; each
// crafted change of one pointer, length, count, tag, index or relocation entry is refused with
// the message of exactly the check that catches it.
#include "format/state/state_verifier.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

#include "format/state/arena.h"
#include "format/state/arena_verifier.h"
#include "format/state/overlay_hash.h"
#include "format/state/state_stream.h"
#include "loader/boot/sandbox.h"
#include "loader/kernel/live_file.h"
#include "loader/kernel/overlay_table.h"
#include "loader/platform/ptrace/ptrace_platform.h"
#include "tests/unit/state_fixture.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

using state::kArenaPreferredBase;

std::string Hex(uint64_t v) {
  return state::HexOffset(v);
}

class StateVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    cat::testing::WriteFile(dir_ / "hosted.txt", "on the host");
    SandboxOptions o;
    o.rootfs = dir_.path();
    auto sb = Sandbox::Create(platform_, o, [](const std::string&) {});
    ASSERT_TRUE(sb) << sb.error().message();
    sandbox_ = std::move(*sb);
    SandboxKernel& k = sandbox_->kernel();
    // fd 3 and 4: one overlay file behind both (shared OpenFile, whose inode the overlay entry
    // shares too); fd 5: a host file; fds 6, 7: a pipe; fd 8: an epoll instance.
    auto node = k.vfs.Resolve("/", "/tmp/data.txt", true);
    ASSERT_TRUE(node);
    auto file = k.files.Open(*node, O_CREAT | O_RDWR, 0644);
    ASSERT_TRUE(file);
    ASSERT_TRUE(k.files.Write(**file, "hello arena", 11, std::nullopt));
    ASSERT_EQ(*k.files.Install(*file, 0, false), 3);
    Files::Ref(*file);
    ASSERT_EQ(*k.files.Install(*file, 0, false), 4);
    auto host = k.vfs.Resolve("/", "/hosted.txt", true);
    ASSERT_TRUE(host);
    auto hf = k.files.Open(*host, O_RDONLY, 0);
    ASSERT_TRUE(hf) << hf.error().message();
    ASSERT_EQ((*hf)->kind, state::FileKind::kHost);
    ASSERT_EQ(*k.files.Install(*hf, 0, false), 5);
    auto* pipe = state::New<state::Pipe>();
    pipe->readers = pipe->writers = 1;
    state::OpenFile* r = k.files.NewFile(state::FileKind::kPipe, O_RDONLY);
    state::OpenFile* w = k.files.NewFile(state::FileKind::kPipe, O_WRONLY);
    r->pipe = w->pipe = pipe;
    ASSERT_EQ(*k.files.Install(r, 0, false), 6);
    ASSERT_EQ(*k.files.Install(w, 0, false), 7);
    // fd 8: an epoll instance watching the pipe's read end, as capture writes it.
    state::LiveState watch{};
    watch.kind = state::LiveKind::kEpoll;
    watch.items.PushBack({6, EPOLLIN | EPOLLET, 99, 0, 0});
    auto ep = RestoreEpoll(watch, k.files, sandbox_->state());
    watch.items.Release();
    ASSERT_TRUE(ep) << ep.error().message();
    ASSERT_EQ(*k.files.Install(k.files.NewLiveFile(std::move(*ep), O_RDWR), 0, false), 8);
    ASSERT_TRUE(k.files.PersistLiveFiles());
    for (int i = 0; i < 20; ++i) {
      auto n = k.vfs.Resolve("/", "/tmp/f" + std::to_string(i), true);
      ASSERT_TRUE(n);
      ASSERT_TRUE(k.vfs.CreateOverlayFile(*n, 0600));
    }
    // Two VMAs, as the memory manager records them.
    state::MemoryMap& mm = sandbox_->state().memory;
    mm.vmas.PushBack(
        {0x400000, 0x402000, PROT_READ | PROT_EXEC, MAP_PRIVATE, state::VmaKind::kElf, 0, 0, 0});
    mm.vmas.PushBack({0x600000, 0x601000, PROT_READ | PROT_WRITE, MAP_PRIVATE,
                      state::VmaKind::kAnonymous, 0, 0, 0});
    mm.mapped_bytes = 0x3000;
    arena_ = state::BuildArena(sandbox_->state());
  }

  // The block a stored pointer names, inside the arena copy under test.
  template <class T>
  T* At(const void* stored_pointer_field) {
    uint64_t v;
    std::memcpy(&v, stored_pointer_field, sizeof(v));
    return reinterpret_cast<T*>(arena_.bytes.data() + (v - kArenaPreferredBase));
  }
  uint64_t OffsetOf(const void* p) const {
    return static_cast<uint64_t>(static_cast<const uint8_t*>(p) - arena_.bytes.data());
  }
  state::SandboxState& Root() {
    return *reinterpret_cast<state::SandboxState*>(arena_.bytes.data());
  }
  state::FdEntry* Fds() { return At<state::FdEntry>(&Root().fds.entries.data); }
  state::OpenFile* File(int fd) { return At<state::OpenFile>(&Fds()[fd].file); }
  // The overlay slot holding `path` (in the arena copy).
  uint32_t SlotOf(const std::string& path) {
    auto** slots = At<state::OverlayEntry*>(&Root().overlay.slots.data);
    for (uint32_t i = 0; i < Root().overlay.slots.size; ++i) {
      if (!slots[i]) continue;
      auto* e = At<state::OverlayEntry>(&slots[i]);
      if (std::string(At<char>(&e->path.data), e->path.size) == path) return i;
    }
    ADD_FAILURE() << path << " not in the overlay";
    return 0;
  }
  state::OverlayEntry* Entry(uint32_t slot) {
    return At<state::OverlayEntry>(&At<state::OverlayEntry*>(&Root().overlay.slots.data)[slot]);
  }
  void SetPointer(void* field, uint64_t value) { std::memcpy(field, &value, sizeof(value)); }

  // The verifier's message for the arena as it stands ("" if accepted).
  std::string Verdict() {
    auto st = state::VerifyArena(arena_.bytes.data(), arena_.bytes.size(),
                                 arena_.relocations.data(), arena_.relocations.size());
    return st ? "" : st.error().message();
  }

  cat::testing::TempDir dir_;
  ptrace_platform::PtracePlatform platform_;
  std::unique_ptr<Sandbox> sandbox_;
  state::ArenaImage arena_;
};

TEST_F(StateVerifierTest, BuiltArenaIsAccepted) {
  EXPECT_EQ(Verdict(), "");
}

// A writable shared host mapping is never carried (capture refuses it): a state holding one is
// forged. A shared overlay mapping must name its inode.
TEST_F(StateVerifierTest, SharedMappingFieldsAreChecked) {
  state::Vma* vmas = At<state::Vma>(&Root().memory.vmas.data);
  vmas[1].kind = state::VmaKind::kFile;
  vmas[1].shared_may_write = 1;
  EXPECT_NE(Verdict().find("only a shared overlay mapping carries"), std::string::npos)
      << Verdict();
  vmas[1].kind = state::VmaKind::kSharedFile;
  vmas[1].ino = 0;
  EXPECT_NE(Verdict().find("names no inode"), std::string::npos) << Verdict();
  vmas[1].ino = 5;
  vmas[1].shared_may_write = 2;
  EXPECT_NE(Verdict().find("shared_may_write"), std::string::npos) << Verdict();
}

TEST_F(StateVerifierTest, MinimalArenaIsAccepted) {
  state::ArenaImage a = cat::testing::MinimalArena();
  auto st = state::VerifyArena(a.bytes.data(), a.bytes.size(), a.relocations.data(),
                               a.relocations.size());
  EXPECT_TRUE(st) << st.error().message();
}

TEST_F(StateVerifierTest, PointerOutsideTheArenaIsRefused) {
  const uint64_t bad = kArenaPreferredBase + arena_.bytes.size() + 64;
  SetPointer(&Fds()[3].file, bad);
  EXPECT_EQ(Verdict(), "state arena: fds.entries[3].file -> OpenFile: pointer " + Hex(bad) +
                           " is outside the arena (stored pointers are 0x7e0000000000 + an "
                           "offset below " +
                           Hex(arena_.bytes.size()) + ")");
}

TEST_F(StateVerifierTest, PointerIntoTheMiddleOfASharedBlockIsRefused) {
  // The entry's inode was first reached through fd 3's open file: a second reference must name
  // its start.
  const uint32_t slot = SlotOf("/tmp/data.txt");
  uint64_t v;
  std::memcpy(&v, &Entry(slot)->inode, sizeof(v));
  SetPointer(&Entry(slot)->inode, v + 16);
  EXPECT_EQ(Verdict(), "state arena: overlay.slots[" + std::to_string(slot) +
                           "].inode -> Inode: offset " + Hex(v + 16 - kArenaPreferredBase) +
                           " is not the start of an earlier Inode block");
}

TEST_F(StateVerifierTest, PointerToAnEarlierUnsharedBlockIsRefused) {
  // fd 5's host path pointed at fd 3's guest path: two strings in one buffer.
  uint64_t v;
  std::memcpy(&v, &File(3)->guest_path.data, sizeof(v));
  File(5)->guest_path.size = File(3)->guest_path.size;
  SetPointer(&File(5)->guest_path.data, v);
  EXPECT_EQ(Verdict(), "state arena: fds.entries[5].file.guest_path -> char[]: offset " +
                           Hex(v - kArenaPreferredBase) +
                           " lies in an earlier block (only OpenFile, Inode and Pipe blocks are "
                           "shared)");
}

TEST_F(StateVerifierTest, HugeStringLengthIsRefused) {
  File(3)->guest_path.size = 0x7f000009;
  EXPECT_EQ(Verdict(),
            "state arena: fds.entries[3].file.guest_path: length 2130706441 exceeds the limit of "
            "4095");
}

TEST_F(StateVerifierTest, StringWithoutItsTerminatorIsRefused) {
  // One more than the real length: the byte at the new end is the next block's padding or
  // data, and the block no longer ends where the next one starts.
  state::OpenFile* f = File(3);
  char* chars = At<char>(&f->guest_path.data);
  chars[f->guest_path.size] = 'x';
  EXPECT_EQ(Verdict(), "state arena: fds.entries[3].file.guest_path -> char[] at offset " +
                           Hex(OffsetOf(chars)) + ": string of length 13 is not NUL-terminated");
}

TEST_F(StateVerifierTest, ArraySizeAboveCapacityIsRefused) {
  Root().overlay.slots.size = Root().overlay.slots.capacity + 1;
  EXPECT_EQ(Verdict(), "state arena: overlay.slots: size " +
                           std::to_string(Root().overlay.slots.size) + " exceeds capacity " +
                           std::to_string(Root().overlay.slots.capacity));
}

TEST_F(StateVerifierTest, ArrayCapacityAboveSizeIsRefused) {
  Root().fds.entries.capacity += 4;
  EXPECT_EQ(Verdict(), "state arena: fds.entries: capacity " +
                           std::to_string(Root().fds.entries.capacity) + " differs from size " +
                           std::to_string(Root().fds.entries.size) +
                           " (a stored array has no spare room)");
}

TEST_F(StateVerifierTest, MissingRelocationEntryIsRefused) {
  // The first entry past the root's own slots: the fd table's first slot.
  const uint64_t slot = OffsetOf(&Fds()[0].file);
  auto it = std::find(arena_.relocations.begin(), arena_.relocations.end(), slot);
  ASSERT_NE(it, arena_.relocations.end());
  arena_.relocations.erase(it);
  EXPECT_EQ(Verdict(), "state arena: fds.entries[0].file -> OpenFile: the pointer slot at offset " +
                           Hex(slot) + " is missing from the relocation table");
}

TEST_F(StateVerifierTest, ExtraRelocationEntryOnDataIsRefused) {
  // Offset 0x10 holds process.umask and uid: data, not a pointer.
  arena_.relocations.insert(arena_.relocations.begin(), 0x10);
  EXPECT_EQ(Verdict(),
            "state arena: relocation entry 0 (offset 0x10) names no pointer slot (the "
            "arena has " +
                std::to_string(arena_.relocations.size() - 1) + " pointer slots, the table " +
                std::to_string(arena_.relocations.size()) + " entries)");
}

TEST_F(StateVerifierTest, ExtraRelocationEntryOnANullSlotIsRefused) {
  // fd 5 is a host file: its inode slot is null.
  const uint64_t slot = OffsetOf(&File(5)->inode);
  auto at = std::lower_bound(arena_.relocations.begin(), arena_.relocations.end(), slot);
  const uint64_t index = static_cast<uint64_t>(at - arena_.relocations.begin());
  arena_.relocations.insert(at, slot);
  EXPECT_EQ(Verdict(), "state arena: relocation entry " + std::to_string(index) + " (offset " +
                           Hex(slot) + ") names no pointer slot (the arena has " +
                           std::to_string(arena_.relocations.size() - 1) +
                           " pointer slots, the table " +
                           std::to_string(arena_.relocations.size()) + " entries)");
}

TEST_F(StateVerifierTest, DuplicatedRelocationEntryIsRefused) {
  arena_.relocations.insert(arena_.relocations.begin() + 3, arena_.relocations[3]);
  EXPECT_EQ(Verdict(), "state arena: relocation entry 4 (offset " + Hex(arena_.relocations[3]) +
                           ") does not follow entry 3 (offset " + Hex(arena_.relocations[3]) +
                           "): the table must be strictly ascending");
}

TEST_F(StateVerifierTest, MisalignedRelocationEntryIsRefused) {
  arena_.relocations[2] += 4;
  EXPECT_EQ(Verdict(), "state arena: relocation entry 2 (offset " + Hex(arena_.relocations[2]) +
                           ") is not 8-byte aligned");
}

TEST_F(StateVerifierTest, OpenFileRefsMismatchIsRefused) {
  File(3)->refs = 7;
  EXPECT_EQ(Verdict(), "state arena: fds.entries[3].file -> OpenFile at offset " +
                           Hex(OffsetOf(File(3))) + ": refs 7 but 2 fd entries refer to it");
}

TEST_F(StateVerifierTest, InodeRefsMismatchIsRefused) {
  state::Inode* inode = At<state::Inode>(&File(3)->inode);
  inode->refs = 1;  // an entry and an open file hold it
  EXPECT_EQ(Verdict(), "state arena: fds.entries[3].file.inode -> Inode at offset " +
                           Hex(OffsetOf(inode)) +
                           ": refs 1 but 2 overlay entries and open files refer to it");
}

TEST_F(StateVerifierTest, PipeWritersMismatchIsRefused) {
  state::Pipe* pipe = At<state::Pipe>(&File(6)->pipe);
  pipe->writers = 3;
  EXPECT_EQ(Verdict(), "state arena: fds.entries[6].file.pipe -> Pipe at offset " +
                           Hex(OffsetOf(pipe)) +
                           ": readers 1, writers 3 but 1 readable and 1 writable open files "
                           "refer to it");
}

TEST_F(StateVerifierTest, PipeHeadBeyondItsBufferIsRefused) {
  state::Pipe* pipe = At<state::Pipe>(&File(6)->pipe);
  pipe->head = 5;
  EXPECT_EQ(Verdict(), "state arena: fds.entries[6].file.pipe -> Pipe at offset " +
                           Hex(OffsetOf(pipe)) + ": head 5 beyond its 0 buffered bytes");
}

TEST_F(StateVerifierTest, EpollItemWithUnknownEventsIsRefused) {
  state::EpollItem* item = At<state::EpollItem>(&File(8)->live.items.data);
  item->events = 1u << 20;
  EXPECT_EQ(Verdict(), "state arena: fds.entries[8].file.live.items[0] -> EpollItem[] at offset " +
                           Hex(OffsetOf(item)) + ": epoll item events 0x100000");
}

TEST_F(StateVerifierTest, LiveFileWithoutAPersistedObjectIsRefused) {
  File(8)->live.kind = state::LiveKind::kNone;
  EXPECT_NE(Verdict().find("a live-only file (socket) cannot be restored"), std::string::npos)
      << Verdict();
}

TEST_F(StateVerifierTest, BadFileKindIsRefused) {
  File(5)->kind = static_cast<state::FileKind>(9);
  EXPECT_EQ(Verdict(), "state arena: fds.entries[5].file -> OpenFile at offset " +
                           Hex(OffsetOf(File(5))) + ": kind 9 is not a FileKind");
}

TEST_F(StateVerifierTest, MountIndexOutOfRangeIsRefused) {
  File(5)->mount_index = 4;
  EXPECT_EQ(Verdict(), "state arena: fds.entries[5].file -> OpenFile at offset " +
                           Hex(OffsetOf(File(5))) + ": host file: mount_index 4 but 1 mounts");
}

TEST_F(StateVerifierTest, StdioChannelOutOfRangeIsRefused) {
  File(1)->channel = static_cast<state::StdioChannel>(9);
  EXPECT_EQ(Verdict(), "state arena: fds.entries[1].file -> OpenFile at offset " +
                           Hex(OffsetOf(File(1))) + ": stdio file: channel 9 is not 0, 1 or 2");
}

TEST_F(StateVerifierTest, MountAccessOutOfRangeIsRefused) {
  At<state::Mount>(&Root().mounts.data)[0].access = static_cast<state::MountAccess>(7);
  EXPECT_EQ(Verdict(), "state arena: mounts[0] -> Mount[] at offset " +
                           Hex(OffsetOf(At<state::Mount>(&Root().mounts.data))) +
                           ": access 7 is not a MountAccess");
}

TEST_F(StateVerifierTest, OverlappingVmasAreRefused) {
  auto* vmas = At<state::Vma>(&Root().memory.vmas.data);
  vmas[1].start = 0x401000;
  EXPECT_EQ(Verdict(),
            "state arena: root -> SandboxState at offset 0x0: memory.vmas[1] "
            "[0x401000, 0x601000) overlaps or precedes memory.vmas[0] (VMAs are "
            "sorted)");
}

TEST_F(StateVerifierTest, VmaOverTheTrampolineIsRefused) {
  auto* vmas = At<state::Vma>(&Root().memory.vmas.data);
  vmas[0].start = 0x100000;
  Root().memory.mapped_bytes += 0x300000;
  EXPECT_EQ(Verdict(),
            "state arena: root -> SandboxState at offset 0x0: memory.vmas[0] "
            "[0x100000, 0x402000) overlaps the trampoline pages");
}

TEST_F(StateVerifierTest, OverlayTableWithoutAnEmptySlotIsRefused) {
  // A hand-made table: 4 entries in 4 slots, where a lookup of an absent path never ends.
  state::SandboxState* s = cat::testing::MinimalState();
  s->overlay.slots.Resize(4);
  for (uint32_t i = 0; i < 4; ++i) {
    auto* e = state::New<state::OverlayEntry>();
    e->path.Assign("/w" + std::to_string(i));
    s->overlay.slots[i] = e;
  }
  s->overlay.count = 4;
  state::ArenaImage a = state::BuildArena(*s);
  auto st = state::VerifyArena(a.bytes.data(), a.bytes.size(), a.relocations.data(),
                               a.relocations.size());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(),
            "state arena: overlay.slots: 4 entries in 4 slots: more than half full (a lookup of "
            "an absent path might never end)");
}

TEST_F(StateVerifierTest, OverlayCountMismatchIsRefused) {
  Root().overlay.count += 1;
  EXPECT_EQ(Verdict(), "state arena: overlay.count: " + std::to_string(Root().overlay.count) +
                           " but " + std::to_string(Root().overlay.count - 1) + " slots are used");
}

TEST_F(StateVerifierTest, OverlayEntryAwayFromItsHashSlotIsRefused) {
  // A hand-made table: the one entry sits half the table away from its hash slot.
  state::SandboxState* s = cat::testing::MinimalState();
  s->overlay.slots.Resize(64);
  auto* e = state::New<state::OverlayEntry>();
  e->path.Assign("/x");
  const uint32_t home = static_cast<uint32_t>(state::OverlayPathHash("/x")) & 63;
  const uint32_t away = (home + 32) & 63;
  s->overlay.slots[away] = e;
  s->overlay.count = 1;
  state::ArenaImage a = state::BuildArena(*s);
  auto st = state::VerifyArena(a.bytes.data(), a.bytes.size(), a.relocations.data(),
                               a.relocations.size());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(), "state arena: overlay.slots[" + std::to_string(away) +
                                      "]: entry \"/x\" is not reachable from its hash slot " +
                                      std::to_string(home) + " (an empty slot lies between)");
}

// A hand-made table of 64 slots whose cluster wraps around: two paths hashing to slot 63, one
// there and one in slot 0, as a lookup finds them. `home0` moves the second path's home.
state::ArenaImage WrappedOverlay(bool second_reachable) {
  state::SandboxState* s = cat::testing::MinimalState();
  s->overlay.slots.Resize(64);
  std::vector<std::string> at63;
  std::string at62;
  for (int k = 0; at63.size() < 2 || at62.empty(); ++k) {
    const std::string p = "/p" + std::to_string(k);
    const uint32_t home = static_cast<uint32_t>(state::OverlayPathHash(p)) & 63;
    if (home == 63 && at63.size() < 2) at63.push_back(p);
    if (home == 62 && at62.empty()) at62 = p;
  }
  const std::string paths[2] = {at63[0], second_reachable ? at63[1] : at62};
  for (uint32_t i = 0; i < 2; ++i) {
    auto* e = state::New<state::OverlayEntry>();
    e->path.Assign(paths[i]);
    s->overlay.slots[i == 0 ? 63 : 0] = e;
  }
  s->overlay.count = 2;
  return state::BuildArena(*s);
}

TEST_F(StateVerifierTest, OverlayClusterWrappingAroundTheTableIsAccepted) {
  state::ArenaImage a = WrappedOverlay(true);
  auto st = state::VerifyArena(a.bytes.data(), a.bytes.size(), a.relocations.data(),
                               a.relocations.size());
  EXPECT_TRUE(st) << st.error().message();
}

TEST_F(StateVerifierTest, OverlayEntryOutOfItsWrappedClusterIsRefused) {
  // Slot 0's path hashes to 62, which is empty: a lookup from 62 stops there.
  state::ArenaImage a = WrappedOverlay(false);
  auto st = state::VerifyArena(a.bytes.data(), a.bytes.size(), a.relocations.data(),
                               a.relocations.size());
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().message().starts_with("state arena: overlay.slots[0]: entry \"/p"))
      << st.error().message();
  EXPECT_TRUE(st.error().message().ends_with(
      "\" is not reachable from its hash slot 62 (an empty slot lies between)"))
      << st.error().message();
}

TEST_F(StateVerifierTest, NonCanonicalCwdIsRefused) {
  char* cwd = At<char>(&Root().process.cwd.data);
  ASSERT_GE(Root().process.cwd.size, 1u);
  cwd[0] = 'x';  // "/" -> "x"
  EXPECT_EQ(Verdict(), "state arena: process.cwd: \"x\" is not canonical");
}

TEST_F(StateVerifierTest, TrailingBytesAreRefused) {
  arena_.bytes.resize(arena_.bytes.size() + 32, 0);
  EXPECT_EQ(Verdict(), "state arena: 32 bytes after the last block (offset " +
                           Hex(arena_.bytes.size() - 32) + ") belong to no object");
}

// ---- the state stream ----

class StateStreamVerifierTest : public StateVerifierTest {
 protected:
  void SetUp() override {
    StateVerifierTest::SetUp();
    stream_ = state::SerializeState(sandbox_->state());
    // Header: magic 8, version 4, fingerprint 8, block count 4; then the blocks.
    std::memcpy(&blocks_, stream_.data() + 20, 4);
    uint64_t at = 24;
    for (uint32_t i = 0; i < blocks_; ++i) {
      uint64_t bytes;
      std::memcpy(&bytes, stream_.data() + at, 8);
      at += 8 + bytes;
    }
    fixups_at_ = at + 4;  // the first fix-up: u32 parent, u64 offset, u32 target
  }
  std::string Verdict() {
    auto s = state::DeserializeState(stream_.data(), stream_.size());
    return s ? "" : s.error().message();
  }
  uint64_t FixupAt(uint32_t i) const { return fixups_at_ + uint64_t{i} * 16; }

  std::vector<uint8_t> stream_;
  uint32_t blocks_ = 0;
  uint64_t fixups_at_ = 0;
};

TEST_F(StateStreamVerifierTest, SerializedStateIsAccepted) {
  EXPECT_EQ(Verdict(), "");
}

TEST_F(StateStreamVerifierTest, BadBlockIndexInAFixupIsRefused) {
  const uint32_t bad = blocks_ + 5;
  std::memcpy(stream_.data() + FixupAt(0) + 12, &bad, 4);
  EXPECT_EQ(Verdict(), "state stream: fix-up 0 names a missing block");
}

TEST_F(StateStreamVerifierTest, BadParentBlockInAFixupIsRefused) {
  const uint32_t bad = blocks_;
  std::memcpy(stream_.data() + FixupAt(1), &bad, 4);
  EXPECT_EQ(Verdict(), "state stream: fix-up 1 names a missing block");
}

TEST_F(StateStreamVerifierTest, FixupOutsideItsBlockIsRefused) {
  const uint64_t bad = 1ull << 40;
  std::memcpy(stream_.data() + FixupAt(0) + 4, &bad, 8);
  EXPECT_EQ(Verdict(), "state stream: fix-up 0 is outside its block or not 8-byte aligned");
}

TEST_F(StateStreamVerifierTest, PointerSlotNoFixupSetsIsRefused) {
  // Fix-up 0 sets process.cwd's buffer; pointed at a word the kernel does not check
  // (SIGHUP's sa_restorer, the guest's) instead, the slot keeps the capturing process's address.
  const uint64_t to = offsetof(state::SandboxState, process) +
                      offsetof(state::Process, signal_actions) +
                      offsetof(state::SignalAction, restorer);
  std::memcpy(stream_.data() + FixupAt(0) + 4, &to, 8);
  EXPECT_EQ(Verdict(),
            "state stream: process.cwd -> char[]: no fix-up sets this pointer slot "
            "(it holds a stale address)");
}

TEST_F(StateStreamVerifierTest, BlockCountBeyondTheStreamIsRefused) {
  const uint32_t huge = 0x7ffffff0;
  std::memcpy(stream_.data() + 20, &huge, 4);
  EXPECT_EQ(Verdict(),
            "state stream: 2147483632 blocks in " + std::to_string(stream_.size() - 24) + " bytes");
}

TEST_F(StateStreamVerifierTest, OpenFileRefsMismatchIsRefused) {
  sandbox_->state().fds.entries[3].file->refs = 7;
  stream_ = state::SerializeState(sandbox_->state());
  sandbox_->state().fds.entries[3].file->refs = 2;
  const std::string v = Verdict();
  EXPECT_TRUE(v.starts_with("state stream: fds.entries[3].file -> OpenFile at block ")) << v;
  EXPECT_TRUE(v.ends_with(": refs 7 but 2 fd entries refer to it")) << v;
}

// ---- every one-byte change: refused, or a state that is still sound ----

// What an accepted state must survive: relocation, ResetTransientState, the graph walk, and
// being laid out again into an arena that verifies.
void ExpectSound(state::SandboxState& s, const std::string& what) {
  state::ResetTransientState(s);
  state::ArenaImage again = state::BuildArena(s);
  auto st = state::VerifyArena(again.bytes.data(), again.bytes.size(), again.relocations.data(),
                               again.relocations.size());
  EXPECT_TRUE(st) << what << ": accepted, but its re-built arena fails: " << st.error().message();
}

TEST_F(StateVerifierTest, EveryFlippedArenaByteIsRefusedOrSound) {
  const state::ArenaImage good = arena_;
  uint64_t refused = 0;
  for (uint64_t at = 0; at < good.bytes.size(); at += 3) {
    arena_ = good;
    arena_.bytes[at] ^= 0xff;
    if (!Verdict().empty()) {
      ++refused;
      continue;
    }
    // Accepted: relocate a copy at an arbitrary address, as cold boot may.
    auto* copy = static_cast<uint8_t*>(mmap(nullptr, arena_.bytes.size(), PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(copy, MAP_FAILED);
    std::memcpy(copy, arena_.bytes.data(), arena_.bytes.size());
    auto s = state::RelocateArena(copy, arena_.bytes.size(), arena_.relocations.data(),
                                  arena_.relocations.size());
    ASSERT_TRUE(s) << "byte " << at << ": verified but not relocatable: " << s.error().message();
    ExpectSound(**s, "arena byte " + std::to_string(at));
    state::UnregisterArena(copy);
    munmap(copy, arena_.bytes.size());
  }
  EXPECT_GT(refused, 0u);
}

TEST_F(StateStreamVerifierTest, EveryFlippedStreamByteIsRefusedOrSound) {
  const std::vector<uint8_t> good = stream_;
  uint64_t refused = 0;
  for (uint64_t at = 0; at < good.size(); at += 3) {
    stream_ = good;
    stream_[at] ^= 0xff;
    auto s = state::DeserializeState(stream_.data(), stream_.size());
    if (!s) {
      ++refused;
      continue;
    }
    ExpectSound(**s, "stream byte " + std::to_string(at));
  }
  EXPECT_GT(refused, 0u);
}

TEST_F(StateVerifierTest, PendingSignalCountAboveTheQueueIsRefused) {
  Root().signals.count = state::kMaxPendingSignals + 1;
  EXPECT_NE(Verdict().find("signals.count"), std::string::npos) << Verdict();
}

TEST_F(StateVerifierTest, PendingSignalWithABadNumberIsRefused) {
  Root().signals.count = 1;
  Root().signals.queue[0].signo = 65;  // would index signal_actions[64]
  EXPECT_NE(Verdict().find("signals.queue[0].signo"), std::string::npos) << Verdict();
}

TEST_F(StateVerifierTest, TimerWithANegativeExpiryIsRefused) {
  Root().signals.timers[3].in_use = 1;
  Root().signals.timers[3].signo = SIGALRM;
  Root().signals.timers[3].timer.expiry_ns = -5;
  EXPECT_NE(Verdict().find("signals.timers[3]"), std::string::npos) << Verdict();
}

TEST_F(StateVerifierTest, ArmedTimersAndPendingSignalsAreAccepted) {
  Root().signals.count = 2;
  Root().signals.queue[0] = {SIGUSR1, 0, 1, 0, 0, 0, 0, 0, 0};
  // Pending for the leader thread alone.
  Root().signals.queue[1] = {SIGUSR2, -6, 1, 0, 0, 0, 0, Root().process.pid, 0};
  Root().signals.itimer_real = {1000000000, 10000000};
  EXPECT_EQ(Verdict(), "");
}

TEST_F(StateVerifierTest, ASignalPendingForNoThreadOfTheProcessIsRefused) {
  Root().signals.count = 1;
  // Never taken: it would hold its slot for good.
  Root().signals.queue[0] = {SIGUSR1, -6, 1, 0, 0, 0, 0, 77, 0};
  EXPECT_NE(Verdict().find("pending for tid 77"), std::string::npos) << Verdict();
  Root().signals.queue[0].tid = -3;
  EXPECT_NE(Verdict().find("signals.queue[0].tid -3"), std::string::npos) << Verdict();
}

}  // namespace
}  // namespace cat
