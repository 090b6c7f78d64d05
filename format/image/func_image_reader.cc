// FuncImage::Open and Verify: everything a loader needs to trust a .cfi before following any
// offset in it. Open checks, in this order (each step relies on the ones before): the file
// exists and is not empty, the magic, the version (before the checksum, because a newer major
// may lay its header out differently), the header checksum, the manifest's bounds, checksum
// and FlatBuffers verification, then the bounds of every part the manifest points at. Verify
// hashes the bulk parts, which Open leaves alone so that cold boot stays cheap.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "format/base/guest_layout.h"
#include "format/base/mount_spec.h"
#include "format/image/func_image.h"
#include "format/image/func_image_generated.h"
#include "format/image/func_image_layout.h"
#include "format/state/arena_verifier.h"
#include "format/state/memory_map.h"
#include "format/state/state_limits.h"

namespace cat {
namespace {

GuestRegs FromFbs(const fbs::Regs& r) {
  return GuestRegs{r.r15(),     r.r14(),      r.r13(), r.r12(), r.rbp(),    r.rbx(), r.r11(),
                   r.r10(),     r.r9(),       r.r8(),  r.rax(), r.rcx(),    r.rdx(), r.rsi(),
                   r.rdi(),     r.orig_rax(), r.rip(), r.cs(),  r.eflags(), r.rsp(), r.ss(),
                   r.fs_base(), r.gs_base(),  r.ds(),  r.es(),  r.fs(),     r.gs()};
}

using namespace image_layout;

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
  return buf;
}

// [begin, end) as "bytes [a, b)".
std::string Range(uint64_t begin, uint64_t end) {
  return "bytes [" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

Status PreadAll(int fd, void* buf, size_t size, uint64_t offset) {
  auto* p = static_cast<uint8_t*>(buf);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("pread");
    if (n == 0) return Fail(EIO, "unexpected end of file at byte " + std::to_string(offset));
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

// XXH3-64 of a file region, read in chunks so a large segment needs no large buffer.
Result<uint64_t> HashRegion(int fd, uint64_t offset, uint64_t size) {
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  if (!state) return Fail(ENOMEM, "XXH3_createState");
  XXH3_64bits_reset(state.get());
  std::vector<uint8_t> buf(std::min<uint64_t>(size, 1 << 20));
  while (size > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size, buf.size()));
    TRY_STATUS(PreadAll(fd, buf.data(), n, offset));
    XXH3_64bits_update(state.get(), buf.data(), n);
    offset += n;
    size -= n;
  }
  return XXH3_64bits_digest(state.get());
}

std::string Str(const flatbuffers::String* s) {
  return s ? s->str() : std::string();
}
std::vector<std::string> Strs(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* v) {
  std::vector<std::string> out;
  if (v)
    for (const flatbuffers::String* s : *v) out.push_back(Str(s));
  return out;
}

// The structural verifier's verdict on the arena as stored ("" if it passes): the arena and
// the table are read into private memory (16-byte aligned, as the verifier needs).
Result<std::string> ArenaVerdict(int fd, uint64_t offset, uint64_t size, uint64_t root,
                                 uint64_t table_offset, uint64_t count) {
  if (root != 0) return "state arena: root at offset " + std::to_string(root) + " (it is always 0)";
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, FreeDeleter> arena(
      static_cast<uint8_t*>(std::aligned_alloc(16, (size + 15) & ~uint64_t{15})));
  std::vector<uint64_t> table(count);
  if (!arena) return Fail(ENOMEM, "no memory for a copy of the arena");
  TRY_STATUS(PreadAll(fd, arena.get(), size, offset));
  TRY_STATUS(PreadAll(fd, table.data(), count * 8, table_offset));
  if (auto st = state::VerifyArena(arena.get(), size, table.data(), count); !st)
    return st.error().message();
  return std::string();
}

// A part of the file the manifest points at, for the bounds and overlap checks.
struct Part {
  std::string name;
  uint64_t begin, end;
};

}  // namespace

Result<FuncImage> FuncImage::Open(const std::string& path) {
  const std::string ctx = "func-image " + path;
  auto fail = [&](int code, const std::string& msg) { return Fail(code, ctx + ": " + msg); };

  FuncImage img;
  img.path_ = path;
  // O_NONBLOCK: a FIFO (or a device) at the path must not block the opener (a served
  // directory's rescan, a boot) before fstat below refuses it; a regular file ignores it.
  img.fd_.Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!img.fd_.valid()) return std::unexpected(Error::FromErrno(ctx + ": cannot open"));
  struct stat st;
  if (::fstat(img.fd_.get(), &st) != 0) return std::unexpected(Error::FromErrno(ctx + ": fstat"));
  if (!S_ISREG(st.st_mode)) return fail(EINVAL, "not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  img.file_size_ = size;
  if (size == 0) return fail(EINVAL, "empty file (0 bytes): not a func-image");

  // Magic and version first: only then do we know how to read the rest of the header.
  uint8_t fixed[kHeaderSize] = {};
  const size_t have = static_cast<size_t>(std::min<uint64_t>(size, kHeaderSize));
  if (auto r = PreadAll(img.fd_.get(), fixed, have, 0); !r)
    return std::unexpected(std::move(r.error()).Context(ctx + ": read header"));
  if (std::memcmp(fixed, kMagic, std::min(have, sizeof(kMagic))) != 0)
    return fail(EINVAL, "not a func-image (bad magic; expected \"CATFIMG\")");
  if (size < kOffHeaderSize + 4)
    return fail(EINVAL, "truncated: file is " + std::to_string(size) +
                            " bytes, shorter than the func-image header");
  const uint16_t major = Get16(&fixed[kOffMajor]);
  const uint16_t minor = Get16(&fixed[kOffMinor]);
  const std::string ours = std::to_string(kFuncImageMajor) + ".x";
  if (major > kFuncImageMajor)
    return fail(EPROTONOSUPPORT, "func-image format " + std::to_string(major) +
                                     ".x is newer than this catload (" + ours +
                                     "): rebuild the image with this catimg or upgrade catload");
  if (major < kFuncImageMajor)
    return fail(EPROTONOSUPPORT, "func-image format " + std::to_string(major) +
                                     ".x is older than this catload (" + ours +
                                     "): rebuild the image with this catimg");
  img.major_ = major;
  img.minor_ = minor;

  // A newer minor may have a longer header; its checksum is always the last 8 bytes.
  const uint32_t header_size = Get32(&fixed[kOffHeaderSize]);
  if (header_size < kHeaderSize || header_size > kMaxHeaderSize || header_size % 8 != 0)
    return fail(EINVAL, "bad header size " + std::to_string(header_size) + " (header corrupted?)");
  if (size < header_size)
    return fail(EINVAL, "truncated: file is " + std::to_string(size) + " bytes, shorter than its " +
                            std::to_string(header_size) + "-byte header");
  std::vector<uint8_t> header(header_size);
  if (auto r = PreadAll(img.fd_.get(), header.data(), header_size, 0); !r)
    return std::unexpected(std::move(r.error()).Context(ctx + ": read header"));
  if (XXH3_64bits(header.data(), header_size - 8) != Get64(&header[header_size - 8]))
    return fail(EBADMSG, "header checksum mismatch (header corrupted)");

  const uint64_t declared_size = Get64(&header[kOffFileSize]);
  // Every "past the end" below is named as truncation when the file is shorter than the
  // header says, and as a bad offset otherwise.
  auto past_end = [&](const std::string& what, uint64_t begin, uint64_t end) {
    if (size < declared_size)
      return fail(EINVAL, "truncated: " + what + " at " + Range(begin, end) +
                              " lies past the end of the file (" + std::to_string(size) +
                              " bytes; the header says " + std::to_string(declared_size) + ")");
    return fail(EINVAL, what + " at " + Range(begin, end) + " lies outside the file (" +
                            std::to_string(size) + " bytes)");
  };
  // [begin, begin+len) inside the file, without overflow.
  auto inside = [&](uint64_t begin, uint64_t len) { return begin <= size && len <= size - begin; };

  const uint64_t manifest_offset = Get64(&header[kOffManifestOffset]);
  const uint64_t manifest_size = Get64(&header[kOffManifestSize]);
  if (manifest_offset < header_size || manifest_size == 0)
    return fail(EINVAL,
                "bad manifest location " + Range(manifest_offset, manifest_offset + manifest_size));
  if (!inside(manifest_offset, manifest_size))
    return past_end("manifest", manifest_offset, manifest_offset + manifest_size);
  if (manifest_size > (1ull << 30)) return fail(EINVAL, "manifest larger than 1 GiB");
  std::vector<uint8_t> buf(manifest_size);
  if (auto r = PreadAll(img.fd_.get(), buf.data(), buf.size(), manifest_offset); !r)
    return std::unexpected(std::move(r.error()).Context(ctx + ": read manifest"));
  if (XXH3_64bits(buf.data(), buf.size()) != Get64(&header[kOffManifestChecksum]))
    return fail(EBADMSG, "manifest checksum mismatch (manifest corrupted)");
  flatbuffers::Verifier verifier(buf.data(), buf.size());
  if (!fbs::VerifyManifestBuffer(verifier))
    return fail(EBADMSG, "manifest fails FlatBuffers verification (malformed manifest)");
  const fbs::Manifest* m = fbs::GetManifest(buf.data());
  if (m->format_major() != major)
    return fail(EBADMSG, "manifest says format " + std::to_string(m->format_major()) +
                             ".x but the header says " + std::to_string(major) + ".x");

  img.layout_fingerprint_ = m->layout_fingerprint();
  const fbs::Function* f = m->function();
  img.function_ =
      FunctionInfo{Str(f->name()),       Str(f->exe()),    Strs(f->argv()),  Strs(f->env()),
                   Str(f->entry_kind()), Str(f->rootfs()), Strs(f->mounts())};
  // The capture-time rootfs and mounts are metadata (--mounts-from-image may use them): only
  // the canonical form capture writes is accepted (format/base/mount_spec.h).
  if (!IsRootfsRecord(img.function_.rootfs))
    return fail(EINVAL, "manifest rootfs '" + img.function_.rootfs +
                            "' is not an absolute canonical path (not written by capture)");
  for (size_t i = 0; i < img.function_.mounts.size(); ++i) {
    auto rec = ParseMountRecord(img.function_.mounts[i]);
    if (!rec)
      return fail(EINVAL, "manifest mount " + std::to_string(i) + ": " + rec.error().message());
    for (size_t j = 0; j < i; ++j)
      if (ParseMountRecord(img.function_.mounts[j])->guest == rec->guest)
        return fail(EINVAL, "manifest mount " + std::to_string(i) + ": guest path " + rec->guest +
                                " mounted twice");
  }
  img.provenance_ =
      ImageProvenance{m->provenance()->checkpoint_hash(), Str(m->provenance()->catimg_version())};
  img.regs_ = FromFbs(*m->regs());
  if (m->fpu()->size() != sizeof(img.fpu_.fxsave))
    return fail(EBADMSG, "manifest FPU state is " + std::to_string(m->fpu()->size()) +
                             " bytes, expected 512");
  std::memcpy(img.fpu_.fxsave, m->fpu()->data(), sizeof(img.fpu_.fxsave));
  if (m->xstate()) img.xstate_.assign(m->xstate()->begin(), m->xstate()->end());
  // 1.2: the other threads. Tids are checked here only for being guest tids, distinct and in
  // order; that they are exactly the state's threads is checked where both are at hand (boot,
  // catimg verify: ThreadContextsMatch).
  img.entry_tid_ = m->entry_tid();
  if (img.entry_tid_ < 1 || img.entry_tid_ > state::kMaxPid)
    return fail(EBADMSG,
                "manifest entry_tid " + std::to_string(img.entry_tid_) + " is not a guest tid");
  if (m->threads()) {
    if (m->threads()->size() >= state::kMaxThreads)
      return fail(EBADMSG, "manifest has " + std::to_string(m->threads()->size()) +
                               " other threads, more than the limit of " +
                               std::to_string(state::kMaxThreads - 1));
    int32_t previous = 0;
    for (const fbs::ThreadContext* t : *m->threads()) {
      const std::string name = "manifest thread " + std::to_string(t->tid());
      if (t->tid() < 1 || t->tid() > state::kMaxPid || t->tid() <= previous ||
          t->tid() == img.entry_tid_)
        return fail(EBADMSG, name + ": not a guest tid, out of order, or a duplicate");
      previous = t->tid();
      if (t->fpu()->size() != sizeof(FpuState::fxsave))
        return fail(EBADMSG, name + ": FPU state is " + std::to_string(t->fpu()->size()) +
                                 " bytes, expected 512");
      ThreadContext c;
      c.tid = t->tid();
      c.regs = FromFbs(*t->regs());
      std::memcpy(c.fpu.fxsave, t->fpu()->data(), sizeof(c.fpu.fxsave));
      if (t->xstate()) c.xstate.assign(t->xstate()->begin(), t->xstate()->end());
      img.other_threads_.push_back(std::move(c));
    }
  }
  if (m->object_counts())
    for (const fbs::ObjectCount* c : *m->object_counts())
      img.object_counts_[Str(c->type())] = c->count();

  // Parts of the file, checked for bounds one by one, then for overlap all together.
  std::vector<Part> parts{{"header", 0, header_size},
                          {"manifest", manifest_offset, manifest_offset + manifest_size}};
  uint64_t prev_guest_end = 0;
  for (size_t i = 0; i < m->segments()->size(); ++i) {
    const fbs::Segment* s = m->segments()->Get(i);
    const std::string what = "segment " + std::to_string(i) + " (" + Hex(s->guest_addr()) + ")";
    if (s->guest_addr() % kPageSize != 0 || s->size() % kPageSize != 0 || s->size() == 0 ||
        s->guest_addr() + s->size() < s->guest_addr())
      return fail(EINVAL, what + ": unaligned or empty guest range (size " +
                              std::to_string(s->size()) + ")");
    // Where and how the loader would map it: the sandbox kernel's own checks for a guest
    // mapping (never the trampoline, the low guard or past the address limit), before any
    // byte of the image is mapped into a shell.
    if (const std::string bad = GuestMappingProblem(s->guest_addr(), s->size(), s->prot());
        !bad.empty())
      return fail(EINVAL, what + ": " + bad);
    if (s->vma_kind() >= state::kNumVmaKinds)
      return fail(EINVAL, what + ": unknown VMA kind " + std::to_string(s->vma_kind()));
    if (i > 0 && s->guest_addr() < prev_guest_end)
      return fail(EINVAL, what + ": overlaps the previous segment in guest memory");
    prev_guest_end = s->guest_addr() + s->size();
    if (s->stored()) {
      if (s->file_offset() % kPageSize != 0)
        return fail(EINVAL, what + ": file offset " + std::to_string(s->file_offset()) +
                                " is not page-aligned");
      if (!inside(s->file_offset(), s->size()))
        return past_end(what, s->file_offset(), s->file_offset() + s->size());
      parts.push_back({what, s->file_offset(), s->file_offset() + s->size()});
    }
    img.segments_.push_back(ImageSegment{s->guest_addr(), s->size(), s->prot(), s->vma_kind(),
                                         s->stored(), s->stored() ? s->file_offset() : 0,
                                         s->stored() ? s->checksum() : 0});
  }

  // The write working set (1.1): only hints for the loader's pre-copy, but addresses it will
  // touch in a shell, so held to writable segments like any other field.
  if (m->working_set()) {
    for (const fbs::PageRun* r : *m->working_set())
      img.working_set_.push_back({r->guest_addr(), r->pages()});
    if (const std::string bad = WorkingSetProblem(img.segments_, img.working_set_); !bad.empty())
      return fail(EINVAL, bad);
  }

  // The CPU features (1.2): plain numbers, only the vendor string needs a bound.
  if (const fbs::Cpu* c = m->cpu()) {
    const std::string vendor = Str(c->vendor());
    if (vendor.empty() || vendor.size() > 64)
      return fail(EINVAL, "manifest CPU record: vendor is empty or longer than 64 bytes");
    img.cpu_ = CpuFeatures{vendor,         c->leaf1_ecx(), c->leaf1_edx(),   c->leaf7_ebx(),
                           c->leaf7_ecx(), c->leaf7_edx(), c->leaf7_1_eax(), c->leafd_1_eax(),
                           c->ext1_ecx(),  c->ext1_edx(),  c->xcr0(),        c->xsave_size()};
  }

  const fbs::Arena* a = m->arena();
  if (a->offset() % kPageSize != 0)
    return fail(EINVAL, "arena offset " + std::to_string(a->offset()) + " is not page-aligned");
  if (!inside(a->offset(), a->size()))
    return past_end("arena", a->offset(), a->offset() + a->size());
  if (a->size() == 0 ? a->root() != 0 : a->root() >= a->size())
    return fail(EINVAL, "arena root " + std::to_string(a->root()) + " is outside the " +
                            std::to_string(a->size()) + "-byte arena");
  parts.push_back({"arena", a->offset(), a->offset() + a->size()});
  img.arena_offset_ = a->offset();
  img.arena_size_ = a->size();
  img.arena_root_ = a->root();
  img.arena_checksum_ = a->checksum();

  const fbs::Relocations* rel = m->relocations();
  if (rel->count() > UINT64_MAX / 8 || rel->size() != rel->count() * 8)
    return fail(EINVAL, "relocation table is " + std::to_string(rel->size()) + " bytes for " +
                            std::to_string(rel->count()) + " entries (expected count * 8)");
  if (rel->offset() % 8 != 0)
    return fail(EINVAL, "relocation table offset " + std::to_string(rel->offset()) +
                            " is not 8-byte aligned");
  if (!inside(rel->offset(), rel->size()))
    return past_end("relocation table", rel->offset(), rel->offset() + rel->size());
  parts.push_back({"relocation table", rel->offset(), rel->offset() + rel->size()});
  img.relocations_offset_ = rel->offset();
  img.relocation_count_ = rel->count();
  img.relocations_checksum_ = rel->checksum();

  // Overlapping parts would let one checksum vouch for bytes another part reinterprets.
  std::erase_if(parts, [](const Part& p) { return p.begin == p.end; });
  std::sort(parts.begin(), parts.end(),
            [](const Part& x, const Part& y) { return x.begin < y.begin; });
  for (size_t i = 1; i < parts.size(); ++i)
    if (parts[i].begin < parts[i - 1].end)
      return fail(EINVAL, parts[i].name + " at " + Range(parts[i].begin, parts[i].end) +
                              " overlaps " + parts[i - 1].name + " at " +
                              Range(parts[i - 1].begin, parts[i - 1].end));

  if (size != declared_size)
    return fail(EINVAL, size < declared_size
                            ? "truncated: file is " + std::to_string(size) +
                                  " bytes, the header says " + std::to_string(declared_size)
                            : "file is " + std::to_string(size) + " bytes, the header says " +
                                  std::to_string(declared_size) + " (trailing bytes)");
  return img;
}

Result<std::vector<std::string>> FuncImage::Verify() const {
  std::vector<std::string> bad;
  auto check = [&](const std::string& what, uint64_t offset, uint64_t size,
                   uint64_t expected) -> Status {
    auto hash = HashRegion(fd_.get(), offset, size);
    if (!hash) return std::unexpected(std::move(hash.error()).Context("verify " + what));
    if (*hash != expected) bad.push_back(what + ": checksum mismatch");
    return {};
  };
  for (size_t i = 0; i < segments_.size(); ++i) {
    const ImageSegment& s = segments_[i];
    if (!s.stored) continue;
    TRY_STATUS(check("segment " + std::to_string(i) + " (" + Hex(s.guest_addr) + ")", s.file_offset,
                     s.size, s.checksum));
  }
  const size_t arena_bad_before = bad.size();
  TRY_STATUS(check("arena", arena_offset_, arena_size_, arena_checksum_));
  const size_t bad_before = bad.size();
  TRY_STATUS(
      check("relocation table", relocations_offset_, relocation_count_ * 8, relocations_checksum_));
  // With an intact table, also check that every entry names a pointer slot inside the arena
  // (the loader checks this again before it writes; here it is reported, not refused).
  if (bad.size() == bad_before && relocation_count_ > 0) {
    std::vector<uint8_t> table(relocation_count_ * 8);
    if (auto r = PreadAll(fd_.get(), table.data(), table.size(), relocations_offset_); !r)
      return std::unexpected(std::move(r.error()).Context("verify relocation table"));
    uint64_t outside = 0, first = 0;
    for (uint64_t i = 0; i < relocation_count_; ++i) {
      const uint64_t off = Get64(&table[i * 8]);
      if (arena_size_ < 8 || off > arena_size_ - 8) {
        if (outside++ == 0) first = i;
      }
    }
    if (outside > 0)
      bad.push_back("relocation table: " + std::to_string(outside) +
                    " entries point outside the arena (first: entry " + std::to_string(first) +
                    ")");
  }
  // With intact checksums, the structural verifier cold boot runs (the first bad object).
  if (bad.size() == bad_before && bad_before == arena_bad_before) {
    auto verdict = ArenaVerdict(fd_.get(), arena_offset_, arena_size_, arena_root_,
                                relocations_offset_, relocation_count_);
    if (!verdict) return std::unexpected(std::move(verdict.error()).Context("verify state arena"));
    if (!verdict->empty()) bad.push_back(*verdict);
  }
  return bad;
}

}  // namespace cat
