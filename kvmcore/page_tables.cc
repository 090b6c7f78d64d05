// 4-level page-table construction (see page_tables.h).
#include "kvmcore/page_tables.h"

#include <cstring>

namespace cat::kvm {
namespace {

constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kWritable = 1ull << 1;
constexpr uint64_t kUser = 1ull << 2;
constexpr uint64_t kNoExecute = 1ull << 63;
constexpr uint64_t kAddressMask = 0x000ffffffffff000ull;

unsigned Index(uint64_t va, int level) {
  return static_cast<unsigned>((va >> (12 + 9 * level)) & 511);
}

}  // namespace

PageTables::PageTables(uint8_t* host, uint64_t pool_gpa, uint64_t pool_pages)
    : host_(host), pool_gpa_(pool_gpa), pool_pages_(pool_pages) {}

void PageTables::CopyFrom(const PageTables& other) {
  // Entries hold guest-physical addresses of the pool, the same in both machines.
  std::memcpy(Table(pool_gpa_), other.Table(other.pool_gpa_), other.next_page_ * 4096);
  next_page_ = other.next_page_;
}

void PageTables::Init() {
  std::memset(Table(pool_gpa_), 0, 4096);
  next_page_ = 1;
}

Result<uint64_t*> PageTables::Leaf(uint64_t va, bool create) {
  uint64_t* table = Table(pool_gpa_);
  for (int level = 3; level > 0; --level) {
    uint64_t& entry = table[Index(va, level)];
    if (!(entry & kPresent)) {
      if (!create) return nullptr;
      if (next_page_ >= pool_pages_)
        return Fail(ENOMEM, "guest page tables: the table pool is full");
      const uint64_t gpa = pool_gpa_ + next_page_++ * 4096;
      std::memset(Table(gpa), 0, 4096);
      // Intermediate entries allow everything; the leaf decides. The user bit follows the
      // half of the address space: the upper half (the trampoline's) is supervisor-only at
      // every level.
      const bool upper = va >> 47;
      entry = gpa | kPresent | kWritable | (upper ? 0 : kUser);
    }
    table = Table(entry & kAddressMask);
  }
  return &table[Index(va, 0)];
}

Status PageTables::Map(uint64_t va, uint64_t gpa, uint64_t len, PageFlags flags) {
  const uint64_t bits = kPresent | (flags.writable ? kWritable : 0) | (flags.user ? kUser : 0) |
                        (flags.executable ? 0 : kNoExecute);
  for (uint64_t off = 0; off < len; off += 4096) {
    TRY(uint64_t * leaf, Leaf(va + off, true));
    *leaf = ((gpa + off) & kAddressMask) | bits;
  }
  return {};
}

void PageTables::Unmap(uint64_t va, uint64_t len) {
  for (uint64_t off = 0; off < len; off += 4096) {
    auto leaf = Leaf(va + off, false);
    if (leaf && *leaf) **leaf = 0;
  }
}

uint64_t PageTables::Lookup(uint64_t va) const {
  const uint64_t* table = Table(pool_gpa_);
  for (int level = 3; level > 0; --level) {
    const uint64_t entry = table[Index(va, level)];
    if (!(entry & kPresent)) return 0;
    table = Table(entry & kAddressMask);
  }
  return table[Index(va, 0)];
}

}  // namespace cat::kvm
