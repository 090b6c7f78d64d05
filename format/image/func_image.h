// The func-image (.cfi): what `catimg build` compiles a checkpoint into and `catload run`
// boots from. A fixed header, a FlatBuffers manifest (func_image.fbs), page-aligned memory
// segments that the loader mmaps MAP_PRIVATE (never copies), and the state arena: the sandbox
// kernel's objects in their in-memory layout with pointers stored as arena offsets, plus the
// relocation table listing where those pointers are. XXH3 checksums cover header, manifest,
// each stored segment, the arena and the relocations. Byte layout: spec/func-image.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "format/base/cpu_features.h"
#include "format/base/error.h"
#include "format/base/unique_fd.h"
#include "format/state/cpu_state.h"

namespace cat {

constexpr uint16_t kFuncImageMajor = 1;
constexpr uint16_t kFuncImageMinor = 2;  // 1.1 added Manifest.working_set, 1.2 Manifest.cpu

struct FunctionInfo {
  std::string name;
  std::string exe;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string entry_kind;  // "explicit" | "auto"
  std::string rootfs;      // rootfs expected at boot (host path given at capture)
  std::vector<std::string> mounts;
};

struct ImageProvenance {
  uint64_t checkpoint_hash = 0;  // XXH3 of the checkpoint file
  std::string catimg_version;
};

// One memory segment: a run of pages of one guest mapping, either stored in the image or
// all-zero (not stored; the loader maps anonymous memory for it).
struct SegmentInput {
  uint64_t guest_addr;
  uint64_t size;  // multiple of 4096
  uint32_t prot;
  uint32_t vma_kind;
  const uint8_t* data;  // size bytes; nullptr = all zero, not stored
};

// A run of guest pages, [guest_addr, guest_addr + pages * 4096).
struct PageRun {
  uint64_t guest_addr;
  uint64_t pages;
  uint64_t end() const { return guest_addr + pages * 4096; }
  bool operator==(const PageRun&) const = default;
};

// Everything `catimg build` puts into an image.
struct FuncImageSpec {
  FunctionInfo function;
  ImageProvenance provenance;
  uint64_t layout_fingerprint = 0;
  GuestRegs regs{};
  FpuState fpu{};
  std::vector<uint8_t> xstate;
  std::vector<SegmentInput> segments;             // sorted by guest_addr, non-overlapping
  std::vector<uint8_t> arena;                     // the state objects, pointers as arena offsets
  uint64_t arena_root = 0;                        // offset of the root object (state::SandboxState)
  std::vector<uint64_t> relocations;              // arena offsets of 8-byte pointer slots
  std::map<std::string, uint64_t> object_counts;  // by type name, for inspect
  std::vector<PageRun> working_set;  // pages the sample request wrote (WorkingSetProblem)
  CpuFeatures cpu;                   // 1.2; not written when not recorded()
};

// Writes deterministically (same spec, same bytes) and atomically (temp file + rename).
Status WriteFuncImage(const std::string& path, const FuncImageSpec& spec);

struct ImageSegment {
  uint64_t guest_addr;
  uint64_t size;
  uint32_t prot;
  uint32_t vma_kind;
  bool stored;
  uint64_t file_offset;  // page-aligned offset in the .cfi (stored segments)
  uint64_t checksum;     // XXH3-64 of the stored bytes
};

// Why `runs` is not a valid working set for `segments` (sorted, disjoint; empty if it is):
// runs page-aligned, non-empty, sorted and disjoint, each inside one segment with PROT_WRITE.
// The reader refuses such an image, the writer such a spec (format/image/working_set.cc).
std::string WorkingSetProblem(const std::vector<ImageSegment>& segments,
                              const std::vector<PageRun>& runs);

// An opened, validated func-image. Open() checks the header and its checksum, the manifest's
// checksum and FlatBuffers verification, the version (major must match, newer minor is
// readable), and bounds-checks every segment, the arena and the relocation table against the
// file. It does not hash segments, arena or relocations (Verify() does).
class FuncImage {
 public:
  static Result<FuncImage> Open(const std::string& path);

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  uint64_t file_size() const { return file_size_; }
  uint16_t major() const { return major_; }
  uint16_t minor() const { return minor_; }
  uint64_t layout_fingerprint() const { return layout_fingerprint_; }
  const FunctionInfo& function() const { return function_; }
  const ImageProvenance& provenance() const { return provenance_; }
  const GuestRegs& regs() const { return regs_; }
  const FpuState& fpu() const { return fpu_; }
  const std::vector<uint8_t>& xstate() const { return xstate_; }
  const std::vector<ImageSegment>& segments() const { return segments_; }
  uint64_t arena_offset() const { return arena_offset_; }  // page-aligned
  uint64_t arena_size() const { return arena_size_; }
  uint64_t arena_root() const { return arena_root_; }
  uint64_t relocations_offset() const { return relocations_offset_; }
  uint64_t relocation_count() const { return relocation_count_; }
  uint64_t arena_checksum() const { return arena_checksum_; }
  uint64_t relocations_checksum() const { return relocations_checksum_; }
  const std::map<std::string, uint64_t>& object_counts() const { return object_counts_; }
  // The recorded write working set (1.1; empty without a sample request), validated.
  const std::vector<PageRun>& working_set() const { return working_set_; }
  // The CPU features recorded at capture (1.2; not recorded() in older images).
  const CpuFeatures& cpu() const { return cpu_; }

  // Checks every checksum; returns one line per bad part ("segment 3 (0x400000): checksum
  // mismatch"), empty if all is well.
  Result<std::vector<std::string>> Verify() const;

 private:
  std::string path_;
  UniqueFd fd_;
  uint64_t file_size_ = 0;
  uint16_t major_ = 0, minor_ = 0;
  uint64_t layout_fingerprint_ = 0;
  FunctionInfo function_;
  ImageProvenance provenance_;
  GuestRegs regs_{};
  FpuState fpu_{};
  std::vector<uint8_t> xstate_;
  std::vector<ImageSegment> segments_;
  uint64_t arena_offset_ = 0, arena_size_ = 0, arena_root_ = 0;
  uint64_t arena_checksum_ = 0;
  uint64_t relocations_offset_ = 0, relocation_count_ = 0, relocations_checksum_ = 0;
  std::map<std::string, uint64_t> object_counts_;
  std::vector<PageRun> working_set_;
  CpuFeatures cpu_;
};

}  // namespace cat
