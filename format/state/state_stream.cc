// Stream layout (little-endian):
//   "CATSTATE" | u32 version | u64 layout fingerprint | u32 block count
//   per block:  u64 size | size bytes            (block 0 is the root SandboxState)
//   u32 fix-up count; per fix-up: u32 parent block | u64 offset in parent | u32 target block
//     (target 0xffffffff = null; the slot is an 8-byte pointer, or with the high bit of
//      the target set, a 4-byte array capacity whose value is target & 0x7fffffff)
#include "format/state/state_stream.h"

#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>

#include "format/state/layout_fingerprint.h"
#include "format/state/state_graph.h"
#include "format/state/state_heap.h"
#include "format/state/state_verifier.h"

namespace cat::state {
namespace {

constexpr char kMagic[8] = {'C', 'A', 'T', 'S', 'T', 'A', 'T', 'E'};
constexpr uint32_t kNullTarget = 0xffffffffu;
constexpr uint32_t kCapacityFlag = 0x80000000u;

template <class T>
void Put(std::vector<uint8_t>& out, T v) {
  // resize + memcpy rather than insert(first, last): g++ 12 at -O3 reports a false
  // -Warray-bounds on the inlined range insert.
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

class Reader {
 public:
  Reader(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  template <class T>
  Result<T> Get() {
    if (size_ - pos_ < sizeof(T)) return Fail(EBADMSG, "state stream truncated");
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  uint64_t left() const { return size_ - pos_; }
  Result<const uint8_t*> Bytes(uint64_t n) {
    if (size_ - pos_ < n) return Fail(EBADMSG, "state stream truncated");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

}  // namespace

std::vector<uint8_t> SerializeState(SandboxState& s) {
  std::unordered_map<const void*, uint32_t> index_of{{&s, 0}};
  std::vector<std::pair<const void*, uint64_t>> blocks{{&s, sizeof(SandboxState)}};
  struct Fixup {
    uint32_t parent;
    uint64_t offset;
    uint32_t target;
  };
  std::vector<Fixup> fixups;
  auto offset_in = [](const void* parent, const void* field) {
    return static_cast<uint64_t>(static_cast<const uint8_t*>(field) -
                                 static_cast<const uint8_t*>(parent));
  };
  WalkState(s, [&](const Slot& slot) {
    const void* target = ReadSlot(slot.slot);
    bool first = false;
    if (slot.bytes != 0 && !index_of.count(target)) {
      index_of[target] = static_cast<uint32_t>(blocks.size());
      blocks.emplace_back(target, slot.bytes);
      first = true;
    }
    const uint32_t parent = index_of.at(slot.parent);
    fixups.push_back({parent, offset_in(slot.parent, slot.slot),
                      slot.bytes ? index_of.at(target) : kNullTarget});
    if (slot.capacity)
      fixups.push_back({parent, offset_in(slot.parent, slot.capacity),
                        kCapacityFlag | (slot.bytes ? slot.count : 0)});
    return first;
  });
  std::vector<uint8_t> out(kMagic, kMagic + sizeof(kMagic));
  Put(out, kStateStreamVersion);
  Put(out, StateLayoutFingerprint());
  Put(out, static_cast<uint32_t>(blocks.size()));
  for (const auto& [addr, bytes] : blocks) {
    Put(out, bytes);
    const auto* p = static_cast<const uint8_t*>(addr);
    out.insert(out.end(), p, p + bytes);
  }
  Put(out, static_cast<uint32_t>(fixups.size()));
  for (const Fixup& f : fixups) {
    Put(out, f.parent);
    Put(out, f.offset);
    Put(out, f.target);
  }
  return out;
}

namespace {

constexpr uint32_t kUnset = 0xffffffffu;     // no fix-up names this word
constexpr uint32_t kNullSlot = 0xfffffffeu;  // a fix-up set it to null
constexpr uint32_t kFollowed = 0x80000000u;  // the walk followed it (block indexes stay below)

// The decoded blocks: one allocation each (that is the conventional restore), freed again
// unless the state is handed out.
struct Blocks {
  std::vector<std::pair<uint8_t*, uint64_t>> list;
  bool keep = false;
  ~Blocks() {
    if (!keep)
      for (auto& [p, n] : list) StateFree(p);
  }
};

// The stream's Space for the state verifier (state_verifier.h): a pointer slot must have been
// set by exactly one fix-up, to a block of the size its type needs; each block is reached once
// (OpenFile, Inode and Pipe blocks may be shared), and every block is reached.
class StreamSpace {
 public:
  StreamSpace(const Blocks& blocks, const std::vector<uint64_t>& word_base,
              std::vector<uint32_t>& target, uint64_t pointer_fixups)
      : b_(blocks.list),
        word_base_(word_base),
        target_(target),
        fixups_(pointer_fixups),
        type_(b_.size(), BlockType::kNone),
        refs_(2 * b_.size(), 0),
        checked_(b_.size(), 0) {
    type_[0] = BlockType::kRoot;
  }

  const uint8_t* Root() { return b_[0].first; }
  uint64_t RootId() { return 0; }
  const char* Prefix() { return "state stream"; }
  std::string Name(uint64_t id) { return "block " + std::to_string(id); }

  Result<Target> Follow(uint64_t pid, const uint8_t* parent, const void* slot, uint64_t value,
                        uint64_t bytes, BlockType type) {
    uint32_t& t = target_[Word(pid, parent, slot)];
    if (t == kUnset || t == kNullSlot)
      return Fail(EBADMSG, "no fix-up sets this pointer slot (it holds a stale address)");
    const uint32_t block = t & ~kFollowed;
    if (value != reinterpret_cast<uint64_t>(b_[block].first))
      return Fail(EBADMSG, "the pointer to block " + std::to_string(block) +
                               " was overwritten by another fix-up");
    t |= kFollowed;
    if (b_[block].second != bytes)
      return Fail(EBADMSG, "block " + std::to_string(block) + " has " +
                               std::to_string(b_[block].second) + " bytes, not the " +
                               std::to_string(bytes) + " this needs");
    if (type_[block] == BlockType::kNone) {
      type_[block] = type;
      ++reached_;
      return Target{b_[block].first, block, true};
    }
    if (!IsShared(type) || type_[block] != type)
      return Fail(EBADMSG, "block " + std::to_string(block) + " is already reached as " +
                               BlockTypeName(type_[block]) +
                               " (only OpenFile, Inode and Pipe blocks are shared)");
    return Target{b_[block].first, block, false};
  }

  Target Again(uint64_t pid, const uint8_t* parent, const void* slot) {
    const uint32_t block = target_[Word(pid, parent, slot)] & ~kFollowed;
    return Target{b_[block].first, block, false};
  }
  const uint8_t* Host(const void* slot) { return static_cast<const uint8_t*>(ReadSlot(slot)); }

  Status AddRef(uint64_t id, int which) {
    if (++refs_[2 * id + static_cast<uint64_t>(which)] == 0)
      return Fail(EBADMSG, "too many references");
    return {};
  }
  uint32_t Refs(uint64_t id, int which) { return refs_[2 * id + static_cast<uint64_t>(which)]; }
  bool FirstCheck(uint64_t id) { return !std::exchange(checked_[id], 1); }
  template <class Fn>
  bool AllShared(Fn fn) {
    for (uint64_t b = 0; b < b_.size(); ++b)
      if (IsShared(type_[b]) && !fn(type_[b], b_[b].first, b)) return false;
    return true;
  }

  Status Finish(uint64_t slots) {
    if (slots != fixups_)
      for (uint64_t b = 0; b < b_.size(); ++b)
        for (uint64_t w = word_base_[b]; w < word_base_[b + 1]; ++w)
          if (target_[w] != kUnset && target_[w] != kNullSlot && !(target_[w] & kFollowed))
            return Fail(EBADMSG, "state stream: a fix-up at offset " +
                                     std::to_string((w - word_base_[b]) * 8) + " of block " +
                                     std::to_string(b) + " sets no pointer slot");
    if (reached_ + 1 != b_.size())
      for (uint64_t b = 1; b < b_.size(); ++b)
        if (type_[b] == BlockType::kNone)
          return Fail(EBADMSG, "state stream: block " + std::to_string(b) +
                                   " is not reachable from the root");
    return {};
  }

 private:
  uint64_t Word(uint64_t pid, const uint8_t* parent, const void* slot) const {
    return word_base_[pid] + static_cast<uint64_t>(static_cast<const uint8_t*>(slot) - parent) / 8;
  }

  const std::vector<std::pair<uint8_t*, uint64_t>>& b_;
  const std::vector<uint64_t>& word_base_;
  std::vector<uint32_t>& target_;
  uint64_t fixups_;
  std::vector<BlockType> type_;
  std::vector<uint32_t> refs_;
  std::vector<uint8_t> checked_;
  uint64_t reached_ = 0;
};

}  // namespace

Result<SandboxState*> DeserializeState(const uint8_t* data, uint64_t size) {
  Reader in(data, size);
  TRY(const uint8_t* magic, in.Bytes(sizeof(kMagic)));
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0)
    return Fail(EBADMSG, "not a catalyzer state stream");
  TRY(uint32_t version, in.Get<uint32_t>());
  if (version != kStateStreamVersion)
    return Fail(EBADMSG, "state stream version " + std::to_string(version) +
                             " (supported: " + std::to_string(kStateStreamVersion) + ")");
  TRY(uint64_t fingerprint, in.Get<uint64_t>());
  if (fingerprint != StateLayoutFingerprint())
    return Fail(EBADMSG, "state stream was written by a catload with another state layout");
  TRY(uint32_t count, in.Get<uint32_t>());
  if (count == 0) return Fail(EBADMSG, "state stream has no root object");
  // Each block takes at least its 8-byte size: a count the stream cannot hold is refused before
  // anything is reserved for it.
  if (count > in.left() / 8 || count >= kFollowed)
    return Fail(EBADMSG, "state stream: " + std::to_string(count) + " blocks in " +
                             std::to_string(in.left()) + " bytes");
  Blocks blocks;
  blocks.list.reserve(count);
  std::vector<uint64_t> word_base(count + 1, 0);  // first 8-byte word of each block
  for (uint32_t i = 0; i < count; ++i) {
    TRY(uint64_t bytes, in.Get<uint64_t>());
    TRY(const uint8_t* src, in.Bytes(bytes));
    if (i == 0 && bytes != sizeof(SandboxState)) return Fail(EBADMSG, "bad root object size");
    auto* block = static_cast<uint8_t*>(StateAlloc(bytes));  // one allocation per object
    std::memcpy(block, src, bytes);
    blocks.list.emplace_back(block, bytes);
    word_base[i + 1] = word_base[i] + bytes / 8;
  }
  // Which block each pointer word was set to: the verifier checks them against the slots.
  std::vector<uint32_t> target(word_base[count], kUnset);
  uint64_t pointer_fixups = 0;
  TRY(uint32_t fixups, in.Get<uint32_t>());
  for (uint32_t i = 0; i < fixups; ++i) {
    TRY(uint32_t parent, in.Get<uint32_t>());
    TRY(uint64_t offset, in.Get<uint64_t>());
    TRY(uint32_t to, in.Get<uint32_t>());
    const std::string which = "state stream: fix-up " + std::to_string(i);
    if (parent >= count) return Fail(EBADMSG, which + " names a missing block");
    auto [base, bytes] = blocks.list[parent];
    if ((to & kCapacityFlag) && to != kNullTarget) {
      if (bytes < 4 || offset > bytes - 4 || offset % 4 != 0)
        return Fail(EBADMSG, which + " is outside its block");
      const uint32_t capacity = to & ~kCapacityFlag;
      std::memcpy(base + offset, &capacity, sizeof(capacity));
      continue;
    }
    if (bytes < 8 || offset > bytes - 8 || offset % 8 != 0)
      return Fail(EBADMSG, which + " is outside its block or not 8-byte aligned");
    if (to != kNullTarget && to >= count) return Fail(EBADMSG, which + " names a missing block");
    uint32_t& t = target[word_base[parent] + offset / 8];
    if (t != kUnset) return Fail(EBADMSG, which + " sets a slot another fix-up set");
    t = to == kNullTarget ? kNullSlot : to;
    if (to != kNullTarget) ++pointer_fixups;
    WriteSlot(base + offset,
              to == kNullTarget ? 0 : reinterpret_cast<uint64_t>(blocks.list[to].first));
  }
  if (in.left() != 0)
    return Fail(EBADMSG, "state stream: " + std::to_string(in.left()) + " bytes after the end");
  // Nothing walks the state before it is verified: catimg build's passes and restore's
  // ResetTransientState follow every pointer.
  StreamSpace space(blocks, word_base, target, pointer_fixups);
  StateVerifier<StreamSpace> verifier(space);
  TRY_STATUS(verifier.Run());
  blocks.keep = true;
  return reinterpret_cast<SandboxState*>(blocks.list[0].first);
}

}  // namespace cat::state
