// Unit tests of the checkpoint (ELF core) writer and reader: round trips, unreadable VMAs,
// determinism, atomic writes, what readelf and gdb see, and a clear error (never a crash) for
// every kind of damaged file.
#include "format/checkpoint/checkpoint.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "tests/unit/test_support.h"

namespace cat {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

constexpr uint64_t kUnreadableStart = 0x500000;  // the PROT_NONE VMA of Contents()

CheckpointContents Contents() {
  CheckpointContents c;
  c.meta.exe = "/opt/functions/hello-fn";
  c.meta.argv = {"hello-fn", "--greeting", "hi there"};
  c.meta.env = {"PATH=/bin", "LANG=C.UTF-8", ""};
  c.meta.entry_kind = "auto";
  c.meta.rootfs = "/srv/rootfs";
  c.meta.mounts = {"/data:/data:ro", "/tmp/x:/x:rw"};
  c.meta.capture_realtime_ns = 1'700'000'000'123'456'789;
  c.meta.capture_monotonic_ns = -42;
  uint64_t* regs = reinterpret_cast<uint64_t*>(&c.regs);
  for (size_t i = 0; i < sizeof c.regs / 8; ++i) regs[i] = 0x1000 + i;
  c.regs.rip = 0x401234;
  c.regs.rsp = 0x7ff0001ff000;
  c.fpu = DefaultFpuState();
  c.fpu.fxsave[200] = 0xab;
  // A plausible XSAVE area: the FXSAVE image, then XCR0 (x87|SSE|AVX) in the software-reserved
  // bytes at 464 and XSTATE_BV at 512, as gdb reads them to pick its register description.
  c.xstate.assign(832, 0);
  std::memcpy(c.xstate.data(), c.fpu.fxsave, sizeof c.fpu.fxsave);
  c.xstate[464] = 0x7;
  c.xstate[512] = 0x7;
  for (size_t i = 576; i < c.xstate.size(); ++i) c.xstate[i] = static_cast<uint8_t>(i * 7);
  c.auxv = {AT_PAGESZ, 4096, AT_ENTRY, 0x401000, AT_NULL, 0};
  // Not in address order on purpose: the writer sorts.
  c.vmas = {
      {0x7ff000000000, 0x7ff000200000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 4, 0},
      {0x400000, 0x402000, PROT_READ | PROT_EXEC, MAP_PRIVATE, 2, 0},
      {kUnreadableStart, kUnreadableStart + 0x1000, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0},
      {0x600000, 0x603000, PROT_READ | PROT_WRITE, MAP_PRIVATE, 1, 0x2000},
  };
  c.kernel_state = {'s', 't', 'a', 't', 'e', 0, 1, 2, 3};
  return c;
}

uint8_t PatternAt(uint64_t addr) {
  return static_cast<uint8_t>((addr >> 12) * 13 + addr * 7);
}

// Guest memory: a pattern everywhere except the PROT_NONE VMA, which fails like
// process_vm_readv does.
Status FakeMemory(uint64_t addr, void* buf, size_t len) {
  if (addr >= kUnreadableStart && addr < kUnreadableStart + 0x1000) {
    return Fail(EFAULT, "process_vm_readv: EFAULT");
  }
  auto* out = static_cast<uint8_t*>(buf);
  for (size_t i = 0; i < len; ++i) out[i] = PatternAt(addr + i);
  return {};
}

std::string WriteTestCore(const TempDir& dir, const std::string& name = "fn.core") {
  const std::string path = dir / name;
  Status st = WriteCheckpoint(path, Contents(), FakeMemory);
  EXPECT_TRUE(st) << st.error().message();
  return path;
}

uint64_t U64At(const std::string& bytes, size_t off) {
  uint64_t v = 0;
  std::memcpy(&v, bytes.data() + off, 8);
  return v;
}

// PT_NOTE is program header 0: its offset and size.
std::pair<uint64_t, uint64_t> NoteSegment(const std::string& bytes) {
  const size_t ph = sizeof(Elf64_Ehdr);
  return {U64At(bytes, ph + offsetof(Elf64_Phdr, p_offset)),
          U64At(bytes, ph + offsetof(Elf64_Phdr, p_filesz))};
}

// The error ReadCheckpoint gives for `bytes` written to a file; "" if it succeeds.
std::string ReadError(const TempDir& dir, const std::string& bytes) {
  const std::string path = dir / "bad.core";
  WriteFile(path, bytes);
  Result<Checkpoint> cp = ReadCheckpoint(path);
  if (cp) return "";
  EXPECT_EQ(cp.error().message().find('\n'), std::string::npos) << "one line";
  EXPECT_EQ(cp.error().message().rfind("checkpoint " + path + ": ", 0), 0u) << cp.error().message();
  return cp.error().message();
}

std::string RunCommand(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p.get())) > 0) out.append(buf, n);
  return out;
}

bool HaveTool(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

TEST(Checkpoint, RoundTripsEveryField) {
  TempDir dir;
  const CheckpointContents in = Contents();
  Result<Checkpoint> cp = ReadCheckpoint(WriteTestCore(dir));
  ASSERT_TRUE(cp) << cp.error().message();
  const CheckpointContents& out = cp->contents;
  EXPECT_EQ(out.meta.exe, in.meta.exe);
  EXPECT_EQ(out.meta.argv, in.meta.argv);
  EXPECT_EQ(out.meta.env, in.meta.env);
  EXPECT_EQ(out.meta.entry_kind, in.meta.entry_kind);
  EXPECT_EQ(out.meta.rootfs, in.meta.rootfs);
  EXPECT_EQ(out.meta.mounts, in.meta.mounts);
  EXPECT_EQ(out.meta.capture_realtime_ns, in.meta.capture_realtime_ns);
  EXPECT_EQ(out.meta.capture_monotonic_ns, in.meta.capture_monotonic_ns);
  EXPECT_EQ(std::memcmp(&out.regs, &in.regs, sizeof in.regs), 0);
  EXPECT_EQ(std::memcmp(out.fpu.fxsave, in.fpu.fxsave, sizeof in.fpu.fxsave), 0);
  EXPECT_EQ(out.xstate, in.xstate);
  EXPECT_EQ(out.auxv, in.auxv);
  EXPECT_EQ(out.kernel_state, in.kernel_state);
  ASSERT_EQ(out.vmas.size(), in.vmas.size());
  ASSERT_EQ(cp->segments.size(), in.vmas.size());
  uint64_t prev_end = 0;
  for (const CheckpointSegment& s : cp->segments) {
    EXPECT_GE(s.vma.start, prev_end) << "address order";
    prev_end = s.vma.end;
    const auto orig = std::find_if(in.vmas.begin(), in.vmas.end(),
                                   [&](const CheckpointVma& v) { return v.start == s.vma.start; });
    ASSERT_NE(orig, in.vmas.end());
    EXPECT_EQ(s.vma.end, orig->end);
    EXPECT_EQ(s.vma.prot, orig->prot);
    EXPECT_EQ(s.vma.flags, orig->flags);
    EXPECT_EQ(s.vma.kind, orig->kind);
    EXPECT_EQ(s.vma.file_offset, orig->file_offset);
    EXPECT_EQ(s.file_offset % 4096, 0u);
  }
}

TEST(Checkpoint, RoundTripsTheCpuNote) {
  TempDir dir;
  CheckpointContents in = Contents();
  in.cpu = CpuFeatures{"AuthenticAMD", 11, 12, 13, 14, 15, 16, 17, 18, 19, 0xe7, 2432};
  ASSERT_TRUE(WriteCheckpoint(dir / "cpu.core", in, FakeMemory));
  Result<Checkpoint> cp = ReadCheckpoint(dir / "cpu.core");
  ASSERT_TRUE(cp) << cp.error().message();
  EXPECT_EQ(cp->contents.cpu, in.cpu);
  // A checkpoint without the note (written before it existed) reads as "not recorded".
  Result<Checkpoint> plain = ReadCheckpoint(WriteTestCore(dir));
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_FALSE(plain->contents.cpu.recorded());
}

TEST(Checkpoint, RoundTripsMemoryContents) {
  TempDir dir;
  Result<Checkpoint> cp = ReadCheckpoint(WriteTestCore(dir));
  ASSERT_TRUE(cp) << cp.error().message();
  for (const CheckpointSegment& s : cp->segments) {
    if (s.vma.start == kUnreadableStart) continue;
    ASSERT_EQ(s.file_size, s.vma.end - s.vma.start);
    std::vector<uint8_t> got(s.file_size);
    ASSERT_EQ(pread(cp->fd.get(), got.data(), got.size(), static_cast<off_t>(s.file_offset)),
              static_cast<ssize_t>(got.size()));
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], PatternAt(s.vma.start + i)) << "at " << std::hex << s.vma.start + i;
    }
  }
}

TEST(Checkpoint, UnreadableVmaIsStoredWithFileSizeZero) {
  TempDir dir;
  Result<Checkpoint> cp = ReadCheckpoint(WriteTestCore(dir));
  ASSERT_TRUE(cp) << cp.error().message();
  const auto it =
      std::find_if(cp->segments.begin(), cp->segments.end(),
                   [](const CheckpointSegment& s) { return s.vma.start == kUnreadableStart; });
  ASSERT_NE(it, cp->segments.end());
  EXPECT_EQ(it->file_size, 0u);
  EXPECT_EQ(it->vma.end - it->vma.start, 0x1000u);
}

TEST(Checkpoint, VmaFailingMidwayStoresNothingOfIt) {
  TempDir dir;
  constexpr uint64_t kStack = 0x7ff000000000;  // 2 MiB: read in two 1 MiB chunks
  auto fails_from = [](uint64_t bad) {
    return [bad](uint64_t addr, void* buf, size_t len) -> Status {
      if (addr >= bad && addr < kStack + 0x200000) return Fail(EFAULT, "EFAULT");
      return FakeMemory(addr, buf, len);
    };
  };
  ASSERT_TRUE(WriteCheckpoint(dir / "midway.core", Contents(), fails_from(kStack + 0x100000)));
  ASSERT_TRUE(WriteCheckpoint(dir / "whole.core", Contents(), fails_from(kStack)));
  Result<Checkpoint> cp = ReadCheckpoint(dir / "midway.core");
  ASSERT_TRUE(cp) << cp.error().message();
  EXPECT_EQ(cp->segments.back().vma.start, kStack);
  EXPECT_EQ(cp->segments.back().file_size, 0u);
  // Where the read failed does not matter: the first chunk left no trace.
  EXPECT_TRUE(ReadFile(dir / "midway.core") == ReadFile(dir / "whole.core"));
}

TEST(Checkpoint, SameInputGivesSameBytes) {
  TempDir dir;
  const std::string a = ReadFile(WriteTestCore(dir, "a.core"));
  const std::string b = ReadFile(WriteTestCore(dir, "b.core"));
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b);
}

TEST(Checkpoint, FailedWriteLeavesNoFileBehind) {
  TempDir dir;
  auto dying = [](uint64_t addr, void* buf, size_t len) -> Status {
    if (addr >= 0x600000) return Fail(ESRCH, "process_vm_readv: ESRCH");
    return FakeMemory(addr, buf, len);
  };
  Status st = WriteCheckpoint(dir / "fn.core", Contents(), dying);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("write checkpoint"), std::string::npos);
  EXPECT_NE(st.error().message().find("ESRCH"), std::string::npos) << st.error().message();
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "temporary file left behind";
}

TEST(Checkpoint, OverlappingVmasAreRefused) {
  TempDir dir;
  CheckpointContents c = Contents();
  c.vmas.push_back({0x401000, 0x404000, PROT_READ, MAP_PRIVATE, 0, 0});
  Status st = WriteCheckpoint(dir / "fn.core", c, FakeMemory);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("overlaps"), std::string::npos) << st.error().message();
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Checkpoint, ReadelfListsPrstatusAndCatalyzerNotes) {
  if (!HaveTool("readelf")) GTEST_SKIP() << "readelf is not installed (binutils)";
  TempDir dir;
  const std::string out = RunCommand("readelf -n '" + WriteTestCore(dir) + "' 2>&1");
  EXPECT_NE(out.find("NT_PRSTATUS"), std::string::npos) << out;
  EXPECT_NE(out.find("NT_PRPSINFO"), std::string::npos) << out;
  EXPECT_NE(out.find("NT_AUXV"), std::string::npos) << out;
  EXPECT_NE(out.find("NT_X86_XSTATE"), std::string::npos) << out;
  size_t count = 0;
  for (size_t p = out.find("CATALYZER"); p != std::string::npos; p = out.find("CATALYZER", p + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 3u) << out;
  EXPECT_EQ(out.find("Warning"), std::string::npos) << out;
}

TEST(Checkpoint, ReadelfShowsOneLoadPerVma) {
  if (!HaveTool("readelf")) GTEST_SKIP() << "readelf is not installed (binutils)";
  TempDir dir;
  const std::string out = RunCommand("readelf -lW '" + WriteTestCore(dir) + "' 2>&1");
  size_t loads = 0;
  for (size_t p = out.find("  LOAD "); p != std::string::npos; p = out.find("  LOAD ", p + 1)) {
    ++loads;
  }
  EXPECT_EQ(loads, Contents().vmas.size()) << out;
  EXPECT_NE(out.find("CORE (Core file)"), std::string::npos) << out;
  EXPECT_EQ(out.find("Warning"), std::string::npos) << out;
}

TEST(Checkpoint, GdbShowsTheRipOfPrstatus) {
  if (!HaveTool("gdb")) GTEST_SKIP() << "gdb is not installed";
  TempDir dir;
  const std::string core = WriteTestCore(dir);
  const std::string out =
      RunCommand("gdb -nx -batch -ex 'info registers rip' -c '" + core + "' 2>&1");
  EXPECT_NE(out.find("0x401234"), std::string::npos) << out;
}

TEST(Checkpoint, EmptyFileIsAnError) {
  TempDir dir;
  EXPECT_NE(ReadError(dir, "").find("empty file"), std::string::npos);
}

TEST(Checkpoint, MissingFileIsAnError) {
  TempDir dir;
  Result<Checkpoint> cp = ReadCheckpoint(dir / "absent.core");
  ASSERT_FALSE(cp);
  EXPECT_NE(cp.error().message().find("ENOENT"), std::string::npos) << cp.error().message();
}

TEST(Checkpoint, WrongMagicIsNotAnElfCore) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  bytes[1] = 'X';
  EXPECT_NE(ReadError(dir, bytes).find("not an ELF core file (bad magic)"), std::string::npos);
  EXPECT_NE(ReadError(dir, "#!/bin/sh\necho hi\n").find("not an ELF core file"), std::string::npos);
}

TEST(Checkpoint, ExecutableIsNotAnElfCore) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  const uint16_t exec = ET_EXEC;
  std::memcpy(&bytes[offsetof(Elf64_Ehdr, e_type)], &exec, 2);
  EXPECT_NE(ReadError(dir, bytes).find("not an ELF core file (e_type is ET_EXEC)"),
            std::string::npos)
      << ReadError(dir, bytes);
}

TEST(Checkpoint, TruncatedHeaderIsAnError) {
  TempDir dir;
  const std::string bytes = ReadFile(WriteTestCore(dir));
  const std::string err = ReadError(dir, bytes.substr(0, 40));
  EXPECT_NE(err.find("truncated: the ELF header"), std::string::npos) << err;
}

TEST(Checkpoint, TruncatedProgramHeadersIsAnError) {
  TempDir dir;
  const std::string bytes = ReadFile(WriteTestCore(dir));
  const std::string err = ReadError(dir, bytes.substr(0, sizeof(Elf64_Ehdr) + 56 + 10));
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  EXPECT_NE(err.find("program headers"), std::string::npos) << err;
}

TEST(Checkpoint, TruncatedNotesIsAnError) {
  TempDir dir;
  const std::string bytes = ReadFile(WriteTestCore(dir));
  const auto [off, size] = NoteSegment(bytes);
  const std::string err = ReadError(dir, bytes.substr(0, off + size / 2));
  EXPECT_NE(err.find("truncated: PT_NOTE"), std::string::npos) << err;
}

TEST(Checkpoint, TruncatedLoadSegmentIsAnError) {
  TempDir dir;
  const std::string bytes = ReadFile(WriteTestCore(dir));
  const std::string err = ReadError(dir, bytes.substr(0, bytes.size() - 100));
  EXPECT_NE(err.find("truncated: PT_LOAD 3"), std::string::npos) << err;
}

TEST(Checkpoint, EveryTruncationIsAnErrorAndNoCrash) {
  TempDir dir;
  const std::string bytes = ReadFile(WriteTestCore(dir));
  const auto [off, size] = NoteSegment(bytes);
  for (size_t len = 0; len < off + size + 64; ++len) {
    EXPECT_NE(ReadError(dir, bytes.substr(0, len)), "") << "prefix of " << len << " bytes";
  }
}

TEST(Checkpoint, FlippedNoteBytesNeverCrash) {
  TempDir dir;
  const std::string good = ReadFile(WriteTestCore(dir));
  const auto [off, size] = NoteSegment(good);
  for (size_t i = 0; i < off + size; i += 3) {
    std::string bytes = good;
    bytes[i] = static_cast<char>(bytes[i] ^ 0xff);
    ReadError(dir, bytes);  // success or a one-line error; what matters is no crash
  }
}

TEST(Checkpoint, CoreWithoutCatalyzerNotesIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  const auto [off, size] = NoteSegment(bytes);
  // Renaming the owner turns our notes into someone else's, as in a kernel-written core.
  for (size_t p = bytes.find("CATALYZER", off); p < off + size; p = bytes.find("CATALYZER", p)) {
    bytes[p + 8] = 'X';
  }
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("no CATALYZER notes (not written by catload capture)"), std::string::npos)
      << err;
}

TEST(Checkpoint, NewerVersionIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  const auto [off, size] = NoteSegment(bytes);
  // The first CATALYZER note is the meta note; its descriptor follows the name padded to 12.
  const size_t name = bytes.find("CATALYZER", off);
  ASSERT_LT(name, off + size);
  const uint32_t seven = 7;
  std::memcpy(&bytes[name + 12], &seven, 4);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("checkpoint version 7 is newer than this catload supports (1)"),
            std::string::npos)
      << err;
}

TEST(Checkpoint, DescszPastItsSegmentIsAnError) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  const auto [off, size] = NoteSegment(bytes);
  // The last note is the kernel state; its descsz is the second word of its header.
  const size_t name = bytes.rfind("CATALYZER", off + size);
  ASSERT_GT(name, off);
  const uint32_t huge = 0x10000;
  std::memcpy(&bytes[name - 8], &huge, 4);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("descsz 65536 runs past the end of the segment"), std::string::npos) << err;
}

TEST(Checkpoint, CorruptedMetaStringLengthIsAnError) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  const auto [off, size] = NoteSegment(bytes);
  const size_t name = bytes.find("CATALYZER", off);
  ASSERT_LT(name, off + size);
  const uint32_t huge = 0x7fffffff;  // the exe string's length, right after the version
  std::memcpy(&bytes[name + 16], &huge, 4);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("CATALYZER meta note: truncated: exe"), std::string::npos) << err;
}

// ---- crafted cores (issue 7, finding 4): every header, program header and note field a
// reader follows is checked; each error is one line naming the bad part ----

// The error for a core written from `c` (the writer does not judge addresses).
std::string ReadErrorOf(const TempDir& dir, const CheckpointContents& c) {
  const std::string path = dir / "crafted.core";
  Status st = WriteCheckpoint(path, c, FakeMemory);
  if (!st) return "(write failed: " + st.error().message() + ")";
  return ReadError(dir, ReadFile(path));
}

CheckpointContents WithVma(CheckpointVma v) {
  CheckpointContents c = Contents();
  c.vmas.push_back(v);
  return c;
}

template <class T>
void Put(std::string& bytes, size_t off, T v) {
  std::memcpy(&bytes[off], &v, sizeof v);
}
// File offset of the VMA note's descriptor (the second CATALYZER note: its name is padded to
// 12 bytes), 0 if there is none.
size_t VmaNoteDesc(const std::string& bytes) {
  const auto [off, size] = NoteSegment(bytes);
  const size_t meta = bytes.find("CATALYZER", off);
  const size_t vmas = bytes.find("CATALYZER", meta + 1);
  return vmas < off + size ? vmas + 12 : 0;
}

// Offset of program header i (0 = PT_NOTE, 1.. = the PT_LOADs in address order).
size_t Phdr(size_t i) {
  return sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr);
}

TEST(CheckpointCrafted, VmaOverTheTrampolineIsRefused) {
  TempDir dir;
  const std::string err =
      ReadErrorOf(dir, WithVma({0x100000, 0x101000, PROT_READ | PROT_EXEC, MAP_PRIVATE, 2, 0}));
  EXPECT_NE(err.find("VMA 0 (0x100000-0x101000): mapping 0x100000-0x101000 overlaps the "
                     "trampoline"),
            std::string::npos)
      << err;
}

TEST(CheckpointCrafted, VmaBelowTheLowGuardIsRefused) {
  TempDir dir;
  const std::string err =
      ReadErrorOf(dir, WithVma({0x1000, 0x2000, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0}));
  EXPECT_NE(err.find("VMA 0 (0x1000-0x2000): mapping at 0x1000 is below the guest's lowest"),
            std::string::npos)
      << err;
}

TEST(CheckpointCrafted, VmaEndingPastTheGuestAddressLimitIsRefused) {
  TempDir dir;
  const std::string err =
      ReadErrorOf(dir, WithVma({0x7ffffffff000 - 0x1000, 0x7ffffffff000 + 0x1000,
                                PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 4, 0}));
  EXPECT_NE(err.find("ends past the guest address limit"), std::string::npos) << err;
  EXPECT_NE(err.find("VMA 4 (0x7fffffffe000-0x800000000000)"), std::string::npos) << err;
}

TEST(CheckpointCrafted, VmaWithUnknownProtectionBitsIsRefused) {
  TempDir dir;
  const std::string err =
      ReadErrorOf(dir, WithVma({0x800000, 0x801000, 0x10, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0}));
  EXPECT_NE(err.find("VMA 3 (0x800000-0x801000): unknown protection bits 0x10"), std::string::npos)
      << err;
}

TEST(CheckpointCrafted, VmaOfUnknownKindIsRefused) {
  TempDir dir;
  const std::string err = ReadErrorOf(
      dir, WithVma({0x800000, 0x801000, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 99, 0}));
  EXPECT_NE(err.find("VMA 3 (0x800000-0x801000): unknown VMA kind 99"), std::string::npos) << err;
}

TEST(CheckpointCrafted, MetaMountNotInCapturesFormIsRefused) {
  TempDir dir;
  CheckpointContents c = Contents();
  c.meta.mounts = {"/data:/data:ro", "relative:/x"};
  const std::string err = ReadErrorOf(dir, c);
  EXPECT_NE(err.find("CATALYZER meta note: mount 1: mount 'relative:/x' is not HOST:GUEST:ro|rw"),
            std::string::npos)
      << err;
}

TEST(CheckpointCrafted, MetaRelativeRootfsIsRefused) {
  TempDir dir;
  CheckpointContents c = Contents();
  c.meta.rootfs = "../rootfs";
  const std::string err = ReadErrorOf(dir, c);
  EXPECT_NE(err.find("CATALYZER meta note: rootfs '../rootfs' is not an absolute canonical path"),
            std::string::npos)
      << err;
}

TEST(CheckpointCrafted, MetaUnknownEntryKindIsRefused) {
  TempDir dir;
  CheckpointContents c = Contents();
  c.meta.entry_kind = "whenever";
  const std::string err = ReadErrorOf(dir, c);
  EXPECT_NE(err.find("entry kind 'whenever' is neither explicit nor auto"), std::string::npos)
      << err;
}

TEST(CheckpointCrafted, ProgramHeaderOffsetPastTheFileIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  Put<uint64_t>(bytes, offsetof(Elf64_Ehdr, e_phoff), ~uint64_t{0} - 16);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("program headers at offset 18446744073709551599 end past the end"),
            std::string::npos)
      << err;
}

TEST(CheckpointCrafted, HugeProgramHeaderCountIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  Put<uint16_t>(bytes, offsetof(Elf64_Ehdr, e_phnum), 0xfffe);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("truncated: 65534 program headers at offset 64"), std::string::npos) << err;
}

TEST(CheckpointCrafted, WrongProgramHeaderSizeIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  Put<uint16_t>(bytes, offsetof(Elf64_Ehdr, e_phentsize), 32);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("program header size 32, expected 56"), std::string::npos) << err;
}

TEST(CheckpointCrafted, LoadWhoseFileRangeOverflowsIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  Put<uint64_t>(bytes, Phdr(1) + offsetof(Elf64_Phdr, p_offset), ~uint64_t{0} - 4095);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("truncated: PT_LOAD 0 (program header 1) ends past the end of the file"),
            std::string::npos)
      << err;
}

TEST(CheckpointCrafted, HugeLoadMemsizeIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  Put<uint64_t>(bytes, Phdr(2) + offsetof(Elf64_Phdr, p_memsz), uint64_t{1} << 62);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("PT_LOAD 1 covers 0x500000+0x4000000000000000 but VMA 1 is"),
            std::string::npos)
      << err;
}

TEST(CheckpointCrafted, LoadMovedOntoTheTrampolineIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  Put<uint64_t>(bytes, Phdr(1) + offsetof(Elf64_Phdr, p_vaddr), 0x100000);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("PT_LOAD 0 covers 0x100000+0x2000 but VMA 0 is 0x400000-0x402000"),
            std::string::npos)
      << err;
}

TEST(CheckpointCrafted, LoadWithPartOfItsBytesIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  Put<uint64_t>(bytes, Phdr(1) + offsetof(Elf64_Phdr, p_filesz), 0x1000);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("PT_LOAD 0 stores 4096 of its 8192 bytes"), std::string::npos) << err;
}

TEST(CheckpointCrafted, MoreLoadsThanVmasIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  // The last PT_LOAD turned into a PT_NULL: one segment fewer than the VMA note lists.
  Put<uint32_t>(bytes, Phdr(4) + offsetof(Elf64_Phdr, p_type), PT_NULL);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("3 PT_LOAD segments for 4 VMAs"), std::string::npos) << err;
}

TEST(CheckpointCrafted, NoteNameszPastItsSegmentIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  const auto [off, size] = NoteSegment(bytes);
  Put<uint32_t>(bytes, off, 0xfffffff0);  // the first note's namesz
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("note 0 at offset 0 of the PT_NOTE segment: namesz 4294967280 runs past"),
            std::string::npos)
      << err;
}

TEST(CheckpointCrafted, VmaCountThatDoesNotFitIsRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  const size_t vmas = VmaNoteDesc(bytes);
  ASSERT_NE(vmas, 0u);
  Put<uint32_t>(bytes, vmas + 4, 0x7fffffff);  // after the version: the count
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("CATALYZER VMA note: 2147483647 VMAs need 85899345880 bytes"),
            std::string::npos)
      << err;
}

TEST(CheckpointCrafted, VmasOutOfOrderAreRefused) {
  TempDir dir;
  std::string bytes = ReadFile(WriteTestCore(dir));
  const size_t vmas = VmaNoteDesc(bytes);
  ASSERT_NE(vmas, 0u);
  // VMA 1's start (records of 40 bytes after version and count) moved below VMA 0's end.
  Put<uint64_t>(bytes, vmas + 8 + 40, 0x401000);
  const std::string err = ReadError(dir, bytes);
  EXPECT_NE(err.find("VMA 1 (0x401000-0x501000) is empty, not page-aligned or out of address "
                     "order"),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace cat
