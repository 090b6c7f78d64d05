// The guest's 4-level x86-64 page tables, built by the VMM in guest-physical memory it owns
// (the system slot, guest_machine.h). The guest never sees them: no guest-virtual address maps
// the pages they live in, so a ring-3 guest can neither read nor change them.
#pragma once

#include <cstdint>
#include <vector>

#include "format/base/error.h"

namespace cat::kvm {

// Leaf permissions of a 4 KiB page.
struct PageFlags {
  bool user;
  bool writable;
  bool executable;
};

class PageTables {
 public:
  // Tables come from `pool_pages` pages at guest-physical `pool_gpa`, reachable at host `host`
  // (the system slot's host address of guest-physical 0). The root (PML4) is the first.
  PageTables(uint8_t* host, uint64_t pool_gpa, uint64_t pool_pages);
  // Clears the root; the pool's memory must be accessible by then.
  void Init();
  uint64_t root_gpa() const { return pool_gpa_; }

  // Maps [va, va+len) to guest-physical [gpa, gpa+len), replacing what was there.
  Status Map(uint64_t va, uint64_t gpa, uint64_t len, PageFlags flags);
  // Makes [va, va+len) not present. Tables that become empty are kept (they are reused by the
  // next mapping there; a shell's tables live as long as it).
  void Unmap(uint64_t va, uint64_t len);
  // The leaf entry for `va` (0 if not present): for tests and debugging.
  uint64_t Lookup(uint64_t va) const;
  uint64_t tables_used() const { return next_page_; }
  // Makes these tables a copy of `other`'s (same pool layout, another machine's pool).
  void CopyFrom(const PageTables& other);

 private:
  uint64_t* Table(uint64_t gpa) const { return reinterpret_cast<uint64_t*>(host_ + gpa); }
  // The leaf slot for `va`, creating intermediate tables when `create`; nullptr if absent.
  Result<uint64_t*> Leaf(uint64_t va, bool create);
  uint8_t* host_;
  uint64_t pool_gpa_;
  uint64_t pool_pages_;
  uint64_t next_page_ = 1;  // page 0 is the root
};

}  // namespace cat::kvm
