// A private, live copy of a state arena that was verified and relocated once (warm boot's
// image master, fork boot's template snapshot): the bytes copied to a fresh allocation and
// every pointer slot the relocation table lists moved by the address difference. Nothing is
// parsed or checked again: the source is read-only and was checked when it was made
// (spec/boot.md, "warm boot").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "format/base/error.h"
#include "format/image/func_image.h"
#include "format/state/sandbox_state.h"

namespace cat {

// A verified, relocated arena kept read-only in catload, and its relocation table.
class ArenaMaster {
 public:
  // Reads an image's arena and relocation table into catload's memory (a private copy: the
  // file may change afterwards without changing what was checked), checks both checksums and
  // the root, runs the structural verifier and relocates it. Errors start with `what`.
  static Result<std::unique_ptr<ArenaMaster>> Load(const FuncImage& image, const std::string& what);
  // Copies `size` bytes of a live arena at `live` (relocated to `live`, checked by the
  // structural verifier and RelocateArena) into a fresh read-only mapping.
  static Result<std::unique_ptr<ArenaMaster>> Snapshot(const uint8_t* live, size_t size,
                                                       std::vector<uint64_t> relocations);
  ~ArenaMaster();
  ArenaMaster(const ArenaMaster&) = delete;
  ArenaMaster& operator=(const ArenaMaster&) = delete;

  const uint8_t* base() const { return base_; }
  size_t size() const { return size_; }
  const std::vector<uint64_t>& relocations() const { return relocations_; }

 private:
  ArenaMaster() = default;
  Status Map(size_t size);
  Status Seal();
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;
  std::vector<uint64_t> relocations_;
};

// One instance's copy: registered with the state heap while it lives (its objects are never
// freed one by one), unregistered and freed with it.
class ArenaCopy {
 public:
  static Result<std::shared_ptr<ArenaCopy>> Make(const ArenaMaster& master);
  ~ArenaCopy();
  ArenaCopy(const ArenaCopy&) = delete;
  ArenaCopy& operator=(const ArenaCopy&) = delete;

  state::SandboxState* state() { return reinterpret_cast<state::SandboxState*>(base_); }
  uint8_t* base() { return base_; }

 private:
  ArenaCopy() = default;
  uint8_t* base_ = nullptr;
};

}  // namespace cat
