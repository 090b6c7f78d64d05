// Opens and validates a checkpoint (ELF core file) with libelf: the ELF header, every program
// header, the notes of every PT_NOTE segment, and the PT_LOADs against the VMA list. Memory is
// not read here; callers read or map the segments through Checkpoint::fd. Every offset and size
// taken from the file is checked against the file's size before use, and every problem becomes
// a one-line error naming it, never a crash. Layout: spec/checkpoint.md.
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "format/base/guest_layout.h"
#include "format/base/mount_spec.h"
#include "format/checkpoint/checkpoint.h"
#include "format/checkpoint/checkpoint_notes.h"
#include "format/state/memory_map.h"
#include "format/state/state_limits.h"

namespace cat {
namespace {

namespace notes = checkpoint_notes;

constexpr uint64_t kPageSize = 4096;

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

std::string LibelfError(std::string_view what) {
  return "libelf: " + std::string(what) + ": " + elf_errmsg(-1);
}

std::string TypeName(uint16_t e_type) {
  switch (e_type) {
    case ET_NONE:
      return "ET_NONE";
    case ET_REL:
      return "ET_REL";
    case ET_EXEC:
      return "ET_EXEC";
    case ET_DYN:
      return "ET_DYN";
    case ET_CORE:
      return "ET_CORE";
    default:
      return std::to_string(e_type);
  }
}

struct ElfDeleter {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfDeleter>;

// Checks what libelf would otherwise report vaguely (or not at all): emptiness, the magic,
// a header cut short, and the identification bytes. Reads at most the ELF header.
Status CheckIdent(int fd, uint64_t file_size) {
  if (file_size == 0) return Fail(ENOEXEC, "empty file (not an ELF core file)");
  unsigned char ident[EI_NIDENT] = {};
  const size_t want = static_cast<size_t>(std::min<uint64_t>(file_size, EI_NIDENT));
  if (::pread(fd, ident, want, 0) != static_cast<ssize_t>(want)) return FailErrno("read");
  if (std::memcmp(ident, ELFMAG, std::min<size_t>(want, SELFMAG)) != 0) {
    return Fail(ENOEXEC, "not an ELF core file (bad magic)");
  }
  if (file_size < sizeof(Elf64_Ehdr)) {
    return Fail(EBADMSG, "truncated: the ELF header needs " + std::to_string(sizeof(Elf64_Ehdr)) +
                             " bytes, the file has " + std::to_string(file_size));
  }
  if (ident[EI_CLASS] != ELFCLASS64) return Fail(ENOEXEC, "not a 64-bit ELF core file");
  if (ident[EI_DATA] != ELFDATA2LSB) return Fail(ENOEXEC, "not a little-endian ELF core file");
  return {};
}

// One thread's notes: a NT_PRSTATUS and the NT_PRFPREG / NT_X86_XSTATE after it (gdb's and the
// kernel's grouping: the FP notes belong to the last NT_PRSTATUS seen).
struct ThreadNotes {
  std::span<const uint8_t> prstatus;
  std::optional<std::span<const uint8_t>> prfpreg, xstate;
};

// The notes a checkpoint is made of. The per-thread ones come in groups, the first group being
// the thread that stopped (reached the func-entry point); of the process-wide ones the first
// counts.
struct FoundNotes {
  std::vector<ThreadNotes> threads;
  std::optional<std::span<const uint8_t>> auxv;
  std::optional<std::span<const uint8_t>> cat_meta, cat_vmas, cat_kernel_state, cat_cpu;
  bool any_catalyzer = false;
};

Status Collect(const notes::Note& n, FoundNotes& found) {
  auto first = [](std::optional<std::span<const uint8_t>>& slot, std::span<const uint8_t> d) {
    if (!slot) slot = d;
  };
  if (n.owner == notes::kOwnerCore) {
    if (n.type == NT_PRSTATUS) {
      // Bounded before anything is allocated per thread.
      if (found.threads.size() >= state::kMaxThreads)
        return Fail(EBADMSG, "more than " + std::to_string(state::kMaxThreads) +
                                 " NT_PRSTATUS notes (threads)");
      found.threads.push_back(ThreadNotes{n.desc, {}, {}});
    }
    if (n.type == NT_PRFPREG && !found.threads.empty()) first(found.threads.back().prfpreg, n.desc);
    if (n.type == NT_AUXV) first(found.auxv, n.desc);
  } else if (n.owner == notes::kOwnerLinux) {
    if (n.type == NT_X86_XSTATE && !found.threads.empty())
      first(found.threads.back().xstate, n.desc);
  } else if (n.owner == notes::kOwnerCatalyzer) {
    found.any_catalyzer = true;
    std::optional<std::span<const uint8_t>>* slot = n.type == kNoteCatMeta   ? &found.cat_meta
                                                    : n.type == kNoteCatVmas ? &found.cat_vmas
                                                    : n.type == kNoteCatKernelState
                                                        ? &found.cat_kernel_state
                                                    : n.type == kNoteCatCpu ? &found.cat_cpu
                                                                            : nullptr;
    // Our own notes are never repeated: two would make the checkpoint ambiguous.
    if (slot && *slot) {
      return Fail(EBADMSG, "CATALYZER note type " + std::to_string(n.type) + " appears twice");
    }
    if (slot) *slot = n.desc;
  }
  return {};
}

// A thread's context from its group of notes: registers and tid from NT_PRSTATUS, the FXSAVE
// area from NT_PRFPREG (required), the XSAVE area if present.
Result<ThreadContext> DecodeThread(const ThreadNotes& n) {
  ThreadContext t;
  TRY(t.regs, notes::DecodePrstatusRegs(n.prstatus));
  TRY(t.tid, notes::DecodePrstatusTid(n.prstatus));
  if (t.tid < 1 || t.tid > state::kMaxPid)
    return Fail(EBADMSG, "NT_PRSTATUS pr_pid " + std::to_string(t.tid) + " is not a guest tid");
  if (!n.prfpreg) return Fail(EBADMSG, "no NT_PRFPREG note");
  if (n.prfpreg->size() != sizeof t.fpu.fxsave)
    return Fail(EBADMSG, "NT_PRFPREG has " + std::to_string(n.prfpreg->size()) +
                             " bytes, expected " + std::to_string(sizeof t.fpu.fxsave));
  std::memcpy(t.fpu.fxsave, n.prfpreg->data(), n.prfpreg->size());
  if (n.xstate) t.xstate.assign(n.xstate->begin(), n.xstate->end());
  return t;
}

template <class T>
Result<T> Required(const std::optional<T>& v, std::string_view name) {
  if (!v) return Fail(EBADMSG, "no " + std::string(name) + " note");
  return *v;
}

// PT_LOAD i must be VMA i: same range, and either all of its bytes stored or none.
Status CheckSegment(size_t i, const GElf_Phdr& ph, const CheckpointVma& vma) {
  const std::string name = "PT_LOAD " + std::to_string(i);
  if (ph.p_vaddr != vma.start || ph.p_memsz != vma.end - vma.start) {
    return Fail(EBADMSG, name + " covers " + Hex(ph.p_vaddr) + "+" + Hex(ph.p_memsz) + " but VMA " +
                             std::to_string(i) + " is " + Hex(vma.start) + "-" + Hex(vma.end));
  }
  if (ph.p_filesz != 0 && ph.p_filesz != ph.p_memsz) {
    return Fail(EBADMSG, name + " stores " + std::to_string(ph.p_filesz) + " of its " +
                             std::to_string(ph.p_memsz) + " bytes (only all or none is valid)");
  }
  return {};
}

// Every VMA is a mapping the sandbox kernel itself could have made (guest_layout.h: inside the
// guest range, never the trampoline or the low guard, known protection bits) of a known kind,
// in address order without overlap.
Status CheckVmas(const std::vector<CheckpointVma>& vmas) {
  for (size_t i = 0; i < vmas.size(); ++i) {
    const CheckpointVma& v = vmas[i];
    const std::string name =
        "VMA " + std::to_string(i) + " (" + Hex(v.start) + "-" + Hex(v.end) + ")";
    if (v.start >= v.end || v.start % kPageSize != 0 || v.end % kPageSize != 0 ||
        (i > 0 && vmas[i - 1].end > v.start)) {
      return Fail(EBADMSG, name + " is empty, not page-aligned or out of address order");
    }
    if (const std::string bad = GuestMappingProblem(v.start, v.end - v.start, v.prot); !bad.empty())
      return Fail(EBADMSG, name + ": " + bad);
    if (v.kind >= state::kNumVmaKinds)
      return Fail(EBADMSG, name + ": unknown VMA kind " + std::to_string(v.kind));
  }
  return {};
}

// The metadata in the form capture writes it: catimg build copies it into the manifest, and
// --mounts-from-image may use the paths (format/base/mount_spec.h).
Status CheckMeta(const CheckpointMeta& meta) {
  if (meta.entry_kind != "explicit" && meta.entry_kind != "auto")
    return Fail(EBADMSG, "CATALYZER meta note: entry kind '" + meta.entry_kind +
                             "' is neither explicit nor auto");
  if (!IsRootfsRecord(meta.rootfs))
    return Fail(EBADMSG, "CATALYZER meta note: rootfs '" + meta.rootfs +
                             "' is not an absolute canonical path");
  for (size_t i = 0; i < meta.mounts.size(); ++i) {
    auto rec = ParseMountRecord(meta.mounts[i]);
    if (!rec)
      return Fail(EBADMSG,
                  "CATALYZER meta note: mount " + std::to_string(i) + ": " + rec.error().message());
  }
  return {};
}

Result<Checkpoint> Read(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) return Fail(EINVAL, LibelfError("elf_version"));
  // O_NONBLOCK: a FIFO at the path must not block us before fstat refuses it; a regular file
  // ignores the flag.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return FailErrno("open");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return FailErrno("fstat");
  if (!S_ISREG(st.st_mode)) return Fail(EINVAL, "not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  TRY_STATUS(CheckIdent(fd.get(), file_size));

  // ELF_C_READ, not ELF_C_READ_MMAP: a file truncated while we read it then gives read errors
  // instead of SIGBUS.
  ElfPtr elf(elf_begin(fd.get(), ELF_C_READ, nullptr));
  if (!elf) return Fail(EBADMSG, LibelfError("elf_begin"));
  GElf_Ehdr eh;
  if (gelf_getehdr(elf.get(), &eh) == nullptr) return Fail(EBADMSG, LibelfError("ELF header"));
  if (eh.e_type != ET_CORE) {
    return Fail(ENOEXEC, "not an ELF core file (e_type is " + TypeName(eh.e_type) + ")");
  }
  if (eh.e_machine != EM_X86_64) {
    return Fail(ENOEXEC, "core file for machine " + std::to_string(eh.e_machine) + ", not x86-64");
  }
  // e_phnum itself, not elf_getphdrnum(): libelf quietly clamps the count to what fits in the
  // file, which would hide a truncated program header table. Only PN_XNUM needs libelf (the
  // real count is then in section header 0).
  size_t phnum = eh.e_phnum;
  if (phnum == PN_XNUM && elf_getphdrnum(elf.get(), &phnum) != 0) {
    return Fail(EBADMSG, LibelfError("program header count"));
  }
  if (phnum > 0 && eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return Fail(EBADMSG, "program header size " + std::to_string(eh.e_phentsize) + ", expected " +
                             std::to_string(sizeof(Elf64_Phdr)));
  }
  // phnum < 2^32 and e_phoff < 2^64: compare without overflowing.
  const uint64_t ph_bytes = uint64_t{phnum} * sizeof(Elf64_Phdr);
  if (eh.e_phoff > file_size || ph_bytes > file_size - eh.e_phoff) {
    return Fail(EBADMSG, "truncated: " + std::to_string(phnum) + " program headers at offset " +
                             std::to_string(eh.e_phoff) + " end past the end of the file (" +
                             std::to_string(file_size) + " bytes)");
  }

  FoundNotes found;
  std::vector<GElf_Phdr> loads;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf.get(), static_cast<int>(i), &ph) == nullptr) {
      return Fail(EBADMSG, LibelfError("program header " + std::to_string(i)));
    }
    if (ph.p_type != PT_NOTE && ph.p_type != PT_LOAD) continue;
    const std::string name = (ph.p_type == PT_NOTE ? std::string("PT_NOTE")
                                                   : "PT_LOAD " + std::to_string(loads.size())) +
                             " (program header " + std::to_string(i) + ")";
    if (ph.p_offset > file_size || ph.p_filesz > file_size - ph.p_offset) {
      return Fail(EBADMSG, "truncated: " + name + " ends past the end of the file (offset " +
                               std::to_string(ph.p_offset) + " + size " +
                               std::to_string(ph.p_filesz) + " > " + std::to_string(file_size) +
                               ")");
    }
    if (ph.p_type == PT_LOAD) {
      loads.push_back(ph);
      continue;
    }
    if (ph.p_filesz == 0) continue;
    // The views into `chunk` stay valid while `elf` lives: libelf owns the buffer.
    Elf_Data* chunk = elf_getdata_rawchunk(elf.get(), static_cast<int64_t>(ph.p_offset),
                                           static_cast<size_t>(ph.p_filesz), ELF_T_BYTE);
    if (chunk == nullptr) return Fail(EBADMSG, LibelfError("read " + name));
    const std::span<const uint8_t> bytes(static_cast<const uint8_t*>(chunk->d_buf), chunk->d_size);
    auto parsed = notes::ParseNotes(bytes, ph.p_align == 8 ? 8 : notes::kNoteAlign);
    if (!parsed) return std::unexpected(std::move(parsed.error()).Context(name));
    for (const notes::Note& n : *parsed) TRY_STATUS(Collect(n, found));
  }

  if (!found.any_catalyzer) {
    return Fail(EBADMSG, "no CATALYZER notes (not written by catload capture)");
  }
  Checkpoint cp;
  CheckpointContents& c = cp.contents;
  // Meta first: its version decides whether anything else can be understood.
  TRY(auto meta_desc, Required(found.cat_meta, "CATALYZER meta"));
  TRY(c.meta, notes::DecodeMeta(meta_desc));
  TRY_STATUS(CheckMeta(c.meta));
  TRY(auto vmas_desc, Required(found.cat_vmas, "CATALYZER VMA"));
  TRY(c.vmas, notes::DecodeVmas(vmas_desc));
  TRY_STATUS(CheckVmas(c.vmas));
  TRY(auto state_desc, Required(found.cat_kernel_state, "CATALYZER kernel-state"));
  c.kernel_state.assign(state_desc.begin(), state_desc.end());
  // Optional: a checkpoint written before the note existed records no CPU features.
  if (found.cat_cpu) {
    TRY(c.cpu, notes::DecodeCpu(*found.cat_cpu));
  }

  if (found.threads.empty()) return Fail(EBADMSG, "no NT_PRSTATUS note");
  std::vector<ThreadContext> threads;
  threads.reserve(found.threads.size());
  for (size_t i = 0; i < found.threads.size(); ++i) {
    TRY(ThreadContext t, WithContext(DecodeThread(found.threads[i]),
                                     "thread " + std::to_string(i) + " (NT_PRSTATUS group)"));
    for (const ThreadContext& earlier : threads)
      if (earlier.tid == t.tid)
        return Fail(EBADMSG, "two NT_PRSTATUS notes for tid " + std::to_string(t.tid));
    threads.push_back(std::move(t));
  }
  c.entry_tid = threads[0].tid;
  c.regs = threads[0].regs;
  c.fpu = threads[0].fpu;
  c.xstate = std::move(threads[0].xstate);
  c.other_threads.assign(std::make_move_iterator(threads.begin() + 1),
                         std::make_move_iterator(threads.end()));
  TRY(auto auxv, Required(found.auxv, "NT_AUXV"));
  TRY(c.auxv, notes::DecodeAuxv(auxv));

  if (loads.size() != c.vmas.size()) {
    return Fail(EBADMSG, std::to_string(loads.size()) + " PT_LOAD segments for " +
                             std::to_string(c.vmas.size()) + " VMAs");
  }
  cp.segments.reserve(loads.size());
  for (size_t i = 0; i < loads.size(); ++i) {
    TRY_STATUS(CheckSegment(i, loads[i], c.vmas[i]));
    cp.segments.push_back(CheckpointSegment{c.vmas[i], loads[i].p_offset, loads[i].p_filesz});
  }
  elf.reset();  // before the fd moves: libelf must be done with it
  cp.fd = std::move(fd);
  cp.file_size = file_size;
  return cp;
}

}  // namespace

Result<Checkpoint> ReadCheckpoint(const std::string& path) {
  return WithContext(Read(path), "checkpoint " + path);
}

}  // namespace cat
