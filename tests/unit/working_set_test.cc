// Tests of what the copy-on-write tax's removal rests on (loader/boot/working_set.h,
// recording_shell.h) on real ptrace shells: which pages WrittenPages names, that AdviseMany's
// MADV_POPULATE_WRITE copies pages without changing them, and that the recording platform keeps
// the written pages of a range before it is unmapped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "loader/boot/recording_shell.h"
#include "loader/platform/kvm/kvm_platform.h"
#include "loader/platform/ptrace/ptrace_platform.h"
#include "tests/unit/kvm_test_support.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

constexpr uint64_t kAddr = 0x400000;
constexpr uint64_t kPage = 4096;

bool SameRanges(const std::vector<GuestRange>& a, const std::vector<GuestRange>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].addr != b[i].addr || a[i].len != b[i].len) return false;
  return true;
}

class WorkingSetShellTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ptrace_platform::PtraceShell::Create();
    ASSERT_TRUE(s) << s.error().message();
    shell_ = std::move(*s);
  }
  std::unique_ptr<ptrace_platform::PtraceShell> shell_;
};

// The two platforms answer WrittenPages alike (kvm: from catload's own pagemap over the guest
// slot, where KVM's faults copy guest-written pages).
void ExpectWrittenAnonymousPagesOnly(Shell& shell) {
  ASSERT_TRUE(shell.MapAnonymous(kAddr, 8 * kPage, PROT_READ | PROT_WRITE));
  const char byte = 1;
  ASSERT_TRUE(shell.Write(kAddr + 2 * kPage, &byte, 1));
  ASSERT_TRUE(shell.Write(kAddr + 3 * kPage, &byte, 1));
  ASSERT_TRUE(shell.Write(kAddr + 6 * kPage, &byte, 1));
  char read_back;
  ASSERT_TRUE(shell.Read(kAddr + 5 * kPage, &read_back, 1));  // the shared zero page
  auto written = shell.WrittenPages(kAddr, 8 * kPage);
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_TRUE(SameRanges(*written, {{kAddr + 2 * kPage, 2 * kPage}, {kAddr + 6 * kPage, kPage}}));
}

void ExpectCopiedFilePagesButNotReadOnes(Shell& shell) {
  testing::TempDir dir;
  const std::string path = dir / "pages";
  testing::WriteFile(path, std::string(4 * kPage, 'x'));
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(shell.MapFile(kAddr, 4 * kPage, PROT_READ | PROT_WRITE, fd, 0));
  char c;
  ASSERT_TRUE(shell.Read(kAddr, &c, 1));            // page 0 mapped from the page cache
  ASSERT_TRUE(shell.Write(kAddr + kPage, "y", 1));  // page 1 copied on write
  auto written = shell.WrittenPages(kAddr, 4 * kPage);
  close(fd);
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_TRUE(SameRanges(*written, {{kAddr + kPage, kPage}}));
}

TEST_F(WorkingSetShellTest, WrittenPagesNamesWrittenAnonymousPagesOnly) {
  ExpectWrittenAnonymousPagesOnly(*shell_);
}

TEST_F(WorkingSetShellTest, WrittenPagesNamesCopiedFilePagesButNotReadOnes) {
  ExpectCopiedFilePagesButNotReadOnes(*shell_);
}

class KvmWorkingSetShellTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_KVM();
    auto p = kvm_platform::KvmPlatform::Open();
    ASSERT_TRUE(p) << p.error().message();
    platform_ = std::move(*p);
    auto s = platform_->CreateShell();
    ASSERT_TRUE(s) << s.error().message();
    shell_ = std::move(*s);
  }
  std::unique_ptr<kvm_platform::KvmPlatform> platform_;
  std::unique_ptr<Shell> shell_;
};

TEST_F(KvmWorkingSetShellTest, WrittenPagesNamesWrittenAnonymousPagesOnly) {
  ExpectWrittenAnonymousPagesOnly(*shell_);
}

TEST_F(KvmWorkingSetShellTest, WrittenPagesNamesCopiedFilePagesButNotReadOnes) {
  ExpectCopiedFilePagesButNotReadOnes(*shell_);
}

TEST_F(WorkingSetShellTest, PopulateWriteCopiesPagesAndKeepsTheirContents) {
  testing::TempDir dir;
  const std::string path = dir / "pages";
  std::string bytes(4 * kPage, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 13 + 7);
  testing::WriteFile(path, bytes);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(shell_->MapFile(kAddr, 4 * kPage, PROT_READ | PROT_WRITE, fd, 0));
  close(fd);
  auto ok = shell_->AdviseMany({{kAddr + kPage, 2 * kPage, 23 /* MADV_POPULATE_WRITE */}});
  ASSERT_TRUE(ok) << ok.error().message();
  auto written = shell_->WrittenPages(kAddr, 4 * kPage);
  ASSERT_TRUE(written);
  EXPECT_TRUE(SameRanges(*written, {{kAddr + kPage, 2 * kPage}}));
  std::string now(4 * kPage, '\0');
  ASSERT_TRUE(shell_->Read(kAddr, now.data(), now.size()));
  EXPECT_EQ(now, bytes);
}

TEST_F(WorkingSetShellTest, AdviseManyReportsTheFailingRange) {
  // Nothing is mapped there: populating it fails, naming the address.
  auto bad = shell_->AdviseMany({{kAddr, kPage, 23 /* MADV_POPULATE_WRITE */}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("advise guest memory at 4194304"), std::string::npos)
      << bad.error().message();
}

TEST(WriteRecordingPlatform, KeepsTheWrittenPagesOfARangeBeforeItIsUnmapped) {
  ptrace_platform::PtracePlatform ptrace;
  auto dropped = std::make_shared<DroppedWrites>();
  dropped->watch = {{kAddr, 16 * kPage}};
  WriteRecordingPlatform platform(ptrace, dropped);
  auto shell = platform.CreateShell();
  ASSERT_TRUE(shell) << shell.error().message();
  ASSERT_TRUE((*shell)->MapAnonymous(kAddr, 8 * kPage, PROT_READ | PROT_WRITE));
  ASSERT_TRUE((*shell)->Write(kAddr + 4 * kPage, "z", 1));
  EXPECT_TRUE(dropped->ranges.empty());
  ASSERT_TRUE((*shell)->Unmap(kAddr, 8 * kPage));
  EXPECT_TRUE(SameRanges(dropped->ranges, {{kAddr + 4 * kPage, kPage}}));
  auto after = (*shell)->WrittenPages(kAddr, 8 * kPage);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->empty());  // gone from the shell: only the recording has it
}

TEST(WriteRecordingPlatform, LooksOnlyInsideTheWatchedRanges) {
  ptrace_platform::PtracePlatform ptrace;
  auto dropped = std::make_shared<DroppedWrites>();
  dropped->watch = {{kAddr + 8 * kPage, 8 * kPage}};
  WriteRecordingPlatform platform(ptrace, dropped);
  auto shell = platform.CreateShell();
  ASSERT_TRUE(shell);
  ASSERT_TRUE((*shell)->MapAnonymous(kAddr, 16 * kPage, PROT_READ | PROT_WRITE));
  ASSERT_TRUE((*shell)->Write(kAddr + 2 * kPage, "a", 1));
  ASSERT_TRUE((*shell)->Write(kAddr + 9 * kPage, "b", 1));
  ASSERT_TRUE((*shell)->Discard(kAddr, 16 * kPage));
  EXPECT_TRUE(SameRanges(dropped->ranges, {{kAddr + 9 * kPage, kPage}}));
}

}  // namespace
}  // namespace cat
