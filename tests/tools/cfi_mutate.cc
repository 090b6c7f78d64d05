// cfi_mutate: patches a func-image (.cfi) the way an attacker would and reseals every checksum,
// so that tests reach the structural checks behind the checksums (a checksum catches accidents,
// not attackers: anyone can recompute it). Named edits set one arena word, one relocation entry,
// one manifest field; the random modes make seeded mutations for the fuzz campaign.
//
// How it works: the input must be a well-formed image (header and manifest checksums right, the
// manifest passes the FlatBuffers Verifier). The manifest is unpacked with the FlatBuffers object
// API, so every field, including ones added to func_image.fbs later, is carried over as it is.
// Everything after the manifest (segments, arena, relocations: the "body") is kept byte for byte
// at the same offsets; only if an edited manifest no longer fits before the body, the body moves
// back by whole pages and every file offset in the manifest moves with it. Then every checksum
// is recomputed over whatever the (possibly edited) manifest points at: each stored segment,
// the arena and the relocation table (where they lie inside the file), the manifest, and the
// header (file size, manifest size and checksum, header checksum).
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/base/unique_fd.h"
#include "format/image/func_image_generated.h"
#include "format/image/func_image_layout.h"
#include "format/state/sandbox_state.h"
#include "tests/tools/cfi_edit.h"

namespace {

using namespace cat;
using namespace cat::image_layout;

// ---- small helpers -------------------------------------------------------------------------

Result<uint64_t> ParseU64(const std::string& s) {
  if (s.empty()) return Fail(EINVAL, "empty number");
  errno = 0;
  char* end = nullptr;
  uint64_t v;
  if (s[0] == '-')
    v = static_cast<uint64_t>(std::strtoll(s.c_str(), &end, 0));  // "-1" is all ones
  else
    v = std::strtoull(s.c_str(), &end, 0);
  if (errno != 0 || end == s.c_str() || *end != '\0') return Fail(EINVAL, "bad number '" + s + "'");
  return v;
}

// "KEY=VALUE" into its halves.
Result<std::pair<std::string, std::string>> SplitAssign(const std::string& s) {
  const size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0) return Fail(EINVAL, "'" + s + "' is not KEY=VALUE");
  return std::pair{s.substr(0, eq), s.substr(eq + 1)};
}

Result<std::vector<uint8_t>> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::unexpected(Error::FromErrno("open " + path));
  std::vector<uint8_t> data;
  uint8_t buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(Error::FromErrno("read " + path));
    if (n == 0) break;
    data.insert(data.end(), buf, buf + n);
  }
  return data;
}

Status WriteFile(const std::string& path, const std::vector<uint8_t>& data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return std::unexpected(Error::FromErrno("create " + path));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(Error::FromErrno("write " + path));
    done += static_cast<size_t>(n);
  }
  return {};
}

// ---- the image being edited ----------------------------------------------------------------

using cat::testing::Image;
using cat::testing::InBody;

Result<Image> Load(const std::string& path) {
  auto data = ReadFile(path);
  if (!data) return std::unexpected(data.error());
  return cat::testing::LoadImage(*data, path);
}

// ---- named edits ---------------------------------------------------------------------------

// Arena bytes [off, off+width) in the body, or an error naming the edit.
Result<uint8_t*> ArenaSlot(Image& img, uint64_t off, uint64_t width, const std::string& what) {
  const fbs::ArenaT* a = img.manifest->arena.get();
  uint64_t rel = 0;
  if (!a || off > a->size || width > a->size - off || !InBody(img, a->offset + off, width, &rel))
    return Fail(EINVAL, what + ": arena offset " + std::to_string(off) + " (+" +
                            std::to_string(width) + ") is outside the " +
                            std::to_string(a ? a->size : 0) + "-byte arena");
  return &img.body[rel];
}

Status ArenaEdit(Image& img, const std::string& spec, int width) {
  const std::string what = "--arena-" + std::string(width == 8   ? "u64"
                                                    : width == 4 ? "u32"
                                                                 : "byte");
  auto kv = SplitAssign(spec);
  if (!kv) return std::unexpected(std::move(kv.error()).Context(what));
  auto off = ParseU64(kv->first);
  auto val = ParseU64(kv->second);
  if (!off || !val) return Fail(EINVAL, what + " " + spec + ": bad number");
  auto p = ArenaSlot(img, *off, width, what);
  if (!p) return std::unexpected(p.error());
  if (width == 8) Put64(*p, *val);
  if (width == 4) Put32(*p, static_cast<uint32_t>(*val));
  if (width == 1) **p = static_cast<uint8_t>(*val);
  return {};
}

Result<uint8_t*> RelocSlot(Image& img, uint64_t index) {
  const fbs::RelocationsT* r = img.manifest->relocations.get();
  uint64_t rel = 0;
  if (!r || index >= r->count || index > UINT64_MAX / 8 - 1 ||
      !InBody(img, r->offset + index * 8, 8, &rel))
    return Fail(EINVAL, "--reloc: entry " + std::to_string(index) + " is not in the " +
                            std::to_string(r ? r->count : 0) + "-entry relocation table");
  return &img.body[rel];
}

Status RelocEdit(Image& img, const std::string& spec) {
  auto kv = SplitAssign(spec);
  if (!kv) return std::unexpected(std::move(kv.error()).Context("--reloc"));
  auto i = ParseU64(kv->first);
  auto val = ParseU64(kv->second);
  if (!i || !val) return Fail(EINVAL, "--reloc " + spec + ": bad number");
  auto p = RelocSlot(img, *i);
  if (!p) return std::unexpected(p.error());
  Put64(*p, *val);
  return {};
}

Status SegmentEdit(Image& img, const std::string& spec) {
  auto kv = SplitAssign(spec);
  const size_t dot = kv ? kv->first.find('.') : std::string::npos;
  if (dot == std::string::npos) return Fail(EINVAL, "--segment " + spec + ": want I.FIELD=VALUE");
  auto i = ParseU64(kv->first.substr(0, dot));
  const std::string field = kv->first.substr(dot + 1);
  auto val = ParseU64(kv->second);
  if (!i || !val) return Fail(EINVAL, "--segment " + spec + ": bad number");
  auto& segs = img.manifest->segments;
  if (*i >= segs.size() || !segs[*i])
    return Fail(EINVAL, "--segment " + spec + ": the image has " + std::to_string(segs.size()) +
                            " segments");
  fbs::SegmentT& s = *segs[*i];
  if (field == "guest_addr")
    s.guest_addr = *val;
  else if (field == "size")
    s.size = *val;
  else if (field == "prot")
    s.prot = static_cast<uint32_t>(*val);
  else if (field == "vma_kind")
    s.vma_kind = static_cast<uint32_t>(*val);
  else if (field == "stored")
    s.stored = *val != 0;
  else if (field == "file_offset")
    s.file_offset = *val;
  else
    return Fail(EINVAL, "--segment " + spec + ": unknown field '" + field +
                            "' (guest_addr, size, prot, vma_kind, stored, file_offset)");
  return {};
}

// Sets the CPU record's register NAME (format 1.2), for --manifest cpu.NAME=VALUE: a crafted
// image that asks for a feature this host lacks. xcr0 is 64-bit, the rest 32 (truncated).
bool SetCpuField(fbs::CpuT& cpu, const std::string& name, uint64_t v) {
  if (name == "xcr0") {
    cpu.xcr0 = v;
    return true;
  }
  for (auto [n, field] :
       std::initializer_list<std::pair<const char*, uint32_t*>>{{"leaf1_ecx", &cpu.leaf1_ecx},
                                                                {"leaf1_edx", &cpu.leaf1_edx},
                                                                {"leaf7_ebx", &cpu.leaf7_ebx},
                                                                {"leaf7_ecx", &cpu.leaf7_ecx},
                                                                {"leaf7_edx", &cpu.leaf7_edx},
                                                                {"leaf7_1_eax", &cpu.leaf7_1_eax},
                                                                {"leafd_1_eax", &cpu.leafd_1_eax},
                                                                {"ext1_ecx", &cpu.ext1_ecx},
                                                                {"ext1_edx", &cpu.ext1_edx},
                                                                {"xsave_size", &cpu.xsave_size}})
    if (name == n) {
      *field = static_cast<uint32_t>(v);
      return true;
    }
  return false;
}

// --manifest KEY=VALUE: the scalar manifest fields outside the segments.
Status ManifestEdit(Image& img, const std::string& spec) {
  auto kv = SplitAssign(spec);
  if (!kv) return std::unexpected(std::move(kv.error()).Context("--manifest"));
  auto val = ParseU64(kv->second);
  if (!val) return Fail(EINVAL, "--manifest " + spec + ": bad number");
  fbs::ManifestT& m = *img.manifest;
  const std::string& k = kv->first;
  const uint64_t v = *val;
  if (k == "format_major")
    m.format_major = static_cast<uint16_t>(v);
  else if (k == "format_minor")
    m.format_minor = static_cast<uint16_t>(v);
  else if (k == "layout_fingerprint")
    m.layout_fingerprint = v;
  else if (k == "arena.offset" && m.arena)
    m.arena->offset = v;
  else if (k == "arena.size" && m.arena)
    m.arena->size = v;
  else if (k == "arena.root" && m.arena)
    m.arena->root = v;
  else if (k == "relocations.offset" && m.relocations)
    m.relocations->offset = v;
  else if (k == "relocations.size" && m.relocations)
    m.relocations->size = v;
  else if (k == "relocations.count" && m.relocations)
    m.relocations->count = v;
  else if (k.starts_with("cpu.") && m.cpu && SetCpuField(*m.cpu, k.substr(4), v))
    ;
  else if (k == "regs.rip" && m.regs)
    m.regs->mutate_rip(v);
  else if (k == "regs.rsp" && m.regs)
    m.regs->mutate_rsp(v);
  else if (k == "regs.fs_base" && m.regs)
    m.regs->mutate_fs_base(v);
  else
    return Fail(EINVAL, "--manifest " + spec + ": unknown key '" + k + "'");
  return {};
}

Status MountEdit(Image& img, const std::string& spec) {
  auto kv = SplitAssign(spec);
  if (!kv) return std::unexpected(std::move(kv.error()).Context("--mount"));
  auto i = ParseU64(kv->first);
  if (!i) return Fail(EINVAL, "--mount " + spec + ": bad index");
  if (!img.manifest->function) return Fail(EINVAL, "--mount: the manifest has no function");
  auto& mounts = img.manifest->function->mounts;
  if (*i > mounts.size())
    return Fail(EINVAL, "--mount " + spec + ": the image has " + std::to_string(mounts.size()) +
                            " mounts (index " + std::to_string(mounts.size()) + " appends one)");
  if (*i == mounts.size())
    mounts.push_back(kv->second);
  else
    mounts[*i] = kv->second;
  return {};
}

// --drop-segment-data: every segment becomes all-zero (not stored) and the body keeps only the
// arena and the relocation table, so a fuzzer's seed is kilobytes instead of the program's
// pages (the segment bytes are never parsed: they are mapped).
Status DropSegmentData(Image& img) {
  fbs::ManifestT& m = *img.manifest;
  uint64_t arena_rel = 0, reloc_rel = 0;
  if (!m.arena || !m.relocations || !InBody(img, m.arena->offset, m.arena->size, &arena_rel) ||
      !InBody(img, m.relocations->offset, m.relocations->size, &reloc_rel))
    return Fail(EINVAL, "--drop-segment-data: the arena or relocation table is not in the file");
  const uint64_t asize = m.arena->size, rsize = m.relocations->size;
  std::vector<uint8_t> body(AlignUp(asize, 8) + rsize, 0);
  std::copy_n(img.body.begin() + static_cast<ptrdiff_t>(arena_rel), asize, body.begin());
  std::copy_n(img.body.begin() + static_cast<ptrdiff_t>(reloc_rel), rsize,
              body.begin() + static_cast<ptrdiff_t>(AlignUp(asize, 8)));
  img.body = std::move(body);
  m.arena->offset = img.body_offset;
  m.relocations->offset = img.body_offset + AlignUp(asize, 8);
  for (auto& seg : m.segments) {
    if (!seg) continue;
    seg->stored = false;
    seg->file_offset = 0;
    seg->checksum = 0;
  }
  return {};
}

// ---- random edits --------------------------------------------------------------------------

// Values that tend to break parsers: boundaries, sign bits, sizes just past a limit.
uint64_t Interesting(std::mt19937_64& rng, uint64_t old, uint64_t limit) {
  const uint64_t choices[] = {0,
                              1,
                              old + 1,
                              old - 1,
                              old + 8,
                              old ^ (1ull << (rng() % 64)),
                              limit,
                              limit - 1,
                              limit + 1,
                              0x7fffffffull,
                              0x80000000ull,
                              0xffffffffull,
                              0x7f000009ull,
                              0x0e0000000000ull,
                              0x7ffffffff000ull,
                              0x7fffffffffffffffull,
                              ~0ull,
                              ~0ull - 7,
                              rng()};
  return choices[rng() % std::size(choices)];
}

void RandomArena(Image& img, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const fbs::ArenaT* a = img.manifest->arena.get();
  uint64_t arena_rel = 0;
  if (!a || a->size < 8 || !InBody(img, a->offset, a->size, &arena_rel)) return;
  const uint64_t size = a->size;
  uint8_t* arena = &img.body[arena_rel];
  const fbs::RelocationsT* r = img.manifest->relocations.get();
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 8) {
      case 0:  // one bit
        arena[rng() % size] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // one byte
        arena[rng() % size] = static_cast<uint8_t>(rng());
        break;
      case 2:
      case 3: {  // an aligned word: lengths, counts, offsets, tags
        uint8_t* p = arena + (rng() % (size / 8)) * 8;
        Put64(p, Interesting(rng, Get64(p), size));
        break;
      }
      case 4: {  // an aligned half-word: small counts, enums, fds
        uint8_t* p = arena + (rng() % (size / 4)) * 4;
        Put32(p, static_cast<uint32_t>(Interesting(rng, Get32(p), size)));
        break;
      }
      case 5:
      case 6: {  // a pointer slot the relocation table lists
        uint64_t rel = 0;
        if (!r || r->count == 0) break;
        const uint64_t i = rng() % r->count;
        if (!InBody(img, r->offset + i * 8, 8, &rel)) break;
        const uint64_t slot = Get64(&img.body[rel]);
        if (slot > size - 8) break;
        Put64(arena + slot, Interesting(rng, Get64(arena + slot), size));
        break;
      }
      case 7: {  // a relocation entry itself
        uint64_t rel = 0;
        if (!r || r->count == 0) break;
        const uint64_t i = rng() % r->count;
        if (!InBody(img, r->offset + i * 8, 8, &rel)) break;
        Put64(&img.body[rel], Interesting(rng, Get64(&img.body[rel]), size));
        break;
      }
    }
  }
}

std::string RandomString(std::mt19937_64& rng) {
  static const char* const kStrings[] = {
      "",      "/",          "/proc", "/:/", "/:/:rw",      "/etc:/etc:rw", "..",
      "../..", "/tmp/../..", ":",     "::",  "/a:/b:bogus", "/dev:/dev",    "x"};
  if (rng() % 4 != 0) return kStrings[rng() % std::size(kStrings)];
  std::string s(rng() % 5000, 'A');
  for (char& c : s) c = static_cast<char>(1 + rng() % 255);
  return s;
}

void RandomManifest(Image& img, uint64_t seed) {
  std::mt19937_64 rng(seed);
  fbs::ManifestT& m = *img.manifest;
  const uint64_t file_size = img.body_offset + img.body.size();
  const int edits = 1 + static_cast<int>(rng() % 2);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 12) {
      case 0:
      case 1:
      case 2: {  // a segment field
        if (m.segments.empty() || !m.segments[0]) break;
        fbs::SegmentT& s = *m.segments[rng() % m.segments.size()];
        switch (rng() % 6) {
          case 0: {
            const uint64_t addrs[] = {0,
                                      0x1000,
                                      0xff000,
                                      0x100000,
                                      0x7ffffffff000ull,
                                      0x800000000000ull,
                                      s.guest_addr + kPageSize,
                                      s.guest_addr - kPageSize,
                                      rng() & ~(kPageSize - 1)};
            s.guest_addr = addrs[rng() % std::size(addrs)];
            break;
          }
          case 1:
            s.size = Interesting(rng, s.size, file_size);
            break;
          case 2:
            s.prot = static_cast<uint32_t>(Interesting(rng, s.prot, 8));
            break;
          case 3:
            s.vma_kind = static_cast<uint32_t>(Interesting(rng, s.vma_kind, 8));
            break;
          case 4:
            s.stored = !s.stored;
            break;
          case 5:
            s.file_offset = Interesting(rng, s.file_offset, file_size);
            break;
        }
        break;
      }
      case 3: {  // the segment list's shape
        if (m.segments.empty()) break;
        const size_t i = rng() % m.segments.size();
        if (rng() % 2 && m.segments[i]) {
          m.segments.insert(m.segments.begin() + static_cast<ptrdiff_t>(i),
                            std::make_unique<fbs::SegmentT>(*m.segments[i]));
        } else {
          m.segments.erase(m.segments.begin() + static_cast<ptrdiff_t>(i));
        }
        break;
      }
      case 4:  // the arena's place
        if (!m.arena) break;
        switch (rng() % 3) {
          case 0:
            m.arena->offset = Interesting(rng, m.arena->offset, file_size);
            break;
          case 1:
            m.arena->size = Interesting(rng, m.arena->size, file_size);
            break;
          case 2:
            m.arena->root = Interesting(rng, m.arena->root, m.arena->size);
            break;
        }
        break;
      case 5:  // the relocation table's place
        if (!m.relocations) break;
        switch (rng() % 3) {
          case 0:
            m.relocations->offset = Interesting(rng, m.relocations->offset, file_size);
            break;
          case 1: {
            const uint64_t count = Interesting(rng, m.relocations->count, file_size / 8);
            m.relocations->count = count;
            m.relocations->size = count * 8;  // keep the redundancy, or Open stops at it
            break;
          }
          case 2:
            m.relocations->size = Interesting(rng, m.relocations->size, file_size);
            break;
        }
        break;
      case 6: {  // registers
        if (!m.regs) break;
        switch (rng() % 4) {
          case 0:
            m.regs->mutate_rip(Interesting(rng, m.regs->rip(), 0x100000));
            break;
          case 1:
            m.regs->mutate_rsp(Interesting(rng, m.regs->rsp(), 0x100000));
            break;
          case 2:
            m.regs->mutate_cs(Interesting(rng, m.regs->cs(), 0x33));
            break;
          case 3:
            m.regs->mutate_fs_base(Interesting(rng, m.regs->fs_base(), 0x100000));
            break;
        }
        break;
      }
      case 7:  // fpu / xstate sizes
        if (rng() % 2)
          m.fpu.resize(rng() % 1024);
        else
          m.xstate.resize(rng() % 8192, static_cast<uint8_t>(rng()));
        break;
      case 8: {  // mounts: what the boundary check must refuse
        if (!m.function) break;
        auto& mounts = m.function->mounts;
        if (mounts.empty() || rng() % 2)
          mounts.push_back(RandomString(rng));
        else
          mounts[rng() % mounts.size()] = RandomString(rng);
        break;
      }
      case 9:  // rootfs, entry kind, exe
        if (!m.function) break;
        switch (rng() % 3) {
          case 0:
            m.function->rootfs = RandomString(rng);
            break;
          case 1:
            m.function->entry_kind = RandomString(rng);
            break;
          case 2:
            m.function->exe = RandomString(rng);
            break;
        }
        break;
      case 10:  // versions and the fingerprint
        switch (rng() % 3) {
          case 0:
            m.format_minor = static_cast<uint16_t>(rng());
            break;
          case 1:
            m.format_major = static_cast<uint16_t>(rng() % 3);
            break;
          case 2:
            m.layout_fingerprint ^= 1ull << (rng() % 64);
            break;
        }
        break;
      case 11:  // object counts (inspect renders them)
        if (m.object_counts.empty() || !m.object_counts[0]) break;
        m.object_counts[rng() % m.object_counts.size()]->count = Interesting(rng, 0, ~0ull);
        break;
    }
  }
}

// ---- --info --------------------------------------------------------------------------------

void PrintInfo(const Image& img) {
  const fbs::ManifestT& m = *img.manifest;
  std::printf("manifest at %" PRIu64 ", body at %" PRIu64 " (%zu bytes)\n", img.manifest_offset,
              img.body_offset, img.body.size());
  for (size_t i = 0; i < m.segments.size(); ++i) {
    const fbs::SegmentT& s = *m.segments[i];
    std::printf("segment %zu: guest_addr=0x%" PRIx64 " size=%" PRIu64
                " prot=%u vma_kind=%u "
                "stored=%d file_offset=%" PRIu64 "\n",
                i, s.guest_addr, s.size, s.prot, s.vma_kind, s.stored ? 1 : 0, s.file_offset);
  }
  if (m.arena)
    std::printf("arena: offset=%" PRIu64 " size=%" PRIu64 " root=%" PRIu64 "\n", m.arena->offset,
                m.arena->size, m.arena->root);
  // Arena offsets of root-object fields that tests patch (the root is at offset 0), so that
  // scripts need not hard-code the layout.
  using cat::state::SandboxState;
  std::printf("field memory.limit_bytes %zu\n", offsetof(SandboxState, memory.limit_bytes));
  std::printf("field memory.mapped_bytes %zu\n", offsetof(SandboxState, memory.mapped_bytes));
  std::printf("field fds.entries %zu\n", offsetof(SandboxState, fds.entries));
  std::printf("field fds.max_fds %zu\n", offsetof(SandboxState, fds.max_fds));
  std::printf("field mounts %zu\n", offsetof(SandboxState, mounts));
  std::printf("field clocks.monotonic_offset_ns %zu\n",
              offsetof(SandboxState, clocks.monotonic_offset_ns));
  std::printf("field clocks.snapshot_monotonic_ns %zu\n",
              offsetof(SandboxState, clocks.snapshot_monotonic_ns));
  if (m.function)
    for (size_t i = 0; i < m.function->mounts.size(); ++i)
      std::printf("mount %zu: %s\n", i, m.function->mounts[i].c_str());
  if (!m.relocations) return;
  std::printf("relocations: offset=%" PRIu64 " count=%" PRIu64 "\n", m.relocations->offset,
              m.relocations->count);
  uint64_t arena_rel = 0;
  const bool arena_ok = m.arena && InBody(img, m.arena->offset, m.arena->size, &arena_rel);
  for (uint64_t i = 0; i < m.relocations->count; ++i) {
    uint64_t rel = 0;
    if (!InBody(img, m.relocations->offset + i * 8, 8, &rel)) break;
    const uint64_t slot = Get64(&img.body[rel]);
    if (arena_ok && m.arena->size >= 8 && slot <= m.arena->size - 8)
      std::printf("reloc %" PRIu64 ": slot %" PRIu64 " holds %" PRIu64 "\n", i, slot,
                  Get64(&img.body[arena_rel + slot]));
    else
      std::printf("reloc %" PRIu64 ": slot %" PRIu64 " (outside the arena)\n", i, slot);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "cfi_mutate: patch a func-image (.cfi) and reseal every checksum (segments, arena, "
      "relocation table, manifest, header), so the result passes the checksum checks and only "
      "the structural checks can refuse it. A test tool (tests/tools/), not part of the product.\n"
      "Offsets (OFF) are relative to the arena's start; numbers take 0x hex and -1 (all ones). "
      "Edits apply in this order: arena, relocations, segments, manifest keys, mounts, working "
      "set, rootfs, "
      "--drop-segment-data, random modes; then everything is resealed. The input must be a "
      "well-formed image."};
  app.set_version_flag("--version", "cfi_mutate 1.0");
  std::string in, out;
  std::vector<std::string> arena64, arena32, arena8, relocs, segments, manifest_keys, mounts,
      working_set;
  std::string rootfs;
  bool set_rootfs = false, reseal_only = false, info = false, drop_segment_data = false;
  uint64_t random_arena = 0, random_manifest = 0;
  app.add_option("image", in, "the func-image to read")->required();
  app.add_option("-o,--output", out, "where to write the mutated image (may equal the input)");
  app.add_option("--arena-u64", arena64, "OFF=VAL: set the little-endian u64 at arena offset OFF");
  app.add_option("--arena-u32", arena32, "OFF=VAL: set the little-endian u32 at arena offset OFF");
  app.add_option("--arena-byte", arena8, "OFF=VAL: set the byte at arena offset OFF");
  app.add_option("--reloc", relocs, "I=VAL: set relocation entry I (an arena offset) to VAL");
  app.add_option("--segment", segments,
                 "I.FIELD=VAL: set a field of segment I: guest_addr, size, prot, vma_kind, "
                 "stored (0/1), file_offset");
  app.add_option("--manifest", manifest_keys,
                 "KEY=VAL: set a manifest scalar: format_major, format_minor, layout_fingerprint, "
                 "arena.offset|size|root, relocations.offset|size|count, regs.rip|rsp|fs_base, "
                 "cpu.leaf1_ecx|leaf1_edx|leaf7_ebx|leaf7_ecx|leaf7_edx|leaf7_1_eax|leafd_1_eax|"
                 "ext1_ecx|ext1_edx|xcr0|xsave_size (format 1.2)");
  app.add_option("--mount", mounts,
                 "I=STR: set the manifest's mount I (\"HOST:GUEST[:ro|rw]\"); I = the mount count "
                 "appends one");
  app.add_option("--working-set", working_set,
                 "ADDR=PAGES: append a run to the manifest's working set (format 1.1)");
  app.add_option("--rootfs", rootfs, "STR: set the manifest's rootfs")
      ->each([&](const std::string&) { set_rootfs = true; });
  app.add_option("--random-arena", random_arena,
                 "SEED: 1-3 seeded random edits of the arena (bits, bytes, aligned words with "
                 "boundary values, pointer slots the relocation table lists, relocation entries)");
  app.add_option("--random-manifest", random_manifest,
                 "SEED: 1-2 seeded random edits of manifest fields (segments, arena and relocation "
                 "placement, registers, FPU/xstate sizes, mounts, rootfs, versions, counts)");
  app.add_flag("--drop-segment-data", drop_segment_data,
               "make every segment all-zero (not stored) and keep only the arena and relocations "
               "in the file: a small image for fuzzing seeds (it does not boot to the same "
               "program)");
  app.add_flag("--reseal-only", reseal_only,
               "no edits: rewrite and reseal (the output must pass `catimg verify`)");
  app.add_flag("--info", info,
               "print the segments, arena, mounts and every relocation entry (slot and the value "
               "stored there) of the (edited) image to stdout");
  app.footer(
      "Examples:\n"
      "  cfi_mutate fn.cfi -o bad.cfi --reloc 0=0x7fffffff    # a relocation outside the arena\n"
      "  cfi_mutate fn.cfi -o bad.cfi --segment 0.guest_addr=0x100000\n"
      "  cfi_mutate fn.cfi -o bad.cfi --random-arena 42\n"
      "  cfi_mutate fn.cfi --info                             # find pointer slots to edit\n"
      "Exit status: 0 written, 2 bad arguments or an input that is not a well-formed image.");
  CLI11_PARSE(app, argc, argv);

  const bool any_edit = !arena64.empty() || !arena32.empty() || !arena8.empty() ||
                        !relocs.empty() || !segments.empty() || !manifest_keys.empty() ||
                        !mounts.empty() || !working_set.empty() || set_rootfs ||
                        drop_segment_data || app.count("--random-arena") > 0 ||
                        app.count("--random-manifest") > 0;
  auto die = [](const std::string& msg) {
    std::fprintf(stderr, "cfi_mutate: %s\n", msg.c_str());
    return 2;
  };
  if (out.empty() && !info) return die("nothing to do: give -o OUT (and edits) or --info");
  if (!out.empty() && !any_edit && !reseal_only)
    return die("no edit given: name one, or say --reseal-only");
  if (reseal_only && any_edit) return die("--reseal-only takes no edits");

  auto img = Load(in);
  if (!img) return die(img.error().message());
  for (const auto& s : arena64)
    if (auto r = ArenaEdit(*img, s, 8); !r) return die(r.error().message());
  for (const auto& s : arena32)
    if (auto r = ArenaEdit(*img, s, 4); !r) return die(r.error().message());
  for (const auto& s : arena8)
    if (auto r = ArenaEdit(*img, s, 1); !r) return die(r.error().message());
  for (const auto& s : relocs)
    if (auto r = RelocEdit(*img, s); !r) return die(r.error().message());
  for (const auto& s : segments)
    if (auto r = SegmentEdit(*img, s); !r) return die(r.error().message());
  for (const auto& s : manifest_keys)
    if (auto r = ManifestEdit(*img, s); !r) return die(r.error().message());
  for (const auto& s : mounts)
    if (auto r = MountEdit(*img, s); !r) return die(r.error().message());
  for (const auto& s : working_set) {
    auto kv = SplitAssign(s);
    if (!kv) return die("--working-set: " + kv.error().message());
    auto addr = ParseU64(kv->first);
    auto pages = ParseU64(kv->second);
    if (!addr || !pages) return die("--working-set: '" + s + "' is not ADDR=PAGES");
    img->manifest->working_set.emplace_back(*addr, *pages);
  }
  if (set_rootfs) {
    if (!img->manifest->function) return die("--rootfs: the manifest has no function");
    img->manifest->function->rootfs = rootfs;
  }
  if (drop_segment_data)
    if (auto r = DropSegmentData(*img); !r) return die(r.error().message());
  if (app.count("--random-arena") > 0) RandomArena(*img, random_arena);
  if (app.count("--random-manifest") > 0) RandomManifest(*img, random_manifest);
  if (info) PrintInfo(*img);
  if (out.empty()) return 0;
  if (auto r = WriteFile(out, cat::testing::ResealImage(*img)); !r) return die(r.error().message());
  return 0;
}
