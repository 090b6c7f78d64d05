// The shared base of fork boot on KVM (spec/kvm.md, "Fork boot"): KVM objects do not survive
// fork(), so a template VM's guest memory is frozen into a sealed memfd once, and every fork
// maps that memfd MAP_PRIVATE into a fresh VM's memory slot at the same guest-physical
// offsets: a private copy-on-write layer over one shared, read-only base, in one process.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "format/base/error.h"
#include "format/base/unique_fd.h"

namespace cat::kvm {

// One range of a slot to freeze: `len` bytes at host `host`, slot offset `offset`.
struct FreezeRange {
  const uint8_t* host;
  uint64_t offset;
  uint64_t len;
  // false: anonymous memory, whose pages not resident (never touched) are zero and skipped
  // without reading them; true: a file mapping, whose every page must be read.
  bool file;
};

class ForkBase {
 public:
  // A memfd of `size` bytes holding the contents of `ranges` at their offsets (zero pages left
  // as holes), sealed against writes, growth and shrinking. A page that cannot be read (a
  // file page past its file's end) stays zero in the base.
  static Result<std::shared_ptr<const ForkBase>> Freeze(const std::vector<FreezeRange>& ranges,
                                                        uint64_t size);
  int fd() const { return fd_.get(); }
  uint64_t size() const { return size_; }
  // Bytes copied into the base (its resident size).
  uint64_t copied() const { return copied_; }

 private:
  ForkBase(UniqueFd fd, uint64_t size, uint64_t copied)
      : fd_(std::move(fd)), size_(size), copied_(copied) {}
  UniqueFd fd_;
  uint64_t size_;
  uint64_t copied_;
};

}  // namespace cat::kvm
