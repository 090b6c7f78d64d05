// The static-executable loader (see program_loader.h).
#include "loader/kernel/program_loader.h"

#include <elf.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

int ProtOf(uint32_t pflags) {
  return ((pflags & PF_R) ? PROT_READ : 0) | ((pflags & PF_W) ? PROT_WRITE : 0) |
         ((pflags & PF_X) ? PROT_EXEC : 0);
}

// Maps all PT_LOAD segments. They are mapped as one writable range first, filled from the
// file, and only then protected page by page: two segments may share a page, and mapping
// the second one separately would wipe the first one's tail.
Result<uint64_t> LoadSegments(SandboxKernel& k, const ElfImage& img, uint64_t bias) {
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const ElfSegment& s : img.segments) {
    lo = std::min(lo, PageDown(s.vaddr + bias));
    hi = std::max(hi, PageUp(s.vaddr + bias + s.memsz));
  }
  TRY(uint64_t at, WithContext(k.mm.Map(lo, hi - lo, PROT_READ | PROT_WRITE, MAP_PRIVATE, true,
                                        true, state::VmaKind::kElf, MapSource{}),
                               "map executable segments"));
  (void)at;
  std::map<uint64_t, int> page_prot;  // page -> union of the protections of segments on it
  std::vector<char> buf;
  for (const ElfSegment& s : img.segments) {
    buf.resize(s.filesz);
    uint64_t done = 0;
    while (done < s.filesz) {
      ssize_t n = pread(img.fd.get(), buf.data() + done, s.filesz - done,
                        static_cast<off_t>(s.offset + done));
      if (n <= 0) return Fail(EIO, "read segment of " + img.path);
      done += static_cast<uint64_t>(n);
    }
    TRY_STATUS(WithContext(k.shell.Write(s.vaddr + bias, buf.data(), s.filesz),
                           "copy segment into guest memory"));
    for (uint64_t p = PageDown(s.vaddr + bias); p < s.vaddr + bias + s.memsz; p += kPageSize)
      page_prot[p] |= ProtOf(s.flags);
  }
  // Apply protections in runs of equal pages; gaps between segments become PROT_NONE.
  uint64_t run_start = lo;
  int run_prot = -1;
  for (uint64_t p = lo; p <= hi; p += kPageSize) {
    const int prot = p == hi ? -2 : (page_prot.count(p) ? page_prot[p] : PROT_NONE);
    if (prot != run_prot) {
      if (run_prot >= 0 && run_prot != (PROT_READ | PROT_WRITE))
        TRY_STATUS(WithContext(k.mm.Protect(run_start, p - run_start, run_prot),
                               "protect executable segments"));
      run_start = p;
      run_prot = prot;
    }
  }
  return hi;
}

// Lays out the initial stack: argc, argv[], NULL, envp[], NULL, auxv pairs, AT_NULL, then
// the strings and AT_RANDOM's bytes above them, as the Linux x86-64 ABI specifies.
Status BuildStack(SandboxKernel& k, const ElfImage& img, uint64_t bias,
                  const std::vector<std::string>& argv, const std::vector<std::string>& envp) {
  TRY(uint64_t stack, WithContext(k.mm.Map(kStackTop - kStackSize, kStackSize,
                                           PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_GROWSDOWN,
                                           true, true, state::VmaKind::kStack, MapSource{}),
                                  "map the stack"));
  (void)stack;
  std::vector<char> strings;  // laid out upwards from strings_base
  auto add = [&](std::string_view s) {
    const uint64_t off = strings.size();
    strings.insert(strings.end(), s.begin(), s.end());
    strings.push_back('\0');
    return off;
  };
  std::vector<uint64_t> argv_off, envp_off;
  for (const auto& a : argv) argv_off.push_back(add(a));
  for (const auto& e : envp) envp_off.push_back(add(e));
  const uint64_t execfn_off = add(argv.empty() ? img.path : argv[0]);
  const uint64_t platform_off = add("x86_64");
  const uint64_t random_off = strings.size();
  char random[16];
  if (getrandom(random, sizeof(random), 0) != sizeof(random)) return FailErrno("getrandom");
  strings.insert(strings.end(), random, random + sizeof(random));

  const uint64_t strings_base = (kStackTop - 16 - strings.size()) & ~15ull;
  auto at = [&](uint64_t off) { return strings_base + off; };
  std::vector<uint64_t> auxv = {
      AT_PHDR,     img.phdr_vaddr + bias,
      AT_PHENT,    img.phentsize,
      AT_PHNUM,    img.phnum,
      AT_PAGESZ,   kPageSize,
      AT_BASE,     0,
      AT_FLAGS,    0,
      AT_ENTRY,    img.entry + bias,
      AT_UID,      k.s.process.uid,
      AT_EUID,     k.s.process.uid,
      AT_GID,      k.s.process.gid,
      AT_EGID,     k.s.process.gid,
      AT_SECURE,   0,
      AT_RANDOM,   at(random_off),
      AT_HWCAP,    getauxval(AT_HWCAP),
      AT_HWCAP2,   getauxval(AT_HWCAP2),
      AT_CLKTCK,   static_cast<uint64_t>(sysconf(_SC_CLK_TCK)),
      AT_PLATFORM, at(platform_off),
      AT_EXECFN,   at(execfn_off),
  };
  if (uint64_t minsig = getauxval(AT_MINSIGSTKSZ)) {
    auxv.push_back(AT_MINSIGSTKSZ);
    auxv.push_back(minsig);
  }
  auxv.push_back(AT_NULL);
  auxv.push_back(0);

  std::vector<uint64_t> words;
  words.push_back(argv.size());
  for (uint64_t off : argv_off) words.push_back(at(off));
  words.push_back(0);
  for (uint64_t off : envp_off) words.push_back(at(off));
  words.push_back(0);
  words.insert(words.end(), auxv.begin(), auxv.end());
  const uint64_t sp = (strings_base - words.size() * 8) & ~15ull;
  if (kStackTop - sp > kStackSize / 4) return Fail(E2BIG, "arguments and environment too large");

  TRY_STATUS(k.shell.Write(strings_base, strings.data(), strings.size()));
  TRY_STATUS(k.shell.Write(sp, words.data(), words.size() * 8));

  // Record argv/envp/auxv in the persistent state (a checkpoint carries them).
  state::SandboxState& s = k.s;
  for (const auto& a : argv) {
    state::PString p{};
    p.Assign(a);
    s.argv.PushBack(p);
  }
  for (const auto& e : envp) {
    state::PString p{};
    p.Assign(e);
    s.envp.PushBack(p);
  }
  for (size_t i = 0; i + 1 < auxv.size(); i += 2) s.auxv.PushBack({auxv[i], auxv[i + 1]});
  s.process.exe.Assign(argv.empty() ? img.path : argv[0]);

  GuestRegs regs = k.shell.regs();
  regs.rsp = sp;
  regs.rip = img.entry + bias;
  regs.rdx = 0;  // no rtld_fini: there is no dynamic loader
  k.shell.SetRegs(regs);
  return {};
}

}  // namespace

Status LoadProgram(SandboxKernel& k, const ElfImage& img, const std::vector<std::string>& argv,
                   const std::vector<std::string>& envp) {
  uint64_t bias = 0;
  if (img.position_independent) {
    uint64_t lowest = UINT64_MAX;
    for (const ElfSegment& s : img.segments) lowest = std::min(lowest, PageDown(s.vaddr));
    bias = kPieBase - lowest;
  }
  TRY(uint64_t end, WithContext(LoadSegments(k, img, bias), "load " + img.path));
  state::MemoryMap& mm = k.s.memory;
  mm.brk_start = mm.brk_end = mm.brk_mapped = end;
  return WithContext(BuildStack(k, img, bias, argv, envp), "build the initial stack");
}

}  // namespace cat
