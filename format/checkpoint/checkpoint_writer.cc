// Writes a checkpoint as an ELF core file: ELF header, program headers (PT_NOTE, then one
// PT_LOAD per VMA in address order), the notes, then each VMA's pages at a page-aligned offset.
// The file appears atomically: it is written under a temporary name in the target's directory,
// fsync-ed and renamed; on any failure the temporary file is removed. Layout: spec/checkpoint.md.
#include <elf.h>
#include <fcntl.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "format/base/temp_file.h"
#include "format/checkpoint/checkpoint.h"
#include "format/checkpoint/checkpoint_notes.h"

namespace cat {
namespace {

namespace notes = checkpoint_notes;

constexpr uint64_t kPageSize = 4096;
// Guest memory is copied through a buffer of this size: a multi-GiB VMA never needs more.
constexpr size_t kChunkSize = 1 << 20;
// One PT_NOTE plus the PT_LOADs must fit e_phnum without the PN_XNUM extension.
constexpr size_t kMaxVmas = PN_XNUM - 2;

constexpr uint64_t AlignUp(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

Status InitLibelf() {
  static const bool ok = elf_version(EV_CURRENT) != EV_NONE;
  if (!ok) return Fail(EINVAL, std::string("libelf: ") + elf_errmsg(-1));
  return {};
}

Status PwriteAll(int fd, const void* data, size_t len, uint64_t offset) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (len > 0) {
    const ssize_t n = ::pwrite(fd, p, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("pwrite at offset " + std::to_string(offset));
    }
    p += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

Status ValidateVmas(const std::vector<CheckpointVma>& vmas) {
  if (vmas.size() > kMaxVmas) {
    return Fail(EOVERFLOW, std::to_string(vmas.size()) + " VMAs; an ELF core holds at most " +
                               std::to_string(kMaxVmas));
  }
  for (size_t i = 0; i < vmas.size(); ++i) {
    const CheckpointVma& v = vmas[i];
    const std::string name = "VMA " + Hex(v.start) + "-" + Hex(v.end);
    if (v.start >= v.end) return Fail(EINVAL, name + " is empty or inverted");
    if (v.start % kPageSize != 0 || v.end % kPageSize != 0) {
      return Fail(EINVAL, name + " is not page-aligned");
    }
    if (i > 0 && vmas[i - 1].end > v.start) {
      return Fail(EINVAL, name + " overlaps the VMA before it");
    }
  }
  return {};
}

// The notes in the kernel's order: the thread's NT_PRSTATUS first (gdb attaches the FP and
// xstate notes that follow to it), then process-wide notes, then our own.
std::vector<uint8_t> BuildNotes(const CheckpointContents& c, std::span<const CheckpointVma> vmas) {
  std::vector<uint8_t> out;
  notes::AppendNote(out, notes::kOwnerCore, NT_PRSTATUS, notes::EncodePrstatus(c.regs));
  notes::AppendNote(out, notes::kOwnerCore, NT_PRPSINFO, notes::EncodePrpsinfo(c.meta));
  notes::AppendNote(out, notes::kOwnerCore, NT_AUXV, notes::EncodeAuxv(c.auxv));
  notes::AppendNote(out, notes::kOwnerCore, NT_PRFPREG,
                    std::span<const uint8_t>(c.fpu.fxsave, sizeof c.fpu.fxsave));
  if (!c.xstate.empty()) notes::AppendNote(out, notes::kOwnerLinux, NT_X86_XSTATE, c.xstate);
  notes::AppendNote(out, notes::kOwnerCatalyzer, kNoteCatMeta, notes::EncodeMeta(c.meta));
  notes::AppendNote(out, notes::kOwnerCatalyzer, kNoteCatVmas, notes::EncodeVmas(vmas));
  notes::AppendNote(out, notes::kOwnerCatalyzer, kNoteCatKernelState, c.kernel_state);
  if (c.cpu.recorded())
    notes::AppendNote(out, notes::kOwnerCatalyzer, kNoteCatCpu, notes::EncodeCpu(c.cpu));
  return out;
}

// Copies one VMA's pages to `offset`, a chunk at a time. Returns the bytes stored: the VMA's
// size, or 0 when its pages cannot be read (PROT_NONE: the reader reports EFAULT, or EIO for
// /proc/PID/mem). Any other error (the guest is gone, ...) fails the whole write.
Result<uint64_t> StoreVma(int fd, const CheckpointVma& vma, uint64_t offset,
                          const GuestMemoryReader& read_memory, std::vector<uint8_t>& buf) {
  const uint64_t size = vma.end - vma.start;
  for (uint64_t done = 0; done < size;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
    Status st = read_memory(vma.start + done, buf.data(), n);
    if (!st) {
      const int code = st.error().code();
      if (code != EFAULT && code != EIO) {
        return std::unexpected(
            std::move(st.error()).Context("read guest memory at " + Hex(vma.start + done)));
      }
      // Drop the chunks already stored so the next segment starts here and no stale bytes of
      // this VMA remain: same input, same bytes, wherever inside the VMA the read failed.
      if (::ftruncate(fd, static_cast<off_t>(offset)) != 0) return FailErrno("ftruncate");
      return 0;
    }
    TRY_STATUS(PwriteAll(fd, buf.data(), n, offset + done));
    done += n;
  }
  return size;
}

Elf64_Word SegmentFlags(uint32_t prot) {
  Elf64_Word flags = 0;
  if (prot & 0x1) flags |= PF_R;  // PROT_READ
  if (prot & 0x2) flags |= PF_W;  // PROT_WRITE
  if (prot & 0x4) flags |= PF_X;  // PROT_EXEC
  return flags;
}

Elf64_Ehdr MakeEhdr(size_t phnum) {
  Elf64_Ehdr eh{};
  std::copy_n(ELFMAG, SELFMAG, eh.e_ident);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;  // what Linux writes in its cores
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<Elf64_Half>(phnum);
  return eh;
}

// libelf translates the headers into their file form (ELFDATA2LSB on any host). We write them
// with pwrite rather than elf_update(): for a core without sections, elf_update() sizes the
// file to the headers alone, truncating the notes and memory streamed in before, and the
// headers cannot be known before the memory is read (an unreadable VMA stores 0 bytes).
Status WriteHeaders(int fd, const Elf64_Ehdr& ehdr, const std::vector<Elf64_Phdr>& phdrs) {
  std::vector<uint8_t> out(sizeof(Elf64_Ehdr) + phdrs.size() * sizeof(Elf64_Phdr));
  auto translate = [](Elf_Type type, const void* src_buf, void* dst_buf, size_t size) -> Status {
    Elf_Data src{};
    src.d_type = type;
    src.d_buf = const_cast<void*>(src_buf);  // libelf's API is not const-correct
    src.d_size = size;
    src.d_version = EV_CURRENT;
    Elf_Data dst{};
    dst.d_buf = dst_buf;
    dst.d_size = size;
    dst.d_version = EV_CURRENT;
    if (elf64_xlatetof(&dst, &src, ELFDATA2LSB) == nullptr) {
      return Fail(EINVAL, std::string("libelf: ") + elf_errmsg(-1));
    }
    return {};
  };
  TRY_STATUS(translate(ELF_T_EHDR, &ehdr, out.data(), sizeof ehdr));
  TRY_STATUS(translate(ELF_T_PHDR, phdrs.data(), out.data() + sizeof ehdr,
                       phdrs.size() * sizeof(Elf64_Phdr)));
  return PwriteAll(fd, out.data(), out.size(), 0);
}

Status WriteCore(const std::string& path, const CheckpointContents& contents,
                 const GuestMemoryReader& read_memory) {
  TRY_STATUS(InitLibelf());
  // PT_LOADs must be in address order (ELF requires it; the reader promises it).
  std::vector<CheckpointVma> vmas = contents.vmas;
  std::stable_sort(vmas.begin(), vmas.end(), [](const CheckpointVma& a, const CheckpointVma& b) {
    return a.start < b.start;
  });
  TRY_STATUS(ValidateVmas(vmas));

  const std::vector<uint8_t> note_bytes = BuildNotes(contents, vmas);
  const size_t phnum = 1 + vmas.size();
  const uint64_t notes_offset = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
  const uint64_t data_offset = AlignUp(notes_offset + note_bytes.size(), kPageSize);

  // 0600, like the kernel's core dumps: guest memory may hold secrets.
  TRY(TempFile tmp, TempFile::Create(path, 0600));
  TRY_STATUS(PwriteAll(tmp.fd(), note_bytes.data(), note_bytes.size(), notes_offset));

  std::vector<Elf64_Phdr> phdrs;
  phdrs.reserve(phnum);
  Elf64_Phdr note{};
  note.p_type = PT_NOTE;
  note.p_offset = notes_offset;
  note.p_filesz = note_bytes.size();
  note.p_align = notes::kNoteAlign;
  phdrs.push_back(note);

  std::vector<uint8_t> buf(kChunkSize);
  uint64_t offset = data_offset;
  for (const CheckpointVma& vma : vmas) {
    TRY(const uint64_t stored, StoreVma(tmp.fd(), vma, offset, read_memory, buf));
    Elf64_Phdr load{};
    load.p_type = PT_LOAD;
    load.p_flags = SegmentFlags(vma.prot);
    load.p_offset = offset;
    load.p_vaddr = vma.start;
    load.p_memsz = vma.end - vma.start;
    load.p_filesz = stored;
    load.p_align = kPageSize;
    phdrs.push_back(load);
    offset += stored;  // stays page-aligned: VMA sizes are whole pages
  }
  // Sets the exact size: extends the file to data_offset when no pages were stored, so that
  // every p_offset lies inside the file.
  if (::ftruncate(tmp.fd(), static_cast<off_t>(offset)) != 0) return FailErrno("ftruncate");
  TRY_STATUS(WriteHeaders(tmp.fd(), MakeEhdr(phnum), phdrs));
  return tmp.Commit(path);
}

}  // namespace

Status WriteCheckpoint(const std::string& path, const CheckpointContents& contents,
                       const GuestMemoryReader& read_memory) {
  return WithContext(WriteCore(path, contents, read_memory), "write checkpoint " + path);
}

}  // namespace cat
