// WriteFuncImage: lays out and writes a .cfi. The layout is computed first (header, manifest,
// page-aligned segments, page-aligned arena, relocations), then the file is written in one
// forward pass to a temp file in the target directory, fsync-ed and renamed over the target,
// so a reader never sees a half-written image. Nothing time- or host-dependent goes in: the
// same spec gives the same bytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "format/base/temp_file.h"
#include "format/image/func_image.h"
#include "format/image/func_image_generated.h"
#include "format/image/func_image_layout.h"

namespace cat {
namespace {

using namespace image_layout;

// Where each part goes, decided before anything is written.
struct Layout {
  uint64_t manifest_size = 0;
  uint64_t data_offset = 0;  // first page after header + manifest
  std::vector<uint64_t> segment_offsets;
  std::vector<uint64_t> segment_checksums;
  uint64_t arena_offset = 0;
  uint64_t arena_checksum = 0;
  uint64_t relocations_offset = 0;
  std::vector<uint8_t> relocation_bytes;
  uint64_t relocations_checksum = 0;
  uint64_t file_size = 0;
};

Status ValidateSpec(const FuncImageSpec& spec) {
  uint64_t prev_end = 0;
  for (size_t i = 0; i < spec.segments.size(); ++i) {
    const SegmentInput& s = spec.segments[i];
    const std::string what = "segment " + std::to_string(i);
    if (s.guest_addr % kPageSize != 0 || s.size % kPageSize != 0 || s.size == 0)
      return Fail(EINVAL, what + ": address and size must be non-zero multiples of 4096");
    if (s.guest_addr + s.size < s.guest_addr)
      return Fail(EINVAL, what + ": address range wraps around");
    if (i > 0 && s.guest_addr < prev_end)
      return Fail(EINVAL, what + ": segments must be sorted by address and not overlap");
    prev_end = s.guest_addr + s.size;
  }
  std::vector<ImageSegment> placed;
  for (const SegmentInput& s : spec.segments)
    placed.push_back({s.guest_addr, s.size, s.prot, s.vma_kind, s.data != nullptr, 0, 0});
  if (const std::string bad = WorkingSetProblem(placed, spec.working_set); !bad.empty())
    return Fail(EINVAL, bad);
  const uint64_t arena_size = spec.arena.size();
  if (arena_size == 0 ? spec.arena_root != 0 : spec.arena_root >= arena_size)
    return Fail(EINVAL, "arena root " + std::to_string(spec.arena_root) + " is outside the " +
                            std::to_string(arena_size) + "-byte arena");
  for (size_t i = 0; i < spec.relocations.size(); ++i) {
    const uint64_t r = spec.relocations[i];
    if (arena_size < 8 || r > arena_size - 8)
      return Fail(EINVAL, "relocation " + std::to_string(i) + " (arena offset " +
                              std::to_string(r) + ") is outside the arena");
  }
  return {};
}

// Serializes the manifest for the given layout. ForceDefaults keeps every scalar in the
// buffer even when it is zero, so the manifest's size does not depend on the offsets it
// holds (which depend on its size): see ComputeLayout.
std::vector<uint8_t> BuildManifest(const FuncImageSpec& spec, const Layout& layout) {
  flatbuffers::FlatBufferBuilder fbb(4096);
  fbb.ForceDefaults(true);
  auto strings = [&](const std::vector<std::string>& v) { return fbb.CreateVectorOfStrings(v); };
  const FunctionInfo& f = spec.function;
  auto function = fbs::CreateFunction(
      fbb, fbb.CreateString(f.name), fbb.CreateString(f.exe), strings(f.argv), strings(f.env),
      fbb.CreateString(f.entry_kind), fbb.CreateString(f.rootfs), strings(f.mounts));
  const GuestRegs& r = spec.regs;
  const fbs::Regs regs(r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax,
                       r.rcx, r.rdx, r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss,
                       r.fs_base, r.gs_base, r.ds, r.es, r.fs, r.gs);
  auto fpu = fbb.CreateVector(spec.fpu.fxsave, sizeof(spec.fpu.fxsave));
  auto xstate = fbb.CreateVector(spec.xstate);
  std::vector<flatbuffers::Offset<fbs::Segment>> segments;
  for (size_t i = 0; i < spec.segments.size(); ++i) {
    const SegmentInput& s = spec.segments[i];
    segments.push_back(fbs::CreateSegment(fbb, s.guest_addr, s.size, s.prot, s.vma_kind,
                                          s.data != nullptr, layout.segment_offsets[i],
                                          layout.segment_checksums[i]));
  }
  auto segments_vec = fbb.CreateVector(segments);
  auto arena = fbs::CreateArena(fbb, layout.arena_offset, spec.arena.size(), spec.arena_root,
                                layout.arena_checksum);
  auto relocations =
      fbs::CreateRelocations(fbb, layout.relocations_offset, layout.relocation_bytes.size(),
                             spec.relocations.size(), layout.relocations_checksum);
  // std::map iterates in key order, which is also the order the (key) attribute wants.
  std::vector<flatbuffers::Offset<fbs::ObjectCount>> counts;
  for (const auto& [type, count] : spec.object_counts)
    counts.push_back(fbs::CreateObjectCount(fbb, fbb.CreateString(type), count));
  auto counts_vec = fbb.CreateVector(counts);
  auto provenance = fbs::CreateProvenance(fbb, spec.provenance.checkpoint_hash,
                                          fbb.CreateString(spec.provenance.catimg_version));
  std::vector<fbs::PageRun> runs;
  for (const PageRun& r : spec.working_set) runs.emplace_back(r.guest_addr, r.pages);
  auto working_set = fbb.CreateVectorOfStructs(runs);
  flatbuffers::Offset<fbs::Cpu> cpu = 0;
  if (const CpuFeatures& c = spec.cpu; c.recorded())
    cpu = fbs::CreateCpu(fbb, fbb.CreateString(c.vendor), c.leaf1_ecx, c.leaf1_edx, c.leaf7_ebx,
                         c.leaf7_ecx, c.leaf7_edx, c.leaf7_1_eax, c.leafd_1_eax, c.ext1_ecx,
                         c.ext1_edx, c.xcr0, c.xsave_size);
  auto manifest = fbs::CreateManifest(
      fbb, kFuncImageMajor, kFuncImageMinor, spec.layout_fingerprint, function, &regs, fpu, xstate,
      segments_vec, arena, relocations, counts_vec, provenance, working_set, cpu);
  fbs::FinishManifestBuffer(fbb, manifest);
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

// Places every part after a manifest of the given size.
void PlaceParts(const FuncImageSpec& spec, uint64_t manifest_size, Layout& layout) {
  layout.manifest_size = manifest_size;
  layout.data_offset = AlignUp(kHeaderSize + manifest_size, kPageSize);
  uint64_t pos = layout.data_offset;
  layout.segment_offsets.assign(spec.segments.size(), 0);
  for (size_t i = 0; i < spec.segments.size(); ++i) {
    if (spec.segments[i].data == nullptr) continue;  // all-zero: takes no file space
    layout.segment_offsets[i] = pos;
    pos += spec.segments[i].size;  // sizes are page multiples, so pos stays aligned
  }
  layout.arena_offset = pos;
  // Relocations are u64s: keep them 8-aligned after an arena of any size.
  layout.relocations_offset = AlignUp(pos + spec.arena.size(), 8);
  layout.file_size = layout.relocations_offset + layout.relocation_bytes.size();
}

Result<std::pair<Layout, std::vector<uint8_t>>> ComputeLayout(const FuncImageSpec& spec) {
  Layout layout;
  layout.segment_checksums.assign(spec.segments.size(), 0);
  for (size_t i = 0; i < spec.segments.size(); ++i)
    if (spec.segments[i].data != nullptr)
      layout.segment_checksums[i] = XXH3_64bits(spec.segments[i].data, spec.segments[i].size);
  layout.arena_checksum = XXH3_64bits(spec.arena.data(), spec.arena.size());
  layout.relocation_bytes.resize(spec.relocations.size() * 8);
  for (size_t i = 0; i < spec.relocations.size(); ++i)
    Put64(&layout.relocation_bytes[i * 8], spec.relocations[i]);
  layout.relocations_checksum =
      XXH3_64bits(layout.relocation_bytes.data(), layout.relocation_bytes.size());

  // The manifest holds offsets that depend on its own size. With ForceDefaults its size does
  // not depend on those values, so this settles on the second round; the loop only guards it.
  PlaceParts(spec, 0, layout);
  std::vector<uint8_t> manifest = BuildManifest(spec, layout);
  for (int round = 0; round < 4; ++round) {
    PlaceParts(spec, manifest.size(), layout);
    std::vector<uint8_t> next = BuildManifest(spec, layout);
    if (next.size() == manifest.size() && round > 0) return std::pair{layout, std::move(next)};
    manifest = std::move(next);
  }
  return Fail(EINVAL, "manifest size does not settle (internal error)");
}

std::vector<uint8_t> BuildHeader(const Layout& layout, uint64_t manifest_checksum) {
  std::vector<uint8_t> h(kHeaderSize, 0);
  std::memcpy(&h[kOffMagic], kMagic, sizeof(kMagic));
  Put16(&h[kOffMajor], kFuncImageMajor);
  Put16(&h[kOffMinor], kFuncImageMinor);
  Put32(&h[kOffHeaderSize], kHeaderSize);
  Put64(&h[kOffManifestOffset], kHeaderSize);
  Put64(&h[kOffManifestSize], layout.manifest_size);
  Put64(&h[kOffManifestChecksum], manifest_checksum);
  Put64(&h[kOffFileSize], layout.file_size);
  Put64(&h[kHeaderSize - 8], XXH3_64bits(h.data(), kHeaderSize - 8));
  return h;
}

// Writes forward through a file, tracking the position, padding gaps with zeros.
class SequentialWriter {
 public:
  explicit SequentialWriter(int fd) : fd_(fd) {}
  Status Write(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return FailErrno("write");
      p += n;
      size -= static_cast<size_t>(n);
      pos_ += static_cast<uint64_t>(n);
    }
    return {};
  }
  Status PadTo(uint64_t offset) {
    static const uint8_t kZeros[kPageSize] = {};
    while (pos_ < offset) TRY_STATUS(Write(kZeros, std::min<uint64_t>(offset - pos_, kPageSize)));
    return {};
  }

 private:
  int fd_;
  uint64_t pos_ = 0;
};

Status WriteParts(int fd, const FuncImageSpec& spec, const Layout& layout,
                  const std::vector<uint8_t>& header, const std::vector<uint8_t>& manifest) {
  SequentialWriter w(fd);
  TRY_STATUS(w.Write(header.data(), header.size()));
  TRY_STATUS(w.Write(manifest.data(), manifest.size()));
  for (size_t i = 0; i < spec.segments.size(); ++i) {
    if (spec.segments[i].data == nullptr) continue;
    TRY_STATUS(w.PadTo(layout.segment_offsets[i]));
    TRY_STATUS(w.Write(spec.segments[i].data, spec.segments[i].size));
  }
  TRY_STATUS(w.PadTo(layout.arena_offset));
  TRY_STATUS(w.Write(spec.arena.data(), spec.arena.size()));
  TRY_STATUS(w.PadTo(layout.relocations_offset));
  TRY_STATUS(w.Write(layout.relocation_bytes.data(), layout.relocation_bytes.size()));
  return {};
}

}  // namespace

Status WriteFuncImage(const std::string& path, const FuncImageSpec& spec) {
  const std::string context = "write func-image " + path;
  auto fail = [&](Error e) { return std::unexpected(std::move(e).Context(context)); };
  if (auto ok = ValidateSpec(spec); !ok) return fail(std::move(ok.error()));
  auto computed = ComputeLayout(spec);
  if (!computed) return fail(std::move(computed.error()));
  const auto& [layout, manifest] = *computed;
  const std::vector<uint8_t> header =
      BuildHeader(layout, XXH3_64bits(manifest.data(), manifest.size()));

  // An image is meant to be read by the loader's user too: 0644.
  auto tmp = TempFile::Create(path, 0644);
  if (!tmp) return fail(std::move(tmp.error()));
  if (auto ok = WriteParts(tmp->fd(), spec, layout, header, manifest); !ok)
    return fail(std::move(ok.error()).Context(tmp->path()));
  if (auto ok = tmp->Commit(path); !ok) return fail(std::move(ok.error()));
  return {};
}

}  // namespace cat
