// Tests of ReadElfImage (loader/boot/elf_image.h): static executables compiled on the fly are
// read; dynamic executables, text files and damaged ELF files are refused cleanly.
#include "loader/boot/elf_image.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "tests/unit/test_support.h"

namespace cat {
namespace {

using testing::TempDir;

constexpr char kMain[] = "int main(void) { return 0; }\n";

class ElfImageTest : public ::testing::Test {
 protected:
  // A small glibc -static executable (compiled once per test process).
  std::string StaticExe(const std::string& flags = "-static -no-pie -fno-pie") {
    auto exe = testing::CompileC(dir_, "prog", kMain, flags);
    if (!exe) ADD_FAILURE() << "cc " << flags << " failed";
    return exe.value_or("");
  }
  // A copy of `exe` whose bytes were changed by `edit`.
  template <class Edit>
  std::string Damaged(const std::string& exe, Edit edit) {
    std::string bytes = testing::ReadFile(exe);
    edit(bytes);
    const std::string out = dir_ / "damaged";
    testing::WriteFile(out, bytes);
    return out;
  }
  // A copy of `exe` whose first loadable segment for which `pick` holds was changed by
  // `change` (in its program header).
  template <class Pick, class Change>
  std::string WithLoadSegment(const std::string& exe, Pick pick, Change change) {
    return Damaged(exe, [&](std::string& b) {
      Elf64_Ehdr eh;
      std::memcpy(&eh, b.data(), sizeof(eh));
      for (int i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        char* at = b.data() + eh.e_phoff + i * sizeof(ph);
        std::memcpy(&ph, at, sizeof(ph));
        if (ph.p_type != PT_LOAD || !pick(ph)) continue;
        change(ph);
        std::memcpy(at, &ph, sizeof(ph));
        return;
      }
      ADD_FAILURE() << "no loadable segment to change";
    });
  }
  TempDir dir_;
};

TEST_F(ElfImageTest, ReadsAStaticExecutable) {
  const std::string exe = StaticExe();
  auto img = ReadElfImage(exe);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_FALSE(img->position_independent);
  EXPECT_FALSE(img->segments.empty());
  EXPECT_NE(img->entry, 0u);
  EXPECT_GT(img->phnum, 0);
  EXPECT_EQ(img->phentsize, sizeof(Elf64_Phdr));
  EXPECT_EQ(img->file_size, std::filesystem::file_size(exe));
  EXPECT_TRUE(img->fd.valid());
}

TEST_F(ElfImageTest, SegmentsLieInsideTheFile) {
  auto img = ReadElfImage(StaticExe());
  ASSERT_TRUE(img) << img.error().message();
  for (const ElfSegment& s : img->segments) {
    EXPECT_LE(s.filesz, s.memsz);
    EXPECT_LE(s.offset + s.filesz, img->file_size);
    EXPECT_EQ(s.vaddr % 4096, s.offset % 4096);
  }
}

TEST_F(ElfImageTest, EntryLiesInAnExecutableSegment) {
  auto img = ReadElfImage(StaticExe());
  ASSERT_TRUE(img) << img.error().message();
  bool inside = false;
  for (const ElfSegment& s : img->segments)
    if (img->entry >= s.vaddr && img->entry < s.vaddr + s.memsz && (s.flags & PF_X)) inside = true;
  EXPECT_TRUE(inside);
}

TEST_F(ElfImageTest, ProgramHeadersAreFoundInMemory) {
  auto img = ReadElfImage(StaticExe());
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_NE(img->phdr_vaddr, 0u);
}

TEST_F(ElfImageTest, StaticPieIsPositionIndependent) {
  auto img = ReadElfImage(StaticExe("-static-pie -fPIE"));
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_TRUE(img->position_independent);
}

TEST_F(ElfImageTest, FixtureFromTheBuildIsReadable) {
  const char* fixtures = std::getenv("FIXTURES");
  // The fixtures are ours: without them this test fails, it does not skip.
  ASSERT_NE(fixtures, nullptr) << "FIXTURES is not set (run through ctest)";
  std::string found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(fixtures, ec))
    if (e.is_regular_file() && (e.status().permissions() & std::filesystem::perms::owner_exec) !=
                                   std::filesystem::perms::none)
      found = e.path().string();
  ASSERT_FALSE(found.empty()) << "no fixture program in " << fixtures << " (build them)";
  auto img = ReadElfImage(found);
  EXPECT_TRUE(img) << img.error().message();
}

TEST_F(ElfImageTest, RefusesADynamicExecutable) {
  auto img = ReadElfImage("/bin/true");
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOEXEC);
  EXPECT_NE(img.error().message().find("dynamically linked"), std::string::npos)
      << img.error().message();
}

TEST_F(ElfImageTest, RefusesATextFile) {
  const std::string path = dir_ / "script.sh";
  testing::WriteFile(path, "#!/bin/sh\necho hi\n");
  auto img = ReadElfImage(path);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOEXEC);
  EXPECT_NE(img.error().message().find("not an ELF"), std::string::npos);
}

TEST_F(ElfImageTest, RefusesAnEmptyFile) {
  const std::string path = dir_ / "empty";
  testing::WriteFile(path, "");
  auto img = ReadElfImage(path);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOEXEC);
}

TEST_F(ElfImageTest, RefusesATruncatedElf) {
  const std::string path = Damaged(StaticExe(), [](std::string& b) { b.resize(100); });
  auto img = ReadElfImage(path);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOEXEC) << img.error().message();
}

TEST_F(ElfImageTest, RefusesAnElfCutInsideItsHeader) {
  const std::string path = Damaged(StaticExe(), [](std::string& b) { b.resize(40); });
  auto img = ReadElfImage(path);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOEXEC) << img.error().message();
}

TEST_F(ElfImageTest, RefusesAnElfCutBeforeItsSegmentsEnd) {
  const std::string path = Damaged(StaticExe(), [](std::string& b) { b.resize(b.size() / 4); });
  auto img = ReadElfImage(path);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOEXEC) << img.error().message();
}

TEST_F(ElfImageTest, RefusesASegmentOffsetBeyondTheFile) {
  const std::string path = WithLoadSegment(
      StaticExe(), [](const Elf64_Phdr&) { return true; },
      [](Elf64_Phdr& ph) { ph.p_offset = 1ull << 40; });
  auto img = ReadElfImage(path);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOEXEC);
  EXPECT_NE(img.error().message().find("malformed loadable segment"), std::string::npos);
}

TEST_F(ElfImageTest, RefusesASegmentWithFileSizeAboveMemorySize) {
  const std::string path = WithLoadSegment(
      StaticExe(), [](const Elf64_Phdr& ph) { return ph.p_memsz != 0; },
      [](Elf64_Phdr& ph) { ph.p_filesz = ph.p_memsz + 1; });
  auto img = ReadElfImage(path);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOEXEC);
}

TEST_F(ElfImageTest, RefusesAnotherMachine) {
  const std::string path = Damaged(StaticExe(), [](std::string& b) {
    const uint16_t machine = EM_AARCH64;
    std::memcpy(b.data() + offsetof(Elf64_Ehdr, e_machine), &machine, sizeof(machine));
  });
  auto img = ReadElfImage(path);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOEXEC);
  EXPECT_NE(img.error().message().find("x86-64"), std::string::npos);
}

TEST_F(ElfImageTest, RefusesARelocatableObject) {
  const std::string path = Damaged(StaticExe(), [](std::string& b) {
    const uint16_t type = ET_REL;
    std::memcpy(b.data() + offsetof(Elf64_Ehdr, e_type), &type, sizeof(type));
  });
  auto img = ReadElfImage(path);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOEXEC);
}

TEST_F(ElfImageTest, MissingFileIsEnoent) {
  auto img = ReadElfImage(dir_ / "no-such-program");
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ENOENT);
}

TEST_F(ElfImageTest, DirectoryIsRefused) {
  auto img = ReadElfImage(dir_.path());
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), EACCES);
}

}  // namespace
}  // namespace cat
