// Encoders and bounds-checked decoders for the checkpoint's note descriptors and the ELF note
// framing. Integers are written byte by byte in little-endian order (not memcpy'd) so the
// encoding does not depend on the host; nothing read from a file is cast to a struct.
#include "format/checkpoint/checkpoint_notes.h"

#include <elf.h>
#include <sys/procfs.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace cat::checkpoint_notes {
namespace {

// NT_PRSTATUS's pr_reg is the kernel's user_regs_struct, which GuestRegs mirrors.
static_assert(sizeof(GuestRegs) == sizeof(elf_gregset_t));
static_assert(sizeof(FpuState) == 512);
// The x86-64 layouts spec/checkpoint.md documents field by field (and gdb expects).
static_assert(sizeof(elf_prstatus) == 336 && offsetof(elf_prstatus, pr_reg) == 112);
static_assert(sizeof(elf_prpsinfo) == 136 && offsetof(elf_prpsinfo, pr_fname) == 40);

constexpr uint64_t AlignUp(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

class ByteWriter {
 public:
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void Strs(const std::vector<std::string>& v) {
    U32(static_cast<uint32_t>(v.size()));
    for (const std::string& s : v) Str(s);
  }
  std::vector<uint8_t> Take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

// Reads a descriptor front to back; every read checks the remaining length first, and every
// error names the field and the offset so a corrupted note can be located with a hex dump.
class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> bytes, std::string_view what) : bytes_(bytes), what_(what) {}

  Result<uint32_t> U32(std::string_view field) {
    TRY_STATUS(Need(4, field));
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{bytes_[pos_ + i]} << (8 * i);
    pos_ += 4;
    return v;
  }
  Result<uint64_t> U64(std::string_view field) {
    TRY_STATUS(Need(8, field));
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{bytes_[pos_ + i]} << (8 * i);
    pos_ += 8;
    return v;
  }
  Result<int64_t> I64(std::string_view field) {
    TRY(uint64_t v, U64(field));
    return static_cast<int64_t>(v);
  }
  Result<std::string> Str(std::string_view field) {
    TRY(uint32_t len, U32(field));
    TRY_STATUS(Need(len, field));
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }
  Result<std::vector<std::string>> Strs(std::string_view field) {
    TRY(uint32_t count, U32(field));
    // Each string takes at least its 4-byte length, so a larger count is corruption; checking
    // before reserving keeps a hostile count from allocating gigabytes.
    if (count > remaining() / 4) {
      return Fail(EBADMSG, std::string(what_) + ": " + std::string(field) + " count " +
                               std::to_string(count) + " does not fit in the " +
                               std::to_string(remaining()) + " bytes left");
    }
    std::vector<std::string> v;
    v.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      TRY(std::string s, Str(field));
      v.push_back(std::move(s));
    }
    return v;
  }
  size_t remaining() const { return bytes_.size() - pos_; }
  Status End() const {
    if (remaining() == 0) return {};
    return Fail(EBADMSG, std::string(what_) + ": " + std::to_string(remaining()) +
                             " unexpected bytes after the last field");
  }

 private:
  Status Need(uint64_t n, std::string_view field) const {
    if (n <= remaining()) return {};
    return Fail(EBADMSG, std::string(what_) + ": truncated: " + std::string(field) + " at offset " +
                             std::to_string(pos_) + " needs " + std::to_string(n) +
                             " bytes, the descriptor has " + std::to_string(remaining()) + " left");
  }

  std::span<const uint8_t> bytes_;
  std::string_view what_;
  size_t pos_ = 0;
};

// The version that starts every CATALYZER descriptor; newer ones are refused, not guessed at.
Status CheckVersion(uint32_t version) {
  if (version > kCheckpointVersion) {
    return Fail(ENOTSUP, "checkpoint version " + std::to_string(version) +
                             " is newer than this catload supports (" +
                             std::to_string(kCheckpointVersion) +
                             "); rebuild the checkpoint with this catload or upgrade catload");
  }
  if (version == 0) return Fail(EBADMSG, "checkpoint version 0 is not valid");
  return {};
}

template <class T>
std::vector<uint8_t> BytesOf(const T& v) {
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

// The size of one VMA record in kNoteCatVmas.
constexpr size_t kVmaRecordSize = 40;

}  // namespace

void AppendNote(std::vector<uint8_t>& out, std::string_view owner, uint32_t type,
                std::span<const uint8_t> desc) {
  ByteWriter w;
  w.U32(static_cast<uint32_t>(owner.size() + 1));  // namesz counts the NUL
  w.U32(static_cast<uint32_t>(desc.size()));
  w.U32(type);
  std::vector<uint8_t> header = w.Take();
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), owner.begin(), owner.end());
  out.resize(AlignUp(out.size() + 1, kNoteAlign), 0);
  out.insert(out.end(), desc.begin(), desc.end());
  out.resize(AlignUp(out.size(), kNoteAlign), 0);
}

Result<std::vector<Note>> ParseNotes(std::span<const uint8_t> bytes, uint64_t align) {
  std::vector<Note> notes;
  uint64_t pos = 0;
  const uint64_t size = bytes.size();
  while (pos < size) {
    const std::string where = "note " + std::to_string(notes.size()) + " at offset " +
                              std::to_string(pos) + " of the PT_NOTE segment";
    if (size - pos < 12) {
      return Fail(EBADMSG, "truncated: " + where + ": header needs 12 bytes, " +
                               std::to_string(size - pos) + " left");
    }
    ByteReader r(bytes.subspan(pos, 12), "note header");
    const uint32_t namesz = *r.U32("namesz");
    const uint32_t descsz = *r.U32("descsz");
    const uint32_t type = *r.U32("type");
    // 64-bit arithmetic: 32-bit sizes cannot overflow it.
    const uint64_t name_off = pos + 12;
    const uint64_t desc_off = AlignUp(name_off + namesz, align);
    if (desc_off > size) {
      return Fail(EBADMSG, "truncated: " + where + ": namesz " + std::to_string(namesz) +
                               " runs past the end of the segment (" + std::to_string(size) +
                               " bytes)");
    }
    if (desc_off + descsz > size) {
      return Fail(EBADMSG, "truncated: " + where + ": descsz " + std::to_string(descsz) +
                               " runs past the end of the segment (" + std::to_string(size) +
                               " bytes)");
    }
    std::string_view owner(reinterpret_cast<const char*>(bytes.data() + name_off), namesz);
    // namesz includes the terminating NUL; a name without one is kept as it is.
    if (!owner.empty() && owner.back() == '\0') owner.remove_suffix(1);
    notes.push_back(Note{owner, type, bytes.subspan(desc_off, descsz), pos});
    // The last descriptor's padding may be missing; min() accepts that without reading it.
    pos = std::min(AlignUp(desc_off + descsz, align), size);
  }
  return notes;
}

std::vector<uint8_t> EncodePrstatus(const GuestRegs& regs) {
  elf_prstatus st;
  std::memset(&st, 0, sizeof st);  // padding too: same input, same bytes
  st.pr_pid = 1;                   // the guest sees itself as pid 1
  st.pr_fpvalid = 1;               // NT_PRFPREG follows
  std::memcpy(&st.pr_reg, &regs, sizeof regs);
  return BytesOf(st);
}

Result<GuestRegs> DecodePrstatusRegs(std::span<const uint8_t> desc) {
  constexpr size_t kRegOff = offsetof(elf_prstatus, pr_reg);
  if (desc.size() != sizeof(elf_prstatus)) {
    return Fail(EBADMSG, "NT_PRSTATUS has " + std::to_string(desc.size()) + " bytes, expected " +
                             std::to_string(sizeof(elf_prstatus)) + " (x86-64 elf_prstatus)");
  }
  GuestRegs regs;
  std::memcpy(&regs, desc.data() + kRegOff, sizeof regs);
  return regs;
}

std::vector<uint8_t> EncodePrpsinfo(const CheckpointMeta& meta) {
  elf_prpsinfo ps;
  std::memset(&ps, 0, sizeof ps);
  ps.pr_sname = 'R';
  ps.pr_pid = 1;
  const size_t slash = meta.exe.rfind('/');
  const std::string base = slash == std::string::npos ? meta.exe : meta.exe.substr(slash + 1);
  // Both fields are fixed-size and NUL-terminated in the kernel's cores: truncate, keep the NUL.
  std::memcpy(ps.pr_fname, base.data(), std::min(base.size(), sizeof ps.pr_fname - 1));
  std::string args;
  for (const std::string& a : meta.argv) args += (args.empty() ? "" : " ") + a;
  std::memcpy(ps.pr_psargs, args.data(), std::min(args.size(), sizeof ps.pr_psargs - 1));
  return BytesOf(ps);
}

std::vector<uint8_t> EncodeAuxv(std::span<const uint64_t> auxv) {
  ByteWriter w;
  for (uint64_t v : auxv) w.U64(v);
  return w.Take();
}

Result<std::vector<uint64_t>> DecodeAuxv(std::span<const uint8_t> desc) {
  if (desc.size() % 16 != 0) {
    return Fail(EBADMSG, "NT_AUXV has " + std::to_string(desc.size()) +
                             " bytes, not a whole number of (type, value) pairs");
  }
  ByteReader r(desc, "NT_AUXV");
  std::vector<uint64_t> auxv(desc.size() / 8);
  for (uint64_t& v : auxv) v = *r.U64("auxv entry");  // sizes checked above
  return auxv;
}

std::vector<uint8_t> EncodeMeta(const CheckpointMeta& meta) {
  ByteWriter w;
  w.U32(kCheckpointVersion);
  w.Str(meta.exe);
  w.Strs(meta.argv);
  w.Strs(meta.env);
  w.Str(meta.entry_kind);
  w.Str(meta.rootfs);
  w.Strs(meta.mounts);
  w.I64(meta.capture_realtime_ns);
  w.I64(meta.capture_monotonic_ns);
  return w.Take();
}

Result<CheckpointMeta> DecodeMeta(std::span<const uint8_t> desc) {
  ByteReader r(desc, "CATALYZER meta note");
  TRY(uint32_t version, r.U32("version"));
  TRY_STATUS(CheckVersion(version));
  CheckpointMeta meta;
  TRY(meta.exe, r.Str("exe"));
  TRY(meta.argv, r.Strs("argv"));
  TRY(meta.env, r.Strs("env"));
  TRY(meta.entry_kind, r.Str("entry_kind"));
  TRY(meta.rootfs, r.Str("rootfs"));
  TRY(meta.mounts, r.Strs("mounts"));
  TRY(meta.capture_realtime_ns, r.I64("capture_realtime_ns"));
  TRY(meta.capture_monotonic_ns, r.I64("capture_monotonic_ns"));
  TRY_STATUS(r.End());
  return meta;
}

std::vector<uint8_t> EncodeVmas(std::span<const CheckpointVma> vmas) {
  ByteWriter w;
  w.U32(kCheckpointVersion);
  w.U32(static_cast<uint32_t>(vmas.size()));
  for (const CheckpointVma& v : vmas) {
    w.U64(v.start);
    w.U64(v.end);
    w.U32(v.prot);
    w.U32(v.flags);
    w.U32(v.kind);
    w.U32(0);  // reserved, keeps file_offset 8-aligned in the record
    w.U64(v.file_offset);
  }
  return w.Take();
}

Result<std::vector<CheckpointVma>> DecodeVmas(std::span<const uint8_t> desc) {
  ByteReader r(desc, "CATALYZER VMA note");
  TRY(uint32_t version, r.U32("version"));
  TRY_STATUS(CheckVersion(version));
  TRY(uint32_t count, r.U32("count"));
  if (r.remaining() != uint64_t{count} * kVmaRecordSize) {
    return Fail(EBADMSG, "CATALYZER VMA note: " + std::to_string(count) + " VMAs need " +
                             std::to_string(uint64_t{count} * kVmaRecordSize) +
                             " bytes, the descriptor has " + std::to_string(r.remaining()));
  }
  std::vector<CheckpointVma> vmas(count);
  for (CheckpointVma& v : vmas) {
    TRY(v.start, r.U64("start"));
    TRY(v.end, r.U64("end"));
    TRY(v.prot, r.U32("prot"));
    TRY(v.flags, r.U32("flags"));
    TRY(v.kind, r.U32("kind"));
    TRY(uint32_t reserved, r.U32("reserved"));
    (void)reserved;  // written as 0, ignored on read
    TRY(v.file_offset, r.U64("file_offset"));
  }
  return vmas;
}

std::vector<uint8_t> EncodeCpu(const CpuFeatures& cpu) {
  ByteWriter w;
  w.U32(kCheckpointVersion);
  w.Str(cpu.vendor);
  for (uint32_t v : {cpu.leaf1_ecx, cpu.leaf1_edx, cpu.leaf7_ebx, cpu.leaf7_ecx, cpu.leaf7_edx,
                     cpu.leaf7_1_eax, cpu.leafd_1_eax, cpu.ext1_ecx, cpu.ext1_edx})
    w.U32(v);
  w.U64(cpu.xcr0);
  w.U32(cpu.xsave_size);
  return w.Take();
}

Result<CpuFeatures> DecodeCpu(std::span<const uint8_t> desc) {
  ByteReader r(desc, "CATALYZER CPU note");
  TRY(uint32_t version, r.U32("version"));
  TRY_STATUS(CheckVersion(version));
  CpuFeatures cpu;
  TRY(cpu.vendor, r.Str("vendor"));
  if (cpu.vendor.empty() || cpu.vendor.size() > 64)
    return Fail(EBADMSG, "CATALYZER CPU note: vendor is empty or longer than 64 bytes");
  for (uint32_t* v :
       {&cpu.leaf1_ecx, &cpu.leaf1_edx, &cpu.leaf7_ebx, &cpu.leaf7_ecx, &cpu.leaf7_edx,
        &cpu.leaf7_1_eax, &cpu.leafd_1_eax, &cpu.ext1_ecx, &cpu.ext1_edx}) {
    TRY(*v, r.U32("cpuid register"));
  }
  TRY(cpu.xcr0, r.U64("xcr0"));
  TRY(cpu.xsave_size, r.U32("xsave_size"));
  TRY_STATUS(r.End());
  return cpu;
}

}  // namespace cat::checkpoint_notes
