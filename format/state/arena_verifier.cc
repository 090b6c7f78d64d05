// The arena's Space for the state verifier (state_verifier.h). The builder (arena.cc) lays the
// blocks out in walk order, each at the next 16-byte boundary after the one before, starting
// with the root at offset 0; so the verifier needs no map of where blocks are: a pointer to a
// new block must name exactly the next free offset (the cursor), and only a pointer to a shared
// block (OpenFile, Inode, Pipe) may name an earlier one, at its start. Overlaps, gaps, cycles
// and aliasing of unshared blocks are thereby all refused.
//
// One scratch array, one 32-bit cell per 16-byte granule of the arena, holds what the walk
// must remember: which 8-byte words the relocation table lists (two bits), which granules start
// a shared block and of which type (two bits), whether its count was checked (one bit), and how
// many references it has (the rest; a pipe's writers in the next granule's cell, which lies
// inside the pipe). It is allocated once per verification, sized from the arena (a quarter of
// it), because reference counts and table membership cannot be checked in one pass without a
// place to count: sorting or hashing would cost more and allocate too.
#include "format/state/arena_verifier.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "format/state/arena.h"
#include "format/state/state_verifier.h"

namespace cat::state {
namespace {

constexpr uint64_t kGranule = 16;
constexpr uint32_t kListed0 = 1u << 0;  // the word at granule offset 0 is in the table
constexpr uint32_t kListed1 = 1u << 1;  // ... at granule offset 8
constexpr uint32_t kTypeShift = 2;      // 2 bits: BlockType of a shared block starting here
constexpr uint32_t kTypeMask = 3u << kTypeShift;
constexpr uint32_t kChecked = 1u << 4;
constexpr uint32_t kCountShift = 5;
constexpr uint32_t kCountMax = (~0u) >> kCountShift;

class ArenaSpace {
 public:
  ArenaSpace(const uint8_t* base, uint64_t size)
      : base_(base),
        size_(size),
        // calloc: a large array comes zeroed from the kernel, its pages touched only where used.
        cells_(static_cast<uint32_t*>(std::calloc(size / kGranule + 1, sizeof(uint32_t)))) {}
  bool ok() const { return cells_ != nullptr; }

  // The relocation table: strictly ascending 8-byte-aligned slot offsets inside the arena.
  Status LoadTable(const uint64_t* relocs, uint64_t count) {
    count_ = count;
    relocs_ = relocs;
    uint32_t* const cells = cells_.get();
    const uint64_t last = size_ < 8 ? 0 : size_ - 8;
    uint64_t prev = 0;
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t at = relocs[i];
      // One test for all three rules on the hot path; which one broke is worked out after.
      if ((at % 8) | (size_ < 8) | (at > last) | (i > 0 && at <= prev)) [[unlikely]]
        return BadEntry(i);
      cells[at / kGranule] |= (at % kGranule) ? kListed1 : kListed0;
      prev = at;
    }
    return {};
  }
  [[gnu::cold, gnu::noinline]] std::unexpected<Error> BadEntry(uint64_t i) const {
    const uint64_t at = relocs_[i];
    const std::string entry =
        "state arena: relocation entry " + std::to_string(i) + " (offset " + HexOffset(at) + ")";
    if (at % 8 != 0) return Fail(EBADMSG, entry + " is not 8-byte aligned");
    if (size_ < 8 || at > size_ - 8) return Fail(EBADMSG, entry + " is outside the arena");
    return Fail(EBADMSG, entry + " does not follow entry " + std::to_string(i - 1) + " (offset " +
                             HexOffset(relocs_[i - 1]) + "): the table must be strictly ascending");
  }

  const uint8_t* Root() { return base_; }
  uint64_t RootId() { return 0; }
  const char* Prefix() { return "state arena"; }
  std::string Name(uint64_t id) { return "offset " + HexOffset(id); }

  [[gnu::always_inline]] Result<Target> Follow(uint64_t, const uint8_t*, const void* slot,
                                               uint64_t value, uint64_t bytes, BlockType type) {
    // The slot must be listed, or relocation would leave it pointing at the preferred base.
    const uint64_t at = static_cast<uint64_t>(static_cast<const uint8_t*>(slot) - base_);
    uint32_t& cell = cells_.get()[at / kGranule];
    const uint32_t bit = (at % kGranule) ? kListed1 : kListed0;
    if (!(cell & bit)) [[unlikely]]
      return Refuse(Why::kUnlisted, at, value, bytes, type);
    cell &= ~bit;  // each slot is followed once; what is left listed at the end is no slot
    const uint64_t off = value - kArenaPreferredBase;
    if (value < kArenaPreferredBase || off >= size_) [[unlikely]]
      return Refuse(Why::kOutside, at, value, bytes, type);
    if (off % kGranule != 0) [[unlikely]]
      return Refuse(Why::kMisaligned, at, value, bytes, type);
    if (off == cursor_) [[likely]] {
      if (bytes > size_ - off) [[unlikely]]
        return Refuse(Why::kPastEnd, at, value, bytes, type);
      cursor_ = (off + bytes + kGranule - 1) & ~(kGranule - 1);
      if (IsShared(type)) cells_.get()[off / kGranule] |= static_cast<uint32_t>(type) << kTypeShift;
      return Target{base_ + off, off, true};
    }
    if (off > cursor_ || !IsShared(type) ||
        ((cells_.get()[off / kGranule] & kTypeMask) >> kTypeShift) != static_cast<uint32_t>(type))
        [[unlikely]]
      return Refuse(off > cursor_    ? Why::kGap
                    : IsShared(type) ? Why::kNotStart
                                     : Why::kUnshared,
                    at, value, bytes, type);
    return Target{base_ + off, off, false};
  }

  Target Again(uint64_t, const uint8_t*, const void* slot) {
    const uint64_t off = Offset(slot);
    return Target{base_ + off, off, false};
  }
  const uint8_t* Host(const void* slot) { return base_ + Offset(slot); }

  Status AddRef(uint64_t id, int which) {
    uint32_t& cell = cells_.get()[id / kGranule + static_cast<uint64_t>(which)];
    if ((cell >> kCountShift) == kCountMax) return Fail(EBADMSG, "too many references");
    cell += 1u << kCountShift;
    return {};
  }
  uint32_t Refs(uint64_t id, int which) {
    return cells_.get()[id / kGranule + static_cast<uint64_t>(which)] >> kCountShift;
  }
  template <class Fn>
  bool AllShared(Fn fn) {
    const uint32_t* cells = cells_.get();
    const uint64_t n = cursor_ / kGranule;  // blocks end at the cursor
    for (uint64_t g = 0; g < n; ++g) {
      const uint32_t tag = (cells[g] & kTypeMask) >> kTypeShift;
      if (tag != 0 && !fn(static_cast<BlockType>(tag), base_ + g * kGranule, g * kGranule))
        return false;
    }
    return true;
  }
  bool FirstCheck(uint64_t id) {
    uint32_t& cell = cells_.get()[id / kGranule];
    if (cell & kChecked) return false;
    cell |= kChecked;
    return true;
  }

  Status Finish(uint64_t slots) {
    if (cursor_ != size_)
      return Fail(EBADMSG, "state arena: " + std::to_string(size_ - cursor_) +
                               " bytes after the last block (offset " + HexOffset(cursor_) +
                               ") belong to no object");
    if (slots == count_) return {};
    // Every slot followed was listed, so the table has entries that name no pointer slot.
    for (uint64_t i = 0; i < count_; ++i) {
      const uint64_t at = relocs_[i];
      if (cells_.get()[at / kGranule] & ((at % kGranule) ? kListed1 : kListed0))
        return Fail(EBADMSG, "state arena: relocation entry " + std::to_string(i) + " (offset " +
                                 HexOffset(at) + ") names no pointer slot (the arena has " +
                                 std::to_string(slots) + " pointer slots, the table " +
                                 std::to_string(count_) + " entries)");
    }
    // Unreachable while every followed slot must be listed; kept so that the counts alone
    // still refuse a table that does not match.
    return Fail(EBADMSG, "state arena: the relocation table has " + std::to_string(count_) +
                             " entries for " + std::to_string(slots) + " pointer slots");
  }

 private:
  enum class Why { kUnlisted, kOutside, kMisaligned, kPastEnd, kGap, kUnshared, kNotStart };

  // Messages are built here, off the fast path.
  [[gnu::cold, gnu::noinline]] std::unexpected<Error> Refuse(Why why, uint64_t at, uint64_t value,
                                                             uint64_t bytes, BlockType type) const {
    const uint64_t off = value - kArenaPreferredBase;
    switch (why) {
      case Why::kUnlisted:
        return Fail(EBADMSG, "the pointer slot at offset " + HexOffset(at) +
                                 " is missing from the relocation table");
      case Why::kOutside:
        return Fail(EBADMSG, "pointer " + HexOffset(value) +
                                 " is outside the arena (stored pointers are " +
                                 HexOffset(kArenaPreferredBase) + " + an offset below " +
                                 HexOffset(size_) + ")");
      case Why::kMisaligned:
        return Fail(EBADMSG, "offset " + HexOffset(off) + " is not 16-byte aligned");
      case Why::kPastEnd:
        return Fail(EBADMSG, "a block of " + std::to_string(bytes) + " bytes at offset " +
                                 HexOffset(off) + " runs past the end of the " +
                                 std::to_string(size_) + "-byte arena");
      case Why::kGap:
        return Fail(EBADMSG, "offset " + HexOffset(off) + " is not the next block (offset " +
                                 HexOffset(cursor_) +
                                 "): blocks are laid out in walk order, without gaps");
      case Why::kUnshared:
        return Fail(EBADMSG, "offset " + HexOffset(off) +
                                 " lies in an earlier block (only OpenFile, Inode and Pipe "
                                 "blocks are shared)");
      case Why::kNotStart:
        return Fail(EBADMSG, "offset " + HexOffset(off) + " is not the start of an earlier " +
                                 BlockTypeName(type) + " block");
    }
    return Fail(EBADMSG, "bad pointer");
  }

  uint64_t Offset(const void* slot) const {
    uint64_t value;
    std::memcpy(&value, slot, sizeof(value));
    return value - kArenaPreferredBase;
  }

  const uint8_t* base_;
  uint64_t size_;
  struct FreeDeleter {
    void operator()(uint32_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint32_t, FreeDeleter> cells_;
  const uint64_t* relocs_ = nullptr;
  uint64_t count_ = 0;
  // Next free offset: the root occupies the start.
  uint64_t cursor_ = (sizeof(SandboxState) + kGranule - 1) & ~(kGranule - 1);
};

}  // namespace

Status VerifyArena(const uint8_t* base, uint64_t size, const uint64_t* relocations,
                   uint64_t count) {
  if (reinterpret_cast<uintptr_t>(base) % kGranule != 0)
    return Fail(EINVAL, "state arena: not 16-byte aligned in memory");
  if (size < sizeof(SandboxState))
    return Fail(EBADMSG, "state arena: " + std::to_string(size) +
                             " bytes, smaller than its root object (" +
                             std::to_string(sizeof(SandboxState)) + " bytes)");
  if (size % kGranule != 0)
    return Fail(EBADMSG, "state arena: size " + std::to_string(size) +
                             " is not a multiple of 16 (blocks are 16-byte aligned)");
  ArenaSpace space(base, size);
  if (!space.ok()) return Fail(ENOMEM, "state arena: no memory for the verifier's scratch array");
  TRY_STATUS(space.LoadTable(relocations, count));
  StateVerifier<ArenaSpace> verifier(space);
  return verifier.Run();
}

}  // namespace cat::state
