// A Shell that remembers the guest pages written before they are discarded, for `catimg build
// --sample-request` (working_set.h). The written pages are read from the shell at the guest's
// exit, but a runtime frees memory while it runs (CPython's allocator unmaps its arenas,
// glibc trims the heap): pages written and then unmapped, discarded, moved or mapped over are
// gone by then, yet each cost a fault in every booted instance. So before any call that drops
// memory, the written pages of that range are taken (Shell::WrittenPages) and kept.
#pragma once

#include <memory>
#include <vector>

#include "loader/platform/platform.h"

namespace cat {

// Written pages seen before they were dropped; shared by the platform's shells. Only pages
// inside `watch` (the image's writable segments, sorted) are looked at: a guest that unmaps a
// vast reservation costs no pagemap read of it.
struct DroppedWrites {
  std::vector<GuestRange> watch;
  std::vector<GuestRange> ranges;
};

// Forwards everything to `inner`'s shells, recording into `writes` first.
class WriteRecordingPlatform final : public Platform {
 public:
  WriteRecordingPlatform(Platform& inner, std::shared_ptr<DroppedWrites> writes)
      : inner_(inner), writes_(std::move(writes)) {}
  std::string_view name() const override { return inner_.name(); }
  Result<std::unique_ptr<Shell>> CreateShell() override;

 private:
  Platform& inner_;
  std::shared_ptr<DroppedWrites> writes_;
};

}  // namespace cat
