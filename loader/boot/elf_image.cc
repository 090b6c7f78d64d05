// libelf-based reader of static executables (see elf_image.h).
#include "loader/boot/elf_image.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>

#include <memory>
#include <utility>

namespace cat {
namespace {

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};

}  // namespace

Result<ElfImage> ReadElfImage(const std::string& path) {
  // O_NONBLOCK: a FIFO at the path must not block us before the regular-file check refuses
  // it; a regular file ignores the flag.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return FailErrno("open " + path);
  return ReadElfImage(std::move(fd), path);
}

Result<ElfImage> ReadElfImage(UniqueFd fd, const std::string& path) {
  ElfImage img;
  img.path = path;
  img.fd = std::move(fd);
  struct stat st {};
  if (fstat(img.fd.get(), &st) != 0) return FailErrno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Fail(EACCES, path + " is not a regular file");
  img.file_size = static_cast<uint64_t>(st.st_size);

  if (elf_version(EV_CURRENT) == EV_NONE) return Fail(EINVAL, "libelf initialisation failed");
  std::unique_ptr<Elf, ElfCloser> elf(elf_begin(img.fd.get(), ELF_C_READ, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF)
    return Fail(ENOEXEC, path + " is not an ELF executable");
  if (gelf_getclass(elf.get()) != ELFCLASS64) return Fail(ENOEXEC, path + " is not 64-bit ELF");
  GElf_Ehdr eh;
  if (!gelf_getehdr(elf.get(), &eh)) return Fail(ENOEXEC, path + ": unreadable ELF header");
  if (eh.e_machine != EM_X86_64) return Fail(ENOEXEC, path + " is not an x86-64 executable");
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
    return Fail(ENOEXEC,
                path + " is not an executable (ELF type " + std::to_string(eh.e_type) + ")");
  img.position_independent = eh.e_type == ET_DYN;
  img.entry = eh.e_entry;
  img.phentsize = eh.e_phentsize;

  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0 || phnum == 0 || phnum > 1024)
    return Fail(ENOEXEC, path + ": bad program header table");
  img.phnum = static_cast<uint16_t>(phnum);
  bool have_phdr = false;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf.get(), static_cast<int>(i), &ph))
      return Fail(ENOEXEC, path + ": unreadable program header " + std::to_string(i));
    if (ph.p_type == PT_INTERP)
      return Fail(ENOEXEC, path +
                               " is dynamically linked (it has an ELF interpreter); the "
                               "sandbox runs static executables only: link it with -static "
                               "or -static-pie");
    if (ph.p_type == PT_PHDR) {
      img.phdr_vaddr = ph.p_vaddr;
      have_phdr = true;
    }
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    // Every number here comes from the file: check it before anything trusts it.
    if (ph.p_filesz > ph.p_memsz || ph.p_offset > img.file_size ||
        ph.p_filesz > img.file_size - ph.p_offset || ph.p_vaddr + ph.p_memsz < ph.p_vaddr ||
        ph.p_vaddr + ph.p_memsz > (1ull << 46) || (ph.p_vaddr % 4096) != (ph.p_offset % 4096))
      return Fail(ENOEXEC, path + ": malformed loadable segment " + std::to_string(i));
    img.segments.push_back({ph.p_vaddr, ph.p_memsz, ph.p_filesz, ph.p_offset, ph.p_flags});
  }
  if (img.segments.empty()) return Fail(ENOEXEC, path + " has no loadable segments");
  if (!have_phdr) {
    // No PT_PHDR: the headers are wherever the segment holding file offset e_phoff maps them.
    for (const ElfSegment& s : img.segments)
      if (eh.e_phoff >= s.offset && eh.e_phoff < s.offset + s.filesz)
        img.phdr_vaddr = s.vaddr + (eh.e_phoff - s.offset);
  }
  return img;
}

}  // namespace cat
