// The compiler's passes, in order, each with the reason it exists:
//   read        — parse and bounds-check the checkpoint (ELF core) once;
//   validate    — refuse what cannot boot: no memory, overlapping VMAs, a state stream from
//                 another layout, registers outside the guest's address space;
//   layout      — split every mapping into page runs, storing non-zero pages page-aligned and
//                 dropping all-zero pages (they come back as anonymous memory); runs that
//                 continue the previous one (adjacent VMAs alike, e.g. a heap grown by many
//                 brk calls) join it, since every segment is one mmap at each boot;
//   predeserialize — parse the kernel's state stream once, here, and lay the objects out as
//                 an arena with a relocation table, so boots only add a base address;
//   write       — checksums and the atomic, deterministic write (WriteFuncImage).
#include "catimg/compiler/compiler.h"

#include <sys/mman.h>
#include <xxhash.h>

#include <chrono>
#include <cstring>

#include "format/checkpoint/checkpoint.h"
#include "format/image/func_image.h"
#include "format/state/arena.h"
#include "format/state/layout_fingerprint.h"
#include "format/state/state_stream.h"

namespace cat::catimg {
namespace {

constexpr uint64_t kPage = 4096;

bool AllZero(const uint8_t* p, uint64_t n) {
  static const uint8_t zeros[kPage] = {};
  for (uint64_t i = 0; i < n; i += kPage)
    if (std::memcmp(p + i, zeros, std::min(kPage, n - i)) != 0) return false;
  return true;
}

// True if `next` can join `prev` as one segment: adjacent in guest memory, same protection and
// kind, and either both zero or both stored with contiguous bytes in the checkpoint.
bool Extends(const SegmentInput& prev, const SegmentInput& next) {
  if (prev.guest_addr + prev.size != next.guest_addr || prev.prot != next.prot ||
      prev.vma_kind != next.vma_kind)
    return false;
  if (!prev.data || !next.data) return !prev.data && !next.data;
  return prev.data + prev.size == next.data;
}

// A read-only mapping of the whole checkpoint: segments point into it, nothing is copied.
struct CoreMapping {
  const uint8_t* base = nullptr;
  uint64_t size = 0;
  ~CoreMapping() {
    if (base) munmap(const_cast<uint8_t*>(base), size);
  }
};

class PassTimer {
 public:
  explicit PassTimer(BuildReport& r) : report_(r), start_(std::chrono::steady_clock::now()) {}
  void Done(const std::string& pass) {
    const auto now = std::chrono::steady_clock::now();
    report_.passes.push_back(
        {pass, std::chrono::duration<double, std::milli>(now - start_).count()});
    start_ = now;
  }

 private:
  BuildReport& report_;
  std::chrono::steady_clock::time_point start_;
};

std::string BaseName(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

}  // namespace

Result<BuildReport> CompileCheckpoint(const std::string& core, const std::string& output,
                                      const BuildOptions& options) {
  BuildReport report;
  PassTimer timer(report);

  // read
  TRY(Checkpoint cp, WithContext(ReadCheckpoint(core), "build: read"));
  CoreMapping mapping;
  void* m = mmap(nullptr, cp.file_size, PROT_READ, MAP_PRIVATE, cp.fd.get(), 0);
  if (m == MAP_FAILED) return FailErrno("build: read: map " + core);
  mapping.base = static_cast<const uint8_t*>(m);
  mapping.size = cp.file_size;
  timer.Done("read");

  // validate
  if (cp.segments.empty()) return Fail(EINVAL, "build: validate: the checkpoint has no memory");
  for (size_t i = 1; i < cp.segments.size(); ++i)
    if (cp.segments[i].vma.start < cp.segments[i - 1].vma.end)
      return Fail(EINVAL, "build: validate: overlapping mappings in the checkpoint");
  if (cp.contents.regs.rip >= (1ull << 47) || cp.contents.regs.rsp >= (1ull << 47))
    return Fail(EINVAL, "build: validate: registers point outside the guest address space");
  TRY(state::SandboxState * s, WithContext(state::DeserializeState(cp.contents.kernel_state.data(),
                                                                   cp.contents.kernel_state.size()),
                                           "build: validate: kernel state"));
  timer.Done("validate");

  // layout
  FuncImageSpec spec;
  for (const CheckpointSegment& seg : cp.segments) {
    const CheckpointVma& v = seg.vma;
    const uint64_t size = v.end - v.start;
    if (seg.file_size % kPage != 0 || seg.file_offset % kPage != 0 || seg.file_size > size)
      return Fail(EINVAL, "build: layout: mapping at " + std::to_string(v.start) +
                              " is not page-aligned in the checkpoint");
    // Runs of pages, each either all-zero or not; unstored pages (PROT_NONE) are zero.
    uint64_t run_start = 0;
    bool run_zero = true;
    auto flush = [&](uint64_t end) {
      if (end == run_start) return;
      SegmentInput in{v.start + run_start, end - run_start, v.prot, v.kind,
                      run_zero ? nullptr : mapping.base + seg.file_offset + run_start};
      (run_zero ? report.zero_bytes : report.stored_bytes) += end - run_start;
      if (!spec.segments.empty() && Extends(spec.segments.back(), in))
        spec.segments.back().size += in.size;
      else
        spec.segments.push_back(in);
    };
    for (uint64_t off = 0; off < size; off += kPage) {
      const bool zero =
          off >= seg.file_size || AllZero(mapping.base + seg.file_offset + off, kPage);
      if (off == 0) run_zero = zero;
      if (zero != run_zero) {
        flush(off);
        run_start = off;
        run_zero = zero;
      }
    }
    flush(size);
  }
  report.segments = spec.segments.size();
  timer.Done("layout");

  // predeserialize
  state::ArenaImage arena = state::BuildArena(*s);
  spec.arena = std::move(arena.bytes);
  spec.arena_root = 0;
  spec.relocations = std::move(arena.relocations);
  spec.object_counts = std::move(arena.object_counts);
  report.arena_bytes = spec.arena.size();
  report.relocations = spec.relocations.size();
  timer.Done("predeserialize");

  // write
  const CheckpointMeta& meta = cp.contents.meta;
  spec.function.name = options.name.empty() ? BaseName(meta.exe) : options.name;
  spec.function.exe = meta.exe;
  spec.function.argv = meta.argv;
  spec.function.env = meta.env;
  spec.function.entry_kind = meta.entry_kind;
  spec.function.rootfs = meta.rootfs;
  spec.function.mounts = meta.mounts;
  spec.provenance.checkpoint_hash = XXH3_64bits(mapping.base, mapping.size);
  spec.provenance.catimg_version = options.catimg_version;
  spec.working_set = options.working_set;
  spec.cpu = cp.contents.cpu;
  spec.layout_fingerprint = state::StateLayoutFingerprint();
  spec.regs = cp.contents.regs;
  spec.fpu = cp.contents.fpu;
  spec.xstate = cp.contents.xstate;
  TRY_STATUS(WithContext(WriteFuncImage(output, spec), "build: write " + output));
  timer.Done("write");
  return report;
}

}  // namespace cat::catimg
