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

#include "format/state/layout_fingerprint.h"
#include "format/state/state_graph.h"
#include "format/state/state_heap.h"

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
  std::vector<std::pair<uint8_t*, uint64_t>> blocks;
  blocks.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    TRY(uint64_t bytes, in.Get<uint64_t>());
    TRY(const uint8_t* src, in.Bytes(bytes));
    if (i == 0 && bytes != sizeof(SandboxState)) return Fail(EBADMSG, "bad root object size");
    auto* block = static_cast<uint8_t*>(StateAlloc(bytes));  // one allocation per object
    std::memcpy(block, src, bytes);
    blocks.emplace_back(block, bytes);
  }
  TRY(uint32_t fixups, in.Get<uint32_t>());
  for (uint32_t i = 0; i < fixups; ++i) {
    TRY(uint32_t parent, in.Get<uint32_t>());
    TRY(uint64_t offset, in.Get<uint64_t>());
    TRY(uint32_t target, in.Get<uint32_t>());
    if (parent >= count) return Fail(EBADMSG, "fix-up names a missing object");
    auto [base, bytes] = blocks[parent];
    if ((target & kCapacityFlag) && target != kNullTarget) {
      if (bytes < 4 || offset > bytes - 4) return Fail(EBADMSG, "fix-up outside its object");
      const uint32_t capacity = target & ~kCapacityFlag;
      std::memcpy(base + offset, &capacity, sizeof(capacity));
      continue;
    }
    if (bytes < 8 || offset > bytes - 8) return Fail(EBADMSG, "fix-up outside its object");
    if (target != kNullTarget && target >= count)
      return Fail(EBADMSG, "fix-up to a missing object");
    WriteSlot(base + offset,
              target == kNullTarget ? 0 : reinterpret_cast<uint64_t>(blocks[target].first));
  }
  return reinterpret_cast<SandboxState*>(blocks[0].first);
}

}  // namespace cat::state
